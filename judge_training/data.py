"""Pairwise training data for the verdict-mode judge.

A pair is (problem, passing program, failing program). Each pair is shown in both orders, so a judge that
only learned "always A" gets exactly half of them wrong; both orders of one pair always travel in the same
batch. Each pair carries domain tags (source data set, difficulty bucket from the problem's pass rate,
policy model) that the bi-level reweighting learns weights over.

Sources (never the HumanEval ``test`` split):
- ``ldb_mbpp``: LDB seed programs of three policy models on MBPP; pairs are (solved, unsolved) programs of
  one problem. Labels: re-run sandbox pools ``data/pools/ldb_mbpp_<model>.jsonl.gz`` when they exist,
  otherwise LDB's recorded ``is_solved`` (the source of each label is recorded in the metadata).
- ``mbppplus_mutant``: the MBPP+ canonical solution against AST mutants of it that the sandbox confirms
  fail (hard negatives: one-token differences). Both programs are re-printed by ``ast.unparse`` so that
  formatting cannot give the answer away.
- ``ldb_mbpp_mutant``: the same AST mutants, of the *passing LDB programs* (the policy models' own code),
  judged by the MBPP+ base tests of the problem; kept when the original passes and the mutant fails.
- ``bigcodebench_mutant``: the same AST mutants of BigCodeBench canonical solutions, judged by each task's
  unittest suite (tasks whose libraries this interpreter lacks are left out): longer, library-heavy programs.
- ``mbppplus_truncation``: the MBPP+ canonical solution against prefixes of it (cut at a line or mid-line)
  and against run-ons (the solution followed by a cut-off example ``assert``), that the sandbox confirms
  fail: the failure modes of sampled programs that stop early or keep writing into a token limit, common
  among the CodeGen-16B failures on HumanEval. Prefixes are shorter than the passing program and run-ons
  longer, so length does not give the answer away (on the meta split the passing program is the shorter one
  in 59% of pairs; a judge that learned "longer wins" from prefixes alone did worse than chance there).
- meta set: CodeGen-16B pools of the HumanEval ``meta`` split (mixed problems only), split by problem into
  ``meta_train`` (drives the outer step) and ``meta_eval`` (reported only).
"""

from __future__ import annotations

import ast
import copy
import gzip
import hashlib
import json
import logging
import random
import sys
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from daj.protocol import PROMPT_V1, VERDICT_CHOICES, Disagreement, JudgeMode, encode_prompt, render_prompt

if TYPE_CHECKING:
    from sandbox import Limits, TestSpec

logger = logging.getLogger(__name__)

LDB_MBPP_MODELS = ("codellama", "gpt-3.5-turbo-0613", "starcoder")
BIGCODEBENCH_FILE = "bigcodebench/BigCodeBench.hf_data.jsonl.gz"
DOMAIN_KEYS = ("source", "difficulty", "policy", "source+difficulty", "stage", "source+stage")
# Pipeline stages a pair stands for: which part of the service would have decided it (judge_training/evidence.py).
EXAMPLES_DIFFER = "examples-differ"
TIE_AFTER_EXAMPLES = "tie-after-examples"
NO_EVIDENCE = "no-evidence"
STAGES = (EXAMPLES_DIFFER, TIE_AFTER_EXAMPLES, NO_EVIDENCE)
# The judge prompt of code-only pairs (`data.prompt_version` in the config picks the version a run renders and
# writes into the adapter's metadata: the service judges an adapter with the prompt it names).
TRAINED_PROMPT_VERSION = PROMPT_V1


@dataclass(frozen=True)
class PairExample:
    """One unordered pair: ``chosen`` passes the hidden tests, ``rejected`` does not."""

    task_id: str
    problem: str
    chosen: str
    rejected: str
    source: str
    difficulty: str
    policy: str
    stage: str = NO_EVIDENCE  # the pipeline stage the pair stands for (judge_training/evidence.py)
    evidence: tuple[Disagreement, ...] = ()  # what execution showed, the passing program as A

    def domain(self, key: str) -> str:
        if key in ("source+difficulty", "source+stage"):
            return f"{self.source}:{getattr(self, key.split('+')[1])}"
        if key in ("source", "difficulty", "policy", "stage"):
            return str(getattr(self, key))
        raise ValueError(f"domain key must be one of {DOMAIN_KEYS}, got {key!r}")

    def shown(self, passing_first: bool) -> tuple[Disagreement, ...]:
        """The evidence as the prompt in that order shows it (A and B swap with the programs)."""
        return self.evidence if passing_first else tuple(item.swapped() for item in self.evidence)


