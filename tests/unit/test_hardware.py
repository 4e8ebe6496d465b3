"""The serving dtype follows the CPU's instruction sets; benchmark results name the machine they ran on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from daj.hardware import SPEED_FLAGS, HostCpu, choose_dtype, machine_record, read_cpu

ZEN3 = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC 7B13
flags\t\t: fpu vme sse sse2 avx fma avx2 bmi2

processor\t: 1
model name\t: AMD EPYC 7B13
flags\t\t: fpu vme sse sse2 avx fma avx2 bmi2
"""
SAPPHIRE_RAPIDS = """processor\t: 0
model name\t: Intel(R) Xeon(R) Platinum 8480+
flags\t\t: avx2 avx512f avx512_bf16 amx_bf16 amx_tile amx_int8
"""


def _cpu(tmp_path: Path, text: str) -> HostCpu:
    path = tmp_path / "cpuinfo"
    path.write_text(text)
    return read_cpu(path)


def test_the_cpu_model_and_its_speed_flags_are_read_from_cpuinfo(tmp_path: Path) -> None:
    zen3 = _cpu(tmp_path, ZEN3)
    assert zen3.model == "AMD EPYC 7B13"
    assert zen3.flags == {"avx2": True, "avx512f": False, "avx512_bf16": False, "amx_bf16": False, "amx_tile": False}
    assert zen3.native_bf16 == []
    xeon = _cpu(tmp_path, SAPPHIRE_RAPIDS)
    assert xeon.native_bf16 == ["avx512_bf16", "amx_bf16"] and all(xeon.flags[flag] for flag in SPEED_FLAGS)
    assert zen3.cores >= 1


def test_auto_serves_float32_on_a_cpu_without_native_bf16(tmp_path: Path) -> None:
    choice = choose_dtype("auto", _cpu(tmp_path, ZEN3), on_gpu=False)
    assert choice.dtype == "float32"
    assert "no native bf16" in choice.reason


def test_auto_serves_bfloat16_where_bf16_is_native_or_on_a_gpu(tmp_path: Path) -> None:
    xeon = choose_dtype("auto", _cpu(tmp_path, SAPPHIRE_RAPIDS), on_gpu=False)
    assert xeon.dtype == "bfloat16" and "avx512_bf16, amx_bf16" in xeon.reason
    gpu = choose_dtype("auto", _cpu(tmp_path, ZEN3), on_gpu=True)
    assert gpu.dtype == "bfloat16" and "GPU" in gpu.reason


@pytest.mark.parametrize("requested", ["float32", "bfloat16", "float16"])
def test_an_explicit_dtype_overrides_the_host(tmp_path: Path, requested: str) -> None:
    for text, on_gpu in ((ZEN3, False), (SAPPHIRE_RAPIDS, False), (ZEN3, True)):
        choice = choose_dtype(requested, _cpu(tmp_path, text), on_gpu=on_gpu)  # type: ignore[arg-type]
        assert choice.dtype == requested and choice.reason == f"DAJ_DTYPE={requested}"


def test_a_machine_record_names_the_cpu_its_flags_cores_dtype_and_versions() -> None:
    record = machine_record("float32")
    assert record["cpu"] and set(record["cpu_flags"]) == set(SPEED_FLAGS)
    assert record["cores"] >= 1 and record["dtype"] == "float32"
    assert record["torch"] and record["vllm"]  # both installed by make setup


def test_the_dtype_setting_refuses_unknown_values(monkeypatch: pytest.MonkeyPatch) -> None:
    from pydantic import ValidationError

    from service.settings import Settings

    monkeypatch.setenv("DAJ_DTYPE", "int8")
    with pytest.raises(ValidationError, match="dtype"):
        Settings()
    monkeypatch.setenv("DAJ_DTYPE", "float32")
    assert Settings().dtype == "float32"


def test_every_benchmark_result_names_its_machine() -> None:
    """benchmarks/results/*.json: the CPU, its speed flags, the cores, the dtype and the versions of vLLM and
    torch; the few results measured before that rule say so (`recorded: false`) instead of guessing."""
    from daj.paths import repo_root

    results = sorted((repo_root() / "benchmarks" / "results").glob("*.json"))
    assert results
    for path in results:
        report = json.loads(path.read_text())
        machines = [report.get("machine")] + [row.get("machine") for row in report.get("rows", [])
                                               if isinstance(row, dict) and "machine" in row]
        assert machines[0] is not None, f"{path.name} does not name its machine"
        for machine in machines:
            if machine.get("recorded") is False:
                assert machine["note"], path.name
                continue
            assert machine["cpu"] and set(machine["cpu_flags"]) == set(SPEED_FLAGS), path.name
            assert machine["cores"] >= 1 and machine["vllm"] and machine["torch"], path.name
            assert "dtype" in machine, path.name


def test_a_machine_summary_names_the_cpu_its_bf16_support_and_the_dtype() -> None:
    from daj.hardware import machine_summary

    record = machine_record("float32") | {"cpu": "AMD EPYC 7B13", "cores": 2,
                                          "cpu_flags": {flag: flag == "avx2" for flag in SPEED_FLAGS}}
    line = machine_summary(record)
    assert line.startswith("AMD EPYC 7B13, 2 cores (avx2); dtype float32; vLLM ")
    assert "(no speed flags)" in machine_summary(record | {"cpu_flags": dict.fromkeys(SPEED_FLAGS, False)})
