"""daj.probes: entry points, examples, caller tests and generated inputs, built from the request alone."""

from __future__ import annotations

import ast

from daj.probes import (
    ProbeLimits,
    build_probe_set,
    call_arguments,
    doctest_examples,
    infer_entry_point,
    informal_examples,
    mutate_value,
)
from daj.probes.probeset import problem_rng

SORT_PROBLEM = '''from typing import List


def sort_desc(xs: List[int]) -> List[int]:
    """Sort descending.
    >>> sort_desc([1, 3, 2])
    [3, 2, 1]
    >>> sort_desc([])
    []
    """
'''

CYCLIC = '''def encode_cyclic(s: str):
    """returns encoded string by cycling groups of three characters."""
    groups = [s[(3 * i):min((3 * i + 3), len(s))] for i in range((len(s) + 2) // 3)]
    return "".join(groups)


def decode_cyclic(s: str):
    """takes as input string encoded with encode_cyclic function. Returns decoded string."""
'''


def test_entry_point_is_the_function_left_without_a_body() -> None:
    assert infer_entry_point(CYCLIC, []).name == "decode_cyclic"
    assert infer_entry_point(SORT_PROBLEM, []).name == "sort_desc"


def test_entry_point_from_the_request_wins() -> None:
    entry = infer_entry_point(SORT_PROBLEM, [], requested="other")
    assert (entry.name, entry.how) == ("other", "request")


def test_entry_point_of_a_prose_problem_is_the_function_every_candidate_defines() -> None:
    problem = "Write a function that returns the largest prime factor of n."
    candidates = ["def helper(x):\n    return x\n\ndef largest(n):\n    return n\n", "def largest(n):\n    return 1\n"]
    assert infer_entry_point(problem, candidates).name == "largest"
    assert infer_entry_point(problem, ["def a(): pass", "def b(): pass"]).name is None


def test_doctests_and_informal_examples_are_read_with_their_expected_values() -> None:
    examples = doctest_examples(SORT_PROBLEM)
    assert [(e.call, e.expected) for e in examples] == [("sort_desc([1, 3, 2])", "[3, 2, 1]"), ("sort_desc([])", "[]")]
    informal = informal_examples("    add(2, 3) ==> 5\n    add(x, 1) = add(x) + 1\n", "add")
    assert [(e.call, e.expected) for e in informal] == [("add(2, 3)", "5")]


def test_probe_set_orders_examples_tests_then_inputs_and_is_deterministic() -> None:
    tests = ["assert sort_desc([5]) == [5]", "assert len(sort_desc([1, 1])) == 2"]
    first = build_probe_set(SORT_PROBLEM, [], tests=tests, inputs=["[9, 8]"])
    again = build_probe_set(SORT_PROBLEM, [], tests=tests, inputs=["[9, 8]"])
    assert first is not None and again is not None
    assert first.digest() == again.digest() and first.probes == again.probes
    origins = [p.origin for p in first.probes]
    assert origins[:4] == ["example", "example", "test", "test"] and set(origins[4:]) == {"input"}
    assert first.probes[2].expected == "[5]" and not first.probes[2].statement  # f(x) == y keeps its call
    assert first.probes[3].statement and first.probes[3].expected is None  # any other assert runs as is
    assert first.probes[4].call == "sort_desc([9, 8])" and first.probes[4].source == "caller"
    generated = [p for p in first.probes if p.source == "mutation"]
    assert 0 < len(generated) <= ProbeLimits().max_generated_inputs
    calls = [p.call for p in first.probes]
    assert len(calls) == len(set(calls))  # no repeats, no copy of an example input
    for probe in generated:
        assert isinstance(call_arguments(probe.call, "sort_desc")[0], list)  # type: ignore[index]


def test_generated_inputs_depend_on_the_problem_only() -> None:
    other = SORT_PROBLEM.replace("Sort descending.", "Sort from largest to smallest.")
    a, b = build_probe_set(SORT_PROBLEM, []), build_probe_set(other, [])
    assert a is not None and b is not None
    assert [p.call for p in a.probes if p.source] != [p.call for p in b.probes if p.source]


def test_mutations_follow_the_type() -> None:
    rng = problem_rng("p", "f")
    assert True in mutate_value(False, rng)
    ints = mutate_value(5, rng)
    assert {0, 4, 6, -5} <= set(ints) and all(isinstance(v, int) for v in ints)
    strings = mutate_value("abc", rng)
    assert "" in strings and "cba" in strings and all(isinstance(v, str) for v in strings)
    lists = mutate_value([3, 1, 2], rng)
    assert [] in lists and [2, 1, 3] in lists and [1, 2, 3] in lists
    assert all(isinstance(v, tuple) for v in mutate_value((1, 2), rng))
    assert mutate_value(object(), rng) == []


def test_without_examples_inputs_come_from_type_hints() -> None:
    problem = 'def count(words: list[str], n: int) -> int:\n    """Count words longer than n."""\n'
    probe_set = build_probe_set(problem, [])
    assert probe_set is not None and probe_set.probes
    for probe in probe_set.probes:
        words, n = call_arguments(probe.call, "count")  # type: ignore[misc]
        assert isinstance(words, list) and all(isinstance(w, str) for w in words) and isinstance(n, int)


