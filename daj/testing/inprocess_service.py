"""The real service (uvicorn + FastAPI) on a free port, inside an existing event-loop thread.

Several such services can share one already-started engine, so a test suite pays the engine start once
while still talking to the service over real HTTP.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import httpx

from daj.testing.loop_thread import LoopThread
from daj.testing.redis_server import free_port


@dataclass
class InProcessService:
    url: str
    app: Any
    server: Any
    loop_thread: LoopThread

    def stop(self) -> None:
        self.server.should_exit = True
        deadline = time.monotonic() + 15
        while self.server.started and time.monotonic() < deadline:
            time.sleep(0.05)


def start_service(
    loop_thread: LoopThread, settings: Any, engine: Any, timeout_s: float = 60.0, log_level: str = "warning"
) -> InProcessService:
    import uvicorn

    from service.app import create_app

    port = free_port()
    settings = settings.model_copy(update={"port": port})
    app = create_app(settings, engine=engine)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level=log_level, lifespan="on"))
    loop_thread.submit(server.serve())
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/ready", timeout=2, headers=_auth(settings)).status_code == 200:
                return InProcessService(url, app, server, loop_thread)
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"in-process service on {url} not ready after {timeout_s} s")


def _auth(settings: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {settings.api_keys[0]}"} if settings.api_keys else {}


__all__ = ["InProcessService", "start_service"]
