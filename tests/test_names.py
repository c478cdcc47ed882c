"""Names users chose: student ids checked at the door, CSV cells a spreadsheet never evaluates,
results files that name only their own student, a course's exchange folder nobody can squat."""

import csv
import json
import os
import stat

import pytest

from inn_course import classroom, export, hub, names
from inn_course.paths import CourseLayout


@pytest.mark.parametrize("name", ["alice", "s1234567", "jean-luc.picard", "mary_o", "A.B-C_9"])
def test_login_names_are_student_ids(name):
    assert names.is_student_id(name)


@pytest.mark.parametrize("name", ["", ".hidden", "-rf", "..", "a/b", "=HYPERLINK(1)", "+1", "@sum", "it's",
                                  "a&b", "a\rb", "a\nb", "a\x1b[31m", "ünïcode", "a b", "x" * 65])
def test_anything_else_is_refused_with_a_reason_that_prints_safely(name):
    why = names.student_id_problem(name)
    assert why and "is not a student id" in why and "\r" not in why and "\x1b" not in why and "\n" not in why


@pytest.mark.parametrize("cell", ["=1+1", "+1", "-1+1", "@SUM(A1)", "\t=1", "\r=1"])
def test_formulas_become_text(cell):
    assert names.spreadsheet_cell(cell) == "'" + cell


def test_plain_text_is_unchanged():
    assert names.spreadsheet_cell("alice") == "alice" and names.spreadsheet_cell("a=b") == "a=b"


def test_submitted_folders_with_other_names_are_left_out_and_said_why(tmp_path):
    layout = CourseLayout(tmp_path)
    for name in ("alice", "=cmd|' -C calc'!A0", "-x"):
        (tmp_path / "submitted" / name / layout.assignment).mkdir(parents=True)
    assert layout.students() == ["alice"]
    assert len(layout.refused_students()) == 2


def test_every_csv_the_course_writes_neutralises_formulas(tmp_path):
    evil = "=HYPERLINK(\"http://x\")"
    result = classroom.StudentResult(evil, "graded", 1, 2, {"q": 1}, {"q": 2}, flags=["-1+1 flag"])
    classroom.export([result], tmp_path)
    grade = export.FinalGrade(evil, "+Name", 1, 0, 0, 2, False)
    export.write_canvas_csv([grade], tmp_path / "canvas.csv", "@column")
    export.write_final_csv([grade], tmp_path / "final.csv")
    for path in ("grades.csv", "canvas.csv", "final.csv"):
        for row in csv.reader(open(tmp_path / path)):
            for cell in row:
                assert not cell.startswith(names.FORMULA_START), (path, row)


def _result_file(folder, name, **fields):
    folder.mkdir(exist_ok=True)
    (folder / name).write_text(json.dumps({"student": "alice", "status": "graded", **fields}))


def test_results_name_only_their_own_submitted_student(tmp_path):
    _result_file(tmp_path / "r1", "alice.json")
    assert [r.student for r in classroom.load_results([tmp_path / "r1"], ["alice"])] == ["alice"]
    with pytest.raises(classroom.BadResults, match="no submission in this course"):
        classroom.load_results([tmp_path / "r1"], ["bob"])
    _result_file(tmp_path / "r2", "x.json", student="../../victim-dir")
    with pytest.raises(classroom.BadResults, match="names the student '../../victim-dir'"):
        classroom.load_results([tmp_path / "r2"])
    _result_file(tmp_path / "r3", "alice.json", status="graded", shell="rm -rf /")
    with pytest.raises(classroom.BadResults, match="not a results file"):
        classroom.load_results([tmp_path / "r3"])
    (tmp_path / "r4").mkdir()
    os.symlink(tmp_path / "r1" / "alice.json", tmp_path / "r4" / "alice.json")
    with pytest.raises(classroom.BadResults, match="symbolic link"):
        classroom.load_results([tmp_path / "r4"])


def test_the_results_folder_never_writes_through_a_link(tmp_path):
    target = tmp_path / "target"
    target.write_text("keep")
    results = tmp_path / "results"
    results.mkdir()
    os.symlink(target, results / "alice.log")
    with classroom.fresh_file(results, "alice.log") as handle:
        handle.write("log")
    assert target.read_text() == "keep" and (results / "alice.log").read_text() == "log"
    os.symlink(target, results / ".lock")
    with pytest.raises(classroom.ResultsRefused, match="cannot be used as the lock"):
        with classroom.locked(results):
            pass
    os.symlink(results, tmp_path / "linked")
    with pytest.raises(classroom.ResultsRefused, match="symbolic link"):
        classroom.results_folder(tmp_path / "linked")


@pytest.mark.skipif(os.geteuid() != 0, reason="giving folders to other users needs root")
def test_the_course_folder_in_the_exchange_is_the_instructors_before_any_student_can_make_it(tmp_path):
    exchange = tmp_path / "exchange"
    hub.make_exchange(exchange)
    squat = exchange / "course101"
    squat.mkdir()
    (squat / "mine.txt").write_text("a student's")
    os.chown(squat, 41002, 41002)
    moved = hub.make_course_exchange(exchange, "course101", 41001, 41001)
    assert moved is not None and (moved / "mine.txt").read_text() == "a student's"  # kept for a human
    for name, mode in hub.COURSE_EXCHANGE_MODES.items():
        info = os.lstat(squat / name)
        assert (info.st_uid, stat.S_IMODE(info.st_mode) | (info.st_mode & stat.S_ISGID)) == (41001, mode), name
    assert hub.make_course_exchange(exchange, "course101", 41001, 41001) is None  # again: nothing to move
