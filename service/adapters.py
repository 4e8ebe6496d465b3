"""LoRA adapters the service can load: subfolders of `adapters_dir` holding a peft `adapter_config.json`.

A name the registry does not know yet triggers one rescan, so an adapter copied into the folder is
usable without a restart (vLLM loads it on first use). Every adapter is checked here before vLLM sees it:
a corrupt weights file makes vLLM's worker raise inside the engine core, which kills the whole engine,
so a broken adapter must fail its own requests (422) and nothing else.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

from daj.lora import (
    ADAPTER_CONFIG,
    Adapter,
    adapter_content_hash,
    adapter_problem,
    adapter_prompt_version,
    prompt_version_problem,
)
from daj.protocol import PROMPT_VERSIONS
from service.errors import ApiError

logger = logging.getLogger(__name__)

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


@dataclass(frozen=True)
class InvalidAdapter:
    name: str
    problem: str
    content_hash: str


class AdapterRegistry:
    """The adapters a request may name. With ``merged`` set, the engine serves that one adapter folded into its
    base weights (no LoRA kernels): it is then the only choice, pinned to the weights merged at start-up."""

    def __init__(self, adapters_dir: Path, max_rank: int | None = None, merged: Adapter | None = None) -> None:
        self.adapters_dir = adapters_dir
        self.max_rank = max_rank
        self.merged = merged
        self._adapters: dict[str, Adapter] = {}
        self._invalid: dict[str, InvalidAdapter] = {}
        self._next_id = 1
        self.rescan()

    def rescan(self) -> None:
        if self.merged or not self.adapters_dir.is_dir():
            return
        for folder in sorted(self.adapters_dir.iterdir()):
            if (folder / ADAPTER_CONFIG).is_file() and _NAME.match(folder.name):
                self._register(folder)

    def _register(self, folder: Path) -> None:
        content_hash = adapter_content_hash(folder)
        known = self._adapters.get(folder.name) or self._invalid.get(folder.name)
        if known is not None and known.content_hash == content_hash:
            return
        problem = adapter_problem(folder, self.max_rank) or prompt_version_problem(folder, PROMPT_VERSIONS)
        if problem is not None:
            self._adapters.pop(folder.name, None)
            self._invalid[folder.name] = InvalidAdapter(folder.name, problem, content_hash)
            logger.warning("adapter %s cannot be used: %s", folder.name, problem)
            return
        self._invalid.pop(folder.name, None)
        # A changed adapter gets a new vLLM id, so the engine never serves the old weights under it.
        self._adapters[folder.name] = Adapter(folder.name, folder.resolve(), content_hash, self._next_id,
                                              adapter_prompt_version(folder))
        self._next_id += 1
        logger.info("adapter %s registered (hash %s)", folder.name, content_hash)

    def names(self) -> list[str]:
        return [self.merged.name] if self.merged else sorted(self._adapters)

    def resolve(self, name: str | None) -> Adapter | None:
        """The adapter a request gets: None or "" means the base model without LoRA."""
        if not name:
            if self.merged:
                raise self._not_served("the base model")
            return None
        return self.get(name)

    def _not_served(self, what: str) -> ApiError:
        merged = self.merged.name if self.merged else None
        return ApiError(422, f"adapter: {what} is not served: this service runs adapter {merged!r} "
                        "merged into the base weights; set DAJ_MERGE_DEFAULT_ADAPTER=off to serve every adapter "
                        "through LoRA", "adapter_not_served", "adapter")

    def get(self, name: str) -> Adapter:
        if not _NAME.match(name):
            raise ApiError(422, "adapter: names are 1-128 letters, digits, '.', '_' or '-'", "invalid_value",
                           "adapter")
        if self.merged:
            if name != self.merged.name:
                raise self._not_served(f"{name!r}")
            return self.merged
        if name not in self._adapters:
            self.rescan()
        if name in self._invalid:
            raise ApiError(422, f"adapter {name!r} cannot be loaded: {self._invalid[name].problem}",
                           "adapter_invalid", "adapter")
        if name not in self._adapters:
            known = ", ".join(self.names()) or "none"
            raise ApiError(404, f"adapter {name!r} not found in {self.adapters_dir} (known: {known})",
                           "adapter_not_found", "adapter")
        return self._adapters[name]
