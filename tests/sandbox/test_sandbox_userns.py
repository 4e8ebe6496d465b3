"""The sandbox's user namespace: where its runs' ids come from, and what happens when it cannot be made.

A sandbox that cannot start says why at once. Where unshare(2) is refused (a container without the sandbox's
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


def test_the_runs_uid_range_is_the_users_subuid_grant(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Root takes the default range; another user (the images' uid 10001) its first grant in /etc/subuid, by name
    or number, which docker/userns-unshare maps (a pod's 65536 ids get a smaller grant: deploy/k8s)."""
    import pwd

    from sandbox.runner import SANDBOX_UID_MIN, SANDBOX_UID_SPAN, sandbox_uid_range

    subuid = tmp_path / "subuid"
    subuid.write_text("other:100000:65536\ndaj:20000:40000\ndaj:70000:100\n")
    monkeypatch.setattr("os.geteuid", lambda: 0)
    assert sandbox_uid_range(subuid) == (SANDBOX_UID_MIN, SANDBOX_UID_SPAN)
    monkeypatch.setattr("os.geteuid", lambda: 10001)
    monkeypatch.setattr(pwd, "getpwuid", lambda uid: pwd.struct_passwd(("daj", "x", uid, uid, "", "/", "/bin/sh")))
    assert sandbox_uid_range(subuid) == (20000, 40000)
    subuid.write_text("10001:30000:500\n")
    assert sandbox_uid_range(subuid) == (30000, 500)
    subuid.write_text("other:1:2\ndaj:x:5\n")  # no usable grant: the default (the namespace then says why)
    assert sandbox_uid_range(subuid) == (SANDBOX_UID_MIN, SANDBOX_UID_SPAN)
    assert sandbox_uid_range(tmp_path / "missing") == (SANDBOX_UID_MIN, SANDBOX_UID_SPAN)


def test_no_two_runs_hold_one_uid(monkeypatch: pytest.MonkeyPatch) -> None:
    """A uid is held from the pick to the end of its run's sweep: a second pick skips it, and in a small range one
    that a process (of another process's run) still holds is skipped too."""
    from sandbox.runner import UidsInUse

    held = UidsInUse()
    picks = iter([3, 3, 5, 7, 3])
    monkeypatch.setattr("secrets.randbelow", lambda span: next(picks))
    monkeypatch.setattr("sandbox.runner._pids_of_uid", lambda uid: [4242] if uid == 20005 else [])
    assert held.take(20000, 10) == 20003
    assert held.take(20000, 10) == 20007  # 20003 is held here, 20005 by a live process
    held.release(20003)
    assert held.take(20000, 10) == 20003  # released once its run was swept


def test_runs_in_parallel_get_distinct_uids_from_a_small_grant(monkeypatch: pytest.MonkeyPatch) -> None:
    """The real sandbox, eight runs at once from a grant of 16 ids, each reporting its own uid: all distinct (eight
    random picks from 16 would be distinct only 12% of the time)."""
    from concurrent.futures import ThreadPoolExecutor

    from sandbox import probes

    monkeypatch.setattr("sandbox.runner.sandbox_uid_range", lambda: (1_000_000, 16))

    spec = probes([{"kind": "check", "call": "f(0)", "expected": None}], "f", case_seconds=5.0)
    program = "import os, time\ndef f(x):\n    time.sleep(0.3)\n    return os.getuid()\n"
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: execute(program, spec, Limits()), range(8)))
    assert all(r.status == "passed" for r in results), results
    uids = [int(r.outputs[0]) for r in results]
    assert len(set(uids)) == 8 and all(1_000_000 <= uid < 1_000_016 for uid in uids), uids