@dataclass(frozen=True)
class EncodedPair:
    """Both orders of one pair, tokenised: ``ids[0]`` shows the passing program as A (label 0 = "A"),
    ``ids[1]`` shows it as B (label 1 = "B")."""

    pair: PairExample
    ids: tuple[list[int], list[int]]
    domain: int

    @property
    def labels(self) -> tuple[int, int]:
        return (0, 1)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def difficulty_bucket(pass_rate: float | None) -> str:
    """Coarse buckets so each domain keeps enough pairs to learn a weight for."""
    if pass_rate is None:
        return "unknown"
    if pass_rate <= 1 / 3 + 1e-9:
        return "hard"
    if pass_rate <= 2 / 3 + 1e-9:
        return "medium"
    return "easy"


def _task_number(task_id: str) -> int:
    return int(task_id.split("/")[1])


# ---------------------------------------------------------------- LDB MBPP seeds


@dataclass(frozen=True)
class LdbProgram:
    task_id: str
    problem: str
    program: str
    model: str
    passed: bool


def _sandbox_labels(pools_dir: Path, model: str) -> dict[str, bool] | None:
    """Re-run labels from the sandbox helper's pool, if it wrote one."""
    path = pools_dir / f"ldb_mbpp_{model}.jsonl.gz"
    if not path.is_file():
        return None
    from daj.pools import read_pools

    return {p.task_id: bool(p.passed[0]) for p in read_pools(path) if p.passed and p.passed[0] is not None}


def with_visible_tests(prompt: str, given_tests: str | Sequence[str]) -> str:
    """The statement with MBPP's visible test(s) written into its docstring, one `assert` a line (as MBPP shows
    them to a model, and as the probes read them as checks); unchanged when it has no docstring to extend.
    `given_tests` is a list, or its Python literal (the LDB files hold both)."""
    if isinstance(given_tests, str):
        try:
            given_tests = ast.literal_eval(given_tests) if given_tests.strip() else []
        except (ValueError, SyntaxError):
            return prompt
    tests = [t.strip() for t in given_tests if isinstance(t, str) and t.strip().startswith("assert ")]
    end = prompt.rstrip().rfind('"""')
    if not tests or end <= prompt.find('"""'):
        return prompt
    lines = "".join(f"    {test}\n" for test in tests)
    return prompt[:end].rstrip() + "\n" + lines + "    " + prompt[end:]


def load_ldb_mbpp(data_dir: Path, pools_dir: Path, visible_tests: bool = False,
                  ) -> tuple[list[LdbProgram], dict[str, str]]:
    """All LDB MBPP seed programs with labels, and where each model's labels came from; `visible_tests` writes
    each problem's visible test into its statement."""
    programs: list[LdbProgram] = []
    label_source: dict[str, str] = {}
    for model in ldb_models_present(data_dir):
        rerun = _sandbox_labels(pools_dir, model)
        label_source[model] = "sandbox re-run pool" if rerun is not None else "LDB is_solved (not re-run)"
        for row in read_jsonl(data_dir / f"ldb/mbpp__seed__{model}__seed.jsonl.gz"):
            recorded = str(row["is_solved"]).lower() == "true"
            passed = rerun.get(row["task_id"], recorded) if rerun is not None else recorded
            problem = with_visible_tests(row["prompt"], row.get("given_tests", "")) if visible_tests else row["prompt"]
            programs.append(LdbProgram(row["task_id"], problem, row["solution"], model, passed))
    return programs, label_source


def ldb_models_present(data_dir: Path) -> list[str]:
    return [m for m in LDB_MBPP_MODELS if (data_dir / f"ldb/mbpp__seed__{m}__seed.jsonl.gz").is_file()]


def mbpp_pass_rates(programs: Sequence[LdbProgram]) -> dict[int, float]:
    """Pass rate of each MBPP problem over the LDB policy models (the difficulty signal)."""
    by_task: dict[int, list[bool]] = defaultdict(list)
    for prog in programs:
        by_task[_task_number(prog.task_id)].append(prog.passed)
    return {task: sum(v) / len(v) for task, v in by_task.items()}


