"""A sandbox that cannot start says why at once. Where unshare(2) is refused (a container without the sandbox's
privilege: Docker's default seccomp profile), util-linux's `unshare --map-users` exits 1 but leaves its uid-map
helper holding the run's pipes. The runner used to wait for those pipes until the wall limit and report the
self-check as a `timeout`; it now stops reading once unshare itself has exited and raises SandboxError with
unshare's message. `make test-docker` shows the real case (the API container's self-check); here an `unshare`
that behaves the same way stands in for it on PATH."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from sandbox import Limits, SandboxError, execute
from sandbox.wire import self_check_job

# What util-linux 2.38's unshare does when unshare(2) fails with --map-users: its helper child (here `sleep`)
# keeps stdout, stderr and the report pipe open after unshare itself exited.
REFUSED_UNSHARE = """#!/bin/sh
sleep 30 &
echo "unshare: unshare failed: Operation not permitted" >&2
exit 1
"""


def test_an_unshare_that_is_refused_is_a_sandbox_error_at_once(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "unshare"
    fake.write_text(REFUSED_UNSHARE)
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    job = self_check_job(Limits(wall_seconds=10.0))
    started = time.monotonic()
    with pytest.raises(SandboxError) as raised:
        execute(job.program, job.spec, job.limits)
    took = time.monotonic() - started
    assert "sandbox did not start (rc=1)" in str(raised.value), raised.value
    assert "unshare failed: Operation not permitted" in str(raised.value), raised.value
    assert took < 5, f"{took:.1f} s: the run waited for the helper's pipes (wall limit 10 s)"
