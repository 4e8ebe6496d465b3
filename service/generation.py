"""A request's input generator, run before the candidates: its outputs join the probe set as inputs.

The generator is an untrusted program like the candidates. It runs in the sandbox under its own limits
(`Executor.generate`), and a failure of any kind (a seed that loops, crashes or prints nothing valid, or the
sandbox failing) is reported in the response's `execution.generator`, never an error of the selection: the
candidates then run on the probes they had.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace

from daj.probes.shapes import with_generated
from daj.probes.shapes.base import GENERATED_INPUT_BYTES
from service.execution import ExecutionUnavailable, Executor
from service.planning import ExecutionPlan
from service.protocol import GeneratorReport

logger = logging.getLogger(__name__)


async def generate_inputs(executor: Executor, plan: ExecutionPlan) -> tuple[ExecutionPlan, GeneratorReport]:
    """The plan with the generator's inputs added to its probe set, and what the generator did."""
    assert plan.generator is not None and plan.probe_set is not None
    started = time.perf_counter()
    try:
        run = await executor.generate(plan.generator, plan.generator_runs, GENERATED_INPUT_BYTES)
    except ExecutionUnavailable as exc:
        logger.warning("input generator not run: %s", exc)
        return plan, GeneratorReport(runs=0, inputs=0, rejected=0, failures=[f"not run: {exc}"],
                                     elapsed_ms=_ms(started))
    texts = [output for mark, output in zip(run.marks, run.outputs, strict=True) if mark == "P"]
    failures = [f"seed {seed}: {output}" for seed, (mark, output) in enumerate(zip(run.marks, run.outputs,
                                                                                     strict=True)) if mark != "P"]
    probe_set, rejected = with_generated(plan.probe_set, texts)
    report = GeneratorReport(runs=len(run.marks), inputs=len(probe_set.probes) - len(plan.probe_set.probes),
                             rejected=rejected, failures=failures, elapsed_ms=_ms(started))
    return replace(plan, probe_set=probe_set), report


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)
