"""The child side of the sandbox: runs ONE untrusted program against ONE test spec.

This file is executed as a script (``python -I harness.py REPORT_FD``) inside fresh pid, network and mount
namespaces created by ``unshare`` (see runner.py); it must only use the standard library and must not import
anything from the ``sandbox`` package, because it runs before and after untrusted code in the same process.

Protocol: the job (JSON) arrives on stdin. The verdict is written as one line
``DAJ-REPORT <nonce> <pid> <status> <detail> <cases>`` to REPORT_FD, a pipe only the harness is told about.
The parent accepts a verdict only with the right nonce, from the runner pid, and (for ``passed``) a zero exit
status, so ``sys.exit(0)`` / ``os._exit(0)`` before the tests ran can never count as passing.

Process layout inside the pid namespace: pid 1 ("init") mounts private tmpfs over the world-writable
directories, forks the runner (pid 2) and reaps zombies; when the runner exits, init exits and the kernel
kills everything left in the namespace. The runner drops to an unprivileged, per-run uid, applies rlimits,
and only then compiles and executes untrusted code.
"""

import builtins
import ctypes
import errno
import json
import os
import resource
import signal
import sys

# Every function below resolves builtins through this private copy (CPython binds a function's builtins from
# its module's __builtins__ when the function is created), so candidate code that patches builtins.exec,
# builtins.compile or builtins.isinstance cannot change what the harness itself calls afterwards.
__builtins__ = dict(builtins.__dict__)

RUNNER_PID = 2
_MS_RDONLY = 1
_MS_NOSUID = 2
_MS_REMOUNT = 32
_MS_BIND = 4096
_MS_MOVE = 8192
_MS_REC = 16384
_MS_NODEV = 4
_PR_SET_NO_NEW_PRIVS = 38
_WRITABLE_DIRS = ("/tmp", "/var/tmp", "/dev/shm", "/run/lock", "/var/lock")


class CaseTimeout(BaseException):
    """Raised by SIGALRM when one case of a ``cases`` job runs too long."""


def _mount_tmpfs(libc, target: str, uid: int, size_mb: int) -> None:
    """Give the sandbox its own empty, size-capped /tmp (and friends), owned by the sandbox uid."""
    if not os.path.isdir(target) or os.path.islink(target):
        return
    opts = f"size={size_mb}m,mode=0700,uid={uid},gid={uid}".encode()
    if libc.mount(b"tmpfs", target.encode(), b"tmpfs", _MS_NOSUID | _MS_NODEV, opts) != 0:
        raise OSError(ctypes.get_errno(), f"mount tmpfs on {target} failed")


def _remount_readonly(libc) -> None:
    """Make every inherited mount read-only in this mount namespace only (the host's view is unchanged), so
    even world-writable host paths cannot be modified. Device nodes (/dev/null) keep working on a ro mount."""
    with open("/proc/self/mounts") as fh:
        points = [line.split()[1] for line in fh]
    flags = _MS_RDONLY | _MS_REMOUNT | _MS_BIND
    for point in points:
        if point.startswith(("/proc", "/sys")) or point in _WRITABLE_DIRS:
            continue
        if libc.mount(None, point.encode(), None, flags | _MS_NOSUID, None) != 0 and point == "/":
            raise OSError(ctypes.get_errno(), "read-only remount of / failed")


def _hidden_ancestor(path: str) -> str | None:
    """Topmost ancestor of ``path`` that others cannot traverse (e.g. /root, mode 0700), if any."""
    parts = path.strip("/").split("/")
    for i in range(1, len(parts)):
        ancestor = "/" + "/".join(parts[:i])
        if not os.stat(ancestor).st_mode & 0o001:
            return ancestor
    return None


