"""The course's command line as an instructor meets it: the course is the folder they stand in, a course
not ready to grade says what to run in one line, a student's extension counts, the worker finds the
package wherever it is."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from inn_course import classroom, notebooks, release, submissions
from inn_course.api import load_config, open_api
from inn_course.paths import copy_course

from .submissions.catalogue import with_answers


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "inn_course", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=600)


def test_the_course_is_the_folder_one_stands_in(tmp_path):
    layout = copy_course(tmp_path / "course")
    release.generate_release(layout, load_config(layout))  # its own gradebook knows the assignment
    done = _cli("export", cwd=layout.root)  # no --root: the current folder, as for nbgrader
    assert done.returncode == 0 and (layout.root / "grading" / "canvas.csv").is_file(), done.stderr[-2000:]
    elsewhere = _cli("export", cwd=tmp_path)
    assert elsewhere.returncode == 2 and "not a course directory" in elsewhere.stderr, elsewhere.stderr


def test_grading_a_course_whose_gradebook_lacks_the_assignment_says_what_to_run(tmp_path):
    layout = copy_course(tmp_path / "course")
    submissions.submit(layout, "alice", "{}")
    done = _cli("grade-class", cwd=layout.root)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert "run `nbgrader generate_assignment invertible_networks`" in done.stderr, done.stderr
    assert not (layout.root / "grading" / "alice.json").exists()  # nothing graded that could not be merged


def test_the_worker_sees_the_package_where_it_is(monkeypatch, tmp_path):
    # An editable install in a checkout under /tmp: the worker's own /tmp would hide it unless it is bound.
    monkeypatch.setattr(classroom, "PACKAGE", Path("/tmp/checkout/inn_course"))
    layout = copy_course(tmp_path / "course")
    argv = classroom.worker_command(layout, tmp_path / "t", "alice", tmp_path / "r", 1, use_sandbox=True)
    binds = {argv[i + 1] for i, arg in enumerate(argv) if arg == "--ro-bind"}
    assert "/tmp/checkout/inn_course" in binds and str(layout.root) in binds


@pytest.mark.slow
def test_an_extension_is_granted_and_one_student_can_be_regraded_alone(tmp_path):
    layout = copy_course(tmp_path / "course")
    release.generate_release(layout, load_config(layout))
    # Q1 answered, the rest as handed out: 2 points to take a late penalty from, and a notebook that runs
    # in seconds (no training succeeds without Q2's train), not the reference's whole minute of work.
    reference, handout = (submissions.sample(layout, name) for name in ("reference", "handout"))
    answered = with_answers(handout, {"q01_visualise_data_answer": reference.cells[
        notebooks.index_of(reference, "q01_visualise_data_answer")].source})
    submitted = datetime.now(timezone.utc).replace(tzinfo=None)
    for student in ("alice", "bob"):
        folder = submissions.submit(layout, student, answered).parent
        (folder / "timestamp.txt").write_text(submitted.strftime("%Y-%m-%d %H:%M:%S.%f UTC"))
    with open_api(layout).gradebook as gb:  # due an hour before both submitted; alice has two more hours
        gb.update_or_create_assignment(layout.assignment, duedate=submitted - timedelta(hours=1))
        gb.update_or_create_student("alice")
        gb.update_or_create_submission(layout.assignment, "alice", extension=timedelta(hours=2))
    results = classroom.grade_class(layout, tmp_path / "results", workers=2, progress=False)
    assert [r.status for r in results] == ["graded", "graded"], [r.flags for r in results]
    assert [r.score for r in results] == [2, 2]
    penalties = {r.student: sum(r.late_penalties.values()) for r in results}
    assert penalties["alice"] == 0 and penalties["bob"] == pytest.approx(0.1 * results[1].score), penalties
    classroom.merge(layout, [tmp_path / "results"])
    with open_api(layout).gradebook as gb:
        assert gb.find_submission(layout.assignment, "alice").extension == timedelta(hours=2)  # merge kept it
    # A regrade of one student (grade-class --student bob): only bob is graded and merged.
    submissions.submit(layout, "alice", "changed, but nobody asked for a regrade")
    submissions.submit(layout, "bob", submissions.sample(layout, "handout"))
    before = classroom.gradebook_snapshot(layout)["alice"]
    regraded = classroom.grade_class(layout, tmp_path / "results", workers=1, progress=False, only=["bob"])
    assert [r.student for r in regraded] == ["bob"]
    classroom.merge(layout, [tmp_path / "results"], only=["bob"])
    after = classroom.gradebook_snapshot(layout)
    assert after["alice"] == before and sum(auto or 0 for auto, _, _ in after["bob"].values()) == 0


def test_export_lists_every_student_of_the_roster_and_fills_an_existing_canvas_column(tmp_path):
    import csv

    layout = copy_course(tmp_path / "course")
    release.generate_release(layout, load_config(layout))
    with open_api(layout).gradebook as gb:
        for student in ("alice", "bob"):  # the roster (nbgrader db student import); only alice submits
            gb.update_or_create_student(student)
        gb.add_submission(layout.assignment, "alice")
    done = _cli("export", cwd=layout.root)
    assert done.returncode == 0, done.stderr[-2000:]
    canvas = list(csv.reader(open(layout.root / "grading" / "canvas.csv")))
    assert [row[3] for row in canvas[2:]] == ["alice", "bob"] and canvas[3][5] == "0", canvas
    final = {row["student"]: row for row in csv.DictReader(open(layout.root / "grading" / "final_grades.csv"))}
    assert final["bob"]["submitted"] == "no" and final["alice"]["submitted"] == "yes"
    column = "Invertible networks (123456)"  # an existing Canvas assignment, as Canvas's own export names it
    plugin = subprocess.run([sys.executable, "-m", "nbgrader", "export", "--exporter",
                             "inn_course.export.CanvasExportPlugin", "--to", "lms.csv",
                             f"--CanvasExportPlugin.column={column}"], cwd=layout.root, capture_output=True, text=True)
    assert plugin.returncode == 0, plugin.stderr[-2000:]
    rows = list(csv.reader(open(layout.root / "lms.csv")))
    assert rows[0][-1] == column and rows[1:] == canvas[1:]


def test_submissions_downloaded_from_an_lms_come_back_with_zip_collect(tmp_path):
    """A course that hands the lab out by file (inn-course student-bundle) collects the LMS's download with
    nbgrader's zip_collect into submitted/, ready for grade-class; the regular expression keeps to the ids
    the course accepts (names.py)."""
    import zipfile

    layout = copy_course(tmp_path / "course")
    release.generate_release(layout, load_config(layout))
    archive = layout.root / "downloaded" / layout.assignment / "archive"
    archive.mkdir(parents=True)
    handout = layout.release_notebook.read_text()
    with zipfile.ZipFile(archive / "submissions.zip", "w") as bundle:  # Canvas: login_userid_fileid_filename
        bundle.writestr(f"alice_1001_5001_{layout.assignment}.ipynb", handout)
        bundle.writestr(f"bob.smith_1002_5002_{layout.assignment}.ipynb", handout)
        bundle.writestr(f"=cmd_1003_5003_{layout.assignment}.ipynb", handout)  # not an id: left in extracted/
    done = subprocess.run([sys.executable, "-m", "nbgrader", "zip_collect", layout.assignment, "--force",
                           "--FileNameCollectorPlugin.named_regexp=" + ZIP_REGEXP], cwd=layout.root,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    assert layout.students() == ["alice", "bob.smith"] and layout.refused_students() == []
    assert layout.notebook("submitted", "alice").read_text() == handout


# docs/instructor/lms.md's zip_collect pattern, matched against the whole path: a student id as names.py accepts it
# (without '_', Canvas's separator), Canvas's two numbers, the notebook.
ZIP_REGEXP = r".*/(?P<student_id>[A-Za-z0-9][A-Za-z0-9.-]{0,63})_\d+_\d+_(?P<file_id>invertible_networks\.ipynb)$"


def test_a_student_nbgrader_cannot_grade_keeps_the_reason(tmp_path):
    """The reason travels with the flags: into the results, the summary and the gradebook's comment."""
    from inn_course import grade

    layout = copy_course(tmp_path / "course")
    release.generate_release(layout, load_config(layout))
    submissions.submit(layout, "alice", submissions.sample(layout, "handout"))

    class Failing:  # nbgrader's answer when its converter fails, as its API returns it
        def autograde(self, *args, **kwargs):
            return {"success": False, "error": "Traceback (most recent call last):\n  ...\nValueError: cell 7 is odd",
                    "log": ""}

    result = grade._autograde_one(Failing(), layout, "alice", submissions.Baseline.of(layout))
    assert not result.success and any("ValueError: cell 7 is odd" in flag for flag in result.flags), result.flags