def ldb_pairs(programs: Sequence[LdbProgram], rates: dict[int, float]) -> list[PairExample]:
    """Every (passing, failing) combination of different programs of one problem."""
    by_task: dict[str, list[LdbProgram]] = defaultdict(list)
    for prog in programs:
        by_task[prog.task_id].append(prog)
    pairs = []
    for task_id, progs in sorted(by_task.items()):
        difficulty = difficulty_bucket(rates.get(_task_number(task_id)))
        for good in (p for p in progs if p.passed):
            for bad in (p for p in progs if not p.passed and p.program.strip() != good.program.strip()):
                policy = "+".join(sorted({good.model, bad.model}))
                pairs.append(
                    PairExample(task_id, good.problem, good.program, bad.program, "ldb_mbpp", difficulty, policy)
                )
    return pairs


# ---------------------------------------------------------------- MBPP+ mutants

_BINOP_SWAPS: dict[type, type] = {
    ast.Add: ast.Sub,
    ast.Sub: ast.Add,
    ast.Mult: ast.Add,
    ast.FloorDiv: ast.Mult,
    ast.Div: ast.Mult,
    ast.Mod: ast.FloorDiv,
}
_CMP_FLIPS: dict[type, type] = {
    ast.Lt: ast.LtE,
    ast.LtE: ast.Lt,
    ast.Gt: ast.GtE,
    ast.GtE: ast.Gt,
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
}


def _mutation_sites(tree: ast.AST) -> list[tuple[str, int]]:
    """(kind, index among nodes of ast.walk) of every place a single mutation applies."""
    sites = []
    for index, node in enumerate(ast.walk(tree)):
        if isinstance(node, ast.BinOp) and type(node.op) in _BINOP_SWAPS:
            sites.append(("binop", index))
        elif isinstance(node, ast.Compare) and type(node.ops[0]) in _CMP_FLIPS:
            sites.append(("compare", index))
        elif isinstance(node, ast.Constant) and type(node.value) is int:
            sites.append(("off_by_one", index))
        elif isinstance(node, ast.BoolOp):
            sites.append(("boolop", index))
        elif isinstance(node, ast.Return) and node.value is not None:
            sites.append(("wrong_return", index))
    return sites


def _apply_mutation(tree: ast.Module, kind: str, index: int) -> ast.Module:
    mutant = copy.deepcopy(tree)
    node = list(ast.walk(mutant))[index]
    if kind == "binop":
        assert isinstance(node, ast.BinOp)
        node.op = _BINOP_SWAPS[type(node.op)]()
    elif kind == "compare":
        assert isinstance(node, ast.Compare)
        node.ops = [_CMP_FLIPS[type(node.ops[0])](), *node.ops[1:]]
    elif kind == "off_by_one":
        assert isinstance(node, ast.Constant)
        node.value = node.value + 1
    elif kind == "boolop":
        assert isinstance(node, ast.BoolOp)
        node.op = ast.Or() if isinstance(node.op, ast.And) else ast.And()
    elif kind == "wrong_return":
        assert isinstance(node, ast.Return) and node.value is not None
        node.value = ast.UnaryOp(op=ast.Not(), operand=node.value)
    return ast.fix_missing_locations(mutant)


def ast_mutants(source: str, rng: random.Random, limit: int) -> list[tuple[str, str]]:
    """Up to ``limit`` distinct (kind, program) single-site mutants of ``source``, in random order."""
    tree = ast.parse(source)
    original = ast.unparse(tree)
    sites = _mutation_sites(tree)
    rng.shuffle(sites)
    mutants: list[tuple[str, str]] = []
    seen = {original}
    for kind, index in sites:
        text = ast.unparse(_apply_mutation(tree, kind, index))
        if text not in seen:
            seen.add(text)
            mutants.append((kind, text))
        if len(mutants) >= limit:
            break
    return mutants


Plan = tuple[dict[str, Any], str, list[tuple[str, str]]]  # (MBPP+ problem, passing program, [(kind, broken copy)])