def _expose(libc, path: str) -> None:
    """The interpreter may live under a private directory (pyenv in /root). Replace that directory, in this
    namespace only, by an empty tmpfs holding just a bind mount of ``path``: the unprivileged runner can
    import the stdlib, and everything else in the private directory stays invisible."""
    ancestor = _hidden_ancestor(path)
    if ancestor is None or not os.path.isdir(path):
        return
    stage = "/mnt"
    if libc.mount(path.encode(), stage.encode(), None, _MS_BIND | _MS_REC, None) != 0:
        raise OSError(ctypes.get_errno(), f"bind {path} failed")
    if libc.mount(b"tmpfs", ancestor.encode(), b"tmpfs", _MS_NOSUID | _MS_NODEV, b"size=1m,mode=0755") != 0:
        raise OSError(ctypes.get_errno(), f"tmpfs on {ancestor} failed")
    os.makedirs(path, exist_ok=True)
    if libc.mount(stage.encode(), path.encode(), None, _MS_MOVE, None) != 0:
        raise OSError(ctypes.get_errno(), f"move mount to {path} failed")


def _confine_filesystem(job: dict) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    for path in job.get("expose", ()):
        _expose(libc, path)
    _remount_readonly(libc)
    for target in _WRITABLE_DIRS:
        _mount_tmpfs(libc, target, job["uid"], job["limits"]["scratch_mb"])


def _drop_privileges(job: dict) -> None:
    """Per-run uid: RLIMIT_NPROC counts per uid, so the limit is exact, and host files stay read-only."""
    lim = job["limits"]
    uid = job["uid"]
    cpu = int(lim["cpu_seconds"])
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    resource.setrlimit(resource.RLIMIT_AS, (lim["memory_mb"] << 20, lim["memory_mb"] << 20))
    resource.setrlimit(resource.RLIMIT_FSIZE, (lim["file_mb"] << 20, lim["file_mb"] << 20))
    resource.setrlimit(resource.RLIMIT_NPROC, (lim["nproc"], lim["nproc"]))
    resource.setrlimit(resource.RLIMIT_NOFILE, (lim["nofile"], lim["nofile"]))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)
    os.chdir("/tmp")


class Reporter:
    """Writes the single verdict line; holds its own references so candidate monkey-patching is moot."""

    def __init__(self, fd: int, nonce: str) -> None:
        self._fd, self._nonce = fd, nonce
        self._write, self._getpid, self._exit = os.write, os.getpid, os._exit
        self._streams = (sys.stdout, sys.stderr)

    def note(self, exc: BaseException) -> None:
        """One line on stderr saying what was raised where (the verdict itself only carries the type name)."""
        try:
            tb, where = exc.__traceback__, ""
            while tb is not None:
                if tb.tb_frame.f_code.co_filename in ("<candidate>", "<test>", "<case>", "<prelude>"):
                    where = f" at {tb.tb_frame.f_code.co_filename} line {tb.tb_lineno}"
                tb = tb.tb_next
            text = f"\n[sandbox] {type(exc).__name__}{where}: {str(exc)[:500]}\n"
            self._write(2, text.encode("utf-8", "replace"))
        except BaseException:
            pass

    def finish(self, status: str, detail: str = "-", cases: str = "-") -> None:
        """Write the verdict and leave at once (no atexit hooks, no lingering candidate threads)."""
        safe = "".join(c if c.isalnum() or c in "._:-" else "_" for c in detail)[:120] or "-"
        for stream in self._streams:
            try:  # noqa: SIM105 -- no module attribute lookups after untrusted code ran (contextlib is patchable)
                stream.flush()
            except BaseException:
                pass
        line = f"DAJ-REPORT {self._nonce} {self._getpid()} {status} {safe} {cases or '-'}\n"
        try:
            self._write(self._fd, line.encode())
        finally:
            self._exit(0)


