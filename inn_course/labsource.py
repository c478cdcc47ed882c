"""Build the nbgrader source notebook from its percent-format authoring file.

The lab is written in ``lab/invertible_networks.py`` (reviewable diffs, no JSON
escaping) and compiled into ``source/invertible_networks/invertible_networks.ipynb``,
the file nbgrader reads. A cell starts with a header line::

    # %% [markdown] {"id": "q03_architecture", "kind": "task", "points": 3}
    # %% {"id": "q05_split_tests", "kind": "tests", "points": 2}
    # %% {"id": "q01_show", "tags": ["figure"]}

``[markdown]`` marks a markdown cell, whose lines are written as comments
(``# text``). The optional JSON object gives the cell id, its nbgrader role
and cell tags (``figure``: the cell must draw an image when it runs):

==========  =============================================================
kind        nbgrader metadata
==========  =============================================================
(none)      none: an ordinary cell
readonly    locked cell (students cannot edit it; restored at grading)
solution    autograded answer cell (code between BEGIN/END SOLUTION)
tests       autograder test cell worth ``points``
manual      manually graded answer cell worth ``points``
task        manually graded task worth ``points``: the question, with the
            model answer and mark scheme in a ``### BEGIN MARK SCHEME``
            region that graders see and the release does not
answer      where students write a task's answer: an ordinary markdown
            cell holding ``ANSWER_STUB`` (leave its body empty here)
==========  =============================================================

Graded cells must name their id (it becomes the nbgrader ``grade_id``); other
cells get an id derived from their content, so ids stay stable when cells are
inserted elsewhere.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import nbformat

ANSWER_STUB = "YOUR ANSWER HERE"
ANSWER_TAG = "answer"  # the tag of the cells students write a task's answer in
HEADER = re.compile(r"^# %%(?P<markdown> \[markdown\])?(?P<meta> \{.*\})?\s*$")

_ROLES = {
    "readonly": dict(grade=False, solution=False, locked=True),
    "solution": dict(grade=False, solution=True, locked=False),
    "tests": dict(grade=True, solution=False, locked=True),
    "manual": dict(grade=True, solution=True, locked=False),
    "task": dict(grade=False, solution=False, locked=True, task=True),
}
_GRADED = {"tests", "manual", "task"}


class LabSourceError(ValueError):
    """The authoring file is malformed; the message names the line."""


def _nbgrader_metadata(kind: str, cell_id: str, points: float | None) -> dict:
    if kind not in _ROLES:
        raise LabSourceError(f"unknown cell kind {kind!r} for cell {cell_id!r}")
    meta = dict(_ROLES[kind], grade_id=cell_id, schema_version=3)
    if kind in _GRADED:
        if points is None:
            raise LabSourceError(f"graded cell {cell_id!r} ({kind}) needs 'points'")
        meta["points"] = points
    return meta


def _split_cells(text: str) -> list[tuple[int, re.Match, list[str]]]:
    cells: list[tuple[int, re.Match, list[str]]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        match = HEADER.match(line)
        if match:
            cells.append((number, match, []))
        elif line.startswith("# %%"):
            raise LabSourceError(f"line {number}: malformed cell header {line!r}")
        elif cells:
            cells[-1][2].append(line)
        elif line.strip():
            raise LabSourceError(f"line {number}: text before the first '# %%' header")
    return cells


def _markdown_body(lines: list[str], number: int) -> str:
    body = []
    for offset, line in enumerate(lines, start=1):
        if line == "#":
            body.append("")
        elif line.startswith("# "):
            body.append(line[2:])
        elif not line.strip():
            body.append("")
        else:
            raise LabSourceError(
                f"line {number + offset}: markdown lines must start with '# ', got {line!r}"
            )
    return "\n".join(body).strip("\n")


def build_notebook(text: str) -> nbformat.NotebookNode:
    """Compile percent-format ``text`` into an nbformat 4.5 notebook without outputs."""
    nb = nbformat.v4.new_notebook()
    nb.metadata = {
        "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }
    seen: set[str] = set()
    for number, header, lines in _split_cells(text):
        meta = json.loads(header["meta"]) if header["meta"] else {}
        unknown = set(meta) - {"id", "kind", "points", "tags"}
        if unknown:
            raise LabSourceError(f"line {number}: unknown header keys {sorted(unknown)}")
        if header["markdown"]:
            cell = nbformat.v4.new_markdown_cell(_markdown_body(lines, number))
        else:
            cell = nbformat.v4.new_code_cell("\n".join(lines).strip("\n"))
        kind = meta.get("kind")
        cell_id = meta.get("id")
        if kind and not cell_id:
            raise LabSourceError(f"line {number}: a {kind} cell needs an 'id'")
        if kind == "answer":
            if cell.cell_type != "markdown" or cell.source:
                raise LabSourceError(f"line {number}: an answer cell is an empty markdown cell")
            cell.source = ANSWER_STUB
        if not cell_id:
            digest = hashlib.sha1(cell.source.encode()).hexdigest()[:8]
            cell_id = f"{cell.cell_type[:2]}-{digest}"
            suffix = 1
            while cell_id in seen:  # identical cells: keep ids unique, still stable
                suffix += 1
                cell_id = f"{cell.cell_type[:2]}-{digest}-{suffix}"
        if cell_id in seen:
            raise LabSourceError(f"line {number}: duplicate cell id {cell_id!r}")
        seen.add(cell_id)
        cell.id = cell_id
        if kind and kind != "answer":
            cell.metadata["nbgrader"] = _nbgrader_metadata(kind, cell_id, meta.get("points"))
        tags = meta.get("tags", [])
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise LabSourceError(f"line {number}: 'tags' must be a list of strings")
        tags = tags + ([ANSWER_TAG] if kind == "answer" else [])
        if tags:
            cell.metadata["tags"] = tags
        nb.cells.append(cell)
    return nb