def test_the_hub_as_a_service_unit_that_systemd_accepts_runs_the_same_settings(tmp_path):
    """`inn-course hub --service-unit`: a unit systemd verifies, whose ExecStart is this same hub command."""
    import os
    import shlex
    import shutil

    from inn_course import cli, hub

    if os.geteuid() != 0:
        pytest.skip("the unit checks that root owns what it runs: run as root")
    if not Path("/usr/bin/python3").is_file():
        pytest.skip("no /usr/bin/python3 (root's Python, which the unit runs) on this machine")
    package = tmp_path / "src" / "inn_course"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    os.chmod(tmp_path, 0o755)
    unit = hub.service_unit("alice", ["bob", "carol"], 8123, Path("/srv/inn-course/hub"), 3 * 1024 ** 3, 900,
                            python=Path("/usr/bin/python3"), package=package)
    (tmp_path / "inn-course-hub.service").write_text(unit)
    if shutil.which("systemd-analyze"):
        verified = subprocess.run(["systemd-analyze", "verify", str(tmp_path / "inn-course-hub.service")],
                                  capture_output=True, text=True)
        assert verified.returncode == 0, verified.stderr
    (exec_start,) = [line.split("=", 1)[1] for line in unit.splitlines() if line.startswith("ExecStart=")]
    command = shlex.split(exec_start)
    assert command[:4] == ["/usr/bin/python3", "-m", "inn_course", "hub"], command
    settings = vars(cli.parser().parse_args(command[3:]))
    assert settings["instructor"] == "alice" and settings["students"] == ["bob", "carol"], settings
    assert (settings["port"], settings["memory_per_user"], settings["idle_timeout"]) == (8123, 3 * 1024 ** 3, 900)
    assert not settings["service_unit"]
    # Root runs it at every boot: a package another user can change is refused, saying which file.
    (package / "__init__.py").chmod(0o666)
    with pytest.raises(hub.NotForRoot, match="__init__.py can be changed by someone other than root"):
        hub.service_unit("alice", ["bob"], 8123, Path("/srv/h"), 1024, 60, python=Path("/usr/bin/python3"),
                         package=package)
    (package / "__init__.py").chmod(0o644)
    os.chown(package, 65534, 65534)  # a folder of someone else's (nobody)
    with pytest.raises(hub.NotForRoot, match="owner uid 65534"):
        hub.service_unit("alice", ["bob"], 8123, Path("/srv/h"), 1024, 60, python=Path("/usr/bin/python3"),
                         package=package)


def test_sizes_for_the_hub_read_as_people_write_them():
    from inn_course import cli

    parse = cli.parser().parse_args
    base = ["hub", "--instructor", "a", "--students", "b"]
    assert parse([*base, "--memory-per-user", "1500M"]).memory_per_user == 1500 * 1024 ** 2
    assert parse([*base]).memory_per_user == 4 * 1024 ** 3
    with pytest.raises(SystemExit):
        parse([*base, "--memory-per-user", "lots"])
