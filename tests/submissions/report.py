"""Grade the whole catalogue, and write what happened as a markdown report.

    python -m tests.submissions.report    (make catalogue)

grades every case of ``catalogue.CASES`` in a throw-away copy of the course
and rewrites ``docs/reference/catalogue.md``. The test suite grades the same
cases (``grade_catalogue``) and fails if the report it renders differs from
the committed one, so any change of outcome shows up in review.
"""

from __future__ import annotations

import csv

import sys
import tempfile
import time
from pathlib import Path

from inn_course import classroom, grade, notebooks, release, submissions, timings
from inn_course.api import load_config
from inn_course.paths import REPO_ROOT, CourseLayout, copy_course

from .catalogue import CASES, KINDS, Case, expected_cells

REPORT = REPO_ROOT / "docs" / "reference" / "catalogue.md"
WORKERS = 3  # on the 2-core CI machine: a third worker fills the gaps (kernel starts, imports, copies) of the other two


def autograded_points(layout: CourseLayout) -> dict[str, float]:
    """grade id -> points, for the cells the autograder scores (test cells with points)."""
    cells = notebooks.autograded_cells(notebooks.read(layout.source_notebook))
    return {gid: float(notebooks.nbgrader(c)["points"]) for gid, c in cells.items()}


def grade_catalogue(layout: CourseLayout, cases: list[Case] = CASES,
                    workers: int = WORKERS) -> dict[str, grade.GradeResult]:
    """Submit every case in ``layout`` (whose release is generated) and grade them as a class is graded.

    ``inn-course grade-class``: each case in its own worker and sandbox, ``workers`` at a time, merged
    into the course's gradebook and autograded/. Results by case name.
    """
    samples = {name: submissions.sample(layout, name) for name in submissions.SAMPLES}
    for case in cases:
        path = submissions.submit(layout, case.name, case.make(samples))
        if case.files:
            case.files(path.parent)
    folder = layout.root / "grading"
    timeouts = {c.name: c.timeout for c in cases if c.timeout}
    classroom.grade_class(layout, folder, workers=workers, progress=False, cell_timeouts=timeouts)
    return {r.student: as_grade_result(r) for r in classroom.merge(layout, [folder])}


def as_grade_result(result: classroom.StudentResult) -> grade.GradeResult:
    """A class grader's result in the shape of one autograde result."""
    return grade.GradeResult(result.student, result.status == "graded", result.score, result.max_score,
                             dict(result.max_points), dict(result.cells), list(result.flags), result.seconds,
                             error="" if result.status == "graded" else "; ".join(result.flags))


def true_cells(case: Case, points: dict[str, float]) -> dict[str, float] | None:
    """What a careful human would give each autograded cell: the expected scores without an attack's gains."""
    return expected_cells(Case(case.name, case.kind, case.what, case.make, base=case.base, loses=case.loses,
                               right=case.right, partial=case.partial, graded=case.graded), points)


def verdict(case: Case, result: grade.GradeResult, points: dict[str, float]) -> str:
    """What grading achieved on a case, from its actual result."""
    truth = true_cells(case, points)
    if result.success and truth is not None and all(result.cells.get(g) == truth[g] for g in points):
        return "scored right, flagged" if result.flags else "scored right"
    if not result.success and result.flags:
        return "flagged, not graded"
    return "flagged, score fooled" if result.flags else "WRONG and not flagged"


def _cells(case: Case, result: grade.GradeResult, points: dict[str, float]) -> str:
    if not result.success:
        return "–"
    base = expected_cells(Case(case.name, case.kind, case.what, case.make, base=case.base, right=case.right), points)
    lost = sorted(gid for gid in points if base[gid] and result.cells.get(gid) == 0)
    gained = sorted(gid for gid in points if not base[gid] and result.cells.get(gid))
    if len(gained) == len(points):
        gained = ["every autograded cell"]
    partly = sorted(f"{gid} {result.cells[gid]:g}/{points[gid]:g}" for gid in points
                    if result.cells.get(gid) and result.cells[gid] != points[gid])
    parts = ([f"lost {', '.join(lost)}"] if lost else []) + ([f"partly {', '.join(partly)}"] if partly else []) \
        + ([f"gained {', '.join(gained)}"] if gained else [])
    return "; ".join(parts) or "none"


# Pairs the similarity report must get right on the catalogue: (case, other, reported?).
SIMILARITY_CHECKS = (("copy_renamed_reordered", "reference", True), ("copy_cheap_disguises", "reference", True),
                     ("correct_other_style", "reference", False))


