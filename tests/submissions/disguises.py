"""Three cheap disguises of a copied notebook (issue: each kept full marks and went unreported).

Each takes the reference's notebook and returns a copy whose behaviour is unchanged:

- ``moved_above``: every code answer moved, unchanged, into a new cell just above its answer cell
  (the answer cell left empty), so that no answer cell holds the copied code;
- ``names_in_conditionals``: every name read written as ``(name if 1 else name)``;
- ``ellipsis_lines``: a ``...`` statement after every statement.
"""

from __future__ import annotations

import ast
import copy
import json

import nbformat

from inn_course import notebooks


def _answer_cells(nb):
    return [c for c in nb.cells if c.cell_type == "code" and notebooks.nbgrader(c).get("solution")
            and not notebooks.nbgrader(c).get("grade")]


def _copy(nb):
    return nbformat.from_dict(json.loads(json.dumps(nb)))


def _rewrite(source: str, transformer: ast.NodeTransformer) -> str:
    try:
        tree = ast.parse(source)
    except SyntaxError:  # IPython syntax (%magic): left as it is
        return source
    return ast.unparse(ast.fix_missing_locations(transformer.visit(tree)))


def _rewrite_answers(reference, transformer: ast.NodeTransformer):
    """A copy of ``reference`` with every code answer rewritten by ``transformer``."""
    nb = _copy(reference)
    for cell in _answer_cells(nb):
        cell.source = _rewrite(cell.source, transformer)
    return nb


def moved_above(reference):
    nb = _copy(reference)
    for cell in _answer_cells(nb):
        moved = nbformat.v4.new_code_cell(cell.source)
        moved.id = f"student-{cell.id}"[:64]
        nb.cells.insert(nb.cells.index(cell), moved)
        cell.source = ""
    return nb


class _NamesInConditionals(ast.NodeTransformer):
    def visit_Name(self, node: ast.Name):
        if isinstance(node.ctx, ast.Load):
            return ast.IfExp(test=ast.Constant(1), body=copy.copy(node), orelse=copy.copy(node))
        return node


def names_in_conditionals(reference):
    return _rewrite_answers(reference, _NamesInConditionals())


class _EllipsisAfterEachStatement(ast.NodeTransformer):
    def generic_visit(self, node):
        super().generic_visit(node)
        for name in ("body", "orelse", "finalbody"):
            block = getattr(node, name, None)
            if isinstance(block, list) and block and isinstance(block[0], ast.stmt):
                padded = []
                for statement in block:
                    padded += [statement, ast.Expr(ast.Constant(Ellipsis))]
                setattr(node, name, padded)
        return node


def ellipsis_lines(reference):
    return _rewrite_answers(reference, _EllipsisAfterEachStatement())


DISGUISES = {"moved_above": moved_above, "names_in_conditionals": names_in_conditionals,
             "ellipsis_lines": ellipsis_lines}
