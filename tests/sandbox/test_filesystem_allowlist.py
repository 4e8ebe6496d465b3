"""A sandboxed program sees only an allowlisted root: the interpreter, the system libraries, four device nodes, its
own /proc and its scratch tmpfs, all read-only but the scratch. Nothing else of the host can be listed or read.

The candidate walks the whole tree itself and reports every path that is neither under an allowed prefix nor a
directory on the way to one, so the test fails on anything extra (an allowlist check, not a blocklist).
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from sandbox import Limits, execute, script
from sandbox.formats import TestSpec
from sandbox.runner import _SCRUBBED_ENV, _pids_of_uid, interpreter_paths

REPO = Path(__file__).resolve().parents[2]
WALK_LIMITS = Limits(wall_seconds=120.0, cpu_seconds=60.0, memory_mb=1024, nproc=16)
READ_LIMITS = Limits(wall_seconds=20.0, cpu_seconds=10.0, memory_mb=512, nproc=16, capture_bytes=64 << 10)
MULTIARCH = sysconfig.get_config_var("MULTIARCH") or getattr(sys.implementation, "_multiarch", "")
SYSTEM = [
    "/bin",
    "/usr/bin",
    f"/lib/{MULTIARCH}",
    f"/usr/lib/{MULTIARCH}",
    "/lib64",
    "/usr/lib64",
    "/usr/lib/locale",
    "/usr/share/zoneinfo",
    "/lib/terminfo",
    "/etc/ld.so.cache",
    "/etc/localtime",
]
DEVICES = ["/dev/null", "/dev/zero", "/dev/random", "/dev/urandom"]
DEVICES += ["/dev/fd", "/dev/stdin", "/dev/stdout", "/dev/stderr"]  # symlinks into /proc/self/fd
SCRATCH = ["/tmp", "/var/tmp", "/dev/shm", "/run/lock", "/var/lock"]
SYNTHETIC = {"/etc/hosts": "127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n"}  # not the host's

# The classifier runs inside the sandbox (pasted into the program) and, as a control, in the test itself.
CLASSIFIER = '''
def outside(path, allowed):
    """True if ``path`` is neither under an allowed prefix nor a directory on the way to one."""
    for prefix in allowed:
        if path == prefix or path.startswith(prefix + "/") or prefix.startswith(path.rstrip("/") + "/"):
            return False
    return True
'''

WALKER = """
import os
ALLOWED = {allowed!r}
seen = readable = 0
bad = []
for top, dirs, files in os.walk("/", onerror=lambda exc: None):
    if top == "/":
        dirs[:] = [d for d in dirs if d != "proc"]  # this pid namespace's own /proc: checked separately
    for name in dirs + files:
        path = os.path.join(top, name)
        seen += 1
        try:
            os.close(os.open(path, os.O_RDONLY | os.O_NONBLOCK))
            ok = True
        except OSError:
            ok = False
        readable += ok and name in files
        if outside(path, ALLOWED):
            bad.append(("READABLE " if ok else "VISIBLE ") + path)
for line in bad[:100]:
    print(line)
print("PIDS", sorted(int(n) for n in os.listdir("/proc") if n.isdigit()))
print("SUMMARY", seen, readable, len(bad))
def f():
    return 1
