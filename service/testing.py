"""The real service (uvicorn + FastAPI) on a free port, inside an existing event-loop thread.

Several such services can share one already-started engine, so a test suite pays the engine start once
while still talking to the service over real HTTP.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from daj.testing.loop_thread import LoopThread
from daj.testing.processes import wait_until_ok
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
    wait_until_ok(f"{url}/ready", timeout_s, headers=_auth(settings))
    return InProcessService(url, app, server, loop_thread)


def _auth(settings: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {settings.api_keys[0]}"} if settings.api_keys else {}


__all__ = ["InProcessService", "start_service"]
