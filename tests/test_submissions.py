"""Does the pre-grading scan repair and flag what would abort nbgrader, without running anything?"""

import shutil

from inn_course import grade, lint, notebooks, submissions
from inn_course.paths import REPO_ROOT, copy_course


def _course_with(tmp_path, student, nb_or_text):
    """A course with the committed release (what the scan compares with) and one submission."""
    layout = copy_course(tmp_path)
    shutil.copytree(REPO_ROOT / "release", layout.root / "release")
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


def test_edited_metadata_is_put_back_and_unknown_grade_ids_dropped(repo, tmp_path):
    """Are a renamed grade id and edited points restored by cell id, and a foreign grade id neutralised?"""
    nb = _release(repo)
    index = notebooks.index_of(nb, "q14_iresnet")
    nb.cells[index].metadata["nbgrader"]["grade_id"] = "q14_mine"
    nb.cells[index + 1].metadata.setdefault("nbgrader", {})
    points = nb.cells[notebooks.index_of(nb, "q05_split")]
    points.metadata["nbgrader"]["points"] = 200
    foreign = notebooks.nbformat.v4.new_code_cell("pass", id="student-cell")
    foreign.metadata["nbgrader"] = {"grade": True, "grade_id": "bonus", "points": 10, "locked": False,
                                    "solution": False, "schema_version": 3}
    nb.cells.append(foreign)
    layout = _course_with(tmp_path, "frank", nb)
    scan = submissions.scan(layout, "frank")
    flags = "\n".join(scan.flags)
    assert "q14_iresnet (grade_id)" in flags and "q05_split (points)" in flags
    assert "bonus (unknown grade id: now an ordinary cell)" in flags
    repaired = notebooks.read(layout.notebook("submitted", "frank"))
    assert set(notebooks.graded_cells(repaired)) == set(notebooks.graded_cells(_release(repo)))
    assert notebooks.nbgrader(repaired.cells[notebooks.index_of(repaired, "q05_split")])["points"] == 2


def test_edited_test_cell_and_hostile_code_are_flagged(repo, tmp_path):
    """Are an edited test cell and an added cell that patches torch both reported?"""
    nb = _release(repo)
    nb.cells[notebooks.index_of(nb, "q09_exact_inverse")].source = "pass"
    nb.cells.append(notebooks.nbformat.v4.new_code_cell("torch.allclose = lambda *a: True", id="student-patch"))
    layout = _course_with(tmp_path, "grace", nb)
    flags = "\n".join(submissions.scan(layout, "grace").flags)
    assert "locked cells edited, restored from the source: q09_exact_inverse" in flags
    assert "patches a library the tests use (cell" not in flags  # the summary names kinds, then places
    assert "patches a library the tests use" in flags and "cell student-patch line 1" in flags


def test_links_in_a_submission_make_it_ungradable(repo, tmp_path):
    """Is a submission with a symbolic link (which nbgrader would follow) refused before nbgrader reads it?"""
    layout = _course_with(tmp_path, "ivan", _release(repo))
    folder = layout.notebook("submitted", "ivan").parent
    (folder / "gradebook.db").symlink_to(layout.root / "gradebook.db")
    scan = submissions.scan(layout, "ivan")
    assert not scan.gradable and "gradebook.db: a symbolic link" in scan.flags[0]
    notebook = layout.notebook("submitted", "ivan")
    notebook.unlink()
    notebook.symlink_to(layout.source_notebook)  # the notebook itself, a link to the solutions
    (folder / "gradebook.db").unlink()
    scan = submissions.scan(layout, "ivan")
    assert not scan.gradable and "a symbolic link" in scan.flags[0]


def test_the_release_decides_what_is_locked_not_the_submission(repo, tmp_path):
    """Is a cell that claims to be locked (new id, locked metadata), in a notebook without cell ids, still scanned?"""
    nb = _release(repo)
    payload = notebooks.nbformat.v4.new_code_cell("get_ipython().ast_transformers.append(None)")
    payload.metadata["nbgrader"] = {"grade": False, "grade_id": "setup", "locked": True, "solution": False,
                                    "schema_version": 3}
    nb.cells.insert(3, payload)
    for cell in nb.cells:
        cell.pop("id", None)
    nb.nbformat_minor = 4
    layout = _course_with(tmp_path, "judy", nb)
    flags = "\n".join(submissions.scan(layout, "judy").flags)
    assert "rewires IPython or the grading" in flags and "ast_transformers" in flags


def test_invalid_unicode_is_replaced_and_flagged(repo, tmp_path):
    """Is a lone surrogate (valid JSON, invalid Unicode) replaced in a readable copy, and flagged?"""
    text = notebooks.dumps(_release(repo)).replace("YOUR ANSWER HERE", "answer \\ud800 here", 1)
    layout = _course_with(tmp_path, "kim", text)
    scan = submissions.scan(layout, "kim")
    assert scan.gradable and any("not valid Unicode replaced in 1 place" in f for f in scan.flags)
    assert "answer \ufffd here" in layout.notebook("submitted", "kim").read_text(encoding="utf-8")


def test_oversized_and_malformed_notebooks_are_refused(repo, tmp_path):
    """Are a notebook over the size cap, one with too many cells and one nested too deep refused, with reasons?"""
    cases = {
        "big": '{"cells": [], "x": "' + "x" * (submissions.MAX_NOTEBOOK_BYTES + 1) + '"}',
        "many": notebooks.dumps(notebooks.nbformat.v4.new_notebook(
            cells=[notebooks.nbformat.v4.new_code_cell("1") for _ in range(submissions.MAX_CELLS + 1)])),
        "deep": '{"cells": ' + "[" * 100_000 + "]" * 100_000 + "}",
    }
    layout = copy_course(tmp_path)
    shutil.copytree(REPO_ROOT / "release", layout.root / "release")
    reasons = {}
    for student, text in cases.items():
        submissions.submit(layout, student, text)
        scan = submissions.scan(layout, student)
        assert not scan.gradable, student
        reasons[student] = scan.flags[0]
    assert "more than" in reasons["big"] and "2,001 cells" in reasons["many"]
    assert "not a readable notebook" in reasons["deep"]


def test_one_notebook_cannot_stop_the_plain_batch(repo, tmp_path, monkeypatch):
    """If the scan itself fails on one notebook, is that student reported and the next one still handled?"""
    layout = copy_course(tmp_path)
    shutil.copytree(REPO_ROOT / "release", layout.root / "release")
    submissions.submit(layout, "a_crash", _release(repo))
    submissions.submit(layout, "b_broken", "not a notebook")
    real = submissions._scan

    def crashing(layout_, student, baseline):
        if student == "a_crash":
            raise RecursionError("maximum recursion depth exceeded")
        return real(layout_, student, baseline)

    monkeypatch.setattr(submissions, "_scan", crashing)
    results = grade.autograde(layout, ["a_crash", "b_broken"])
    assert [r.student for r in results] == ["a_crash", "b_broken"] and not any(r.success for r in results)
    assert "the pre-grading scan failed (RecursionError)" in results[0].flags[0]
    assert "not a readable notebook" in results[1].flags[0]
