"""Parent side of the sandbox: start the confined child, feed it the job, drain its output, decide the status.

Isolation (see docs/sandbox.md): ``unshare --pid --fork --net --mount --mount-proc --kill-child`` gives every
run a new pid namespace (when its init exits the kernel kills every process left, fork bombs included), an
empty network namespace (only a down loopback) and a private mount namespace, in which harness.py builds a
read-only root from an allowlist (the interpreter, its shared libraries, a few device nodes), pivots into it
and mounts a fresh scratch tmpfs (/tmp, /var/tmp, /dev/shm). It then drops to a random unused uid with rlimits
(CPU, address space, file size, process count, open files). The parent enforces the wall clock, caps captured
output, kills the process group on timeout and finally sweeps /proc for any process still owned by the run's
uid.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import pwd
import secrets
import selectors
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO

from sandbox.cache import ResultCache
from sandbox.formats import TestSpec
from sandbox.limits import Limits

HARNESS = Path(__file__).with_name("harness.py")
STATUSES = ("passed", "failed", "error", "syntax_error", "timeout", "killed", "unsupported")
_VERDICT_VERSION = "6"
_REPORT_BYTES = 8 << 20  # the verdict channel: one report line, plus a run's outputs (an input generator's: large)
_SCRUBBED_ENV = {
    "PYTHONHASHSEED": "0",  # the same program must print a set of strings the same way in every run
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "HOME": "/tmp",
    "TMPDIR": "/tmp",
    "LANG": "C.UTF-8",
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "MPLBACKEND": "Agg",
}

# Every run gets a fresh uid (and the same gid) from the sandbox's id range, so its processes can be found and told
# apart from ours. Run by root, the range is [SANDBOX_UID_MIN, SANDBOX_UID_MIN + SANDBOX_UID_SPAN). Run by another
# user (the images' uid 10001), every sandbox starts in a user namespace that maps the ids /etc/subuid and
# /etc/subgid grant that user (docker/userns-unshare reads the same lines), so the range is that grant: the images
# grant this same range; a Kubernetes pod in its own user namespace has only 65536 ids, and deploy/k8s mounts a
# grant that fits in them.
SANDBOX_UID_MIN = 1_000_000
SANDBOX_UID_SPAN = 1_000_000_000
SUBUID_FILE = Path("/etc/subuid")
_SMALL_SPAN = 1_000_000  # below this, a random uid may well be in use by a run of another worker: check first


class SandboxError(RuntimeError):
    """The sandbox itself failed (not the program): never turned into a label."""


@dataclass
class RunResult:
    """Outcome of one program on one spec. ``cases`` holds per-case marks (P/F/E/T) for ``cases`` and ``probes``
    specs; ``outputs`` one deterministic text per probe (``probes`` specs only, empty if the program never got
    to its probes)."""

    status: str
    duration: float
    stdout: str = ""
    stderr: str = ""
    detail: str = ""
    cases: str = ""
    outputs: list[str] = field(default_factory=list)
    times: list[float | None] = field(default_factory=list)  # CPU seconds per probe (stdio specs only)
    cached: bool = field(default=False, compare=False)

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    def to_dict(self) -> dict:
        data = asdict(self)
        data.pop("cached")
        return data

    @classmethod
    def from_dict(cls, data: dict, cached: bool = False) -> RunResult:
        return cls(**data, cached=cached)


@functools.lru_cache(maxsize=1)
def harness_version() -> str:
    """Changes whenever the child harness or the verdict rules change, invalidating cached results."""
    return hashlib.sha256(HARNESS.read_bytes() + _VERDICT_VERSION.encode()).hexdigest()[:16]


def cache_key(program: str, spec: TestSpec, limits: Limits, python: str) -> str:
    """sha256(program) + sha256(spec, harness version, limits, interpreter)."""
    context = json.dumps([spec.digest(), harness_version(), limits.to_dict(), python], sort_keys=True)
    return hashlib.sha256(program.encode()).hexdigest() + ":" + hashlib.sha256(context.encode()).hexdigest()


@functools.lru_cache(maxsize=64)
def missing_modules(python: str, modules: tuple[str, ...]) -> tuple[str, ...]:
    """Which of ``modules`` the target interpreter cannot import (find_spec only: nothing is executed)."""
    if not modules:
        return ()
    probe = (
        "import importlib.util, json, sys; mods = json.loads(sys.argv[1]);"
        "print(json.dumps([m for m in mods if importlib.util.find_spec(m) is None]))"
    )
    out = subprocess.run(
        [python, "-I", "-c", probe, json.dumps(list(modules))],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env=_SCRUBBED_ENV,
    ).stdout
    return tuple(json.loads(out))


@functools.lru_cache(maxsize=8)
def interpreter_paths(python: str) -> tuple[str, ...]:
    """Directories the interpreter imports from (resolved), which the sandbox must make reachable."""
    probe = "import json, sys; print(json.dumps([sys.base_prefix, sys.prefix, sys.exec_prefix]))"
    out = subprocess.run(
        [python, "-I", "-S", "-c", probe], capture_output=True, text=True, timeout=60, check=True, env=_SCRUBBED_ENV
    ).stdout
    return tuple(sorted({os.path.realpath(p) for p in json.loads(out)}))


def _unshare() -> str:
    path = shutil.which("unshare")
    if not path:
        raise SandboxError("util-linux `unshare` not found: the sandbox needs it (and root) for namespaces")
    return path


def _command(python: str, spec: TestSpec, report_fd: int) -> list[str]:
    # -I without its -E: isolated (-s: no user site, -P: no script dir on sys.path), but reading the one PYTHON*
    # variable the scrubbed environment sets, PYTHONHASHSEED.
    flags = ["-s", "-P"] if spec.needs_site else ["-s", "-P", "-S"]
    return [
        _unshare(),
        "--pid",
        "--fork",
        "--net",
        "--mount",
        "--mount-proc",
        "--kill-child",
        "--",
        python,
        *flags,
        str(HARNESS),
        str(report_fd),
    ]


def sandbox_uid_range(subuid: Path = SUBUID_FILE) -> tuple[int, int]:
    """(first uid, how many) the sandbox's runs take their uids from: the default range for root, else this
    user's first grant in `subuid` (by name or number); the default when it has none (the sandbox's user
    namespace then cannot be made, and says so)."""
    euid = os.geteuid()
    if euid == 0:
        return SANDBOX_UID_MIN, SANDBOX_UID_SPAN
    names = {str(euid)}
    with contextlib.suppress(KeyError):
        names.add(pwd.getpwuid(euid).pw_name)
    try:
        lines = subuid.read_text().splitlines()
    except OSError:
        return SANDBOX_UID_MIN, SANDBOX_UID_SPAN
    for line in lines:
        name, start, count = [*line.split(":"), "", ""][:3]
        if name in names and start.isdigit() and count.isdigit() and int(count) > 0:
            return int(start), int(count)
    return SANDBOX_UID_MIN, SANDBOX_UID_SPAN


class UidsInUse:
    """The uids this process's runs hold, from the pick until their sweep is done. No two runs share one (their
    NPROC limit and their sweep are per uid: the sweep of one would kill the other), and a uid is not reused
    while the run that held it is still being swept. In a billion ids a random one is free; in a small grant (a
    Kubernetes pod's) one still held by a process of another run, here or in another process, is skipped."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: set[int] = set()

    def take(self, first: int, span: int) -> int:
        with self._lock:
            uid = first + secrets.randbelow(span)
            for _ in range(64):
                if uid not in self._held and (span >= _SMALL_SPAN or not _pids_of_uid(uid)):
                    break
                uid = first + secrets.randbelow(span)
            self._held.add(uid)
            return uid

    def release(self, uid: int) -> None:
        with self._lock:
            self._held.discard(uid)


# One per process: every worker thread of a process (the service's pool, an executor's) draws from it.
_UIDS_IN_USE = UidsInUse()


@dataclass
class _Streams:
    stdout: bytearray = field(default_factory=bytearray)
    stderr: bytearray = field(default_factory=bytearray)
    report: bytearray = field(default_factory=bytearray)
    total: int = 0
    timed_out: bool = False
    over_output: bool = False
    report_overflow: bool = False


def _drain(proc: subprocess.Popen, report_r: int, payload: bytes, limits: Limits, deadline: float) -> _Streams:
    """Feed stdin and read all outputs until EOF or a limit, keeping only the first capture_bytes."""
    if proc.stdin is None or proc.stdout is None or proc.stderr is None:
        raise ValueError("the harness process must be started with all three pipes")
    streams = _Streams()
    sel = selectors.DefaultSelector()
    targets = {proc.stdout.fileno(): streams.stdout, proc.stderr.fileno(): streams.stderr, report_r: streams.report}
    for fd in targets:
        sel.register(fd, selectors.EVENT_READ)
    stdin, view = proc.stdin, memoryview(payload)
    stdin_fd = stdin.fileno()
    os.set_blocking(stdin_fd, False)
    sel.register(stdin_fd, selectors.EVENT_WRITE)
    while sel.get_map():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            streams.timed_out = True
            break
        # `unshare --fork --kill-child` outlives every process of the run, so once it has exited, whatever still
        # holds a pipe is no part of the run: unshare's own uid-map helper, left waiting when unshare(2) itself was
        # refused. Read what is there, then stop, rather than wait out the wall limit and call that a timeout.
        leader_gone = proc.poll() is not None
        events = sel.select(0 if leader_gone else min(remaining, 0.5))
        if leader_gone and not events:
            break
        for key, _ in events:
            if key.fd == stdin_fd:
                view = _feed(sel, stdin, view)
                continue
            chunk = os.read(key.fd, 65536)
            if not chunk:
                sel.unregister(key.fd)
                continue
            buf = targets[key.fd]
            cap = _REPORT_BYTES if key.fd == report_r else limits.capture_bytes
            if key.fd == report_r and len(buf) + len(chunk) > cap:
                streams.report_overflow = True  # only the harness writes here: more than it ever writes is forged
            buf += chunk[: max(0, cap - len(buf))]
            streams.total += len(chunk)
        if streams.total > limits.output_bytes:
            streams.over_output = True
            break
    sel.close()
    return streams


def _feed(sel: selectors.BaseSelector, stdin: IO[bytes], view: memoryview) -> memoryview:
    try:
        written = os.write(stdin.fileno(), view[:65536])
        view = view[written:]
    except (BrokenPipeError, BlockingIOError) as exc:
        if isinstance(exc, BrokenPipeError):
            view = view[len(view) :]
    if not len(view):
        sel.unregister(stdin.fileno())
        stdin.close()
    return view


def _kill_group(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


def sweep_uid(uid: int, grace: float = 1.0, rounds: int = 50) -> int:
    """SIGKILL every live process whose real uid is ``uid``; returns how many survived the grace period.

    Killing the namespace's init makes the kernel kill the rest asynchronously, so processes are first given
    ``grace`` seconds to disappear; only those still alive after it count (0 = nothing escaped)."""
    deadline = time.monotonic() + grace
    while _pids_of_uid(uid) and time.monotonic() < deadline:
        time.sleep(0.01)
    found = 0
    for _ in range(rounds):
        pids = _pids_of_uid(uid)
        if not pids:
            return found
        found += len(pids)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.01)
    return found


def _pids_of_uid(uid: int) -> list[int]:
    """Live (non-zombie) processes with real uid ``uid``, from /proc/<pid>/status."""
    pids = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/status", encoding="ascii", errors="replace") as fh:
                fields = dict(line.split(":", 1) for line in fh if ":" in line)
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        if int(fields.get("Uid", "-1 ").split()[0]) == uid and not fields.get("State", "").strip().startswith("Z"):
            pids.append(int(name))
    return pids


def _signal_status(returncode: int) -> tuple[str, str] | None:
    if returncode < 128:
        return None
    sig = returncode - 128
    if sig == signal.SIGXCPU:
        return "timeout", "cpu"
    names = {int(signal.SIGXFSZ): "FileSizeLimit", int(signal.SIGKILL): "SIGKILL", int(signal.SIGSEGV): "SIGSEGV"}
    return "killed", names.get(sig, f"signal{sig}")


def _json_line(lines: list[str], prefix: str, item: type | tuple[type, ...]) -> tuple[list[str], list | None]:
    """Split off the one ``<prefix><json list>`` line; a malformed or repeated one counts as tampering (None)."""
    rest = [line for line in lines if not line.startswith(prefix)]
    found = [line[len(prefix) :] for line in lines if line.startswith(prefix)]
    if not found:
        return rest, []
    try:
        values = json.loads(found[0])
    except json.JSONDecodeError:
        return rest, None
    if len(found) != 1 or not isinstance(values, list) or not all(isinstance(v, item) for v in values):
        return rest, None
    return rest, values


def _probe_outputs(lines: list[str], nonce: str) -> tuple[list[str], list[str] | None, list[float | None] | None]:
    """Split off the ``DAJ-OUTPUTS`` line of a probes run and the ``DAJ-TIMES`` line of a stdio run."""
    rest, outputs = _json_line(lines, f"DAJ-OUTPUTS {nonce} ", str)
    rest, times = _json_line(rest, f"DAJ-TIMES {nonce} ", (int, float, type(None)))
    return rest, outputs, times


@dataclass(frozen=True)
class _Verdict:
    status: str
    detail: str = ""
    cases: str = ""
    outputs: list[str] = field(default_factory=list)
    times: list[float | None] = field(default_factory=list)


def _verdict(streams: _Streams, nonce: str, returncode: int) -> _Verdict:
    """Decide status, detail, cases, outputs and times. Success needs a well-formed report with the nonce, from
    the runner process, AND exit status 0; anything else is not a pass."""
    if streams.timed_out:
        return _Verdict("timeout", "wall")
    if streams.over_output:
        return _Verdict("killed", "OutputLimit")
    lines = bytes(streams.report).decode("utf-8", "replace").splitlines()
    if not lines or lines[0] != f"DAJ-ARMED {nonce}":
        raise SandboxError(f"sandbox did not start (rc={returncode}): {bytes(streams.stderr)[-2000:]!r}")
    if streams.report_overflow:
        return _Verdict("error", "ReportTampered")
    reports, outputs, times = _probe_outputs(lines[1:], nonce)
    if outputs is None or times is None:
        return _Verdict("error", "ReportTampered")
    status, detail, case_marks = _report_verdict(reports, nonce, returncode)
    if status not in ("passed", "failed"):
        return _Verdict(status, detail, case_marks)
    return _Verdict(status, detail, case_marks, outputs, times)


def _report_verdict(reports: list[str], nonce: str, returncode: int) -> tuple[str, str, str]:
    if not reports:
        by_signal = _signal_status(returncode)
        return (*by_signal, "") if by_signal else ("error", f"NoReport_exit{returncode}", "")
    fields = reports[0].split(" ")
    if len(reports) != 1 or len(fields) != 6 or fields[:2] != ["DAJ-REPORT", nonce]:
        return "error", "ReportTampered", ""
    _, _, pid, status, detail, case_marks = fields
    if pid != "2" or status not in STATUSES:
        return "error", "ReportTampered", ""
    if status == "passed" and returncode != 0:
        return "error", f"NonZeroExit{returncode}", ""
    return status, "" if detail == "-" else detail, "" if case_marks == "-" else case_marks


def execute(
    program: str, spec: TestSpec, limits: Limits | None = None, python: str | None = None, uid: int | None = None
) -> RunResult:
    """Run one program against one spec in a fresh sandbox. Raises SandboxError on infrastructure failure.

    ``uid`` is only for tests that want to check afterwards that nothing of the run survived."""
    limits = limits or Limits()
    python = python or sys.executable
    missing = missing_modules(python, spec.required_modules)
    if missing:
        return RunResult("unsupported", 0.0, detail="missing:" + ",".join(missing))
    if uid is not None:
        return _run_as(program, spec, limits, python, uid)
    leased = _UIDS_IN_USE.take(*sandbox_uid_range())
    try:
        return _run_as(program, spec, limits, python, leased)
    finally:
        _UIDS_IN_USE.release(leased)  # after the run's sweep: no later run shares its uid while it is swept


def _run_as(program: str, spec: TestSpec, limits: Limits, python: str, uid: int) -> RunResult:
    """One run under `uid`: start the sandbox, feed the job, drain, kill what is left, sweep the uid, decide."""
    nonce = secrets.token_hex(16)
    payload = json.dumps(
        {
            **spec.job(),
            "program": program,
            "nonce": nonce,
            "uid": uid,
            "limits": limits.to_dict(),
            "expose": interpreter_paths(python),
        }
    ).encode()
    report_r, report_w = os.pipe()
    start = time.monotonic()
    try:
        proc = subprocess.Popen(
            _command(python, spec, report_w),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            pass_fds=(report_w,),
            env=_SCRUBBED_ENV,
            cwd="/",
            start_new_session=True,
        )
    finally:
        os.close(report_w)
    try:
        streams = _drain(proc, report_r, payload, limits, start + limits.wall_seconds)
        if streams.timed_out or streams.over_output:
            _kill_group(proc)
        returncode = _wait(proc, start + limits.wall_seconds + 1.0)
    finally:
        _kill_group(proc)
        os.close(report_r)
        for pipe in (proc.stdin, proc.stdout, proc.stderr):
            if pipe and not pipe.closed:
                pipe.close()
        strays = sweep_uid(uid)
    duration = time.monotonic() - start
    verdict = _verdict(streams, nonce, returncode)
    detail = f"{verdict.detail};strays{strays}" if strays else verdict.detail
    return RunResult(verdict.status, round(duration, 4), _text(streams.stdout), _text(streams.stderr), detail,
                     verdict.cases, verdict.outputs, verdict.times)


def _wait(proc: subprocess.Popen, deadline: float) -> int:
    try:
        return proc.wait(timeout=max(0.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        return proc.wait()


def _text(buf: bytearray) -> str:
    return bytes(buf).decode("utf-8", "replace")


class Sandbox:
    """Runs many (program, spec) pairs with N parallel workers, a progress bar and the on-disk cache.

    Threads suffice for parallelism: each worker only waits on its own child process.
    """

    def __init__(
        self,
        limits: Limits | None = None,
        python: str | None = None,
        workers: int | None = None,
        cache: ResultCache | bool | None = True,
    ) -> None:
        self.limits = limits or Limits()
        self.python = python or sys.executable
        self.workers = workers or os.cpu_count() or 1
        self.cache = ResultCache() if cache is True else cache if isinstance(cache, ResultCache) else None

    def run(self, program: str, spec: TestSpec) -> RunResult:
        return self.run_many([(program, spec)], progress=False)[0]

    def run_many(
        self, jobs: Sequence[tuple[str, TestSpec]], progress: bool = True, desc: str = "sandbox"
    ) -> list[RunResult]:
        """Results in input order; identical jobs run once; cached ones are not re-run."""
        keys = [cache_key(program, spec, self.limits, self.python) for program, spec in jobs]
        results: dict[str, RunResult] = {}
        todo: dict[str, tuple[str, TestSpec]] = {}
        for key, job in zip(keys, jobs, strict=True):
            hit = self.cache.get(key) if self.cache is not None and key not in results else None
            if hit is not None:
                results[key] = RunResult.from_dict(hit, cached=True)
            elif key not in results:
                todo[key] = job
        self._run_todo(todo, results, progress, desc)
        return [results[key] for key in keys]

    def _run_todo(
        self, todo: dict[str, tuple[str, TestSpec]], results: dict[str, RunResult], progress: bool, desc: str
    ) -> None:
        from tqdm import tqdm

        with (
            ThreadPoolExecutor(max_workers=self.workers) as pool,
            tqdm(total=len(todo), desc=desc, disable=not progress or not todo) as bar,
        ):
            futures = {
                pool.submit(execute, prog, spec, self.limits, self.python): key for key, (prog, spec) in todo.items()
            }
            for future in as_completed(futures):
                key = futures[future]
                result = future.result()
                results[key] = result
                if self.cache is not None:
                    self.cache.put(key, result.to_dict())
                bar.update(1)
