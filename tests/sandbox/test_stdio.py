"""The sandbox's `stdio` mode: a whole program per probe, its standard input given, its standard output compared
(line by line after stripping, then token by token, numbers as decimals), in a real sandbox. Hostile programs are
contained with the right mark, quickly, and nothing of a run survives it."""

from __future__ import annotations

import ast
import secrets
import time
from pathlib import Path

from sandbox import Limits, RunResult, execute
from sandbox.formats import stdio
from sandbox.runner import _pids_of_uid

LIMITS = Limits(wall_seconds=10.0, cpu_seconds=5.0, memory_mb=512, nproc=16)
REPO = Path(__file__).resolve().parents[2]
ADDER = "a, b = map(int, input().split())\nprint(a + b)\n"


def probe(stdin: str, expected: str | None = None) -> dict[str, str | None]:
    return {"kind": "stdin", "stdin": stdin, "expected": expected}


def run(program: str, items: list[dict[str, str | None]], case_seconds: float = 1.0,
        limits: Limits = LIMITS) -> RunResult:
    """Run with a known uid, and check that nothing of the run is left (no process of its uid, no strays)."""
    uid = 1_500_000_000 + secrets.randbelow(100_000_000)
    result = execute(program, stdio(items, case_seconds=case_seconds), limits, uid=uid)
    assert _pids_of_uid(uid) == []
    assert "strays" not in result.detail, result
    return result


def marks(program: str, *pairs: tuple[str, str | None], case_seconds: float = 1.0) -> str:
    return run(program, [probe(stdin, expected) for stdin, expected in pairs], case_seconds).cases


# ---- comparison ----------------------------------------------------------------------------------------------


def test_a_correct_program_passes_and_a_wrong_one_fails_with_its_output() -> None:
    good = run(ADDER, [probe("1 2\n", "3\n"), probe("10 -4\n", "6\n"), probe("5 5\n")])
    assert (good.status, good.detail, good.cases, good.outputs) == ("passed", "stdio", "PPP", ["3", "6", "10"])
    bad = run("a, b = map(int, input().split())\nprint(a - b)\n", [probe("1 2\n", "3\n"), probe("5 0\n", "5\n")])
    assert (bad.status, bad.cases, bad.outputs) == ("failed", "FP", ["-1", "5"])


def test_trailing_spaces_crlf_and_final_newlines_do_not_matter() -> None:
    program = "print('1 2 ')\nprint('  3')\nprint()\nprint()\n"
    assert marks(program, ("", "1 2\n3\n"), ("", "1 2\r\n3\r\n"), ("", "1 2   \n3"), ("", "1 2\n3\n\n\n")) == "PPPP"
    crlf_out = "import sys\nsys.stdout.write('YES\\r\\nNO\\r\\n')\n"
    assert marks(crlf_out, ("", "YES\nNO\n")) == "P"


def test_lines_tokens_and_case_do_matter() -> None:
    program = "print('1 2')\nprint('Yes')\n"
    assert marks(program, ("", "1 2\n"), ("", "1 2\nYes\nNo\n"), ("", "1  2\nYes\n"), ("", "12\nYes\n"),
                 ("", "1 2\nyes\n"), ("", "2 1\nYes\n")) == "FFPFFF"
    assert marks("print(1)\nprint()\nprint(2)\n", ("", "1\n2\n")) == "F"  # an empty line inside counts


def test_an_empty_expected_output() -> None:
    silent = "input()\n"
    assert marks(silent, ("x\n", "\n"), ("x\n", ""), ("x\n", "\r\n")) == "PPP"
    assert marks("input()\nprint()\nprint('  ')\n", ("x\n", "\n")) == "P"  # blank lines are nothing
    assert marks("print(0)\n", ("x\n", "\n")) == "F"


def test_numbers_are_equal_as_decimals_and_close_only_with_a_decimal_point() -> None:
    def printing(text: str) -> str:
        return f"print({text!r})\n"

    assert marks(printing("0.3333333333"), ("", "0.333333\n")) == "P"  # within 1e-6 of an expected decimal
    assert marks(printing("0.33"), ("", "0.333333\n")) == "F"
    assert marks(printing("3.0"), ("", "3\n")) == "P"  # equal as decimals
    assert marks(printing("3.0000001"), ("", "3\n")) == "F"  # close, but the expected token has no decimal point
    assert marks(printing("3"), ("", "3.0000001\n")) == "P"
    assert marks(printing("1000000.5"), ("", "1000000.0\n")) == "P"  # relative: 1e-6 of 1e6
    assert marks(printing("1.00001"), ("", "1.0\n")) == "F"
    assert marks(printing("-0.0000004 7"), ("", "0.0 7\n")) == "P"
    assert marks(printing("nan"), ("", "nan\n")) == "P"  # equal text
    assert marks(printing("inf"), ("", "1e308\n")) == "F"


