"""Pure logic of /rewards: the code inside a completion, and how a run becomes a status and a reward."""

from __future__ import annotations

import pytest

from daj.completions import extract_code
from daj.probes import CandidateRun, Probe, ProbeSet
from service.rewards.protocol import CompletionStatus, RewardKind
from service.rewards.scoring import Facts, reward, run_status, truncated


@pytest.mark.parametrize(
    ("text", "code", "source"),
    [
        ("Sure:\n```python\ndef f(x):\n    return x\n```\n", "def f(x):\n    return x\n", "fenced"),
        ("```py\na = 1\n```\nbetter:\n```python3\na = 2\n```", "a = 2\n", "fenced"),  # the last block counts
        ("```\nprint(1)\n```", "print(1)\n", "fenced"),  # untagged
        ("```text\nnot code\n```\n```python\nx = 1\n```", "x = 1\n", "fenced"),  # other languages skipped
        ("def f(x):\n    return 1\n", "def f(x):\n    return 1\n", "whole_text"),
        ("```python\ndef f(x):\n    return", "def f(x):\n    return", "unclosed_fence"),  # cut at the token limit
        ("I think the answer is 4.", None, "none"),
        ("Yes", None, "none"),  # parses as a name: prose, not a program
        ("```python\n```", None, "none"),
        ("", None, "none"),
    ],
)
def test_the_code_of_a_completion(text: str, code: str | None, source: str) -> None:
    found = extract_code(text)
    assert (found.code, found.source) == (code, source)


CHECKS = ProbeSet("f", "", (Probe("example", "f(1)", "1"), Probe("test", "f(2)", "2"), Probe("input", "f(3)")))


def run(status: str, marks: str, outputs: tuple[str, ...] = ("1", "2", "3"), detail: str = "") -> CandidateRun:
    return CandidateRun(status, detail, marks, outputs)


@pytest.mark.parametrize(
    ("candidate", "expected"),
    [
        (run("passed", "PPP"), CompletionStatus.PASSED),
        (run("passed", "PPE"), CompletionStatus.PASSED),  # an input is not a check
        (run("failed", "PFP"), CompletionStatus.FAILED),
        (run("failed", "PTP"), CompletionStatus.TIMEOUT),
        (run("failed", "PEP", ("1", "raise MemoryError", "3")), CompletionStatus.MEMORY),
        (run("killed", "EEE", ("killed MemoryError",) * 3, "MemoryError"), CompletionStatus.MEMORY),
        (run("killed", "EEE", ("killed OutputLimit",) * 3, "OutputLimit"), CompletionStatus.KILLED),
        (run("failed", "PEP", ("1", "output limit", "3")), CompletionStatus.KILLED),
        (run("failed", "PEP", ("1", "killed signal 9", "3")), CompletionStatus.KILLED),
        (run("timeout", "TTT", ("timeout",) * 3), CompletionStatus.TIMEOUT),
        (run("syntax_error", "EEE", ("syntax_error",) * 3), CompletionStatus.SYNTAX_ERROR),
        # a program's own output that reads like a sandbox's word is still its output
        (run("passed", "PPP", ("MemoryError", "output limit", "killed signal 9")), CompletionStatus.PASSED),
    ],
)
def test_a_run_status(candidate: CandidateRun, expected: CompletionStatus) -> None:
    assert run_status(candidate, CHECKS) is expected


def test_without_checks_a_program_that_completes_an_input_ran() -> None:
    inputs_only = ProbeSet("f", "", (Probe("input", "f(3)"),))
    assert run_status(run("passed", "P", ("3",)), inputs_only) is CompletionStatus.RAN
    assert run_status(run("failed", "E", ("raise ValueError",)), inputs_only) is CompletionStatus.FAILED


def test_a_cut_output_is_marked() -> None:
    assert truncated(run("passed", "PPP", ("1", "2", "xxxx... [5000 chars, sha256 0123456789ab]")))
    assert truncated(run("killed", "EEE", ("a",) * 3, "OutputLimit"))
    assert truncated(run("failed", "PEP", ("1", "output limit", "3")))
    assert not truncated(run("passed", "PPP", ("1", "2", "... [not a cut]")))
    assert not truncated(run("passed", "PPP", ("1", "output limit", "3")))  # printed by the program


@pytest.mark.parametrize(
    ("kind", "facts", "value"),
    [
        (RewardKind.PASS_RATE, Facts(3, 4, 0.5, None, 1.0), 0.75),
        (RewardKind.PASS_RATE, Facts(0, 0, 0.5, None, 1.0), None),  # nothing to pass: no reward, not a 0
        (RewardKind.BINARY, Facts(3, 4, 0.5, None, 1.0), 0.0),
        (RewardKind.BINARY, Facts(4, 4, 0.5, None, 1.0), 1.0),
        (RewardKind.BINARY, Facts(0, 0, 0.5, None, 1.0), None),
        (RewardKind.AGREEMENT, Facts(1, 2, 0.25, None, 2.0), 1.0),
        (RewardKind.AGREEMENT, Facts(0, 0, 0.25, None, 1.0), 0.25),
        (RewardKind.JUDGE, Facts(2, 2, 0.5, 0.3, 1.0), 1.3),
        (RewardKind.JUDGE, Facts(0, 2, 0.5, None, 1.0), 0.0),
    ],
)
def test_each_reward_kind(kind: RewardKind, facts: Facts, value: float | None) -> None:
    assert reward(kind, facts) == (pytest.approx(value) if value is not None else None)


def test_a_test_that_repeats_an_example_counts_once() -> None:
    from service.rewards.scoring import distinct_checks

    probes = ProbeSet("f", "", (Probe("example", "f(1)", "1", source="statement"), Probe("test", "f(1)", "1"),
                                Probe("test", "f(2)", "2"), Probe("input", "f(3)")))
    assert distinct_checks(probes) == [0, 2]