def mutant_pairs(
    data_dir: Path, rates: dict[int, float], per_problem: int, seed: int, workers: int = 2
) -> tuple[list[PairExample], dict[str, int]]:
    """Canonical MBPP+ solution vs mutants the sandbox confirms FAIL (and whose canonical passes)."""
    from sandbox import evalplus_io

    rng = random.Random(seed)
    problems = read_jsonl(data_dir / "evalplus/MbppPlus.jsonl.gz")
    jobs: list[tuple[str, Any]] = []
    plans: list[Plan] = []
    for problem in problems:
        try:
            canonical = ast.unparse(ast.parse(problem["canonical_solution"]))
            mutants = ast_mutants(problem["canonical_solution"], rng, per_problem)
        except SyntaxError:
            continue
        spec = evalplus_io(problem, base_only=True)
        plans.append((problem, canonical, mutants))
        jobs.extend([(canonical, spec), *((m, spec) for _, m in mutants)])
    return _confirmed_failures(plans, jobs, rates, workers, "mbppplus_mutant", "mutant")


def ldb_mutant_pairs(
    data_dir: Path, programs: Sequence[LdbProgram], rates: dict[int, float], per_program: int, seed: int,
    workers: int = 2,
) -> tuple[list[PairExample], dict[str, int]]:
    """Passing LDB MBPP programs (written by the policy models) vs AST mutants of them, both judged by the
    MBPP+ base tests of the same problem: a kept pair needs the original to pass and the mutant to fail. These
    are hard negatives in the policies' own style, next to the canonical-solution mutants."""
    from sandbox import evalplus_io

    rng = random.Random(seed)
    mbpp_plus = {_task_number(p["task_id"]): p for p in read_jsonl(data_dir / "evalplus/MbppPlus.jsonl.gz")}
    jobs: list[tuple[str, Any]] = []
    plans: list[Plan] = []
    seen: set[tuple[str, str]] = set()
    for prog in programs:
        reference = mbpp_plus.get(_task_number(prog.task_id))
        if not prog.passed or reference is None:
            continue
        try:
            original = ast.unparse(ast.parse(prog.program))
            mutants = ast_mutants(prog.program, rng, per_program)
        except SyntaxError:
            continue
        if (prog.task_id, original) in seen or not mutants:  # the same program from two policies: once
            continue
        seen.add((prog.task_id, original))
        spec = evalplus_io(reference, base_only=True)
        problem = {"task_id": prog.task_id, "prompt": prog.problem, "policy": prog.model}
        plans.append((problem, original, mutants))
        jobs.extend([(original, spec), *((m, spec) for _, m in mutants)])
    return _confirmed_failures(plans, jobs, rates, workers, "ldb_mbpp_mutant", "mutant")


def _confirmed_failures(
    plans: Sequence[Plan],
    jobs: Sequence[tuple[str, Any]],
    rates: dict[int, float],
    workers: int,
    source: str,
    policy: str,
    limits: Limits | None = None,
) -> tuple[list[PairExample], dict[str, int]]:
    """Run every (program, spec) job in the sandbox; keep (canonical, broken) pairs where the canonical passes
    and the broken copy fails. ``jobs`` lists each plan's canonical, then its broken copies, in plan order.
    A plan's problem may name its own ``policy`` (who wrote the passing program); else ``policy`` is used.
    ``limits`` defaults to the sandbox's own, sized for MBPP-style functions."""
    from sandbox import Sandbox

    results = iter(Sandbox(limits=limits, workers=workers).run_many(jobs, desc=source))
    pairs: list[PairExample] = []
    stats: dict[str, int] = defaultdict(int)
    for problem, canonical, broken in plans:
        canonical_ok = next(results).passed
        for kind, program in broken:
            failed = not next(results).passed
            stats[f"{kind}:{'fails' if failed else 'survives'}"] += 1
            if canonical_ok and failed:
                difficulty = difficulty_bucket(rates.get(_task_number(problem["task_id"])))
                pairs.append(
                    PairExample(problem["task_id"], problem["prompt"], canonical, program, source, difficulty,
                                problem.get("policy", policy))
                )
        stats["canonical_passes" if canonical_ok else "canonical_fails"] += 1
    return pairs, dict(stats)


