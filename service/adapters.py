"""LoRA adapters the service can load: subfolders of `adapters_dir` holding a peft `adapter_config.json`.

A name the registry does not know yet triggers one rescan, so an adapter copied into the folder is
usable without a restart (vLLM loads it on first use).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from service.engine.base import Adapter, adapter_content_hash
from service.errors import ApiError

logger = logging.getLogger(__name__)

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


class AdapterRegistry:
    def __init__(self, adapters_dir: Path) -> None:
        self.adapters_dir = adapters_dir
        self._adapters: dict[str, Adapter] = {}
        self._next_id = 1
        self.rescan()

    def rescan(self) -> None:
        if not self.adapters_dir.is_dir():
            return
        for folder in sorted(self.adapters_dir.iterdir()):
            if (folder / "adapter_config.json").is_file() and _NAME.match(folder.name):
                self._register(folder)

    def _register(self, folder: Path) -> None:
        content_hash = adapter_content_hash(folder)
        known = self._adapters.get(folder.name)
        if known is not None and known.content_hash == content_hash:
            return
        # A changed adapter gets a new vLLM id, so the engine never serves the old weights under it.
        self._adapters[folder.name] = Adapter(folder.name, folder.resolve(), content_hash, self._next_id)
        self._next_id += 1
        logger.info("adapter %s registered (hash %s)", folder.name, content_hash)

    def names(self) -> list[str]:
        return sorted(self._adapters)

    def get(self, name: str) -> Adapter:
        if not _NAME.match(name):
            raise ApiError(422, "adapter: names are 1-128 letters, digits, '.', '_' or '-'", "invalid_value",
                           "adapter")
        if name not in self._adapters:
            self.rescan()
        if name not in self._adapters:
            known = ", ".join(self.names()) or "none"
            raise ApiError(404, f"adapter {name!r} not found in {self.adapters_dir} (known: {known})",
                           "adapter_not_found", "adapter")
        return self._adapters[name]
