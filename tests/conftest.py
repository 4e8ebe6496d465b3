"""Shared fixtures: real parts only (a tiny model vLLM loads, a private redis-server, the real backbone)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from service.engine.vllm_local import VllmEngine

# Before anything imports transformers or vLLM: never reach for a hub, keep the CPU KV cache small.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")

from daj.testing.loop_thread import LoopThread
from daj.testing.redis_server import RedisServer
from daj.testing.tiny_model import build_tiny_lora, build_tiny_model
from service.settings import Settings
from service.testing import InProcessService, start_service

# Under CI=true a skip fails unless tests/optional_tests.py lists the test as optional, with the reason.
pytest_plugins = ["optional_tests"]


@pytest.fixture(scope="session")
def tiny_model_dir() -> Path:
    """A tiny random-init Llama with a locally trained tokenizer (built once, cached on disk)."""
    return build_tiny_model()


@pytest.fixture(scope="session")
def tiny_lora_dir(tiny_model_dir: Path) -> Path:
    """A LoRA adapter with random non-zero weights for the tiny model."""
    return build_tiny_lora(tiny_model_dir)


@pytest.fixture(scope="session")
def tiny_tokenizer(tiny_model_dir: Path):  # type: ignore[no-untyped-def]
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model_dir)


@pytest.fixture(scope="session")
def default_model_dir() -> Path:
    """The real default backbone (SmolLM2-135M-Instruct), converted once (make test prepares it)."""
    from daj.models import prepare_embedded_model

    return prepare_embedded_model()


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    """A private redis-server on a free port; the test may stop and restart it."""
    server = RedisServer().start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="session")
def loop_thread() -> Iterator[LoopThread]:
    runner = LoopThread()
    yield runner
    runner.close()


@pytest.fixture(scope="session")
def tiny_engine(tiny_model_dir: Path, loop_thread: LoopThread) -> Iterator[VllmEngine]:
    """One real vLLM engine (CPU) on the tiny model for the whole session (~20 s to start)."""
    from service.engine.vllm_local import VllmEngine

    engine = VllmEngine(str(tiny_model_dir), max_model_len=4096, kv_cache_gib=1, max_lora_rank=16)
    loop_thread.run(engine.start())
    yield engine
    loop_thread.run(engine.close())


# ---- real services: in-process uvicorn apps sharing the one real vLLM engine ----


@pytest.fixture(scope="session")
def adapters_dir(tmp_path_factory: pytest.TempPathFactory, tiny_lora_dir: Path) -> Path:
    folder = tmp_path_factory.mktemp("adapters")
    (folder / "tiny").symlink_to(tiny_lora_dir, target_is_directory=True)
    return folder


@pytest.fixture(scope="session")
def base_settings(tiny_model_dir: Path, adapters_dir: Path) -> Settings:
    return Settings(model=str(tiny_model_dir), adapters_dir=adapters_dir, max_candidates=16, max_field_chars=4000,
                    max_model_len=4096, redis_url=None, api_keys=[], default_adapter=None)


@pytest.fixture(scope="session")
def session_redis() -> Iterator[RedisServer]:
    server = RedisServer().start()
    yield server
    server.close()


@pytest.fixture(scope="session")
def redis_service(loop_thread, tiny_engine, base_settings: Settings, session_redis: RedisServer):  # type: ignore[no-untyped-def]
    service = start_service(loop_thread, base_settings.model_copy(update={"redis_url": session_redis.url}), tiny_engine)
    yield service
    service.stop()


@pytest.fixture(scope="session")
def memory_service(loop_thread, tiny_engine, base_settings: Settings) -> Iterator[InProcessService]:  # type: ignore[no-untyped-def]
    service = start_service(loop_thread, base_settings, tiny_engine)
    yield service
    service.stop()