def bigcodebench_tasks(data_dir: Path) -> list[tuple[dict[str, Any], TestSpec]]:
    """The BigCodeBench tasks, each with its test spec, whose libraries (declared, and imported by the task and
    its tests) this interpreter has: the others would come back ``unsupported`` from the sandbox and can give
    no label. One ``find_spec`` probe covers every task."""
    from sandbox import bigcodebench_unittest
    from sandbox.runner import missing_modules

    specs = [(task, bigcodebench_unittest(task)) for task in read_jsonl(data_dir / BIGCODEBENCH_FILE)]
    needed = sorted(set().union(*(spec.required_modules for _, spec in specs)))
    missing = set(missing_modules(sys.executable, tuple(needed)))
    return [(task, spec) for task, spec in specs if not missing.intersection(spec.required_modules)]


def bigcodebench_mutant_pairs(
    data_dir: Path, per_problem: int, seed: int, workers: int = 2, limit_tasks: int | None = None
) -> tuple[list[PairExample], dict[str, int]]:
    """BigCodeBench canonical solution vs AST mutants of it, judged by the task's own unittest suite: a kept
    pair needs the canonical to pass and the mutant to fail. Longer, library-heavy programs (files, regexes,
    dates, collections) next to MBPP's short functions. The problem is the task's ``complete_prompt``
    (imports, signature, docstring: the HumanEval shape); the programs are ``code_prompt`` + body, re-printed
    by ``ast.unparse``. No pass rates exist for these tasks, so their difficulty is ``unknown``."""
    from sandbox.limits import BIGCODEBENCH_LIMITS

    rng = random.Random(seed + 2)
    tasks = bigcodebench_tasks(data_dir)[:limit_tasks]
    jobs: list[tuple[str, Any]] = []
    plans: list[Plan] = []
    for task, spec in tasks:
        source = task["code_prompt"] + task["canonical_solution"]
        try:
            canonical = ast.unparse(ast.parse(source))
            mutants = ast_mutants(source, rng, per_problem)
        except SyntaxError:
            continue
        plans.append(({"task_id": task["task_id"], "prompt": task["complete_prompt"]}, canonical, mutants))
        jobs.extend([(canonical, spec), *((m, spec) for _, m in mutants)])
    pairs, stats = _confirmed_failures(
        plans, jobs, {}, workers, "bigcodebench_mutant", "mutant", limits=BIGCODEBENCH_LIMITS
    )
    return pairs, {**stats, "tasks_with_libraries": len(tasks)}


# ---------------------------------------------------------------- MBPP+ truncations


def truncations(source: str, rng: random.Random, limit: int) -> list[tuple[str, str]]:
    """Up to ``limit`` distinct (kind, program) prefixes of ``source`` that stop before its end.

    They imitate how sampled programs really fail when a decoder stops early: ``cut_lines`` keeps whole
    lines (a block left without its body, or a function that falls off its end and returns None),
    ``cut_mid`` stops mid-line as a token limit does. The text is kept as written (no re-printing), so
    the passing program and its truncation differ only in the missing tail.
    """
    lines = source.rstrip().splitlines()
    body_starts = next((i + 1 for i, line in enumerate(lines) if line.lstrip().startswith("def ")), 1)
    sites = [("cut_lines", i) for i in range(body_starts, len(lines))]
    sites += [("cut_mid", i) for i in range(body_starts, len(lines)) if len(lines[i].strip()) > 1]
    rng.shuffle(sites)
    seen = {source.rstrip()}
    out: list[tuple[str, str]] = []
    for kind, cut in sites:
        if kind == "cut_lines":
            text = "\n".join(lines[:cut])
        else:
            partial = lines[cut]
            indent = len(partial) - len(partial.lstrip())
            text = "\n".join([*lines[:cut], partial[: rng.randint(indent + 1, len(partial) - 1)]])
        text = text.rstrip() + "\n"
        if text.strip() and text.rstrip() not in seen:
            seen.add(text.rstrip())
            out.append((kind, text))
        if len(out) >= limit:
            break
    return out


def run_ons(source: str, continuation: str, rng: random.Random, limit: int) -> list[tuple[str, str]]:
    """Up to ``limit`` programs that are ``source`` followed by a cut-off prefix of ``continuation`` (e.g. the
    problem's own example ``assert``): a sampler that finished the function, kept writing, and hit its token
    limit mid-statement. Here the failing program is the *longer* one, which balances ``truncations``, where
    it is the shorter, so program length alone never tells the two apart."""
    body = continuation.strip()
    if len(body) < 4:
        return []
    stops = list(range(3, len(body) - 1))
    rng.shuffle(stops)
    base = source.rstrip()
    return [("run_on", f"{base}\n\n{body[:stop].rstrip()}\n") for stop in sorted(stops[:limit])]