def reported_pairs(layout: CourseLayout) -> dict[frozenset[str], str]:
    """The pairs merge reported in the catalogue's similarity.csv: {case, other} -> share alike."""
    with (layout.root / "grading" / "similarity.csv").open() as handle:
        return {frozenset((row["student"], row["other student"])): row["share alike"]
                for row in csv.DictReader(handle) if row["other student"]}


def _similarity_section(pairs: dict[frozenset[str], str], cases: list[Case]) -> list[str]:
    paired = set().union(*pairs) if pairs else set()
    alone = [c.name for c in cases if c.name not in paired]
    lines = ["", "## Similar answers", "",
             f"`merge` compared the code answers of every pair of the {len(cases)} cases (`inn_course/similarity.py`) "
             f"and reported {len(pairs)} pairs. The cases are made from the reference answers, so most pairs "
             "are copies by construction; what the report must get right:", "",
             "| pair | what it is | share alike | reported |", "|---|---|---|---|"]
    for case, other, copied in SIMILARITY_CHECKS:
        share = pairs.get(frozenset((case, other)))
        what = "a disguised copy" if copied else "answers written independently, in another style"
        lines.append(f"| `{case}` ~ `{other}` | {what} | {'–' if share is None else f'{float(share):.0%}'} "
                     f"| {'yes' if share else 'no'} |")
    lines += ["", f"In no pair: {', '.join(f'`{n}`' for n in alone) or 'none'}."]
    return lines


def render(results: dict[str, grade.GradeResult], points: dict[str, float], cases: list[Case] = CASES,
           pairs: dict[frozenset[str], str] | None = None) -> str:
    total = sum(points.values())
    lines = [
        "# The grading catalogue: what the autograder does with every kind of submission",
        "",
        "Generated by `make catalogue` (`tests/submissions/report.py`) from the cases in",
        "`tests/submissions/catalogue.py`, each made from the reference answers or the untouched",
        "handout by a small patch, and graded as a class is graded (`inn-course grade-class`, two",
        "workers, each case in its own sandbox). `make test` grades the same cases and fails if any",
        "outcome below changes. Scores are the autograded points (out of "
        f"{total:g}); the {len(points)} autograded cells are the test cells.",
        "",
        "*Scored right*: every autograded cell gets what a careful human would give.",
        "*Flagged*: the score table, `grades.csv` and the results name the problem for a human to review;",
        "*score fooled* would mean that an attack changed a score; since the hidden tests run in the judge,",
        "outside the student's kernel (see docs/reference/grading-guarantees.md), none may. No case may be",
        "wrong and unflagged, and no case may change anything outside its own scratch folder (the sandbox).",
        "",
        "| kind | cases | scored right | flagged, score fooled | flagged, not graded | wrong and not flagged |",
        "|---|---|---|---|---|---|",
    ]
    for kind in KINDS:
        verdicts = [verdict(c, results[c.name], points) for c in cases if c.kind == kind]
        right = sum(v.startswith("scored right") for v in verdicts)
        lines.append(f"| {kind} | {len(verdicts)} | {right} | {verdicts.count('flagged, score fooled')} "
                     f"| {verdicts.count('flagged, not graded')} | {verdicts.count('WRONG and not flagged')} |")
    for kind in KINDS:
        lines += ["", f"## {kind.capitalize()}", "",
                  "| case | what it tries | score | cells lost / partly scored / gained | verdict | flags |",
                  "|---|---|---|---|---|---|"]
        for case in (c for c in cases if c.kind == kind):
            result = results[case.name]
            score = f"{sum(result.cells.get(g) or 0 for g in points):g}/{total:g}" if result.success else "not graded"
            flags = "<br>".join(f.replace("|", "\\|") for f in result.flags) or "–"
            what = case.what.replace("|", "\\|")
            lines.append(f"| `{case.name}` | {what} | {score} | {_cells(case, result, points)} "
                         f"| {verdict(case, result, points)} | {flags} |")
    if pairs is not None:
        lines += _similarity_section(pairs, cases)
    return "\n".join(lines) + "\n"


def main() -> int:
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        layout = copy_course(Path(tmp))
        release.generate_release(layout, load_config(layout))
        results = grade_catalogue(layout)
        text = render(results, autograded_points(layout), pairs=reported_pairs(layout))
    REPORT.parent.mkdir(exist_ok=True)
    REPORT.write_text(text)
    seconds = time.perf_counter() - started
    print(f"{REPORT.relative_to(REPO_ROOT)}: {len(CASES)} cases graded in {seconds / 60:.1f} min")
    timings.record("catalogue", {"cases": len(CASES), "seconds": round(seconds)})  # `make timings` publishes it
    for case in CASES:
        result = results[case.name]
        print(f"  {case.name:32s} {result.seconds:6.1f} s  {'graded' if result.success else 'not graded'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