def _exc_status(exc: BaseException, assertion_error: type, memory_error: type) -> tuple[str, str]:
    """Map an exception to (status, detail). Hitting a resource limit is ``killed`` whatever the exception."""
    name = type(exc).__name__
    if isinstance(exc, memory_error):
        return "killed", name
    if isinstance(exc, OSError) and exc.errno in (errno.EFBIG, errno.ENOSPC):
        return "killed", "FileSizeLimit" if exc.errno == errno.EFBIG else "ScratchFull"
    if isinstance(exc, assertion_error):
        return "failed", name
    return "error", name


def _fresh_namespace(builtins_snapshot: dict) -> dict:
    """A namespace whose builtins are a copy taken before the candidate ran (candidate patches don't leak)."""
    return {"__builtins__": dict(builtins_snapshot), "__name__": "__test__"}


def _exec_candidate(program: str) -> dict:
    code = compile(program, "<candidate>", "exec")
    namespace = {"__name__": "__main__", "__builtins__": builtins}
    exec(code, namespace)
    return namespace


def _prepare_test_ns(job: dict, snapshot: dict, candidate_ns: dict):
    """Test namespace = trusted prelude (e.g. the official prompt's helper functions) + the entry point."""
    test_ns = _fresh_namespace(snapshot)
    if job.get("prelude"):
        exec(compile(job["prelude"], "<prelude>", "exec"), test_ns)
    entry = job.get("entry_point")
    if entry:
        if entry not in candidate_ns:
            raise NameError(f"entry point {entry!r} not defined by the candidate")
        test_ns[entry] = candidate_ns[entry]
    return test_ns


def _run_script(job: dict, snapshot: dict, candidate_ns: dict) -> None:
    test_ns = _prepare_test_ns(job, snapshot, candidate_ns)
    if job.get("candidate_names"):  # MBPP-style tests may call any function the program defines
        for name, value in candidate_ns.items():
            if not name.startswith("__"):
                test_ns.setdefault(name, value)
    exec(compile(job["test"], "<test>", "exec"), test_ns)
    if job.get("call"):
        test_ns[job["call"]](test_ns[job["entry_point"]])


def _is_floats(value) -> bool:
    if isinstance(value, float):
        return True
    return isinstance(value, (list, tuple)) and bool(value) and all(isinstance(v, float) for v in value)


def _allclose(out, exp, atol: float, rtol: float = 1e-7) -> bool:
    """numpy.allclose for scalars and (nested) sequences, without numpy."""
    if isinstance(exp, (list, tuple)):
        if not isinstance(out, (list, tuple)) or len(out) != len(exp):
            return False
        return all(_allclose(o, e, atol, rtol) for o, e in zip(out, exp, strict=True))
    try:
        return abs(out - exp) <= atol + rtol * abs(exp)
    except TypeError:
        return False


def _io_match(job: dict, inp: list, out, exp) -> bool:
    """EvalPlus's comparison (evalplus/eval/__init__.py unsafe_execute), including its special oracles."""
    entry, atol, special = job["entry_point"], float(job.get("atol") or 0), job.get("special")
    if special == "find_zero":
        poly = sum(c * (out**i) for i, c in enumerate(inp[0]))
        return abs(poly) <= atol
    exact = out == exp
    if special == "set_eq":
        exact = set(out) == set(exp)
    elif special == "not_none":
        exact = out == exp if isinstance(out, bool) else exp == (out is not None)
    elif special == "always":
        exact = True
    elif special == "zero_ok":
        exact = exact or out == 0
    del entry
    if atol == 0 and _is_floats(exp):
        atol = 1e-6
    if not exact and atol != 0:
        return type(out) is type(exp) and _allclose(out, exp, atol)
    return bool(exact)


def _tuples(value):
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value