def test_cpu_times_are_recorded_for_every_probe() -> None:
    busy = "import sys\nn = int(sys.stdin.readline())\ns = 0\nfor i in range(n):\n    s += i\nprint(s)\n"
    result = run(busy, [probe("10\n", "45\n"), probe("3000000\n"), probe("1\n", "0\n")], case_seconds=5.0)
    assert result.cases == "PPP" and len(result.times) == 3
    times = [t for t in result.times if t is not None]
    assert len(times) == 3 and all(t >= 0 for t in times)
    assert times[1] > times[0] and times[1] > 0.05  # the long loop took CPU


# ---- how programs end ------------------------------------------------------------------------------------------


def test_a_program_running_main_in_a_thread_it_never_joins_passes() -> None:
    threaded = (
        "import sys, threading\n\ndef main():\n    a, b = map(int, sys.stdin.readline().split())\n    print(a + b)\n\n"
        "sys.setrecursionlimit(1 << 25)\nthreading.stack_size(1 << 26)\nthreading.Thread(target=main).start()\n"
    )
    assert marks(threaded, ("1 2\n", "3\n"), ("4 4\n", "8\n")) == "PP"


def test_a_daemon_thread_left_behind_passes() -> None:
    program = "import threading, time\nthreading.Thread(target=time.sleep, args=(100,), daemon=True).start()\n" + ADDER
    started = time.monotonic()
    assert marks(program, ("1 2\n", "3\n")) == "P"
    assert time.monotonic() - started < 3


def test_stdout_buffer_writes_and_stdin_buffer_reads_pass() -> None:
    program = ("import sys\na, b = map(int, sys.stdin.buffer.readline().split())\n"
               "sys.stdout.buffer.write(str(a + b).encode() + b'\\n')\n")
    assert marks(program, ("1 2\n", "3\n")) == "P"
    mixed = "print('a', end=' ')\nimport sys\nsys.stdout.flush()\nsys.stdout.buffer.write(b'b\\n')\n"
    assert marks(mixed, ("", "a b\n")) == "P"


def test_exit_and_quit_work_without_site() -> None:
    for ending in ("exit()", "quit()", "exit(0)", "import sys; sys.exit()", "raise SystemExit"):
        assert marks(ADDER + ending + "\nprint('after')\n", ("1 2\n", "3\n")) == "P", ending
    result = run("print(3)\nexit(3)\n", [probe("", "3\n")])
    assert (result.cases, result.outputs) == ("E", ["exit 3"])


def test_errors_are_marked_with_what_was_raised() -> None:
    result = run("x = int(input())\nprint(1 // x)\n", [probe("0\n", "0\n"), probe("1\n", "1\n")])
    assert (result.status, result.cases, result.outputs) == ("failed", "EP", ["raise ZeroDivisionError", "1"])
    in_thread = run("import threading\ndef main():\n    raise KeyError\nthreading.Thread(target=main).start()\n",
                    [probe("", "")])
    assert (in_thread.cases, in_thread.outputs) == ("E", ["raise KeyError"])


def test_reading_past_the_end_of_input_is_an_eof_error_not_a_hang() -> None:
    started = time.monotonic()
    result = run(ADDER + "input()\n", [probe("1 2\n", "3\n")])
    assert (result.cases, result.outputs) == ("E", ["raise EOFError"])
    assert time.monotonic() - started < 3


def test_each_probe_is_a_fresh_process() -> None:
    program = "import sys\nsys.setrecursionlimit(50)\nseen = globals().setdefault('seen', [])\nseen.append(1)\n" \
              "print(len(seen))\n"  # fmt: skip
    assert marks(program, ("", "1\n"), ("", "1\n"), ("", "1\n")) == "PPP"


def test_a_program_that_forks_a_child_that_exits_normally_passes() -> None:
    program = "import os, sys\npid = os.fork()\nif pid == 0:\n    sys.exit(0)\nos.waitpid(pid, 0)\n" + ADDER
    result = run(program, [probe("1 2\n", "3\n")])
    assert (result.cases, result.outputs) == ("P", ["3"])


def test_a_program_cannot_forge_a_pass_from_its_probe_child() -> None:
    forge = (
        "import gc, os\nr = [o for o in gc.get_objects() if type(o).__name__ == 'Reporter'][0]\n"
        "n = r._nonce\nos.write(r._fd, f'DAJ-OUTPUTS {n} [\"3\"]\\nDAJ-TIMES {n} [0.1]\\n"
        "DAJ-REPORT {n} 2 passed stdio P\\n'.encode())\n"
    )
    for ending in ("", "os.kill(os.getppid(), 9)\n", "os._exit(0)\n"):
        result = run(forge + ending, [probe("1 2\n", "4\n")])
        # The probe's process holds no descriptor of the report pipe: the write itself fails.
        assert (result.status, result.cases, result.outputs) == ("failed", "E", ["raise OSError"]), (ending, result)


