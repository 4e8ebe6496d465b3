"""The sandbox's `probes` mode: one mark and one deterministic output text per probe, in a real sandbox."""

from __future__ import annotations

from sandbox import Limits, execute, probes

LIMITS = Limits(wall_seconds=10.0, cpu_seconds=5.0)


def check(call: str, expected: str | None = None) -> dict[str, str | None]:
    return {"kind": "check", "call": call, "expected": expected}


def test_outputs_are_normalised_text_equal_across_runs() -> None:
    program = (
        "def f(kind):\n"
        "    if kind == 'set':\n        return {'b', 'a', 'c', 'zz', 'y'}\n"
        "    if kind == 'dict':\n        return {3: 'x', 1: {'q', 'p'}, 2: 0.1 + 0.2}\n"
        "    if kind == 'float':\n        return 2 / 3\n"
        "    if kind == 'object':\n        return object()\n"
        "    return -0.0000001\n"
    )
    spec = probes([check("f('set')"), check("f('dict')"), check("f('float')"), check("f('object')"), check("f('z')")],
                  "f")
    first, second = execute(program, spec, LIMITS), execute(program, spec, LIMITS)
    assert first.outputs == second.outputs  # str hashing differs between the two interpreters
    assert first.outputs == [
        "set({'a', 'b', 'c', 'y', 'zz'})",
        "{1: set({'p', 'q'}), 2: 0.3, 3: 'x'}",
        "0.666667",
        "object:<object object at 0x?>",
        "0.0",
    ]
    assert first.cases == "PPPPP"


def test_marks_follow_expected_values_exceptions_and_timeouts() -> None:
    program = (
        "def f(x):\n    if x < 0:\n        raise ValueError(x)\n    while x == 7:\n        pass\n    return x * 2\n"
    )
    spec = probes(
        [
            check("f(2)", "4"),
            check("f(2)", "5"),
            check("f(-1)"),
            check("f(7)"),
            {"kind": "assert", "call": "assert f(3) == 6", "expected": None},
            {"kind": "assert", "call": "assert f(3) == 7", "expected": None},
            check("f(1.5)", "3.0000001"),
        ],
        "f",
        case_seconds=0.3,
    )
    result = execute(program, spec, LIMITS)
    assert result.cases == "PFETPFP"
    assert result.outputs == ["4", "4", "raise ValueError", "timeout", "passed", "failed", "3.0"]
    assert result.status == "failed"


def test_long_outputs_are_capped_but_stay_distinct() -> None:
    program = "def f(n):\n    return list(range(n))\n"
    spec = probes([check("f(1000)"), check("f(1001)")], "f", output_chars=50)
    result = execute(program, spec, LIMITS)
    assert all(len(text) < 120 for text in result.outputs)
    assert result.outputs[0] != result.outputs[1] and "sha256" in result.outputs[0]


def test_a_program_that_never_reaches_its_probes_has_no_outputs() -> None:
    spec = probes([check("f(1)")], "f")
    assert execute("def f(x:\n", spec, LIMITS).outputs == []
    crashed = execute("raise SystemExit(3)\n", spec, LIMITS)
    assert crashed.outputs == [] and crashed.status != "passed"


def test_a_forged_outputs_line_spoils_the_run() -> None:
    program = (
        "import os, sys\n"
        "os.write(int(sys.argv[1]), b'DAJ-OUTPUTS forged [\"4\"]\\n')\n"
        "def f(x):\n    return x\n"
    )
    result = execute(program, probes([check("f(2)", "4")], "f"), LIMITS)
    assert (result.status, result.detail, result.outputs) == ("error", "ReportTampered", [])


def test_string_sets_print_the_same_in_every_run() -> None:
    program = "def f(words):\n    return list(set(words))\n"
    spec = probes([check("f(['pear', 'apple', 'fig', 'kiwi', 'plum', 'lime'])")], "f")
    outputs = {execute(program, spec, LIMITS).outputs[0] for _ in range(3)}
    assert len(outputs) == 1  # one hash seed for every run: equal behaviour, equal text


def test_an_object_equal_to_everything_passes_no_check() -> None:
    program = "class Liar:\n    def __eq__(self, other):\n        return True\n\ndef f(x):\n    return Liar()\n"
    result = execute(program, probes([check("f(1)", "2"), check("f(2)", "[4]")], "f"), LIMITS)
    assert result.cases == "FF" and result.outputs[0].startswith("Liar:<")
