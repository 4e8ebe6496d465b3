"""Pair data: prompts come from daj.protocol byte for byte, mutants really differ, the meta split is clean."""

from __future__ import annotations

import ast
import gzip
import json
import random
from pathlib import Path

import pytest

from daj.jsonl import read_jsonl
from daj.pools import Pool
from daj.protocol import encode_prompt, render_prompt
from judge_training import data as D
from judge_training.sources._mbpp import LdbProgram, load_ldb_mbpp, mbpp_pass_rates, task_number
from judge_training.sources._mutation import ast_mutants
from judge_training.sources.bigcodebench_mutant import bigcodebench_mutant_pairs, bigcodebench_tasks
from judge_training.sources.ldb_mbpp import ldb_pairs
from judge_training.sources.ldb_mbpp_mutant import ldb_mutant_pairs
from judge_training.sources.mbppplus_truncation import run_ons, truncations
from judge_training.sources.meta import load_meta_pools, pool_pairs
from judge_training.sources.synthetic import synthetic_pairs


def _pair(task: str = "t/1", source: str = "ldb_mbpp") -> D.PairExample:
    return D.PairExample(task, "def f(x):\n    '''twice x'''\n", "def f(x):\n    return 2 * x\n",
                         "def f(x):\n    return x + 2\n", source, "hard", "m1+m2")  # fmt: skip


def test_train_both_orders_render_through_the_protocol(tiny_tokenizer) -> None:  # type: ignore[no-untyped-def]
    pair = _pair()
    [encoded], dropped = D.encode_pairs(tiny_tokenizer, [pair], ["ldb_mbpp:hard"], "source+difficulty", 4096)
    assert dropped == 0 and encoded.domain == 0 and encoded.labels == (0, 1)
    first = encode_prompt(tiny_tokenizer, render_prompt(tiny_tokenizer, pair.problem, pair.chosen, pair.rejected))
    second = encode_prompt(tiny_tokenizer, render_prompt(tiny_tokenizer, pair.problem, pair.rejected, pair.chosen))
    assert encoded.ids == (first, second) and first != second


def test_train_long_prompts_are_dropped(tiny_tokenizer) -> None:  # type: ignore[no-untyped-def]
    long = D.PairExample("t/2", "x" * 20000, "a = 1", "a = 2", "ldb_mbpp", "hard", "m")
    kept, dropped = D.encode_pairs(tiny_tokenizer, [_pair(), long], ["ldb_mbpp"], "source", 512)
    assert [k.pair.task_id for k in kept] == ["t/1"] and dropped == 1


def test_train_ast_mutants_parse_and_differ() -> None:
    source = "def f(xs, k):\n    if len(xs) > k and k >= 0:\n        return xs[k] + 1\n    return None\n"
    mutants = ast_mutants(source, random.Random(0), limit=10)
    original = ast.unparse(ast.parse(source))
    assert len(mutants) >= 5
    kinds = {kind for kind, _ in mutants}
    assert {"compare", "binop", "off_by_one", "boolop"} <= kinds
    for _, text in mutants:
        ast.parse(text)
        assert text != original
    assert len({text for _, text in mutants}) == len(mutants)


def test_train_truncations_are_strict_prefixes_of_both_kinds() -> None:
    source = "def f(xs, k):\n    total = 0\n    for x in xs:\n        total += x * k\n    return total\n"
    cuts = truncations(source, random.Random(0), limit=20)
    assert {kind for kind, _ in cuts} == {"cut_lines", "cut_mid"}
    assert len({text for _, text in cuts}) == len(cuts)
    for _, text in cuts:
        assert source.startswith(text.rstrip()) and len(text.rstrip()) < len(source.rstrip())
        assert text.startswith("def f(xs, k):")  # the signature always survives: the body is what is cut


def test_train_truncations_of_a_one_liner_still_exist() -> None:
    cuts = truncations("def f(x):\n    return [i * 2 for i in x]\n", random.Random(1), limit=5)
    assert {text.rstrip() for _, text in cuts} >= {"def f(x):"}
    assert any(kind == "cut_mid" for kind, _ in cuts)


def test_train_run_ons_extend_the_program_with_a_cut_continuation() -> None:
    source = "def f(x):\n    return x + 1\n"
    runs = run_ons(source, "assert f(1) == 2", random.Random(0), limit=3)
    assert len(runs) == 3 and {kind for kind, _ in runs} == {"run_on"}
    for _, text in runs:
        head, tail = text.split("\n\n", 1)
        assert head + "\n" == source and "assert f(1) == 2".startswith(tail.strip())
        assert 3 <= len(tail.strip()) < len("assert f(1) == 2")  # always cut before the end
    assert run_ons(source, "", random.Random(0), limit=3) == []


def test_train_difficulty_buckets() -> None:
    assert [D.difficulty_bucket(r) for r in (0.0, 1 / 3, 0.5, 2 / 3, 1.0, None)] == [
        "hard", "hard", "medium", "medium", "easy", "unknown"
    ]  # fmt: skip


def test_train_ldb_pairs_take_every_pass_fail_combination() -> None:
    progs = [
        LdbProgram("MBPP/11", "p", "good1", "a", True),
        LdbProgram("MBPP/11", "p", "bad1", "b", False),
        LdbProgram("MBPP/11", "p", "bad2", "c", False),
        LdbProgram("MBPP/12", "q", "good", "a", True),
    ]
    pairs = ldb_pairs(progs, mbpp_pass_rates(progs))
    assert sorted((p.chosen, p.rejected) for p in pairs) == [("good1", "bad1"), ("good1", "bad2")]
    assert {p.difficulty for p in pairs} == {"hard"} and pairs[0].policy == "a+b"


