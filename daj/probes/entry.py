"""Which function the candidates implement: the entry point of a problem, and its signature."""

from __future__ import annotations

import ast
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class EntryPoint:
    name: str | None
    how: str  # "request", "statement", "candidates", or why none was found


def parse_python(source: str) -> ast.Module | None:
    try:
        return ast.parse(source)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return None


def _top_level_functions(tree: ast.Module) -> list[ast.FunctionDef]:
    return [node for node in tree.body if isinstance(node, ast.FunctionDef)]


def _has_no_body(function: ast.FunctionDef) -> bool:
    """Only a docstring, ``pass`` or ``...``: the function the statement asks for."""
    for statement in function.body:
        if isinstance(statement, ast.Pass):
            continue
        if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant):
            continue  # docstring or Ellipsis
        return False
    return True


def infer_entry_point(problem: str, candidates: Sequence[str], requested: str | None = None) -> EntryPoint:
    """The request's ``entry_point``; else, in a statement with code, the one function left without a body
    (HumanEval/38 gives ``encode_cyclic`` and asks for ``decode_cyclic``); else the one function every
    candidate defines (ties broken by the name the statement mentions)."""
    if requested:
        return EntryPoint(requested, "request")
    tree = parse_python(problem)
    if tree is not None:
        functions = _top_level_functions(tree)
        bodiless = [f.name for f in functions if _has_no_body(f)]
        if len(bodiless) == 1:
            return EntryPoint(bodiless[0], "statement")
        if len(functions) == 1:
            return EntryPoint(functions[0].name, "statement")
    common: set[str] | None = None
    for code in candidates:
        parsed = parse_python(code)
        if parsed is None:
            continue
        names = {f.name for f in _top_level_functions(parsed)}
        common = names if common is None else common & names
    if not common:
        return EntryPoint(None, "no function defined by every candidate")
    if len(common) == 1:
        return EntryPoint(next(iter(common)), "candidates")
    mentioned = sorted(name for name in common if name in problem)
    if len(mentioned) == 1:
        return EntryPoint(mentioned[0], "candidates")
    return EntryPoint(None, f"several functions could be the entry point: {sorted(common)}")


def signature_of(name: str, sources: Sequence[str]) -> ast.arguments | None:
    """The parameters of the first top-level ``def name`` found in ``sources`` (statement first)."""
    for source in sources:
        tree = parse_python(source)
        if tree is None:
            continue
        for function in _top_level_functions(tree):
            if function.name == name:
                return function.args
    return None


def statement_prelude(problem: str) -> str:
    """The statement, when it is Python: it runs before each probe so the helpers it defines (``poly`` in
    HumanEval/32, ``encode_cyclic`` in HumanEval/38) exist for the examples that use them."""
    return problem if parse_python(problem) is not None else ""
