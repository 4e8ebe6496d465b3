"""Probes: what the candidates of one selection are run on, shared by the service, training and evaluation.

Scope: Python programs that define a function (HumanEval, MBPP and BigCodeBench-style tasks). From the request
alone it finds the entry point, the statement's examples with their expected results, the caller's tests and
inputs, and generates more inputs by type-aware mutation (or from type hints). Anything else has no probe set,
and the selection falls back to the judge alone.
"""

from daj.probes.behaviour import CandidateRun, Grouping, disagreements, group_candidates
from daj.probes.entry import EntryPoint, infer_entry_point, parse_python, signature_of, statement_prelude
from daj.probes.examples import (
    PARSE_ERRORS,
    Example,
    assert_as_example,
    call_arguments,
    doctest_examples,
    informal_examples,
    is_literal,
    is_single_assert,
    literal_call,
    statement_examples,
)
from daj.probes.inputs import call_text, hinted_inputs, mutate_value, mutated_inputs
from daj.probes.probeset import PROBES_VERSION, Probe, ProbeLimits, ProbeSet, build_probe_set

__all__ = [
    "PARSE_ERRORS",
    "PROBES_VERSION",
    "CandidateRun",
    "EntryPoint",
    "Example",
    "Grouping",
    "Probe",
    "ProbeLimits",
    "ProbeSet",
    "assert_as_example",
    "build_probe_set",
    "call_arguments",
    "call_text",
    "disagreements",
    "doctest_examples",
    "group_candidates",
    "hinted_inputs",
    "infer_entry_point",
    "informal_examples",
    "is_literal",
    "is_single_assert",
    "literal_call",
    "mutate_value",
    "mutated_inputs",
    "parse_python",
    "signature_of",
    "statement_examples",
    "statement_prelude",
]
