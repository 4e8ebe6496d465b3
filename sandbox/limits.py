"""Resource limits for one sandboxed run (part of the cache key: a different limit is a different run)."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Limits:
    """Defaults suit HumanEval/MBPP-sized programs on a small machine.

    cpu_seconds (RLIMIT_CPU) is what stops busy loops; wall_seconds (whole run, interpreter start-up
    included) is deliberately several times larger so that a loaded machine (e.g. a training job on the same
    cores) does not turn slow-but-correct programs into timeouts; it only catches programs that block or
    sleep. memory_mb is RLIMIT_AS (address space, so keep it well above
    the resident size that numpy-style imports need); file_mb is RLIMIT_FSIZE; nproc is RLIMIT_NPROC for the
    per-run uid (threads count too); scratch_mb sizes the private tmpfs /tmp; capture_bytes is how much of
    stdout/stderr is kept; output_bytes is the total output after which the run is killed.
    """

    wall_seconds: float = 20.0
    cpu_seconds: float = 5.0
    memory_mb: int = 1024
    file_mb: int = 16
    nproc: int = 32
    nofile: int = 256
    scratch_mb: int = 64
    capture_bytes: int = 8192
    output_bytes: int = 16 << 20

    def to_dict(self) -> dict:
        return asdict(self)


BIGCODEBENCH_LIMITS = Limits(
    wall_seconds=60.0, cpu_seconds=60.0, memory_mb=8192, nproc=128, file_mb=256, scratch_mb=512
)