def test_no_hints_and_no_examples_means_no_inputs() -> None:
    problem = 'def f(a, b):\n    """Do something."""\n'
    probe_set = build_probe_set(problem, [])
    assert probe_set is not None and probe_set.probes == ()


def test_inputs_are_bounded_in_size() -> None:
    problem = 'def f(s: str) -> str:\n    """>>> f("' + "x" * 300 + '")\n    "y"\n    """\n'
    probe_set = build_probe_set(problem, [], limits=ProbeLimits(max_input_chars=400))
    assert probe_set is not None
    assert all(len(p.call) <= 400 for p in probe_set.probes if p.origin == "input")
    for probe in probe_set.probes:
        ast.parse(probe.call, mode="eval")


def test_prose_problem_has_no_prelude() -> None:
    probe_set = build_probe_set("Return twice x.", ["def twice(x: int) -> int:\n    return 2 * x\n"])
    assert probe_set is not None and probe_set.entry_point == "twice" and probe_set.prelude == ""
    assert probe_set.probes  # from the candidate's type hints


def test_prose_examples_need_the_parameter_names() -> None:
    problem = '''def maximum(arr, k):
    """Return the k largest.

    Example 1:
        Input: arr = [-3, -4, 5], k = 3
        Output: [-4, -3, 5]
    Example 2:
        Input: [4, -4, 4], 2
        Output: [4, 4]
    For arr = [1, 2], k = 1, the result should be [2].
    >>> maximum([5], 1) == [5]
    >>> maximum([1, 0], 1) [1]
    """
'''
    probe_set = build_probe_set(problem, [])
    assert probe_set is not None
    examples = [(p.call, p.expected) for p in probe_set.probes if p.origin == "example"]
    assert examples == [
        ("maximum([5], 1)", "[5]"),
        ("maximum([1, 0], 1)", "[1]"),
        ("maximum([-3, -4, 5], 3)", "[-4, -3, 5]"),
        ("maximum([4, -4, 4], 2)", "[4, 4]"),
        ("maximum([1, 2], 1)", "[2]"),
    ]


def test_hostile_statements_and_tests_do_not_raise() -> None:
    deep = "-" * 1500 + "1"
    assert build_probe_set(f'def f(x):\n    """\n    >>> f(1) == {deep}\n    """\n', []) is not None
    assert build_probe_set("def f(x):\n    pass\n", [], tests=[f"assert f(1) == {deep}"]) is not None
    slow = 'def f(x):\n    """\n    >>> ' + "f(1) + " * 1000 + "\n    3\n    \"\"\"\n"
    assert build_probe_set(slow, []) is not None


def test_examples_no_candidate_could_pass_are_left_out() -> None:
    problem = (
        'def f(x: int) -> int:\n    """\n    >>> print(f(1))\n    hello\n    >>> x\n    3\n    >>> f(2)\n    4\n'
        '    """\n'
    )
    probe_set = build_probe_set(problem, [])
    assert probe_set is not None
    assert [(p.call, p.expected) for p in probe_set.probes if p.origin == "example"] == [("f(2)", "4")]


def test_set_inputs_are_written_in_a_stable_order() -> None:
    from daj.probes import call_text

    assert call_text("f", ({"pear", "apple", "fig"}, frozenset({2, 1}), set())) == (
        "f({'apple', 'fig', 'pear'}, frozenset({1, 2}), set())"
    )


MBPP_STYLE = '''"""
Write a function to find the shared elements from the given two lists.
assert set(similar_elements((3, 4, 5, 6),(5, 7, 4, 10))) == set((4, 5))
assert similar_elements((1, 2), (3, 4)) == ()
"""
'''


def test_assert_lines_of_the_statement_are_checks_and_seed_the_inputs() -> None:
    candidate = "def similar_elements(a, b):\n    return tuple(set(a) & set(b))\n"
    probe_set = build_probe_set(MBPP_STYLE, [candidate])
    assert probe_set is not None and probe_set.entry_point == "similar_elements"
    examples = [p for p in probe_set.probes if p.origin == "example"]
    assert [(p.call, p.expected, p.statement) for p in examples] == [
        ("assert set(similar_elements((3, 4, 5, 6),(5, 7, 4, 10))) == set((4, 5))", None, True),
        ("similar_elements((1, 2), (3, 4))", "()", False),  # `f(x) == y`: a call with its expected value
    ]
    generated = [p.call for p in probe_set.probes if p.origin == "input"]
    assert generated and all(call.startswith("similar_elements((") for call in generated)  # mutated tuples


def test_a_wrapped_call_in_an_example_seeds_the_inputs() -> None:
    problem = 'def half(x: float) -> float:\n    """\n    >>> round(half(3.0), 1)\n    1.5\n    """\n'
    probe_set = build_probe_set(problem, ["def half(x):\n    return x / 2\n"])
    assert probe_set is not None
    sources = {p.source for p in probe_set.probes if p.origin == "input"}
    assert sources == {"mutation"}  # from the example's argument, not from the type hints
