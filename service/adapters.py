"""LoRA adapters the service can load: subfolders of `adapters_dir` holding a peft `adapter_config.json`.

A name the registry does not know yet triggers one rescan, so an adapter copied into the folder is
usable without a restart (vLLM loads it on first use). Every adapter is checked here before vLLM sees it:
a corrupt weights file makes vLLM's worker raise inside the engine core, which kills the whole engine,
so a broken adapter must fail its own requests (422) and nothing else.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path

from service.engine.base import Adapter, adapter_content_hash
from service.errors import ApiError

logger = logging.getLogger(__name__)

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_WEIGHTS = "adapter_model.safetensors"


@dataclass(frozen=True)
class InvalidAdapter:
    name: str
    problem: str
    content_hash: str


def adapter_problem(folder: Path, max_rank: int | None) -> str | None:
    """Why vLLM could not load this adapter, or None if it looks loadable (config, header, shapes, rank)."""
    try:
        config = json.loads((folder / "adapter_config.json").read_text())
    except (OSError, ValueError) as exc:
        return f"adapter_config.json is not readable JSON ({exc})"
    rank = config.get("r") if isinstance(config, dict) else None
    if not isinstance(rank, int) or rank < 1:
        return "adapter_config.json has no positive integer rank 'r'"
    if max_rank is not None and rank > max_rank:
        return f"rank {rank} is above the engine's max_lora_rank {max_rank}"
    weights = folder / _WEIGHTS
    if not weights.is_file():
        return f"{_WEIGHTS} is missing"
    from safetensors import safe_open

    try:
        with safe_open(str(weights), framework="numpy") as handle:
            keys = list(handle.keys())
            shapes = {key: handle.get_slice(key).get_shape() for key in keys}
    except Exception as exc:  # safetensors raises its own error types for every kind of corruption
        return f"{_WEIGHTS} is not a valid safetensors file ({type(exc).__name__}: {exc})"
    if not any("lora_A" in key for key in keys):
        return f"{_WEIGHTS} holds no lora_A tensors"
    for key, shape in shapes.items():
        if ("lora_A" in key and shape[0] != rank) or ("lora_B" in key and shape[-1] != rank):
            return f"tensor {key} has shape {list(shape)}, which does not match rank {rank}"
    return None


class AdapterRegistry:
    def __init__(self, adapters_dir: Path, max_rank: int | None = None) -> None:
        self.adapters_dir = adapters_dir
        self.max_rank = max_rank
        self._adapters: dict[str, Adapter] = {}
        self._invalid: dict[str, InvalidAdapter] = {}
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
        known = self._adapters.get(folder.name) or self._invalid.get(folder.name)
        if known is not None and known.content_hash == content_hash:
            return
        problem = adapter_problem(folder, self.max_rank)
        if problem is not None:
            self._adapters.pop(folder.name, None)
            self._invalid[folder.name] = InvalidAdapter(folder.name, problem, content_hash)
            logger.warning("adapter %s cannot be used: %s", folder.name, problem)
            return
        self._invalid.pop(folder.name, None)
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
        if name in self._invalid:
            raise ApiError(422, f"adapter {name!r} cannot be loaded: {self._invalid[name].problem}",
                           "adapter_invalid", "adapter")
        if name not in self._adapters:
            known = ", ".join(self.names()) or "none"
            raise ApiError(404, f"adapter {name!r} not found in {self.adapters_dir} (known: {known})",
                           "adapter_not_found", "adapter")
        return self._adapters[name]