_TUPLE_ARGS = frozenset(
    {2, 116, 132, 143, 222, 261, 273, 394, 399, 421, 424, 429, 470, 560, 579, 596, 616, 630, 726, 740, 744, 809}
)
_TUPLE_LISTS = frozenset({63, 64, 70, 94, 120, 237, 272, 299, 400, 409, 417, 438, 473, 614, 780})
_FIRST_TUPLE_LIST = frozenset((75, 413, 444, 753))
_FIRST_TUPLE = frozenset((250, 405, 446, 617, 720, 763, 808))
_NESTED_TUPLES = frozenset((259, 401, 445))
_ALL_TUPLES = frozenset((580, 615, 791))


def _mbpp_deserialize(number, inputs: list) -> list:
    """JSON has no tuples/sets/complex: EvalPlus's mbpp_deserialize_inputs, per MBPP+ task number."""
    if number in _TUPLE_ARGS:
        return [[tuple(x) for x in inp] for inp in inputs]
    if number in _TUPLE_LISTS:
        return [[[tuple(x) for x in lst] for lst in inp] for inp in inputs]
    if number in _FIRST_TUPLE_LIST:
        return [[[tuple(x) for x in inp[0]], inp[1]] for inp in inputs]
    if number in (106, 750):
        return [[inp[0], tuple(inp[1])] for inp in inputs]
    if number == 115:
        return [[[set(x) if isinstance(x, list) and len(x) else {} for x in inp[0]]] for inp in inputs]
    if number == 124:
        return [(float(inp[0]), complex(inp[1])) for inp in inputs]
    if number in _FIRST_TUPLE:
        return [[tuple(inp[0]), inp[1]] for inp in inputs]
    if number in _NESTED_TUPLES:
        return [[tuple(tuple(x) for x in lst) for lst in inp] for inp in inputs]
    if number == 278:
        return [[tuple(tuple(x) if isinstance(x, list) else x for x in inp[0])] for inp in inputs]
    if number == 307:
        return [[tuple(inp[0]), inp[1], inp[2]] for inp in inputs]
    if number == 722:
        return [[{k: tuple(v) for k, v in inp[0].items()}, *inp[1:]] for inp in inputs]
    if number == 252:
        return [[complex(inp[0])] for inp in inputs]
    if number in _ALL_TUPLES:
        return [_tuples(inp) for inp in inputs]
    return inputs


def _run_io(job: dict, snapshot: dict, program: str) -> None:
    """Expected outputs come from the canonical solution, run here BEFORE any candidate code executes."""
    import copy

    deepcopy = copy.deepcopy
    ref_ns = _fresh_namespace(snapshot)
    exec(compile(job["canonical"], "<canonical>", "exec"), ref_ns)
    ref_fn = ref_ns[job["entry_point"]]
    inputs = job["inputs"]
    if job.get("mbpp_number") is not None:
        inputs = _mbpp_deserialize(job["mbpp_number"], inputs)
    expected = [ref_fn(*deepcopy(inp)) for inp in inputs]
    if job.get("special") == "not_none":
        expected = [e is not None for e in expected]
    candidate_fn = _exec_candidate(program)[job["entry_point"]]
    for inp, exp in zip(inputs, expected, strict=True):
        out = candidate_fn(*deepcopy(inp))
        if not _io_match(job, inp, out, exp):
            raise AssertionError("output mismatch")


def _run_unittest(job: dict, snapshot: dict, candidate_ns: dict, unittest) -> str:
    test_ns = _prepare_test_ns(job, snapshot, candidate_ns)
    for name, value in candidate_ns.items():
        test_ns.setdefault(name, value)
    exec(compile(job["test"], "<test>", "exec"), test_ns)
    suite = unittest.defaultTestLoader.loadTestsFromTestCase(test_ns[job.get("test_class") or "TestCases"])
    result = unittest.TestResult()
    suite.run(result)
    if result.failures:
        return "failed"
    if result.errors:
        return "error:" + type(result.errors[0][0]).__name__
    return "passed" if result.testsRun else "error:NoTests"


def _on_alarm(signum, frame):
    raise CaseTimeout()


