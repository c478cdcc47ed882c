"""Does the pre-grading scan repair and flag what would abort nbgrader, without running anything?"""

from inn_course import grade, lint, notebooks, submissions
from inn_course.paths import copy_course


def _course_with(tmp_path, student, nb_or_text):
    layout = copy_course(tmp_path)
    submissions.submit(layout, student, nb_or_text)
    return layout


def _release(repo):
    return notebooks.read(repo.release_notebook)


def test_clean_submission_has_no_flags(repo, tmp_path):
    """Is an untouched handout gradable, with nothing flagged?"""
    layout = _course_with(tmp_path, "alice", _release(repo))
    scan = submissions.scan(layout, "alice")
    assert scan.gradable and scan.flags == []


def test_duplicated_grade_cell_is_repaired_and_flagged(repo, tmp_path):
    """Does a duplicated grade cell leave one graded copy, a kept original and a flag?"""
    nb = _release(repo)
    nb.cells.append(notebooks.nbformat.from_dict(dict(nb.cells[5], id="copy")))
    duplicated = notebooks.grade_id(nb.cells[5])
    layout = _course_with(tmp_path, "bob", nb)
    scan = submissions.scan(layout, "bob")
    assert scan.gradable and any(duplicated in flag for flag in scan.flags)
    repaired = notebooks.read(layout.notebook("submitted", "bob"))
    assert lint.duplicate_grade_ids(repaired) == []
    original = layout.notebook("submitted", "bob").with_name("invertible_networks.ipynb.submitted")
    assert lint.duplicate_grade_ids(notebooks.read(original)) == [duplicated]


def test_missing_graded_cell_is_flagged(repo, tmp_path):
    """Is a deleted test cell reported (nbgrader restores it at grading)?"""
    nb = _release(repo)
    nb.cells = [c for c in nb.cells if notebooks.grade_id(c) != "q05_split"]
    layout = _course_with(tmp_path, "carol", nb)
    scan = submissions.scan(layout, "carol")
    assert scan.gradable and any("q05_split" in flag for flag in scan.flags)


def test_unreadable_or_absent_notebook_is_not_gradable(repo, tmp_path):
    """Are a broken file and a missing file both reported as not gradable?"""
    layout = _course_with(tmp_path, "dave", "not a notebook")
    assert not submissions.scan(layout, "dave").gradable
    assert not submissions.scan(layout, "nobody").gradable


def test_score_table_marks_manual_cells():
    """Does the score table show pending manual points and '–' for cells a human must grade?"""
    result = grade.GradeResult("erin", True, score=3.0, max_score=5.0,
                               max_points={"q01": 3.0, "q02": 2.0}, cells={"q01": 3.0, "q02": None})
    table = grade.score_table([result])
    assert "3/5 (2 to grade by hand)" in table and "–" in table
