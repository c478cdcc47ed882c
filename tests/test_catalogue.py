"""Does every case of the catalogue get exactly its expected outcome, and is the report current?

The batch is graded once by the session fixture ``graded`` (conftest).
"""

import psutil
import pytest

from inn_course.api import open_api
from inn_course.paths import REPO_ROOT

from .submissions import report
from .submissions.catalogue import BACKGROUND_PROCESS, CASES, expected_cells

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_case_scores_and_flags(graded, case):
    """Does the case score what it should on every autograded cell, with exactly the expected flags?"""
    layout, results, _ = graded
    result = results[case.name]
    points = report.autograded_points(layout)
    expected = expected_cells(case, points)
    if expected is None:
        assert not result.success, f"{case.name} should not be graded"
    else:
        assert result.success, result.error
        assert {gid: result.cells[gid] for gid in points} == expected, case.what
    for text in case.flags:
        assert any(text in flag for flag in result.flags), (text, result.flags)
    if not case.flags:
        assert result.flags == [], "no false alarms on an ordinary submission"


def test_every_case_is_scored_right_or_flagged(graded):
    """Is there no case whose score is wrong without a flag that says so?"""
    layout, results, _ = graded
    points = report.autograded_points(layout)
    verdicts = {c.name: report.verdict(c, results[c.name], points) for c in CASES}
    assert "WRONG and not flagged" not in verdicts.values(), verdicts


def test_report_is_up_to_date(graded):
    """Is docs/grading-catalogue.md what this run of the catalogue produced (no outcome changed)?"""
    layout, results, _ = graded
    fresh = report.render(results, report.autograded_points(layout))
    if report.REPORT.read_text() != fresh:
        artifact = REPO_ROOT / "artifacts" / report.REPORT.name
        artifact.parent.mkdir(exist_ok=True)
        artifact.write_text(fresh)
        pytest.fail(f"an outcome of the catalogue changed (this run's report: {artifact}): "
                    "review it, then run `make catalogue`")


def test_no_process_outlives_grading(graded):
    """Was the hostile background process killed (so it never rewrites the gradebook)?"""
    marker = "write_text('gone')"
    assert marker in BACKGROUND_PROCESS
    alive = [p for p in psutil.process_iter(["cmdline"]) if marker in " ".join(p.info["cmdline"] or [])]
    assert alive == []


def test_gradebook_keeps_every_grade(graded):
    """After the whole batch, does the gradebook still hold each graded student's score?"""
    layout, results, _ = graded
    with open_api(layout).gradebook as gb:
        for student, result in results.items():
            if result.success:
                assert gb.find_submission(layout.assignment, student).score == pytest.approx(result.score)