"""


def _spec(needs_site: bool) -> TestSpec:
    return TestSpec("script", script("assert f() == 1", "f").payload, needs_site=needs_site)


def _prefix(python: str, needs_site: bool) -> str:
    """sys.prefix of the target interpreter in the mode the sandbox runs it (a venv only when site is on)."""
    flags = ["-I"] if needs_site else ["-I", "-S"]
    out = subprocess.run([python, *flags, "-c", "import sys; print(sys.prefix)"], capture_output=True, text=True)
    return out.stdout.strip()


def _link_chain(path: str) -> list[str]:
    """``path`` and every symlink it goes through (a venv's bin/python -> python3.11 -> the base install)."""
    chain = [path]
    while os.path.islink(path) and len(chain) < 16:
        path = os.path.normpath(os.path.join(os.path.dirname(path), os.readlink(path)))
        chain.append(path)
    return chain


def allowed_paths(needs_site: bool) -> list[str]:
    python = sys.executable
    interpreter = [*interpreter_paths(python), _prefix(python, needs_site), *_link_chain(python)]
    system = SYSTEM + [os.path.realpath(p) for p in SYSTEM]  # /lib/terminfo lives at /usr/lib/terminfo (merged /usr)
    paths = interpreter + system + DEVICES + SCRATCH + list(SYNTHETIC)
    return sorted({os.path.abspath(p) for p in paths if p and not p.endswith("/")})


def _expected_listing(folder: str, allowed: list[str]) -> list[str] | str:
    """What listing ``folder`` must show: the next path component of every allowed path under it (plus the
    sandbox's /proc at the top), or FileNotFoundError when no allowed path lies below it."""
    base = folder.rstrip("/") + "/"
    present = [p for p in allowed if os.path.lexists(p) or p in SYNTHETIC]
    names = {p[len(base) :].split("/")[0] for p in present if p.startswith(base)}
    if folder == "/":
        names.add("proc")
    return sorted(names) if names else "ERR FileNotFoundError"


def _outside():
    namespace: dict = {}
    exec(CLASSIFIER, namespace)
    return namespace["outside"]


def run_checked(program: str, spec: TestSpec, limits: Limits):
    uid = 1_500_000_000 + secrets.randbelow(100_000_000)
    result = execute(program, spec, limits, uid=uid)
    assert _pids_of_uid(uid) == []
    assert "strays" not in result.detail, result
    return result


def test_classifier_is_not_vacuous():
    outside, allowed = _outside(), allowed_paths(needs_site=True)
    # The checkout's parent is an ancestor of the venv: visible as a directory, its other entries are not.
    ancestors = (str(REPO.parent), "/usr", "/root", "/dev", "/etc", "/usr/lib", "/tmp/x")
    for path in (*ancestors, os.__file__, "/usr/bin/sleep"):
        assert not outside(path, allowed), path
    for path in (str(REPO / "README.md"), "/etc/passwd", "/home", "/usr/local/bin", "/usr/lib/python3", "/var/lib"):
        assert outside(path, allowed), path


@pytest.mark.parametrize("needs_site", [False, True], ids=["stdlib_only", "site_packages"])
def test_every_visible_path_is_allowlisted(needs_site):
    allowed = allowed_paths(needs_site)
    result = run_checked(CLASSIFIER + WALKER.format(allowed=allowed), _spec(needs_site), WALK_LIMITS)
    assert result.status == "passed", result
    lines = result.stdout.splitlines()
    summary = [line for line in lines if line.startswith("SUMMARY ")]
    assert len(summary) == 1, result.stdout[-2000:]
    seen, readable, bad = map(int, summary[0].split()[1:])
    offenders = [line for line in lines if line.startswith(("READABLE ", "VISIBLE "))]
    assert bad == 0 and offenders == [], offenders[:20]
    assert readable > 1000, summary  # the stdlib is readable: the walk really ran
    assert seen >= readable
    assert f"PIDS {[1, 2]}" in lines  # a fresh /proc: only the harness (1) and the runner (2)


def _host_texts() -> dict[str, str]:
    paths = [
        REPO / "README.md",
        REPO / ".git" / "HEAD",
        REPO / ".env.example",
        REPO / "adapters" / "default" / "adapter_config.json",
        REPO.parent / "shared" / "data" / "splits.json",
        Path("/root/.bashrc"),
        Path("/etc/passwd"),
        Path("/etc/hostname"),
        Path("/etc/shadow"),
        Path("/proc/1/environ"),
        Path("/proc/1/cmdline"),
    ]
    texts = {}
    for path in paths:
        try:
            texts[str(path)] = path.read_bytes().decode("utf-8", "replace")
        except OSError:
            texts[str(path)] = ""
    return texts


READER = """
import json, os
out = {{}}
for path in {paths!r}:
    try:
        with open(path, "rb") as fh:
            out[path] = "READ " + fh.read(4096).decode("utf-8", "replace")
    except OSError as exc:
        out[path] = "ERR " + type(exc).__name__
for folder in ("/", {repo!r}, "/root", "/home", "/etc", "/var", "/proc/1/root"):
    try:
        out["ls " + folder] = sorted(os.listdir(folder))
    except OSError as exc:
        out["ls " + folder] = "ERR " + type(exc).__name__
out["environ"] = dict(os.environ)
print(json.dumps(out))
def f():
    return 1
"""


@pytest.mark.parametrize("needs_site", [False, True], ids=["stdlib_only", "site_packages"])
def test_host_files_and_environment_cannot_be_read(needs_site):
    texts = _host_texts()
    program = READER.format(paths=[*sorted(texts), *SYNTHETIC], repo=str(REPO))
    result = run_checked(program, _spec(needs_site), READ_LIMITS)
    assert result.status == "passed", result
    got = json.loads(result.stdout)
    for path, host in texts.items():
        if path != "/proc/1/cmdline":  # the sandbox's own pid 1 (the harness): readable, but not the host's
            assert got[path].startswith("ERR "), (path, got[path][:200])
        for line in host.splitlines():
            if len(line.strip()) >= 12:  # long enough not to appear by chance
                assert line not in result.stdout, (path, line)
    allowed = allowed_paths(needs_site)
    for folder in ("/", str(REPO), "/root", "/home", "/etc", "/var"):
        assert got["ls " + folder] == _expected_listing(folder, allowed), folder
    assert "README.md" not in got["ls " + str(REPO)]
    for path, text in SYNTHETIC.items():
        assert got[path] == "READ " + text
    assert got["ls /proc/1/root"].startswith("ERR ")  # the harness's root is not reachable through /proc either
    environ = got["environ"]
    assert environ.get("PATH") == _SCRUBBED_ENV["PATH"], environ
    assert set(environ) <= set(_SCRUBBED_ENV), environ
    assert all(_SCRUBBED_ENV[key] == value for key, value in environ.items()), environ


def test_writes_to_host_paths_fail():
    victim = Path("/var/lib") / f"daj-allowlist-{secrets.token_hex(4)}"
    victim.mkdir(mode=0o777)
    victim.chmod(0o777)  # world-writable: invisible in the sandbox, so a write cannot even find it
    try:
        program = f"open('{victim}/evil.txt', 'w').write('x')\ndef f():\n    return 1\n"
        result = run_checked(program, _spec(False), READ_LIMITS)
        assert (result.status, result.detail) == ("error", "FileNotFoundError")
        assert list(victim.iterdir()) == []
        for target in ("/usr/bin/daj-evil", "/etc/daj-evil", "/etc/hosts", f"{sys.prefix}/daj-evil", "/daj-evil"):
            program = f"open('{target}', 'w').write('x')\ndef f():\n    return 1\n"
            result = run_checked(program, _spec(True), READ_LIMITS)
            assert (result.status, result.detail) in {("error", "OSError"), ("error", "PermissionError")}, target
            assert target == "/etc/hosts" or not os.path.lexists(target)
    finally:
        for child in victim.iterdir():
            child.unlink()
        victim.rmdir()