def _example_assert(prompt: str) -> str:
    return next((line.strip() for line in prompt.splitlines() if line.strip().startswith("assert ")), "")


def truncation_pairs(
    data_dir: Path, rates: dict[int, float], per_problem: int, seed: int, workers: int = 2
) -> tuple[list[PairExample], dict[str, int]]:
    """Canonical MBPP+ solution vs its truncations that the sandbox confirms FAIL (and whose canonical passes)."""
    from sandbox import evalplus_io

    rng = random.Random(seed + 1)
    jobs: list[tuple[str, Any]] = []
    plans: list[Plan] = []
    for problem in read_jsonl(data_dir / "evalplus/MbppPlus.jsonl.gz"):
        canonical = problem["canonical_solution"].rstrip() + "\n"
        cuts = truncations(canonical, rng, per_problem) + run_ons(
            canonical, _example_assert(problem["prompt"]), rng, per_problem
        )
        spec = evalplus_io(problem, base_only=True)
        plans.append((problem, canonical, cuts))
        jobs.extend([(canonical, spec), *((c, spec) for _, c in cuts)])
    return _confirmed_failures(plans, jobs, rates, workers, "mbppplus_truncation", "truncation")


# ---------------------------------------------------------------- meta set


def pool_pairs(pools: Sequence[Any], per_problem: int, seed: int, source: str) -> list[PairExample]:
    """Up to ``per_problem`` (pass, fail) pairs of distinct programs from each mixed pool."""
    rng = random.Random(seed)
    pairs = []
    for pool in pools:
        good = sorted({c.strip() for c, ok in zip(pool.candidates, pool.passed, strict=True) if ok})
        bad = sorted({c.strip() for c, ok in zip(pool.candidates, pool.passed, strict=True) if ok is False})
        combos = [(g, b) for g in good for b in bad]
        rng.shuffle(combos)
        rate = pool.pass_rate
        for g, b in combos[:per_problem]:
            pairs.append(PairExample(pool.task_id, pool.problem, g, b, source, difficulty_bucket(rate), pool.source))
    return pairs


def load_meta_pools(pool_path: Path, splits_path: Path) -> list[Any]:
    """HumanEval ``meta``-split pools only; refuses any pool from the ``test`` split."""
    from daj.pools import read_pools

    meta_ids = set(json.loads(splits_path.read_text())["meta"])
    pools = list(read_pools(pool_path))
    leaked = [p.task_id for p in pools if p.task_id not in meta_ids]
    if leaked:
        raise ValueError(f"{pool_path} holds problems outside the HumanEval meta split: {leaked[:5]}")
    return pools


def split_meta(pairs: Sequence[PairExample], eval_fraction: float) -> tuple[list[PairExample], list[PairExample]]:
    """By problem (never one problem on both sides): a stable hash of the task id picks the side."""
    from daj.pools import meta_half

    train, held = [], []
    for pair in pairs:
        (held if meta_half(pair.task_id, eval_fraction) == "tuning" else train).append(pair)
    return train, held


# ---------------------------------------------------------------- encoding


def choice_token_ids(tokenizer: Any) -> tuple[int, int]:
    """Token ids of "A" and "B", exactly as the service computes them (each must be one token)."""
    ids = []
    for letter in VERDICT_CHOICES:
        encoded = tokenizer(letter, add_special_tokens=False)["input_ids"]
        if len(encoded) != 1:
            raise ValueError(f"the tokenizer splits the verdict letter {letter!r} into {encoded}")
        ids.append(int(encoded[0]))
    return ids[0], ids[1]


def pair_prompt_ids(
    tokenizer: Any,
    pair: PairExample,
    passing_first: bool,
    mode: JudgeMode = JudgeMode.VERDICT,
    version: str = TRAINED_PROMPT_VERSION,
) -> list[int]:
    """Token ids of the pair's prompt in one order (the passing program as A, or as B), through daj.protocol,
    with the pair's evidence as that order shows it (a version without evidence ignores it)."""
    code_a, code_b = (pair.chosen, pair.rejected) if passing_first else (pair.rejected, pair.chosen)
    return encode_prompt(tokenizer, render_prompt(tokenizer, pair.problem, code_a, code_b, mode,
                                                  pair.shown(passing_first), version=version))


