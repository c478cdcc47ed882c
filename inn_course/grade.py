"""Autograde submissions with nbgrader and collect per-cell scores."""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field

from . import notebooks, submissions
from .api import open_api
from .paths import CourseLayout


@dataclass
class GradeResult:
    """One student's autograde outcome (nbgrader's result dict, made explicit)."""

    student: str
    success: bool
    score: float = 0.0
    max_score: float = 0.0
    cells: dict[str, float | None] = field(default_factory=dict)  # grade_id -> score (None: manual, ungraded)
    flags: list[str] = field(default_factory=list)
    seconds: float = 0.0
    error: str = ""


def autograde(layout: CourseLayout, students: list[str]) -> list[GradeResult]:
    """Scan and autograde each student; one broken submission never stops the others."""
    api = open_api(layout)
    source = notebooks.read(layout.source_notebook)
    graded = notebooks.graded_cells(source)
    results = []
    for student in students:
        started = time.perf_counter()
        scan = submissions.scan(layout, student)
        result = GradeResult(student, success=False, flags=list(scan.flags))
        result.max_score = float(sum(notebooks.nbgrader(c)["points"] for c in graded.values()))
        if scan.gradable:
            outcome = api.autograde(layout.assignment, student, force=True, create=True)
            result.success = bool(outcome["success"])
            result.error = outcome.get("error") or ""
            if result.success:
                _collect_scores(api, layout, result)
            else:
                result.flags.append("nbgrader could not grade it: see error")
        else:
            shutil.rmtree(layout.notebook("autograded", student).parent, ignore_errors=True)
        result.seconds = time.perf_counter() - started
        results.append(result)
    return results


def _collect_scores(api, layout: CourseLayout, result: GradeResult) -> None:
    with api.gradebook as gb:
        submission = gb.find_submission(layout.assignment, result.student)
        result.score = float(submission.score)
        for nb in submission.notebooks:
            for grade in nb.grades:
                score = grade.score
                result.cells[grade.name] = None if score is None else float(score)


def score_table(results: list[GradeResult]) -> str:
    """A plain-text table: one row per student, one column per graded cell."""
    cells = sorted({name for r in results for name in r.cells})
    header = ["student", "score", *cells, "flags"]
    rows = []
    for r in results:
        row = [r.student, f"{r.score:g}/{r.max_score:g}" if r.success else "not graded"]
        row += ["–" if r.cells.get(c) is None else f"{r.cells[c]:g}" for c in cells]
        row.append("; ".join(r.flags) or "")
        rows.append(row)
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    lines = ["  ".join(str(x).ljust(w) for x, w in zip(line, widths)).rstrip() for line in [header, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
