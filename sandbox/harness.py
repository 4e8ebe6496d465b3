"""The child side of the sandbox: runs ONE untrusted program against ONE test spec.

This file is executed as a script (``python -s -P [-S] harness.py REPORT_FD``) inside fresh pid, network and mount
namespaces created by ``unshare`` (runner.py builds the command and says why those flags); it must only use the
standard library and must not import anything from the ``sandbox`` package, because it runs before and after
untrusted code in the same process.

Protocol: the job (JSON) arrives on stdin. The verdict is written as one line
``DAJ-REPORT <nonce> <pid> <status> <detail> <cases>`` to REPORT_FD, a pipe only the harness is told about.
The parent accepts a verdict only with the right nonce, from the runner pid, and (for ``passed``) a zero exit
status, so ``sys.exit(0)`` / ``os._exit(0)`` before the tests ran can never count as passing.

Process layout inside the pid namespace: pid 1 ("init") builds a fresh, read-only root from an allowlist (the
interpreter, system libraries, a few device nodes, its own /proc, private scratch tmpfs) and pivots into it,
forks the runner (pid 2) and reaps zombies; when the runner exits, init exits and the kernel
kills everything left in the namespace. The runner drops to an unprivileged, per-run uid, applies rlimits,
and only then compiles and executes untrusted code.
"""

import builtins
import ctypes
import errno
import json
import math
import os
import re
import resource
import signal
import sys
import threading
import time
from decimal import Decimal
from hashlib import sha256 as _sha256

# Every function below resolves builtins through this private copy (CPython binds a function's builtins from
# its module's __builtins__ when the function is created), so candidate code that patches builtins.exec,
# builtins.compile or builtins.isinstance cannot change what the harness itself calls afterwards.
__builtins__ = dict(builtins.__dict__)  # type: ignore[assignment]  # a dict is what CPython reads here

RUNNER_PID = 2
_MS_RDONLY = 1
_MS_NOSUID = 2
_MS_NODEV = 4
_MS_NOEXEC = 8
_MS_REMOUNT = 32
_MS_BIND = 4096
_MS_REC = 16384
_MS_PRIVATE = 1 << 18
_MNT_DETACH = 2
_SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41}  # glibc has no pivot_root() wrapper: raw syscall numbers
_PR_SET_NO_NEW_PRIVS = 38
# The new root is built from this allowlist (plus the interpreter's own prefixes); nothing else of the host
# is reachable. Symlinks on the way are re-created (/bin -> usr/bin, /lib64 -> usr/lib64 on merged-/usr
# systems), absent entries are skipped. /usr/bin is there for programs that run `sleep`, `sh -c`, `tar`, ...;
# the multiarch library dirs hold libc, libffi, libssl, libstdc++ for the interpreter, its extension modules
# and those programs; /lib/terminfo is ncurses' basic terminal database (`top -b` needs it). /etc/hosts is not
# the host's: a two-line file naming localhost is written instead (_ETC_HOSTS).
_MULTIARCH = getattr(sys.implementation, "_multiarch", "")
_SYSTEM_PATHS = (
    "/bin",
    "/usr/bin",
    f"/lib/{_MULTIARCH}",
    f"/usr/lib/{_MULTIARCH}",
    "/lib64",
    "/usr/lib64",
    "/usr/lib/locale",
    "/usr/share/zoneinfo",
    "/lib/terminfo",
    "/etc/ld.so.cache",
    "/etc/localtime",
)
_ETC_HOSTS = b"127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n"
_DEVICES = ("/dev/null", "/dev/zero", "/dev/random", "/dev/urandom")
_LINKS = {
    "/dev/fd": "/proc/self/fd",
    "/dev/stdin": "/proc/self/fd/0",
    "/dev/stdout": "/proc/self/fd/1",
    "/dev/stderr": "/proc/self/fd/2",
    "/var/lock": "/run/lock",
}
_WRITABLE_DIRS = ("/tmp", "/var/tmp", "/dev/shm", "/run/lock")
_STAGING = ("/tmp", "/mnt", "/media", "/srv", "/opt")  # where the new root is assembled before the pivot


