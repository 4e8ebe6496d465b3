"""Waiting for a server a test started: poll until it answers 200, fail early if its process died."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import httpx


def wait_until_ok(
    url: str,
    timeout_s: float,
    process: subprocess.Popen[bytes] | None = None,
    log_path: Path | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """GET `url` until it answers 200 and return that response; raise with the log tail otherwise."""
    deadline = time.monotonic() + timeout_s
    last = "no answer"
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode} before {url} was up{_tail(log_path)}")
        try:
            response = httpx.get(url, timeout=2, headers=headers)
            if response.status_code == 200:
                return response
            last = f"status {response.status_code}"
        except httpx.HTTPError as exc:
            last = f"{type(exc).__name__}: {exc}"
        time.sleep(0.2)
    raise RuntimeError(f"{url} not up after {timeout_s} s ({last}){_tail(log_path)}")


def _tail(log_path: Path | None) -> str:
    return f"\n{log_path.read_text()[-3000:]}" if log_path is not None and log_path.is_file() else ""


def live_processes_of_uids_from(uid_min: int) -> list[int]:
    """PIDs of the live (not zombie) processes whose real uid is at least `uid_min`, read from /proc: what a
    sandbox run left behind, when every run gets its own uid above a known base."""
    found = []
    for name in filter(str.isdigit, os.listdir("/proc")):
        try:
            status = Path(f"/proc/{name}/status").read_text()
        except OSError:  # the process ended while we looked
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        if int(fields.get("Uid", "0").split()[0]) >= uid_min and not fields["State"].strip().startswith("Z"):
            found.append(int(name))
    return found
