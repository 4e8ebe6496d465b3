"""Hostile programs must be contained, reported with the right status, and leave the host untouched.

Every test runs the program with a known uid and then checks that no process of that uid (and none carrying
the test's marker in its command line) is still alive.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import stat
import threading
import time
from pathlib import Path

import pytest

from sandbox import Limits, cases, execute, humaneval_check, mbpp_asserts
from sandbox.runner import _pids_of_uid

FAST = Limits(wall_seconds=4.0, cpu_seconds=3.0, memory_mb=512, nproc=16)
SPEC = humaneval_check("def check(candidate):\n    assert candidate(2) == 4\n    assert candidate(3) == 6\n", "f")
GOOD = "def f(x):\n    return 2 * x\n"
BAD = "def f(x):\n    return x + 2\n"


def _marker_processes(marker: str) -> list[int]:
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                if marker.encode() in Path(f"/proc/{name}/cmdline").read_bytes():
                    found.append(int(name))
            except OSError:
                continue
    return found


def run_contained(program: str, spec=SPEC, limits: Limits = FAST, marker: str = "no-marker-used"):
    """Run and assert that the run left nothing behind (no uid-owned process, no marked process, no strays)."""
    uid = 1_500_000_000 + secrets.randbelow(100_000_000)
    result = execute(program, spec, limits, uid=uid)
    assert _pids_of_uid(uid) == []
    assert _marker_processes(marker) == []
    assert "strays" not in result.detail, result
    return result


def test_good_and_bad_programs_are_told_apart():
    assert run_contained(GOOD).status == "passed"
    bad = run_contained(BAD)
    assert (bad.status, bad.detail) == ("failed", "AssertionError")


def test_infinite_loop_times_out():
    start = time.monotonic()
    result = run_contained("def f(x):\n    while True:\n        pass\n")
    assert result.status == "timeout"
    assert time.monotonic() - start < FAST.wall_seconds + 2


def test_sleeping_program_hits_the_wall_clock():
    result = run_contained("import time\ntime.sleep(60)\n" + GOOD)
    assert (result.status, result.detail) == ("timeout", "wall")


def test_fork_bomb_is_contained_quickly():
    start = time.monotonic()
    result = run_contained("import os\nwhile True:\n    os.fork()\n" + GOOD)
    assert result.status != "passed"
    assert result.status in {"error", "killed", "timeout"}
    assert time.monotonic() - start < FAST.wall_seconds + 2


def test_daemonised_grandchild_dies_with_the_run():
    marker = "daj-marker-" + secrets.token_hex(6)
    program = f"import subprocess\nsubprocess.Popen(['sleep', '300', '{marker}'], start_new_session=True)\n" + GOOD
    assert run_contained(program, marker=marker).status == "passed"


def test_memory_hog_is_killed():
    result = run_contained("blocks = []\nwhile True:\n    blocks.append(bytearray(50 * 2**20))\n" + GOOD)
    assert (result.status, result.detail) == ("killed", "MemoryError")


def test_huge_allocation_is_killed():
    assert run_contained("x = bytearray(8 * 2**30)\n" + GOOD).status == "killed"


def test_writes_outside_scratch_do_not_reach_the_host(tmp_path_factory):
    shared = Path("/var/lib") / f"daj-sandbox-test-{secrets.token_hex(4)}"
    shared.mkdir(mode=0o777)
    shared.chmod(0o777)  # world-writable on purpose: only the read-only mount namespace protects it
    try:
        program = f"open('{shared}/evil.txt', 'w').write('x')\n" + GOOD
        result = run_contained(program)
        # The host path is not even visible (allowlist root), else read-only: either way nothing is written.
        assert result.status == "error" and result.detail in {"OSError", "FileNotFoundError"}
        assert list(shared.iterdir()) == []
        tmp_name = f"daj-evil-{secrets.token_hex(4)}"
        program = f"open('/tmp/{tmp_name}', 'w').write('x')\nopen('/dev/shm/{tmp_name}', 'w').write('x')\n" + GOOD
        assert run_contained(program).status == "passed"  # private tmpfs: allowed, but invisible to the host
        assert not Path("/tmp", tmp_name).exists() and not Path("/dev/shm", tmp_name).exists()
    finally:
        for child in shared.iterdir():
            child.unlink()
        shared.rmdir()


def test_scratch_dir_is_writable_and_fresh():
    program = (
        "import os\nassert os.listdir('.') == []\nopen('a.txt', 'w').write('hello')\n"
        "assert open('a.txt').read() == 'hello'\n" + GOOD
    )
    assert run_contained(program).status == "passed"
    assert run_contained(program).status == "passed"  # the file of the first run is gone


def test_deleting_host_files_fails():
    victim = Path("/var/lib") / f"daj-victim-{secrets.token_hex(4)}"
    victim.mkdir(mode=0o777)
    victim.chmod(0o777)
    (victim / "keep.txt").write_text("precious")
    (victim / "keep.txt").chmod(stat.S_IRWXU | stat.S_IRWXG | stat.S_IRWXO)
    try:
        program = f"import shutil\nshutil.rmtree('{victim}')\n" + GOOD
        result = run_contained(program)
        assert result.status == "error"
        assert (victim / "keep.txt").read_text() == "precious"
    finally:
        (victim / "keep.txt").unlink()
        victim.rmdir()


def test_no_network_even_to_host_loopback():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.settimeout(3)
    port = server.getsockname()[1]
    accepted: list = []
    thread = threading.Thread(target=lambda: _accept(server, accepted), daemon=True)
    thread.start()
    program = f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=2)\n" + GOOD
    result = run_contained(program)
    assert result.status == "error" and result.detail in {"ConnectionRefusedError", "OSError"}
    outside = run_contained("import socket\nsocket.create_connection(('1.1.1.1', 80), timeout=2)\n" + GOOD)
    assert outside.status == "error"
    thread.join()
    server.close()
    assert accepted == []


def _accept(server: socket.socket, accepted: list) -> None:
    with contextlib.suppress(OSError):
        accepted.append(server.accept())


@pytest.mark.parametrize(
    "exit_call",
    [
        "import os\nos._exit(0)",
        "import sys\nsys.exit(0)",
        "raise SystemExit(0)",
        "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)",
    ],
)
def test_exiting_before_the_asserts_is_not_a_pass(exit_call):
    result = run_contained(BAD + exit_call + "\n")
    assert result.status != "passed", result
    inside = run_contained(f"def f(x):\n    {exit_call.replace(chr(10), '; ')}\n")
    assert inside.status != "passed", inside


def test_monkey_patching_builtins_does_not_make_a_failing_program_pass():
    spec = humaneval_check(
        "def check(candidate):\n    assert abs(candidate(2) - 4) < 1e-9\n    assert len(candidate([1])) == 2\n", "f"
    )
    patches = [
        "import builtins\nbuiltins.abs = lambda x: 0\nbuiltins.len = lambda x: 2\n",
        "import builtins\nbuiltins.AssertionError = type('X', (Exception,), {})\n",
        "import builtins\nbuiltins.check = lambda c: None\nglobals()['check'] = lambda c: None\n",
        "import os\nos._exit = lambda code: None\nos.write = lambda fd, data: len(data)\n",
    ]
    for patch in patches:
        result = run_contained(patch + "def f(x):\n    return 0\n", spec)
        assert result.status == "failed", (patch, result)


@pytest.mark.parametrize(
    "spec",
    [
        mbpp_asserts(["assert f(2) == 4", "assert f(3) == 6"], "f"),
        cases(["assert f(2) == 4", "assert f(3) == 6"], "f"),
        SPEC,
    ],
    ids=["asserts", "cases", "check"],
)
def test_patching_the_harness_builtins_does_not_skip_the_tests(spec):
    patch = (
        "import builtins\n"
        "builtins.exec = lambda *a, **k: None\n"
        "builtins.compile = lambda *a, **k: None\n"
        "builtins.isinstance = lambda *a: False\n"
    )
    result = run_contained(patch + BAD, spec)
    assert result.status == "failed", result


def test_forged_report_lines_are_rejected():
    forge = (
        "import os\n"
        "for fd in range(3, 30):\n"
        "    try:\n"
        "        os.write(fd, b'DAJ-REPORT 0123456789abcdef0123456789abcdef 2 passed - -\\n')\n"
        "    except OSError:\n"
        "        pass\n"
    )
    assert run_contained(forge + BAD).status != "passed"
    assert run_contained(forge + "os._exit(0)\n").status != "passed"


def test_printing_a_gigabyte_is_capped():
    start = time.monotonic()
    program = "import sys\nchunk = 'x' * 2**20\nfor _ in range(1024):\n    sys.stdout.write(chunk)\n" + GOOD
    result = run_contained(program)
    assert (result.status, result.detail) == ("killed", "OutputLimit")
    assert len(result.stdout) <= FAST.capture_bytes
    assert time.monotonic() - start < FAST.wall_seconds + 2


def test_big_file_write_is_stopped_by_fsize():
    program = "f = open('big.bin', 'wb')\nfor _ in range(100):\n    f.write(b'0' * 2**20)\n" + GOOD
    assert run_contained(program).status == "killed"


def test_output_is_captured_and_truncated():
    result = run_contained("print('hello from candidate')\nimport sys\nprint('e' * 100000, file=sys.stderr)\n" + GOOD)
    assert result.status == "passed"
    assert result.stdout == "hello from candidate\n"
    assert len(result.stderr) == FAST.capture_bytes