class CaseTimeout(BaseException):
    """Raised by SIGALRM when one case of a ``cases`` job runs too long."""


def _check(result: int, what: str) -> None:
    if result != 0:
        raise OSError(ctypes.get_errno(), f"{what} failed")


def _mount_tmpfs(libc, target: str, uid: int, size_mb: int) -> None:
    """An empty, size-capped, writable tmpfs (the scratch /tmp and friends), owned by the sandbox uid."""
    os.makedirs(target, exist_ok=True)
    opts = f"size={size_mb}m,mode=0700,uid={uid},gid={uid}".encode()
    _check(libc.mount(b"tmpfs", target.encode(), b"tmpfs", _MS_NOSUID | _MS_NODEV, opts), f"mount tmpfs on {target}")


def _mount_points() -> list[bytes]:
    """Mount points from /proc/self/mounts (space, tab, newline and backslash are written as octal escapes)."""
    with open("/proc/self/mounts", "rb") as fh:
        fields = [line.split()[1] for line in fh]
    points = []
    for field in fields:
        out, i = bytearray(), 0
        while i < len(field):
            if field[i : i + 1] == b"\\" and field[i + 1 : i + 4].isdigit():
                out.append(int(field[i + 1 : i + 4], 8))
                i += 4
            else:
                out.append(field[i])
                i += 1
        points.append(bytes(out))
    return points


def _remount_readonly(libc) -> None:
    """After the pivot: every mount of the new root read-only, nosuid and (but the device nodes) nodev, except
    the scratch tmpfs and /proc. Device nodes (/dev/null) keep working on a read-only mount. Fails closed."""
    writable = {d.encode() for d in _WRITABLE_DIRS}
    devices = {d.encode() for d in _DEVICES}
    for point in _mount_points():
        if point == b"/proc" or point.startswith(b"/proc/") or point in writable:
            continue
        flags = _MS_RDONLY | _MS_REMOUNT | _MS_BIND | _MS_NOSUID | (0 if point in devices else _MS_NODEV)
        _check(libc.mount(None, point, None, flags, None), f"read-only remount of {point!r}")