def test_train_meta_split_is_by_problem() -> None:
    pairs = [_pair(f"HumanEval/{4 * i}") for i in range(40) for _ in range(3)]
    train, held = D.split_meta(pairs, 0.5)
    assert train and held
    assert not {p.task_id for p in train} & {p.task_id for p in held}


def test_train_meta_pools_outside_the_meta_split_are_refused(tmp_path: Path) -> None:
    splits = tmp_path / "splits.json"
    splits.write_text(json.dumps({"meta": ["HumanEval/0"], "test": ["HumanEval/1"]}))
    path = tmp_path / "pools.jsonl.gz"
    rows = [Pool(t, "p", ["a", "b"], [True, False], "s").to_dict() for t in ("HumanEval/0", "HumanEval/1")]
    with gzip.open(path, "wt") as handle:
        handle.write("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(ValueError, match="HumanEval/1"):
        load_meta_pools(path, splits)


def test_train_pool_pairs_skip_identical_programs() -> None:
    pool = Pool("HumanEval/0", "p", ["a", "a ", "b", "c"], [True, True, False, False], "s")
    pairs = pool_pairs([pool], per_problem=10, seed=0, source="meta")
    assert sorted((p.chosen, p.rejected) for p in pairs) == [("a", "b"), ("a", "c")]


def test_train_batches_resume_where_they_left_off(tiny_tokenizer) -> None:  # type: ignore[no-untyped-def]
    items, _ = D.encode_pairs(tiny_tokenizer, [_pair(f"t/{i}") for i in range(7)], ["ldb_mbpp"], "source", 4096)
    straight = D.batches(items, 2, seed=3)
    seen = [[e.pair.task_id for e in next(straight)] for _ in range(8)]
    resumed = D.batches(items, 2, seed=3, start_step=5)
    assert [[e.pair.task_id for e in next(resumed)] for _ in range(3)] == seen[5:]


def test_train_synthetic_flipped_domain_swaps_labels() -> None:
    pairs = synthetic_pairs(["clean", "flip"], ["flip"], per_domain=8, seed=0)
    clean = {p.chosen for p in pairs if p.source == "clean"}
    flipped = {p.rejected for p in pairs if p.source == "flip"}
    assert clean & flipped


SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


@pytest.mark.skipif(not SHARED_DATA.exists(), reason="shared data folder not present")
def test_train_ldb_mutants_are_policy_programs_the_sandbox_confirms_fail() -> None:
    from sandbox import Sandbox, evalplus_io

    programs, _ = load_ldb_mbpp(SHARED_DATA, Path("data/pools"))
    chosen = [p for p in programs if p.passed][:6]
    pairs, stats = ldb_mutant_pairs(SHARED_DATA, chosen, {}, per_program=2, seed=0, workers=2)
    assert pairs and stats["canonical_passes"] >= 1
    by_number = {task_number(p["task_id"]): p for p in read_jsonl(SHARED_DATA / "evalplus/MbppPlus.jsonl.gz")}
    models = {p.model for p in chosen}
    for pair in pairs:
        assert pair.source == "ldb_mbpp_mutant" and pair.policy in models
        original = next(p for p in chosen if p.task_id == pair.task_id)
        assert pair.chosen == ast.unparse(ast.parse(original.program)) and pair.rejected != pair.chosen
        assert pair.problem == original.problem
    spec = evalplus_io(by_number[task_number(pairs[0].task_id)], base_only=True)
    passed, failed = Sandbox(workers=1).run_many([(pairs[0].chosen, spec), (pairs[0].rejected, spec)], desc="check")
    assert passed.passed and not failed.passed


@pytest.mark.skipif(not SHARED_DATA.exists(), reason="shared data folder not present")
def test_train_bigcodebench_tasks_need_only_libraries_this_interpreter_has() -> None:
    import importlib.util

    from sandbox import bigcodebench_unittest

    tasks = bigcodebench_tasks(SHARED_DATA)
    assert 0 < len(tasks) < 1140  # some tasks need libraries (tensorflow, nltk, ...) that are not installed
    for task, spec in tasks:
        assert spec == bigcodebench_unittest(task)
        assert all(importlib.util.find_spec(m) is not None for m in spec.required_modules)


@pytest.mark.skipif(not SHARED_DATA.exists(), reason="shared data folder not present")
def test_train_bigcodebench_mutants_are_confirmed_by_the_task_unittests() -> None:
    from sandbox import Sandbox
    from sandbox.limits import BIGCODEBENCH_LIMITS

    pairs, stats = bigcodebench_mutant_pairs(SHARED_DATA, per_problem=2, seed=0, workers=2, limit_tasks=5)
    assert pairs and stats["canonical_passes"] >= 1 and stats["tasks_with_libraries"] == 5
    tasks = {task["task_id"]: (task, spec) for task, spec in bigcodebench_tasks(SHARED_DATA)[:5]}
    for pair in pairs:
        task, _ = tasks[pair.task_id]
        assert pair.source == "bigcodebench_mutant" and pair.difficulty == "unknown"
        assert pair.problem == task["complete_prompt"] and pair.rejected != pair.chosen
        assert pair.chosen == ast.unparse(ast.parse(task["code_prompt"] + task["canonical_solution"]))
    _, spec = tasks[pairs[0].task_id]
    sandbox = Sandbox(limits=BIGCODEBENCH_LIMITS, workers=1)
    passed, failed = sandbox.run_many([(pairs[0].chosen, spec), (pairs[0].rejected, spec)], desc="check")
    assert passed.passed and not failed.passed
