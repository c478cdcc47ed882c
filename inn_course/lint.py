"""Checks of nbgrader metadata (source and submissions) and of the release's secrecy."""

from __future__ import annotations

import re
from collections import Counter
from html import unescape

from .notebooks import (
    HIDDEN_BEGIN,
    HIDDEN_END,
    MARK_SCHEME_BEGIN,
    MARK_SCHEME_END,
    SOLUTION_BEGIN,
    SOLUTION_END,
    grade_id,
    nbgrader,
    regions,
)

# Lines this short ("pass", "return fig", "plt.close(_fig)") also occur in given code: too
# common to prove a leak. Longer lines of a hidden test or solution must not be in the release.
MIN_SECRET_LINE = 16
SECRETS = {
    "hidden test": (HIDDEN_BEGIN, HIDDEN_END),
    "solution": (SOLUTION_BEGIN, SOLUTION_END),
    "mark scheme": (MARK_SCHEME_BEGIN, MARK_SCHEME_END),
}


def duplicate_grade_ids(nb) -> list[str]:
    counts = Counter(grade_id(c) for c in nb.cells if grade_id(c))
    return sorted(gid for gid, n in counts.items() if n > 1)


def lint_source(nb) -> list[str]:
    """Problems in the source notebook's nbgrader metadata; empty when it is sound."""
    problems = [f"grade_id {gid!r} is used by more than one cell" for gid in duplicate_grade_ids(nb)]
    for cell in nb.cells:
        meta, gid = nbgrader(cell), grade_id(cell)
        if not meta:
            if any(begin in cell.source for begin, _ in SECRETS.values()):
                problems.append(f"cell {cell.get('id')!r} has solution, hidden-test or mark-scheme markers but no nbgrader metadata")
            continue
        if (meta.get("grade") or meta.get("task")) and meta.get("points") is None:
            problems.append(f"graded cell {gid!r} has no points")
        if meta.get("grade") and not meta.get("solution") and not meta.get("locked"):
            problems.append(f"test cell {gid!r} is not locked")
        for begin, end in SECRETS.values():
            if cell.source.count(begin) != cell.source.count(end):
                problems.append(f"cell {gid!r}: unbalanced {begin!r}/{end!r}")
        if HIDDEN_BEGIN in cell.source and not meta.get("grade"):
            problems.append(f"cell {gid!r} has hidden tests but is not a grade cell")
        if meta.get("task") and MARK_SCHEME_BEGIN not in cell.source:
            problems.append(f"task {gid!r} has no mark scheme (a {MARK_SCHEME_BEGIN!r} region)")
        if MARK_SCHEME_BEGIN in cell.source and not meta.get("task"):
            problems.append(f"cell {gid!r} has a mark scheme but is not a task cell")
        if meta.get("solution") and cell.cell_type == "code" and SOLUTION_BEGIN not in cell.source:
            problems.append(f"solution cell {gid!r} has no {SOLUTION_BEGIN!r} region")
    return problems


def secret_regions(cell, begin: str, end: str) -> list[str]:
    """The secret parts of a cell: its begin/end regions, or all of a markdown answer without markers.

    nbgrader replaces a markdown answer cell without solution markers by the
    text stub as a whole, so the whole model answer is secret.
    """
    found = regions(cell.source, begin, end)
    if (not found and begin == SOLUTION_BEGIN and cell.cell_type == "markdown"
            and nbgrader(cell).get("solution")):
        found = [cell.source]
    return found


def _secret_lines(nb, begin: str, end: str) -> set[str]:
    lines = set()
    for cell in nb.cells:
        for body in secret_regions(cell, begin, end):
            lines.update(s for s in (line.strip() for line in body.splitlines()) if len(s) >= MIN_SECRET_LINE)
    return lines


def _public_lines(nb) -> set[str]:
    """Lines of the source outside any secret region (given code the release may repeat)."""
    public = set()
    for cell in nb.cells:
        if any(secret_regions(cell, *markers) == [cell.source] for markers in SECRETS.values()):
            continue  # the whole cell is a model answer
        inside = False
        for line in cell.source.splitlines():
            if any(begin in line for begin, _ in SECRETS.values()):
                inside = True
            elif any(end in line for _, end in SECRETS.values()):
                inside = False
            elif not inside:
                public.add(line.strip())
    return public


def notebook_text(nb) -> str:
    """Everything a reader of ``nb`` sees: cell sources and the text of outputs."""
    parts = []
    for cell in nb.cells:
        parts.append(cell.source)
        for output in cell.get("outputs", []):
            parts.append(str(output.get("text", "")))
            parts.extend(str(v) for k, v in output.get("data", {}).items() if k.startswith("text/"))
            parts.extend(output.get("traceback", []))
    return "\n".join(parts)


def html_text(html: str) -> str:
    """The visible text of an HTML page (code highlighting splits lines into tags)."""
    return unescape(re.sub(r"<[^>]+>", "", html))


def answer_key_lines(answer_key: str) -> set[str]:
    """The secret lines of an answer key (hidden tests kept outside the notebook, ``judge.py``): all of them."""
    return {s for s in (line.strip() for line in answer_key.splitlines()) if len(s) >= MIN_SECRET_LINE}


def leaks(source_nb, text: str, kinds=tuple(SECRETS), own_text: str = "", answer_key: str = "") -> list[str]:
    """What of the hidden tests and solutions of ``source_nb`` (and of its ``answer_key``, whose lines are
    all hidden tests) shows in ``text``.

    A line counts as secret only if it is in no given code and not in
    ``own_text``, the student's own submission (their feedback rightly shows
    their ``def __init__(self):``). When only some kinds are checked (feedback
    checks hidden tests), a line that is also of an unchecked kind is left out
    (``with torch.no_grad():`` may be in a solution the student wrote too); when
    every kind is checked (the release, the bundle), every secret line is.
    """
    found = [f"marker {SECRETS[k][0]!r} is visible" for k in kinds if SECRETS[k][0] in text]
    public = _public_lines(source_nb)
    lines = {kind: _secret_lines(source_nb, *markers) for kind, markers in SECRETS.items()}
    lines["hidden test"] |= answer_key_lines(answer_key)
    for kind in kinds:
        others = set().union(*(v for k, v in lines.items() if k not in kinds))
        for line in sorted(lines[kind] - public - others):
            if line in text and line not in own_text:
                found.append(f"{kind} line is visible: {line!r}")
    return found
