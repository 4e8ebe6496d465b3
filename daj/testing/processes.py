"""Processes in tests: wait for a server a test started (poll until it answers 200, fail early if its process
died); find what a sandbox run left behind."""

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


def _status(pid: int) -> dict[str, str]:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return {}
    return {key: value.strip() for key, _, value in (line.partition(":") for line in text.splitlines())}


def _is_run_init(pid: int) -> bool:
    """The root-owned pid 1 of a sandbox run's namespaces (harness.py before it forks the runner)."""
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"sandbox/harness.py" in command and _status(pid).get("Uid", "").split()[:1] == ["0"]


def _leftovers_now(uid_min: int) -> list[int]:
    found = []
    for pid in live_processes_of_uids_from(uid_min):
        chain: list[int] = []
        current = pid
        while current > 1 and len(chain) < 64:
            status = _status(current)
            if not status:
                break  # it (or an ancestor) ended while we looked
            current = int(status.get("PPid", "0"))
            chain.append(current)
        else:
            if os.getpid() in chain or not any(_is_run_init(ancestor) for ancestor in chain):
                found.append(pid)
    return found


def sandbox_leftovers(uid_min: int, grace_s: float = 2.0) -> list[str]:
    """Live processes of sandbox uids (`uid_min` and up) that are this test's: in this process's tree, or outside
    every sandbox run (escaped, re-parented), and still there after `grace_s`. Runs of other test sessions on the
    same machine (in their own trees, or ending while we look) are not."""
    deadline = time.monotonic() + grace_s
    while (found := _leftovers_now(uid_min)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return [f"{pid} uid {_status(pid).get('Uid', '?').split()[0]} {Path(f'/proc/{pid}/cmdline').read_bytes()[:80]!r}"
            for pid in found if _status(pid)]
