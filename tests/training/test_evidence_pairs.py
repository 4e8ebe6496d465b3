"""Evidence pairs run both programs in the real sandbox on the service's probe set and render what the service
would show the judge."""

from __future__ import annotations

from pathlib import Path

import pytest

from daj.pools import Pool, write_pools
from daj.protocol import PROMPT_V2, PROMPT_V3
from daj.testing.programs import NO_SHORT, RIGHT, RIGHT_TOO, TOP_TWO_PROBLEM, WRONG
from judge_training.data import NO_EVIDENCE, PairExample, pair_prompt_ids
from judge_training.evidence import (
    EXAMPLES_DIFFER,
    TIE_AFTER_EXAMPLES,
    EvidenceSettings,
    RunStore,
    evidence_pair,
    evidence_pairs,
    pool_pairs_as_served,
    sample_per_source,
    survey,
    with_evidence,
)
from service.settings import Settings

REPO = Path(__file__).resolve().parents[2]
PROBLEM = TOP_TWO_PROBLEM
SAME = RIGHT_TOO
ASCENDING = WRONG


def pair(rejected: str) -> PairExample:
    return PairExample("T/1", PROBLEM, RIGHT, rejected, "test", "medium", "p")


def test_the_settings_are_the_services() -> None:
    service, ours = Settings(), EvidenceSettings()
    assert (ours.generated_inputs, ours.evidence_inputs, ours.case_seconds, ours.output_chars, ours.max_tests) == (
        service.execution_generated_inputs, service.evidence_inputs, service.execution_case_s,
        service.execution_output_chars, service.execution_max_tests)
    assert (ours.limits.wall_seconds, ours.limits.cpu_seconds, ours.limits.memory_mb) == (
        service.execution_wall_s, service.execution_cpu_s, service.execution_memory_mb)


def test_a_failed_example_is_shown_with_its_expected_value() -> None:
    item = evidence_pair(pair(ASCENDING), EvidenceSettings())
    assert isinstance(item, PairExample) and item.stage == EXAMPLES_DIFFER
    first = item.evidence[0]
    assert (first.call, first.output_a, first.output_b, first.expected) == ("top_two([1, 5, 3])", "[5, 3]", "[1, 3]",
                                                                             "[5, 3]")
    swapped = item.shown(passing_first=False)[0]
    assert (swapped.output_a, swapped.output_b) == ("[1, 3]", "[5, 3]")


def test_programs_that_tie_on_the_examples_differ_on_generated_inputs() -> None:
    item = evidence_pair(pair(NO_SHORT), EvidenceSettings())
    assert isinstance(item, PairExample) and item.stage == TIE_AFTER_EXAMPLES
    assert 1 <= len(item.evidence) <= 3 and all(d.expected is None for d in item.evidence)  # generated inputs only
    assert any(d.output_b.startswith("raise IndexError") for d in item.evidence), item.evidence


def test_same_behaviour_or_nothing_to_run_has_no_evidence() -> None:
    assert evidence_pair(pair(SAME), EvidenceSettings()) == "same behaviour on every probe"
    no_code = PairExample("T/2", "Write a program.", "print(1)\n", "print(2)\n", "test", "medium", "p")
    assert evidence_pair(no_code, EvidenceSettings()) == "no entry point"


def test_the_batch_keeps_input_order_and_tallies_every_outcome() -> None:
    kept, tally = evidence_pairs([pair(NO_SHORT), pair(SAME), pair(ASCENDING)], EvidenceSettings(), workers=2)
    assert [item.stage for item in kept] == [TIE_AFTER_EXAMPLES, EXAMPLES_DIFFER]
    assert tally == {TIE_AFTER_EXAMPLES: 1, EXAMPLES_DIFFER: 1, "same behaviour on every probe": 1}


@pytest.mark.parametrize("passing_first", [True, False])
def test_the_prompt_shows_the_evidence_in_its_order(tiny_model_dir: Path, passing_first: bool) -> None:
    from transformers import AutoTokenizer

    from daj.protocol import encode_prompt, render_prompt

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    item = evidence_pair(pair(ASCENDING), EvidenceSettings())
    assert isinstance(item, PairExample)
    ids = pair_prompt_ids(tokenizer, item, passing_first, version=PROMPT_V2)
    code_a, code_b = (RIGHT, ASCENDING) if passing_first else (ASCENDING, RIGHT)
    served = render_prompt(tokenizer, PROBLEM, code_a, code_b, "verdict", item.shown(passing_first), PROMPT_V2)
    assert ids == encode_prompt(tokenizer, served)  # byte for byte what the service renders for this pair
    a_output, b_output = ("[5, 3]", "[1, 3]") if passing_first else ("[1, 3]", "[5, 3]")
    assert f"A returns: {a_output}\nB returns: {b_output}\nexpected:  [5, 3]" in tokenizer.decode(ids)


def test_the_survey_counts_stages_and_reasons_per_source() -> None:
    other = PairExample("T/3", PROBLEM, RIGHT, ASCENDING, "other", "easy", "p")
    drawn = sample_per_source([pair(NO_SHORT), pair(SAME), pair(ASCENDING), other], per_source=2, seed=0)
    assert len(drawn) == 3 and sum(p.source == "test" for p in drawn) == 2
    assert sample_per_source(drawn, per_source=2, seed=0) == sample_per_source(drawn, per_source=2, seed=0)
    rows = survey([pair(NO_SHORT), pair(SAME), other], EvidenceSettings(), workers=2)
    assert rows == [{"source": "other", "pairs": 1, EXAMPLES_DIFFER: 1},
                    {"source": "test", "pairs": 2, TIE_AFTER_EXAMPLES: 1, "same behaviour on every probe": 1}]