def _run_cases(job: dict, snapshot: dict, candidate_ns: dict, assertion_error: type) -> str:
    """Independent snippets (docstring examples, generated asserts); one char per case: P/F/E/T."""
    setitimer, itimer = signal.setitimer, signal.ITIMER_REAL
    signal.signal(signal.SIGALRM, _on_alarm)
    marks = []
    for case in job["cases"]:
        if marks.count("T") >= int(job.get("max_timeouts", 3)):
            marks.append("T")  # a program that keeps timing out would burn the whole wall budget
            continue
        try:
            test_ns = _prepare_test_ns(job, snapshot, candidate_ns)
            setitimer(itimer, float(job.get("case_seconds", 1.0)))
            try:
                exec(compile(case, "<case>", "exec"), test_ns)
            finally:
                setitimer(itimer, 0)
            marks.append("P")
        except CaseTimeout:
            marks.append("T")
        except assertion_error:
            marks.append("F")
        except BaseException:
            marks.append("E")
    return "".join(marks)


def _runner(job: dict, report_fd: int, nonce: str) -> None:
    reporter = Reporter(report_fd, nonce)
    os.write(report_fd, f"DAJ-ARMED {nonce}\n".encode())  # confinement done: what follows is the program's
    assertion_error, memory_error, syntax_error = AssertionError, MemoryError, SyntaxError
    isinstance_, type_ = isinstance, type
    snapshot = dict(builtins.__dict__)
    program, mode = job.pop("program"), job["mode"]
    try:
        compile(program, "<candidate>", "exec")
    except syntax_error as exc:
        reporter.note(exc)
        reporter.finish("syntax_error", type_(exc).__name__)
    except BaseException as exc:  # e.g. MemoryError / RecursionError on absurd nesting
        reporter.finish("error", type_(exc).__name__)
    try:
        if mode == "io":
            _run_io(job, snapshot, program)
            reporter.finish("passed")
        if mode == "unittest":
            import unittest  # before the candidate runs, so a patched sys.modules entry is not picked up
        candidate_ns = _exec_candidate(program)
        if mode == "script":
            _run_script(job, snapshot, candidate_ns)
            reporter.finish("passed")
        if mode == "unittest":
            verdict = _run_unittest(job, snapshot, candidate_ns, unittest)
            status, _, detail = verdict.partition(":")
            reporter.finish(status, detail or "-")
        if mode == "cases":
            marks = _run_cases(job, snapshot, candidate_ns, assertion_error)
            reporter.finish("passed" if marks and set(marks) == {"P"} else "failed", "cases", marks)
        reporter.finish("error", "UnknownMode")
    except BaseException as exc:
        reporter.note(exc)
        if isinstance_(exc, syntax_error):
            reporter.finish("syntax_error", type_(exc).__name__)
        reporter.finish(*_exc_status(exc, assertion_error, memory_error))


def _init(job: dict, report_fd: int, nonce: str) -> None:
    """pid 1 of the namespace: confine, fork the runner, reap everything, exit with the runner's status."""
    _confine_filesystem(job)
    pid = os.fork()
    if pid == 0:
        try:
            _drop_privileges(job)
        except BaseException as exc:
            os.write(2, f"sandbox setup failed: {exc!r}\n".encode())
            os._exit(3)
        _runner(job, report_fd, nonce)
        os._exit(4)
    os.close(report_fd)
    while True:
        try:
            done, status = os.waitpid(-1, 0)
        except ChildProcessError:
            os._exit(5)
        if done == pid:
            os._exit(os.waitstatus_to_exitcode(status) % 256 if os.WIFEXITED(status) else 128 + os.WTERMSIG(status))


def main() -> None:
    report_fd = int(sys.argv[1])
    job = json.loads(sys.stdin.buffer.read())
    nonce = job.pop("nonce")
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.set_inheritable(report_fd, False)
    _init(job, report_fd, nonce)


if __name__ == "__main__":
    main()