def test_a_program_cannot_read_the_expected_outputs_from_memory() -> None:
    peek = ("import gc\nfound = [o for o in gc.get_objects() if isinstance(o, dict) and 'expected' in o]\n"
            "print(found[0]['expected'] if found else 'nothing', end='')\n")
    result = run(peek, [probe("1 2\n", "secret 3\n")])
    assert (result.cases, result.outputs) == ("F", ["nothing"])


def test_a_process_escaping_its_group_is_killed_before_the_next_probe() -> None:
    escape = ("import os, time\nif os.fork() == 0:\n    os.setsid()\n    time.sleep(30)\n    os._exit(0)\n"
              "print(len([p for p in os.listdir('/proc') if p.isdigit()]))\n")
    result = run(escape, [probe("", None), probe("", None)])
    assert result.cases == "PP" and result.outputs[1] == result.outputs[0]  # the first probe's sleeper is gone


# ---- hostile programs ------------------------------------------------------------------------------------------


def test_a_fork_bomb_at_import_is_contained_quickly() -> None:
    started = time.monotonic()
    result = run("import os\nwhile True:\n    os.fork()\n", [probe("1 2\n", "3\n"), probe("2 2\n", "4\n")])
    assert result.status == "failed" and result.cases == "EE"
    assert result.outputs == ["raise BlockingIOError"] * 2  # one status, from the probe's own child
    assert time.monotonic() - started < 5


def test_files_outside_the_allowlist_cannot_be_read() -> None:
    for path in ("/etc/passwd", "/etc/shadow", str(REPO / "README.md"), str(REPO / "pyproject.toml"),
                 str(Path.home() / ".bashrc"), "/proc/1/environ"):
        result = run(f"print(open({path!r}).read()[:50])\n", [probe("", "")])
        assert result.cases == "E" and result.outputs[0] in {"raise FileNotFoundError", "raise PermissionError"}, path
    listing = run(f"import os\nprint(sorted(os.listdir({str(REPO)!r})))\n", [probe("")])
    assert listing.cases == "E" or set(ast.literal_eval(listing.outputs[0])) <= {".venv"}  # the venv at most


def test_printing_a_gigabyte_ends_as_output_limit_quickly() -> None:
    started = time.monotonic()
    for program in ("for _ in range(1 << 20):\n    print('x' * 1024)\n",
                    "import sys\nfor _ in range(1 << 20):\n    sys.stdout.buffer.write(b'x' * 1024)\n",
                    "import os\nfor _ in range(1 << 20):\n    os.write(1, b'x' * 1024)\n"):
        result = run(program, [probe("", "x\n")])
        assert result.cases == "E" and result.outputs == ["output limit"], (program, result)
    assert time.monotonic() - started < 10


def test_printing_to_stderr_is_dropped() -> None:
    program = "import sys\nfor _ in range(1 << 16):\n    sys.stderr.write('y' * 1024)\n" + ADDER
    result = run(program, [probe("1 2\n", "3\n")])
    assert result.cases == "P" and result.stderr == ""


def test_a_thread_that_never_ends_times_out_at_the_wall_limit() -> None:
    program = "import threading, time\ndef spin():\n    while True:\n        time.sleep(0.05)\n" \
              "threading.Thread(target=spin).start()\nprint(3)\n"  # fmt: skip
    started = time.monotonic()
    result = run(program, [probe("", "3\n")], case_seconds=0.5)
    assert (result.cases, result.outputs) == ("T", ["timeout"])
    assert time.monotonic() - started < 2 * 0.5 + 1 + 2  # wall: 2 * limit + 1 s


def test_a_busy_loop_times_out_on_cpu_and_its_time_is_recorded() -> None:
    started = time.monotonic()
    result = run("while True:\n    pass\n", [probe("", "3\n")], case_seconds=0.5)
    assert (result.cases, result.outputs) == ("T", ["timeout"])
    assert result.times[0] is not None and result.times[0] >= 0.5
    assert time.monotonic() - started < 5


def test_after_three_timeouts_the_rest_is_not_run() -> None:
    started = time.monotonic()
    result = run("import time\ntime.sleep(60)\n", [probe(str(i)) for i in range(6)], case_seconds=0.2)
    assert result.cases == "TTTTTT" and result.times[3:] == [None, None, None]
    assert time.monotonic() - started < 3 * (2 * 0.2 + 1) + 3


def test_a_subprocess_left_running_dies_with_its_probe() -> None:
    program = "import subprocess\nsubprocess.Popen(['sleep', '300'], start_new_session=True)\n" + ADDER
    assert marks(program, ("1 2\n", "3\n"), ("2 2\n", "4\n")) == "PP"  # `run` checks nothing is left


def test_a_program_killed_by_a_signal() -> None:
    result = run("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n", [probe("", "")])
    assert (result.cases, result.outputs) == ("E", ["killed signal 9"])


def test_a_memory_hog_is_an_error_not_a_pass() -> None:
    result = run("blocks = []\nwhile True:\n    blocks.append(bytearray(50 << 20))\n", [probe("", "")])
    assert result.cases == "E" and result.outputs == ["raise MemoryError"]