def test_v3_shows_the_evidence_without_the_code(tiny_model_dir: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    item = evidence_pair(pair(ASCENDING), EvidenceSettings())
    assert isinstance(item, PairExample)
    with_code = tokenizer.decode(pair_prompt_ids(tokenizer, item, True, version=PROMPT_V2))
    evidence_only = tokenizer.decode(pair_prompt_ids(tokenizer, item, True, version=PROMPT_V3))
    assert "A returns: [5, 3]" in evidence_only and "sorted(" not in evidence_only and "sorted(" in with_code
    assert len(evidence_only) < len(with_code)
    code_only = pair(ASCENDING)  # no evidence: v3 is the v1 prompt, code and all
    assert pair_prompt_ids(tokenizer, code_only, True, version=PROMPT_V3) == pair_prompt_ids(tokenizer, code_only,
                                                                                            True)


def test_a_share_of_pairs_stays_code_only_and_the_rest_carry_evidence(tmp_path: Path) -> None:
    pairs = [pair(NO_SHORT), pair(SAME), pair(ASCENDING)] * 4
    store = RunStore(tmp_path / "runs.jsonl")
    kept, tally = with_evidence(pairs, EvidenceSettings(), no_evidence_share=0.3, seed=1, workers=1, store=store)
    assert sum(tally.values()) == len(pairs) and 0 < tally[NO_EVIDENCE] < len(pairs)
    assert all(p.evidence == () for p in kept if p.stage == NO_EVIDENCE)
    assert all(p.evidence for p in kept if p.stage != NO_EVIDENCE)
    assert tally["same behaviour on every probe"] == len(pairs) - len(kept)
    assert store.fresh == 4  # RIGHT, NO_SHORT, SAME, ASCENDING: each program ran once (one worker: no race)
    again = RunStore(tmp_path / "runs.jsonl")  # a rebuild reads the runs back from disk
    assert with_evidence(pairs, EvidenceSettings(), 0.3, 1, store=again) == (kept, tally) and again.fresh == 0


def test_pool_pairs_are_the_ties_the_service_would_judge() -> None:
    pool = Pool("T/9", PROBLEM, [RIGHT, NO_SHORT, ASCENDING, RIGHT_TOO], [True, False, False, True], "policy")
    pairs, tally = pool_pairs_as_served([pool], EvidenceSettings(), per_problem=4, seed=0, source="meta")
    # ASCENDING fails an example, so it is out of the top group; RIGHT and RIGHT_TOO are one cluster
    assert tally["with pairs"] == 1 and len(pairs) == 2
    assert {p.rejected for p in pairs} == {NO_SHORT} and {p.chosen for p in pairs} == {RIGHT, RIGHT_TOO}
    assert all(p.stage == TIE_AFTER_EXAMPLES and p.evidence and p.source == "meta" for p in pairs)


def test_mbpp_statements_carry_their_visible_test_as_a_check() -> None:
    from daj.probes import build_probe_set, infer_entry_point
    from judge_training.sources._mbpp import with_visible_tests

    prose = 'def twice(x):\n    """\n    Write a function that doubles x.\n    """\n'
    for given in (["assert twice(2) == 4"], "['assert twice(2) == 4']"):  # LDB files hold both forms
        problem = with_visible_tests(prose, given)
        assert problem == prose.replace("x.\n", "x.\n    assert twice(2) == 4\n")
    probe_set = build_probe_set(problem, ["def twice(x):\n    return 2 * x\n"], infer_entry_point(problem, []))
    assert probe_set is not None and [probe_set.probes[i].call for i in probe_set.checks] == ["twice(2)"]
    assert with_visible_tests("def f():\n    pass\n", ["assert f() is None"]) == "def f():\n    pass\n"  # no docstring


def test_the_meta_set_with_evidence_is_the_services_ties(tmp_path: Path) -> None:
    from judge_training.builder import meta_pairs
    from judge_training.config import DataConfig

    pool = tmp_path / "meta.jsonl"
    write_pools(pool, [Pool("HumanEval/0", PROBLEM, [RIGHT, NO_SHORT, ASCENDING], [True, False, False], "policy")])
    cfg = DataConfig(data_dir=str(REPO.parent / "shared/data"), meta_pool=str(pool), evidence=True,
                     prompt_version=PROMPT_V3, run_store="")
    info: dict[str, object] = {}
    pairs = meta_pairs(cfg, info)
    assert [(p.chosen, p.rejected, p.stage) for p in pairs] == [(RIGHT, NO_SHORT, TIE_AFTER_EXAMPLES)]
    assert info["meta_evidence"] == {"humaneval_meta": {"unplanned": 0, "with pairs": 1}}
    write_pools(pool, [Pool("HumanEval/1", PROBLEM, [RIGHT, NO_SHORT], [True, False], "policy")])
    with pytest.raises(ValueError, match="outside the HumanEval meta split"):  # HumanEval/1 is a test problem
        meta_pairs(cfg, {})
