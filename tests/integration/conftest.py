"""Real services for integration tests: in-process uvicorn apps sharing one real vLLM engine."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from daj.testing.inprocess_service import InProcessService, start_service
from daj.testing.redis_server import RedisServer
from service.settings import Settings


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
