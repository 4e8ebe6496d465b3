"""Inputs without expected results, made without an LLM, to tell candidates apart.

From example inputs, by type-aware mutation (the EvalPlus idea): boundary and nudged numbers, sign flips,
empty, short, long, reversed and element-edited containers, edited strings. With no example input to mutate,
from the signature's type hints. Everything is seeded by the problem, so the same request always gets the same
inputs, and bounded in number and size.
"""

from __future__ import annotations

import ast
import contextlib
import random
from collections.abc import Callable, Iterable, Sequence

Args = tuple[object, ...]


def _int_mutations(value: int) -> list[object]:
    return [0, 1, -1, value + 1, value - 1, -value, 2 * value + 1, value // 2]


def _float_mutations(value: float) -> list[object]:
    return [0.0, -value, value + 0.5, value * 2, round(value / 3, 4), 1.0]


def _str_mutations(value: str, rng: random.Random) -> list[object]:
    edits: list[object] = ["", value[:1], value[::-1], value[1:], value[:-1], value + value[-1:], value.upper(),
                           value.swapcase(), value + " " + value, " " + value]
    if len(value) >= 2:
        i = rng.randrange(len(value) - 1)
        edits.append(value[:i] + value[i + 1] + value[i] + value[i + 2 :])  # swap two neighbours
        edits.append(value[:i] + value[i + 1 :])  # drop one character
    return edits


def _sequence_mutations(value: list[object], rng: random.Random) -> list[object]:
    edits: list[object] = [[], value[:1], value[::-1], value[:-1], value + value[-1:], value + value]
    with contextlib.suppress(TypeError):  # mixed types do not sort
        edits.append(sorted(value))  # type: ignore[type-var]
    if value:
        shuffled = list(value)
        rng.shuffle(shuffled)
        edits.append(shuffled)
        i = rng.randrange(len(value))
        for replacement in mutate_value(value[i], rng)[:3]:
            edits.append([*value[:i], replacement, *value[i + 1:]])
        edits.append(value[:i] + value[i + 1 :])
        edits.append([*value[:i], value[i], *value[i:]])
    return edits


def _dict_mutations(value: dict[object, object], rng: random.Random) -> list[object]:
    edits: list[object] = [{}]
    if value:
        keys = list(value)
        key = keys[rng.randrange(len(keys))]
        edits.append({k: v for k, v in value.items() if k != key})
        edits.extend({**value, key: replacement} for replacement in mutate_value(value[key], rng)[:3])
    return edits


def mutate_value(value: object, rng: random.Random) -> list[object]:
    """Type-aware neighbours of one value (none for types it does not know)."""
    if isinstance(value, bool):
        return [not value]
    if isinstance(value, int):
        return _int_mutations(value)
    if isinstance(value, float):
        return _float_mutations(value)
    if isinstance(value, str):
        return _str_mutations(value, rng)
    if isinstance(value, list):
        return _sequence_mutations(value, rng)
    if isinstance(value, tuple):
        return [tuple(edit) for edit in _sequence_mutations(list(value), rng) if isinstance(edit, list)]
    if isinstance(value, dict):
        return _dict_mutations(value, rng)
    return []


def mutated_inputs(seeds: Sequence[Args], rng: random.Random) -> list[Args]:
    """Every input one argument away from a seed input (one argument mutated, the others kept)."""
    found: list[Args] = []
    for args in seeds:
        for position, value in enumerate(args):
            for replacement in mutate_value(value, rng):
                found.append((*args[:position], replacement, *args[position + 1:]))
    return found


# ---- from type hints --------------------------------------------------------------------------------------

_SCALARS: dict[str, list[object]] = {
    "int": [0, 1, 2, 3, 5, 10, -1, -7, 100],
    "float": [0.0, 1.0, 2.5, -1.5, 3.14159, 10.0, 0.1],
    "str": ["", "a", "ab", "abc", "Hello World", "aaa", "racecar", "12345", "a b c", "AbC"],
    "bool": [True, False],
}

Maker = Callable[[random.Random], object]


def _hint_name(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return ""


def _maker(hint: ast.expr | None, depth: int = 0) -> Maker | None:
    """A value generator for a type hint, or None when the hint is missing or unknown."""
    if hint is None or depth > 3:
        return None
    if isinstance(hint, ast.Constant) and isinstance(hint.value, str):
        try:
            hint = ast.parse(hint.value, mode="eval").body
        except SyntaxError:
            return None
    name = _hint_name(hint)
    if name in _SCALARS:
        pool = _SCALARS[name]
        return lambda rng: rng.choice(pool)
    if isinstance(hint, ast.Subscript):
        return _generic_maker(_hint_name(hint.value).lower(), hint.slice, depth)
    if isinstance(hint, ast.BinOp) and isinstance(hint.op, ast.BitOr):  # X | None
        left, right = _maker(hint.left, depth + 1), _maker(hint.right, depth + 1)
        options = [m for m in (left, right) if m is not None]
        return (lambda rng: rng.choice(options)(rng)) if options else None
    if isinstance(hint, ast.Constant) and hint.value is None:
        return lambda rng: None
    return None


def _generic_maker(name: str, argument: ast.expr, depth: int) -> Maker | None:
    parts = argument.elts if isinstance(argument, ast.Tuple) else [argument]
    found = [_maker(part, depth + 1) for part in parts if not (isinstance(part, ast.Constant) and part.value is ...)]
    makers = [maker for maker in found if maker is not None]
    if len(makers) != len(found) or not makers:
        return None
    if name in ("list", "sequence", "iterable"):
        return lambda rng: [makers[0](rng) for _ in range(rng.choice((0, 1, 2, 3, 5, 8)))]
    if name == "set":
        return lambda rng: {makers[0](rng) for _ in range(rng.choice((0, 1, 3, 5)))}
    if name == "tuple":
        if len(parts) == 2 and isinstance(parts[1], ast.Constant) and parts[1].value is ...:
            return lambda rng: tuple(makers[0](rng) for _ in range(rng.choice((0, 1, 2, 4))))
        return lambda rng: tuple(make(rng) for make in makers)
    if name == "dict" and len(makers) == 2:
        return lambda rng: {makers[0](rng): makers[1](rng) for _ in range(rng.choice((0, 1, 2, 4)))}
    if name == "optional":
        return lambda rng: None if rng.random() < 0.2 else makers[0](rng)
    if name == "union":
        return lambda rng: rng.choice(makers)(rng)
    return None


def hinted_inputs(arguments: ast.arguments | None, count: int, rng: random.Random) -> list[Args]:
    """Inputs drawn from the parameters' type hints; none unless every positional parameter has a known hint."""
    if arguments is None:
        return []
    params = [*arguments.posonlyargs, *arguments.args]
    if not params or arguments.vararg is not None:
        return []
    found = [_maker(param.annotation) for param in params]
    makers = [maker for maker in found if maker is not None]
    if len(makers) != len(found):
        return []
    return [tuple(make(rng) for make in makers) for _ in range(count * 4)]


def stable_repr(value: object) -> str:
    """``repr``, but with set elements sorted: a set's order depends on the process's hash seed, and the same
    request must give the same inputs in every process."""
    if isinstance(value, (set, frozenset)):
        inner = ", ".join(sorted(stable_repr(v) for v in value))
        if isinstance(value, frozenset):
            return f"frozenset({{{inner}}})" if value else "frozenset()"
        return "{" + inner + "}" if value else "set()"
    if isinstance(value, list):
        return "[" + ", ".join(stable_repr(v) for v in value) + "]"
    if isinstance(value, tuple):
        return "(" + ", ".join(stable_repr(v) for v in value) + ("," if len(value) == 1 else "") + ")"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{stable_repr(k)}: {stable_repr(v)}" for k, v in value.items()) + "}"
    return repr(value)


def call_text(entry_point: str, args: Args) -> str:
    return f"{entry_point}({', '.join(stable_repr(value) for value in args)})"


def distinct_inputs(
    entry_point: str, inputs: Iterable[Args], exclude: Iterable[str], limit: int, max_chars: int
) -> list[str]:
    """Call texts of the first ``limit`` distinct inputs that are not excluded and not longer than
    ``max_chars``; repeats and inputs that do not round-trip as literals are dropped."""
    seen = set(exclude)
    found: list[str] = []
    for args in inputs:
        if len(found) >= limit:
            break
        try:
            text = call_text(entry_point, args)
        except (RecursionError, ValueError, MemoryError):
            continue
        if text in seen or len(text) > max_chars or not _literal(text):
            continue
        seen.add(text)
        found.append(text)
    return found


def _literal(call: str) -> bool:
    try:
        node = ast.parse(call, mode="eval").body
        if not isinstance(node, ast.Call):
            return False
        for arg in node.args:
            ast.literal_eval(arg)
    except (SyntaxError, ValueError, TypeError, MemoryError, RecursionError):
        return False
    return True
