"""Does autograding give every point right for the samples, and handle broken submissions?

All tests here read one batch graded by the session fixture ``graded`` (conftest);
tests/test_catalogue.py checks every case of that batch against its expected outcome.
"""

import pytest

from inn_course import lint, notebooks


pytestmark = pytest.mark.slow


def _autograded_cells(layout):
    return [gid for gid, c in notebooks.graded_cells(notebooks.read(layout.source_notebook)).items()
            if notebooks.nbgrader(c).get("grade") and not notebooks.nbgrader(c).get("solution")]


def _full_autograded_marks(result, layout):
    """Every autograded cell at its points; manual answers left for a human (None)."""
    auto = _autograded_cells(layout)
    return (all(result.cells[gid] == result.max_points[gid] for gid in auto)
            and all(result.cells[gid] is None for gid in result.cells if gid not in auto)
            and result.score == sum(result.max_points[gid] for gid in auto) > 0)


def test_reference_solution_gets_full_marks(graded):
    """Does the model solution score every autograded point, with no error in any cell?"""
    layout, results, _ = graded
    reference = results["reference"]
    assert reference.success and reference.flags == []
    assert _full_autograded_marks(reference, layout), reference.cells
    nb = notebooks.read(layout.notebook("autograded", "reference"))
    errors = [c.id for c in nb.cells if any(o.output_type == "error" for o in c.get("outputs", []))]
    assert errors == [], f"the solution notebook raised errors in {errors}"


def test_untouched_handout_scores_zero_everywhere(graded):
    """Does the blank handout score 0 on every autograded cell, and is it graded at all?"""
    layout, results, _ = graded
    handout = results["handout"]
    assert handout.success
    cells = _autograded_cells(layout)
    assert cells and all(handout.cells[gid] == 0 for gid in cells), handout.cells
    assert handout.score == 0


def test_deleted_test_cell_is_restored_and_graded(graded):
    """Is a deleted test cell put back and graded, and the deletion flagged?"""
    layout, results, _ = graded
    result = results["deleted_test_cell"]
    assert result.success
    assert result.cells["q02_train_test"] == 3
    assert _full_autograded_marks(result, layout), result.cells
    assert any("q02_train_test" in flag for flag in result.flags)


def test_duplicated_grade_cell_is_flagged_and_does_not_abort(graded):
    """Is a duplicated grade cell reported, graded once, and the rest of the batch graded?"""
    layout, results, _ = graded
    result = results["duplicated_test_cell"]
    assert result.success and _full_autograded_marks(result, layout), result.cells
    assert any("duplicated" in flag and "q01_visualise_data" in flag for flag in result.flags)
    assert results["handout"].success and results["deleted_test_cell"].success  # graded after it


def test_unreadable_notebook_is_reported_not_fatal(graded):
    """Is a notebook that is not JSON reported as not graded, without stopping the batch?"""
    _, results, _ = graded
    result = results["not_json"]
    assert not result.success and result.score == 0
    assert any("not a readable notebook" in flag for flag in result.flags)
    assert results["duplicated_test_cell"].success  # graded after it


def test_feedback_hides_hidden_tests(graded):
    """Does the feedback HTML show the failed checks' messages but none of the hidden tests?"""
    layout, _, feedback_outcomes = graded
    source, key = notebooks.read(layout.source_notebook), layout.answer_key_text()
    assert lint.answer_key_lines(key)
    for student, outcome in feedback_outcomes.items():
        assert outcome["success"], outcome["error"]
        html = layout.notebook("feedback", student).read_text()
        own = lint.notebook_text(notebooks.read(layout.notebook("submitted", student)))
        assert lint.leaks(source, lint.html_text(html), kinds=("hidden test", "mark scheme"), own_text=own,
                          answer_key=key) == [], student
    handout_html = lint.html_text(layout.notebook("feedback", "handout").read_text())
    assert "NotImplementedError" in handout_html  # the student still sees why a check failed


def test_graders_see_the_mark_schemes(graded):
    """Does the autograded notebook (what the formgrader shows) carry every task's mark scheme?"""
    layout, _, _ = graded
    tasks = [c for c in notebooks.read(layout.notebook("autograded", "handout")).cells if notebooks.nbgrader(c).get("task")]
    assert len(tasks) == 7 and all(notebooks.MARK_SCHEME_BEGIN in c.source and "Mark scheme" in c.source for c in tasks)


def test_committed_autograded_samples_are_up_to_date(repo, graded):
    """Are the committed autograded samples what grading the current release produces?"""
    layout, results, _ = graded
    for student in ("reference", "handout"):
        committed = notebooks.read(repo.notebook("autograded", student))
        fresh = notebooks.read(layout.notebook("autograded", student))
        assert [(c.id, c.source) for c in committed.cells] == [(c.id, c.source) for c in fresh.cells], \
            f"autograded/{student} is stale: run `make all`"

        def errored(nb):
            return [c.id for c in nb.cells if any(o.output_type == "error" for o in c.get("outputs", []))]

        assert errored(committed) == errored(fresh), f"autograded/{student} failed other cells: run `make all`"
