"""Single-site AST mutants: hard negatives one token away from a passing program. Shared by every mutant
source (MBPP+ canonical solutions, the policies' own LDB programs, BigCodeBench canonical solutions)."""

from __future__ import annotations

import ast
import copy
import random

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
        assert isinstance(node, ast.Constant) and isinstance(node.value, int)
        node.value = node.value + 1
    elif kind == "boolop":
        assert isinstance(node, ast.BoolOp)
        node.op = ast.Or() if isinstance(node.op, ast.And) else ast.And()
    elif kind == "wrong_return":
        assert isinstance(node, ast.Return) and node.value is not None
        node.value = ast.UnaryOp(op=ast.Not(), operand=node.value)
    return ast.fix_missing_locations(mutant)


def ast_mutants(source: str, rng: random.Random, limit: int) -> list[tuple[str, str]]:
    """Up to ``limit`` distinct (kind, program) single-site mutants of ``source``, in random order. Mutants are
    re-printed by ``ast.unparse``; callers re-print the passing program too, so formatting gives nothing away."""
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
