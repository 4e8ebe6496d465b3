"""What the service builds once at start-up and every request shares (kept on `app.state.daj`)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from service.engine.base import JudgeEngine
from service.settings import Settings

logger = logging.getLogger(__name__)


@dataclass
class ServiceState:
    settings: Settings
    engine: JudgeEngine
    engine_ready: bool = False
    engine_error: str | None = None
    _startup: asyncio.Task[None] | None = field(default=None, repr=False)

    def start_engine_in_background(self) -> None:
        """Load the engine without blocking start-up: /health answers at once, /ready once it is loaded."""
        self._startup = asyncio.create_task(self._start_engine(), name="engine-startup")

    async def _start_engine(self) -> None:
        try:
            await self.engine.start()
            self.engine_ready = True
            logger.info("engine ready")
        except Exception as exc:
            self.engine_error = f"{type(exc).__name__}: {exc}"
            logger.error("engine failed to start: %s", self.engine_error, exc_info=exc)

    async def close(self) -> None:
        if self._startup is not None and not self._startup.done():
            self._startup.cancel()
        await self.engine.close()
