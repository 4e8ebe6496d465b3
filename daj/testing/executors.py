"""A real `daj executor` process on a free port, for tests and benchmarks."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from daj.testing.processes import wait_until_ok
from daj.testing.redis_server import free_port


class ExecutorProcess:
    def __init__(self, log: Path, env: dict[str, str] | None = None, token: str = "executor-test-token",
                 workers: int = 2, port: int | None = None, host: str = "127.0.0.1") -> None:
        self.port = port or free_port()
        self.url = f"http://{host}:{self.port}"
        self.token = token
        self.auth = {"Authorization": f"Bearer {token}"}
        self.env = {"DAJ_EXECUTOR_HOST": host, "DAJ_EXECUTOR_PORT": str(self.port), "DAJ_EXECUTOR_TOKEN": token,
                    "DAJ_LOG_LEVEL": "warning", "DAJ_EXECUTION_WORKERS": str(workers), **(env or {})}
        self.process = subprocess.Popen([sys.executable, "-m", "daj_cli", "executor"], env={**os.environ, **self.env},
                                        stdout=log.open("w"), stderr=subprocess.STDOUT)
        wait_until_ok(f"{self.url}/ready", 120, self.process, log, headers=self.auth)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(30)

    def runs(self) -> float:
        """Runs it finished (its /metrics)."""
        text = httpx.get(f"{self.url}/metrics", headers=self.auth, timeout=10).text
        return sum(float(line.split()[-1]) for line in text.splitlines()
                   if line.startswith("daj_executor_runs_total"))
