"""Reading, writing, cleaning and inspecting notebooks."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat

SOLUTION_BEGIN, SOLUTION_END = "### BEGIN SOLUTION", "### END SOLUTION"
HIDDEN_BEGIN, HIDDEN_END = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
MARK_SCHEME_BEGIN, MARK_SCHEME_END = "### BEGIN MARK SCHEME", "### END MARK SCHEME"
# Cell metadata that records how a notebook was run or displayed, not what it is.
_VOLATILE_CELL_METADATA = ("execution", "collapsed", "scrolled", "jupyter", "editable", "deletable", "trusted")


def read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(str(path), as_version=4)


def dumps(nb: nbformat.NotebookNode) -> str:
    """Deterministic JSON (sorted keys, one-space indent, final newline): stable diffs."""
    return json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def write(nb: nbformat.NotebookNode, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(dumps(nb))


def clean(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Remove outputs, execution counts and run-time metadata, in place; return nb."""
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        for key in _VOLATILE_CELL_METADATA:
            cell.metadata.pop(key, None)
    nb.metadata.pop("widgets", None)
    return nb


def nbgrader(cell) -> dict:
    """A cell's nbgrader metadata; {} when the cell, its metadata or that field is not a mapping (a submitted
    notebook's fields are whatever its author wrote)."""
    metadata = cell.get("metadata") if isinstance(cell, dict) else None
    meta = metadata.get("nbgrader") if isinstance(metadata, dict) else None
    return meta if isinstance(meta, dict) else {}


def grade_id(cell) -> str | None:
    gid = nbgrader(cell).get("grade_id")
    return gid if isinstance(gid, str) else None


def is_graded(cell) -> bool:
    """A cell that carries points: autograder tests, manual answers and tasks."""
    meta = nbgrader(cell)
    return bool(meta.get("grade") or meta.get("task"))


def graded_cells(nb) -> dict[str, object]:
    return {grade_id(c): c for c in nb.cells if is_graded(c)}


def autograded_cells(nb) -> dict[str, object]:
    """grade id -> cell, for the test cells the autograder scores (with points: not the 0-point kit)."""
    return {gid: c for gid, c in graded_cells(nb).items()
            if nbgrader(c).get("grade") and not nbgrader(c).get("solution") and nbgrader(c).get("points")}


def index_of(nb, gid: str) -> int:
    """Position of the cell with grade id ``gid``."""
    return next(i for i, c in enumerate(nb.cells) if grade_id(c) == gid)


def redact(source: str, begin: str, end: str, placeholder: str) -> str:
    """``source`` with each begin/end region (markers included) replaced by ``placeholder``."""
    kept, inside = [], False
    for line in source.splitlines():
        if begin in line:
            inside = True
            kept.append(placeholder)
        elif end in line and inside:
            inside = False
        elif not inside:
            kept.append(line)
    return "\n".join(kept)


def regions(source: str, begin: str, end: str) -> list[str]:
    """The bodies (without the marker lines) of all begin/end regions of ``source``."""
    found, current = [], None
    for line in source.splitlines():
        if begin in line:
            current = []
        elif end in line and current is not None:
            found.append("\n".join(current))
            current = None
        elif current is not None:
            current.append(line)
    return found


def strip_marker_lines(source: str, *markers: str) -> str:
    """Drop the lines holding ``markers`` (e.g. BEGIN/END SOLUTION), keep everything else."""
    return "\n".join(line for line in source.splitlines() if not any(m in line for m in markers))
