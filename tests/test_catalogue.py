"""Does every case of the catalogue get exactly its expected outcome, and is the report current?

The batch is graded once by the session fixture ``graded`` (conftest).
"""

import json
import os
import re
from pathlib import Path

import psutil
import pytest

from inn_course import lint, notebooks, sandbox
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
    """Is there no case whose score is wrong, flagged or not (a case that cannot be graded is flagged)?"""
    layout, results, _ = graded
    points = report.autograded_points(layout)
    verdicts = {c.name: report.verdict(c, results[c.name], points) for c in CASES}
    assert "WRONG and not flagged" not in verdicts.values(), verdicts
    # The judge decides every point outside the kernel: no attack may win one, flagged or not.
    assert "flagged, score fooled" not in verdicts.values(), verdicts


def test_similar_answers_are_reported_and_independent_ones_are_not(graded):
    """In the catalogue graded as a class: the disguised copy paired with the reference, the other style not."""
    layout, results, _ = graded
    pairs = report.reported_pairs(layout)
    for case, other, reported in report.SIMILARITY_CHECKS:
        assert (frozenset((case, other)) in pairs) == reported, (case, other)
    assert not any("handout" in pair for pair in pairs)  # the template alone is no one's answer
    rows = (layout.root / "grading" / "grades.csv").read_text()
    assert "reference (100% alike: " in rows  # the copy's row in grades.csv names the reference


def test_report_is_up_to_date(graded):
    """Is docs/reference/catalogue.md what this run of the catalogue produced (no outcome changed)?"""
    layout, results, _ = graded
    fresh = report.render(results, report.autograded_points(layout), pairs=report.reported_pairs(layout))
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


def _printed(layout, student: str, cell_id: str) -> str:
    """What one cell of a graded case printed (its streams and results)."""
    nb = notebooks.read(layout.notebook("autograded", student))
    cell = next(c for c in nb.cells if c.get("id") == cell_id)
    return "".join(str(o.get("text", "")) + str(o.get("data", {}).get("text/plain", "")) for o in cell.outputs)


def _report(text: str, marker: str) -> dict:
    line = next(line for line in text.splitlines() if line.startswith(marker + " "))
    return json.loads(line[len(marker) + 1:])


def test_escape_attempts_reach_nothing(graded):
    """Did the escape case run as nobody, with every write, read, namespace and fork bomb refused?"""
    layout, results, _ = graded
    assert results["hostile_escape"].success
    report = _report(_printed(layout, "hostile_escape", "student-escape"), "ESCAPE")
    if os.geteuid() == 0:
        assert report["uid"] == sandbox.NOBODY
    assert report["shadow"] == report["write /etc"] == "denied"  # (the course's path inside is the sandbox's own)
    assert report["userns"] == "denied" and report["processes"] < sandbox.Limits().processes
    assert "INN_SECRET" not in " ".join(report["environment"]) and set(report["environment"]) <= set(
        sandbox.environment(1)) | {"CLICOLOR", "CLICOLOR_FORCE", "FORCE_COLOR", "GIT_PAGER", "PAGER", "TERM",
                                    "PWD", "PYDEVD_USE_FRAME_EVAL", "MPLBACKEND", "TORCHINDUCTOR_CACHE_DIR"}
    assert not Path("/etc/x").exists() and not (layout.root / "x").exists()


def test_no_hidden_test_reaches_what_a_student_prints(graded):
    """Did the notebooks, input history and line cache the escape case printed hold no hidden-test line?"""
    layout, _, _ = graded
    printed = _printed(layout, "hostile_escape", "student-escape")
    source = notebooks.read(layout.source_notebook)
    own = lint.notebook_text(notebooks.read(layout.notebook("submitted", "hostile_escape")))
    assert "def q05_split" not in printed and "reference_models" not in printed
    assert lint.leaks(source, printed, kinds=("hidden test",), own_text=own, answer_key=layout.answer_key_text()) == []


def _decoded(text: str) -> str:
    """``text`` with every long run of hex digits decoded (what a notebook may print to smuggle text out)."""
    runs = re.findall(r"[0-9a-f]{64,}", text)
    return text + "\n".join(bytes.fromhex(run[:len(run) // 2 * 2]).decode("utf-8", "replace") for run in runs)


def test_the_requests_leave_nothing_in_the_feedback(graded):
    """The case that prints, as hex, what it sees when the judge calls it: was its answer judged right, and is
    nothing of the answer key (not a line, not the requests' code) in its graded notebook or its feedback?"""
    layout, results, _ = graded
    student, key = "hostile_reads_requests", layout.answer_key_text()
    assert results[student].cells["q09_exact_inverse"] == 1
    source = notebooks.read(layout.source_notebook)
    own = lint.notebook_text(notebooks.read(layout.notebook("submitted", student)))
    graded_text = lint.notebook_text(notebooks.read(layout.notebook("autograded", student)))
    feedback = lint.html_text(layout.notebook("feedback", student).read_text())
    for text in (graded_text, feedback):
        shown = _decoded(text)
        assert "SEEN" in text and "def q09_request" not in shown and "inn_judge_request" not in shown
        assert lint.leaks(source, shown, kinds=("hidden test",), own_text=own, answer_key=key) == []


def test_links_made_by_a_notebook_are_not_followed_outside(graded):
    """Are the gradebook, the source and the autograded copies intact after links were planted and submitted?"""
    layout, results, _ = graded
    assert results["hostile_submitted_links"].success
    for student in ("hostile_escape", "hostile_submitted_links"):
        folder = layout.notebook("autograded", student).parent
        assert all(p.is_file() and not p.is_symlink() for p in folder.rglob("*")), student
    assert notebooks.read(layout.source_notebook).cells  # still the source notebook, not a link's victim
    with open_api(layout).gradebook as gb:
        assert gb.find_submission(layout.assignment, "reference").score == pytest.approx(results["reference"].score)


def test_resource_hogs_hit_their_bounds(graded):
    """Did the tmpfs mounts stop at their size, and the huge outputs leave a small graded notebook?"""
    layout, results, _ = graded
    report = _report(_printed(layout, "hostile_resources", "student-fill"), "RESOURCES")
    limits = sandbox.Limits()
    assert report["tmp"] <= limits.tmp_bytes // 2 ** 20 and report["work"] <= limits.scratch_bytes // 2 ** 20
    assert layout.notebook("autograded", "hostile_resources").stat().st_size < 3_000_000
    assert layout.notebook("feedback", "hostile_resources").stat().st_size < 4_000_000