def _bind(libc, source: str, target: str) -> None:
    """Read-only bind mount of a host directory or file (with the mounts below it)."""
    if os.path.isdir(source):
        os.makedirs(target, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        os.close(os.open(target, os.O_WRONLY | os.O_CREAT, 0o644))  # a file to mount over
    _check(libc.mount(source.encode(), target.encode(), None, _MS_BIND | _MS_REC, None), f"bind {source}")
    flags = _MS_BIND | _MS_REMOUNT | _MS_RDONLY | _MS_NOSUID | (0 if source in _DEVICES else _MS_NODEV)
    _check(libc.mount(None, target.encode(), None, flags, None), f"read-only remount of {target}")


def _plan(path: str, links: dict, binds: set, depth: int = 0) -> None:
    """How to make host ``path`` reachable at the same absolute path in the new root: a symlink met on the way
    is re-created (``links``) and its target planned in turn; what ``path`` finally names is bind-mounted
    (``binds``). Nothing is mounted or created here."""
    parts = [part for part in path.split("/") if part]
    current = ""
    for i, part in enumerate(parts):
        current += "/" + part
        if current in binds:
            return
        if os.path.islink(current):
            target = links[current] = os.readlink(current)
            if depth < 16:
                resolved = os.path.join(os.path.dirname(current), target, *parts[i + 1 :])
                _plan(os.path.normpath(resolved), links, binds, depth + 1)
            return
    if parts and os.path.exists(path):
        binds.add(path)


def _populate(libc, root: str, paths) -> set:
    """Bind-mount and symlink ``paths`` into ``root``. Whatever lies under another bind is dropped first, so no
    mount is hidden by a later one and nothing is ever created inside a bind mount (the host is never written)."""
    links: dict = {}
    binds: set = set()
    for path in paths:
        _plan(path, links, binds)

    def covered(path: str) -> bool:
        return any(path.startswith(bound + "/") for bound in binds)

    binds = {path for path in binds if not covered(path)}
    for path in sorted(binds):
        _bind(libc, path, root + path)
    for link, target in sorted(links.items()):
        if not covered(link):
            os.makedirs(root + os.path.dirname(link), exist_ok=True)
            os.symlink(target, root + link)
    return binds | set(links)


def _allowlist(job: dict) -> list[str]:
    """The interpreter's prefixes, at the paths it knows them by: the base install, the venv when site is on
    (its site-packages), the runner's resolved ``expose`` list, and sys.executable (a venv's bin/python is a
    symlink into the base install); then the base system's libraries and programs."""
    own = (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix, sys.executable)
    paths = {os.path.abspath(p) for p in (*job.get("expose", ()), *own) if p}
    paths.update(p for p in _SYSTEM_PATHS if not p.endswith("/"))
    return sorted(paths)


def _pivot_root(libc, root: str) -> None:
    """Make ``root`` the root of this mount namespace and detach the host's tree entirely."""
    number = _SYS_PIVOT_ROOT.get(os.uname().machine)
    if number is None:
        raise OSError(errno.ENOSYS, f"pivot_root syscall number unknown for {os.uname().machine}")
    os.chdir(root)
    _check(libc.syscall(number, b".", b"."), "pivot_root")  # the old root now sits on top of the new one
    _check(libc.umount2(b".", _MNT_DETACH), "detaching the old root")
    os.chdir("/")


def _confine_filesystem(job: dict) -> None:
    """Build a fresh root from an allowlist and pivot into it (in this mount namespace only): a tmpfs with
    read-only bind mounts of the interpreter's prefixes and the base system's libraries, four device nodes,
    a fresh /proc of this pid namespace and the writable scratch tmpfs. The host's tree is then detached, so
    nothing else of it (the project, .env files, home folders, /etc, /var) can be listed or read."""
    libc = ctypes.CDLL(None, use_errno=True)
    _check(libc.mount(None, b"/", None, _MS_REC | _MS_PRIVATE, None), "making / private")
    allowed = _allowlist(job)
    root = next(
        d
        for d in _STAGING
        if os.path.isdir(d) and not os.path.islink(d) and not any(p == d or p.startswith(d + "/") for p in allowed)
    )
    _check(libc.mount(b"tmpfs", root.encode(), b"tmpfs", _MS_NOSUID | _MS_NODEV, b"size=1m,mode=0755"), "new root")
    placed = _populate(libc, root, (*allowed, *_DEVICES))
    for target in _WRITABLE_DIRS:
        _mount_tmpfs(libc, root + target, job["uid"], job["limits"]["scratch_mb"])
    for link, target in _LINKS.items():
        if link not in placed:
            os.makedirs(root + os.path.dirname(link), exist_ok=True)
            os.symlink(target, root + link)
    if "/etc/hosts" not in placed:
        os.makedirs(root + "/etc", exist_ok=True)
        with open(root + "/etc/hosts", "wb") as fh:  # lives in the new root's tmpfs: nothing of the host
            fh.write(_ETC_HOSTS)
    os.makedirs(root + "/proc", exist_ok=True)
    flags = _MS_NOSUID | _MS_NODEV | _MS_NOEXEC
    _check(libc.mount(b"proc", (root + "/proc").encode(), b"proc", flags, None), "mount proc")
    _pivot_root(libc, root)
    _remount_readonly(libc)


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
        self._dumps = json.dumps

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

    def outputs(self, texts: list, times: list | None = None) -> None:
        """One ``DAJ-OUTPUTS`` line (JSON list of texts) before the verdict, for ``probes`` and ``stdio`` jobs,
        and for ``stdio`` one ``DAJ-TIMES`` line (CPU seconds per probe)."""
        self._write(self._fd, f"DAJ-OUTPUTS {self._nonce} {self._dumps(texts)}\n".encode("utf-8", "replace"))
        if times is not None:
            self._write(self._fd, f"DAJ-TIMES {self._nonce} {self._dumps(times)}\n".encode())

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


def _exec_candidate(program: str, job: dict | None = None) -> dict:
    """The program's namespace after running it. A job may ask for a module name other than ``__main__`` (a
    LeetCode class is imported, so its ``if __name__ == "__main__":`` demo does not run) and for trusted names
    bound before it runs (``program_prelude``: the typing names and modules LeetCode provides)."""
    job = job or {}
    namespace = {"__name__": job.get("module_name") or "__main__", "__builtins__": builtins}
    if job.get("program_prelude"):
        exec(compile(job["program_prelude"], "<prelude>", "exec"), namespace)
    exec(compile(program, "<candidate>", "exec"), namespace)
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


def _run_cases(job: dict, snapshot: dict, candidate_ns: dict, assertion_error: type[BaseException]) -> str:
    """Independent snippets (docstring examples, generated asserts); one char per case: P/F/E/T."""
    setitimer, itimer = signal.setitimer, signal.ITIMER_REAL
    signal.signal(signal.SIGALRM, _on_alarm)
    marks: list[str] = []
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


# ---- probes: what a program returns, as deterministic text -------------------------------------------------
# Equal behaviour must give equal text in every run: sets and dict keys are sorted (hash seeds differ between
# runs), floats are rounded, memory addresses masked, and long texts capped (a digest keeps them distinct).
_ADDRESS = re.compile(r"0x[0-9a-fA-F]+")
_FLOAT_DIGITS = 6
_MAX_DEPTH = 12


def _canon(value, depth: int = 0) -> str:
    if depth > _MAX_DEPTH:
        return "..."
    kind = type(value)
    if kind is bool or value is None:
        return repr(value)
    if kind is int:
        return repr(value) if abs(value) < 10**60 else f"int({value.bit_length()} bits, {hex(value)[-8:]})"
    if kind is float:
        if math.isnan(value) or math.isinf(value):
            return repr(value)
        rounded = round(value, _FLOAT_DIGITS)
        return repr(0.0 if rounded == 0 else rounded)
    if kind is str:
        return repr(value)
    if kind is list:
        return "[" + ", ".join(_canon(v, depth + 1) for v in value) + "]"
    if kind is tuple:
        inner = ", ".join(_canon(v, depth + 1) for v in value)
        return "(" + inner + ("," if len(value) == 1 else "") + ")"
    if kind in (set, frozenset):
        inner = ", ".join(sorted(_canon(v, depth + 1) for v in value))
        return ("frozenset" if kind is frozenset else "set") + "({" + inner + "})"
    if kind is dict:
        items = sorted(_canon(k, depth + 1) + ": " + _canon(v, depth + 1) for k, v in value.items())
        return "{" + ", ".join(items) + "}"
    return kind.__name__ + ":" + _ADDRESS.sub("0x?", repr(value))


def _capped(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    digest = _sha256(text.encode("utf-8", "replace")).hexdigest()[:12]
    return f"{text[:limit]}... [{len(text)} chars, sha256 {digest}]"


_PLAIN = (bool, int, float, complex, str, bytes, type(None))


def _plain(value, depth: int = 0) -> bool:
    """Built-in values only: their ``==`` is the interpreter's, not the candidate's (an object whose ``__eq__``
    always says True must not pass every check)."""
    if depth > _MAX_DEPTH:
        return False
    kind = type(value)
    if kind in _PLAIN:
        return True
    if kind in (list, tuple, set, frozenset):
        return all(_plain(v, depth + 1) for v in value)
    if kind is dict:
        return all(_plain(k, depth + 1) and _plain(v, depth + 1) for k, v in value.items())
    return False


def _same(out, expected) -> bool:
    """``==`` on built-in values, with a relative tolerance for floats (doctest outputs are printed rounded)."""
    if not _plain(out):
        return False
    if out == expected:
        return True
    if type(out) is float and isinstance(expected, (int, float)) and type(expected) is not bool:
        return math.isclose(out, expected, rel_tol=1e-6, abs_tol=1e-9)
    return False


_MAX_NODES = 100_000


def _linked_values(node) -> list:
    values: list = []
    seen: set = set()
    while node is not None and id(node) not in seen and len(values) < _MAX_NODES:
        seen.add(id(node))
        values.append(node.val)
        node = node.next
    return values


def _tree_values(root) -> list:
    """LeetCode's level order: None for a missing child, trailing Nones dropped."""
    values: list = []
    queue: list = [root]
    seen: set = set()
    while queue and len(values) < _MAX_NODES:
        node = queue.pop(0)
        if node is None or id(node) in seen:
            values.append(None)
            continue
        seen.add(id(node))
        values.append(node.val)
        queue.extend((node.left, node.right))
    while values and values[-1] is None:
        values.pop()
    return values


def _as_json_value(value, depth: int = 0):
    """Tuples as lists, all the way down, and ListNode / TreeNode values as LeetCode's lists (LeetCode compares
    results as JSON)."""
    if depth > _MAX_DEPTH:
        return value
    if type(value) in (list, tuple):
        return [_as_json_value(v, depth + 1) for v in value]
    if type(value) not in _PLAIN and hasattr(value, "val"):
        if hasattr(value, "next"):
            return _linked_values(value)
        if hasattr(value, "left") and hasattr(value, "right"):
            return _tree_values(value)
    return value


def _run_probes(job: dict, snapshot: dict, candidate_ns: dict) -> tuple[str, list]:
    """Each probe: an expression (``call``) whose value is recorded, checked against ``expected`` when given,
    or an ``assert`` statement (``kind == "assert"``). Marks P/F/E/T, one per probe, and one output text each."""
    setitimer, itimer = signal.setitimer, signal.ITIMER_REAL
    signal.signal(signal.SIGALRM, _on_alarm)
    limit, seconds = int(job.get("output_chars", 200)), float(job.get("case_seconds", 1.0))
    json_results = bool(job.get("json_results"))  # LeetCode's results are JSON values: a tuple reads as a list
    node_results = bool(job.get("node_results"))  # a ListNode / TreeNode result: no node reads as []
    marks: list[str] = []
    outputs: list[str] = []
    for probe in job["probes"]:
        if marks.count("T") >= int(job.get("max_timeouts", 3)):
            marks.append("T")
            outputs.append("timeout")
            continue
        mark, text = "P", ""
        try:
            test_ns = _prepare_test_ns(job, snapshot, candidate_ns)
            setitimer(itimer, seconds)
            try:
                if probe.get("kind") == "assert":
                    exec(compile(probe["call"], "<case>", "exec"), test_ns)
                    text = "passed"
                else:
                    value = eval(compile(probe["call"], "<case>", "eval"), test_ns)
                    if json_results:
                        value = [] if value is None and node_results else _as_json_value(value)
                    text = _canon(value)
                    if probe.get("expected") is not None:
                        expected = eval(compile(probe["expected"], "<case>", "eval"), test_ns)
                        mark = "P" if _same(value, expected) else "F"
            finally:
                setitimer(itimer, 0)
        except CaseTimeout:
            mark, text = "T", "timeout"
        except AssertionError:
            mark, text = "F", "failed"
        except BaseException as exc:
            mark, text = "E", "raise " + type(exc).__name__
        marks.append(mark)
        outputs.append(_capped(text, limit))
    return "".join(marks), outputs


# ---- stdio: a whole program per probe, fed standard input, its standard output read back ---------------------
# Each probe runs the program in a forked child (its own globals, recursion limit and threads), as `__main__`,
# with the probe's text on fd 0 and a scratch file on fd 1. The child ends when its last non-daemon thread ends,
# as a normal interpreter exit does (competitive programs often run `main` in a thread for its larger stack).
# The runner keeps the clock: a child past its CPU limit, or past its wall limit (blocked, sleeping, a thread that
# never ends), is a timeout; its process group is killed after every probe.
_PROBE_STDIN = "/tmp/.daj-stdin"
_PROBE_STDOUT = "/tmp/.daj-stdout"
_PROBE_ANSWER = "/tmp/.daj-answer"
_READ_BYTES = 1 << 20  # of a probe's output: what is compared (a longer output differs from any expected one)


def _join_threads() -> None:
    main = threading.main_thread()
    while True:
        alive = [t for t in threading.enumerate() if t is not main and not t.daemon and t.is_alive()]
        if not alive:
            return
        for thread in alive:
            thread.join()


def _quit(code=None):
    raise SystemExit(code)


def _stdio_child(code, status_w: int, cpu_limit: float, argv: list, stdin_path: str, stdout_path: str) -> None:
    """A forked child: run the program with ``argv`` and the two paths as fd 0 and 1, then write one status line
    (``ok``, ``exit N``, ``raise X``, ``output limit``) to ``status_w`` and leave without running anything else.
    A process the program forked that gets back here leaves without a status line (one writer, so ``ok`` stays
    ``ok``)."""
    status = "ok"
    me, getpid, write, leave = os.getpid(), os.getpid, os.write, os._exit  # before the program can patch them
    try:
        os.setpgid(0, 0)
        soft, hard = resource.getrlimit(resource.RLIMIT_CPU)
        seconds = math.ceil(cpu_limit) + 1
        if soft != resource.RLIM_INFINITY:
            seconds = min(soft, seconds)
        resource.setrlimit(resource.RLIMIT_CPU, (seconds, seconds + 1 if hard == resource.RLIM_INFINITY
                                                 else min(hard, seconds + 1)))
        for fd, path, flags in ((0, stdin_path, os.O_RDONLY), (1, stdout_path, os.O_WRONLY | os.O_TRUNC),
                                (2, os.devnull, os.O_WRONLY)):
            opened = os.open(path, flags)
            os.dup2(opened, fd)
            os.close(opened)
        # The streams live as long as the child: no context manager.
        sys.stdin = sys.__stdin__ = open(0, encoding="utf-8", errors="surrogateescape", closefd=False)  # type: ignore[misc]  # noqa: SIM115
        sys.stdout = sys.__stdout__ = open(1, "w", encoding="utf-8", errors="surrogateescape", closefd=False)  # type: ignore[misc]  # noqa: SIM115
        sys.stderr = sys.__stderr__ = open(2, "w", encoding="utf-8", errors="replace", closefd=False)  # type: ignore[misc]  # noqa: SIM115
        sys.argv = list(argv)
        builtins.exit = builtins.quit = _quit  # type: ignore[assignment]  # what `site` gives a script (the sandbox runs without it)
        raised: list = []
        threading.excepthook = lambda args: raised.append(args.exc_type.__name__)
        try:
            exec(code, {"__name__": "__main__", "__builtins__": builtins})
        except SystemExit as exc:
            if exc.code not in (None, 0):
                status = f"exit {exc.code if isinstance(exc.code, int) else 1}"
        _join_threads()
        exit_functions = getattr(sys.modules.get("atexit"), "_run_exitfuncs", None)
        if exit_functions is not None:
            exit_functions()  # what an interpreter exit runs: programs that print their buffer from atexit
        if raised and status == "ok":
            status = f"raise {raised[0]}"
        sys.stdout.flush()
    except BaseException as exc:
        over = isinstance(exc, OSError) and exc.errno in (errno.EFBIG, errno.ENOSPC)
        status = "output limit" if over else f"raise {type(exc).__name__}"
    if getpid() != me:
        leave(0 if status == "ok" else 1)
    try:
        write(status_w, status.encode("utf-8", "replace")[:200])
    finally:
        leave(0)


def _forget(job: dict) -> None:
    """In a probe's child, before the program runs: drop the job (every probe's expected output, the checker),
    so the program cannot find the answers through ``gc``."""
    for probe in job.get("probes", ()):
        if isinstance(probe, dict):
            probe.clear()
    job.clear()


def _fork_run(code, argv: list, stdin_path: str, stdout_path: str, cpu_limit: float,
              wall: float, job: dict) -> tuple[str, str, float]:
    """Run ``code`` in a forked child (see `_stdio_child`): (mark T/E/ok, status text, CPU seconds). The child
    keeps no descriptor of the runner's (the report pipe above all: a program could otherwise write a verdict)
    and no copy of the job."""
    status_r, status_w = os.pipe()
    try:
        pid = os.fork()
    except OSError as exc:  # the process table is full (the program's leftovers): this probe, not the run
        os.close(status_r)
        os.close(status_w)
        return "E", f"fork failed {errno.errorcode.get(exc.errno or 0, '')}", 0.0
    if pid == 0:
        os.closerange(3, status_w)
        os.closerange(status_w + 1, 1 << 16)
        _forget(job)
        _stdio_child(code, status_w, cpu_limit, argv, stdin_path, stdout_path)
    os.close(status_w)
    try:
        wait_status, cpu = _reap(pid, wall)
        _kill_probe(pid)  # whatever it left running, in its group or not
        os.set_blocking(status_r, False)
        try:
            said = os.read(status_r, 256).decode("utf-8", "replace")
        except BlockingIOError:
            said = ""
    finally:
        os.close(status_r)
    cpu = round(cpu, 4)
    if wait_status is None or cpu > cpu_limit:
        return "T", "timeout", cpu
    if os.WIFSIGNALED(wait_status):
        signum = os.WTERMSIG(wait_status)
        if signum == signal.SIGXCPU:
            return "T", "timeout", cpu
        return "E", f"killed signal {signum}", cpu
    if not said and os.WIFEXITED(wait_status) and os.WEXITSTATUS(wait_status) == 0:
        return "ok", "ok", cpu  # os._exit(0): a normal end without the status line
    if said != "ok":
        return "E", said or "no status", cpu
    return "ok", "ok", cpu


def _reap(pid: int, wall: float) -> tuple[int | None, float]:
    """Wait for the probe's child up to ``wall`` seconds: (wait status, or None when it was killed for time,
    CPU seconds it used)."""
    deadline, pause = time.monotonic() + wall, 0.0005
    while True:
        done, status, usage = os.wait4(pid, os.WNOHANG)
        if done:
            return status, usage.ru_utime + usage.ru_stime
        if time.monotonic() >= deadline:
            _kill_probe(pid)  # SIGKILL to the pid itself: wait4 below cannot block
            _, status, usage = os.wait4(pid, 0)
            return None, usage.ru_utime + usage.ru_stime
        time.sleep(pause)
        pause = min(pause * 2, 0.01)


def _kill_probe(pid: int) -> None:
    """Kill the probe's process and everything else of the run's uid but the runner (``kill(-1)`` spares the
    caller and init): what the program left behind, in its group or escaped from it with ``setsid``."""
    for target in (pid, -1):
        try:  # noqa: SIM105 -- no contextlib here (see Reporter.finish)
            os.kill(target, signal.SIGKILL)
        except OSError:
            pass


def _stdout_lines(text: str, ignore_case: bool = False) -> list:
    return [line.strip().lower() if ignore_case else line.strip() for line in text.strip().splitlines()]


def _same_token(out: str, expected: str) -> bool:
    """Equal text, or equal numbers: equal as decimals, or within 1e-6 (absolute or relative) when the expected
    token has a decimal point."""
    if out == expected:
        return True
    try:
        a, b = Decimal(out), Decimal(expected)
        if not (a.is_finite() and b.is_finite()):
            return False
        if a == b:
            return True
        return "." in expected and abs(a - b) <= Decimal("1e-6") * max(Decimal(1), abs(b))
    except (ArithmeticError, ValueError):  # InvalidOperation, or an exponent past the context's (1e999999999)
        return False


def _same_stdout(out: str, expected: str, ignore_case: bool = False) -> bool:
    """The stdin shape's comparison (docs/service.md): line by line after stripping, then token by token."""
    got, want = _stdout_lines(out, ignore_case), _stdout_lines(expected, ignore_case)
    if got == want:
        return True
    if len(got) != len(want):
        return False
    for line, wanted in zip(got, want, strict=True):
        if line == wanted:
            continue
        tokens, wanted_tokens = line.split(), wanted.split()
        if len(tokens) != len(wanted_tokens):
            return False
        if not all(_same_token(a, b) for a, b in zip(tokens, wanted_tokens, strict=True)):
            return False
    return True


def _read_stdout(limit: int) -> str:
    with open(_PROBE_STDOUT, "rb") as fh:
        return fh.read(limit).decode("utf-8", "replace")


def _stdio_probe(code, probe: dict, job: dict, checker) -> tuple[str, str, float]:
    """One probe: (mark, output text, CPU seconds). Without a checker, the output is compared with the probe's
    expected text; with one, the checker decides (exit 0: valid). ``raw_outputs`` (an input generator) keeps
    the output as printed, up to ``output_chars``."""
    limit = float(job.get("case_seconds", 2.0))
    wall = 2 * limit + 1
    with open(_PROBE_STDIN, "wb") as fh:
        fh.write(str(probe.get("stdin") or "").encode("utf-8", "surrogateescape"))
    os.close(os.open(_PROBE_STDOUT, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))
    argv = ["main.py", *[str(a) for a in probe.get("argv", ())]]
    mark, text, cpu = _fork_run(code, argv, _PROBE_STDIN, _PROBE_STDOUT, limit, wall, job)
    if mark != "ok":
        return mark, text, cpu
    if job.get("raw_outputs"):
        cap = int(job.get("output_chars", 200))
        with open(_PROBE_STDOUT, "rb") as fh:
            raw = fh.read(cap + 1)
        return ("E", "output too long", cpu) if len(raw) > cap else ("P", raw.decode("utf-8", "replace"), cpu)
    out = _read_stdout(_READ_BYTES)
    expected = probe.get("expected")
    if checker is not None:
        with open(_PROBE_ANSWER, "wb") as fh:
            fh.write(str(expected or "").encode("utf-8", "surrogateescape"))
        seconds = float(job.get("checker_seconds", 2.0))
        argv = ["checker.py", _PROBE_STDIN, _PROBE_STDOUT, _PROBE_ANSWER]
        verdict, _, _ = _fork_run(checker, argv, os.devnull, os.devnull, seconds, 2 * seconds + 1, job)
        os.unlink(_PROBE_ANSWER)
        mark = "P" if verdict == "ok" else "F"
    else:
        mark = "P" if expected is None or _same_stdout(out, expected, bool(job.get("ignore_case"))) else "F"
    return mark, "\n".join(_stdout_lines(out, bool(job.get("ignore_case")))), cpu


def _run_stdio(job: dict, program: str) -> tuple[str, list, list]:
    """Marks P/F/E/T, one output text and the CPU seconds of each probe (see the section's comment)."""
    code = compile(program, "<candidate>", "exec")
    checker = compile(job["checker"], "<checker>", "exec") if job.get("checker") else None
    cap = int(job.get("output_chars", 200))
    marks: list = []
    outputs: list = []
    times: list = []
    for probe in job["probes"]:
        if marks.count("T") >= int(job.get("max_timeouts", 3)):
            marks.append("T")
            outputs.append("timeout")
            times.append(None)
            continue
        mark, text, cpu = _stdio_probe(code, probe, job, checker)
        marks.append(mark)
        outputs.append(text if job.get("raw_outputs") else _capped(text, cap))
        times.append(cpu)
    return "".join(marks), outputs, times


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
        if mode == "stdio":
            marks, outputs, times = _run_stdio(job, program)
            reporter.outputs(outputs, times)
            reporter.finish("passed" if set(marks) <= {"P"} else "failed", "stdio", marks or "-")
        candidate_ns = _exec_candidate(program, job)
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
        if mode == "probes":
            marks, outputs = _run_probes(job, snapshot, candidate_ns)
            reporter.outputs(outputs)
            reporter.finish("passed" if set(marks) <= {"P"} else "failed", "probes", marks or "-")
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