def encode_pairs(
    tokenizer: Any, pairs: Sequence[PairExample], domains: Sequence[str], domain_key: str, max_tokens: int,
    version: str = TRAINED_PROMPT_VERSION,
) -> tuple[list[EncodedPair], int]:
    """Render both orders through daj.protocol (`version`) and tokenise; drop pairs whose longer order exceeds
    ``max_tokens``. Returns the kept pairs and the number dropped."""
    index = {name: i for i, name in enumerate(domains)}
    kept: list[EncodedPair] = []
    for pair in pairs:
        first = pair_prompt_ids(tokenizer, pair, passing_first=True, version=version)
        second = pair_prompt_ids(tokenizer, pair, passing_first=False, version=version)
        if max(len(first), len(second)) <= max_tokens:
            kept.append(EncodedPair(pair, (first, second), index[pair.domain(domain_key)]))
    return kept, len(pairs) - len(kept)


def cap_per_domain(pairs: Sequence[PairExample], domain_key: str, cap: int, seed: int) -> list[PairExample]:
    """At most ``cap`` pairs per domain, chosen at random (keeps the run within its budget)."""
    rng = random.Random(seed)
    by_domain: dict[str, list[PairExample]] = defaultdict(list)
    for pair in pairs:
        by_domain[pair.domain(domain_key)].append(pair)
    out: list[PairExample] = []
    for name in sorted(by_domain):
        group = by_domain[name]
        rng.shuffle(group)
        out.extend(group[:cap])
    rng.shuffle(out)
    return out


def pairs_digest(pairs: Sequence[PairExample] | Sequence[EncodedPair]) -> str:
    """sha256 of the pairs' content, written into the adapter metadata so a run's data is identifiable."""
    digest = hashlib.sha256()
    for item in pairs:
        pair = item.pair if isinstance(item, EncodedPair) else item
        digest.update(json.dumps(asdict(pair), sort_keys=True).encode())
    return digest.hexdigest()


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def batches(
    items: Sequence[EncodedPair], pairs_per_batch: int, seed: int, start_step: int = 0
) -> Iterator[list[EncodedPair]]:
    """Endless shuffled batches (epoch after epoch, reshuffled with a per-epoch seed). Deterministic in
    (seed, step) so a resumed run sees the same batches as an uninterrupted one."""
    if not items:
        raise ValueError("no training pairs to batch")
    per_epoch = max(1, len(items) // pairs_per_batch)
    step = start_step
    while True:
        epoch, offset = divmod(step, per_epoch)
        order = list(range(len(items)))
        random.Random(seed * 100003 + epoch).shuffle(order)
        chosen = order[offset * pairs_per_batch : (offset + 1) * pairs_per_batch]
        yield [items[i] for i in chosen]
        step += 1


# ---------------------------------------------------------------- synthetic (tests)

_SYNTHETIC_TASKS = (
    ("add", "Return the sum of a and b.", "a + b", "a - b"),
    ("mul", "Return the product of a and b.", "a * b", "a + b"),
    ("big", "Return the larger of a and b.", "max(a, b)", "min(a, b)"),
    ("neg", "Return a minus b.", "a - b", "b - a"),
)


def synthetic_pairs(domains: Sequence[str], flipped: Sequence[str], per_domain: int, seed: int) -> list[PairExample]:
    """A task a tiny random model can learn in a few dozen steps (the right program is a fixed token pattern
    per problem). A domain in ``flipped`` has its labels swapped: the controlled shift the reweighting must
    learn to down-weight."""
    rng = random.Random(seed)
    pairs = []
    for domain in domains:
        for index in range(per_domain):
            name, doc, good, bad = rng.choice(_SYNTHETIC_TASKS)
            problem = f'def {name}(a, b):\n    """{doc}"""\n'
            right, wrong = (f"def {name}(a, b):\n    return {expr}\n" for expr in (good, bad))
            if domain in flipped:
                right, wrong = wrong, right
            pairs.append(
                PairExample(f"synthetic/{domain}/{index}", problem, right, wrong, domain, "unknown", "synthetic")
            )
    return pairs
