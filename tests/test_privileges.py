"""Root on an instructor's course: every command runs as the course's owner, so nothing planted there is root's act.

The course belongs to a real Linux user made for the test; root runs ``inn-course`` on it as the
docs/instructor/hub.md's flow does. The owner plants what the issue found: ``grading`` as a link to a root-only
folder, a student's log as a link to a root-only file, a results file naming ``../../victim``, and
a course config that records who executes it. Needs root and useradd; the owner must be able to
run the course's Python: the test installs the environment every hub user runs (``hub.install_environment``,
the system python3 with this package copied in), as ``inn-course hub`` does.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from inn_course import hub, notebooks, privileges, safe_files
from inn_course.paths import CourseLayout, copy_course

pytestmark = pytest.mark.slow
OWNER = "inn-course-owner"


PYTHON = hub.HUB_ENV / "bin" / "python"


def _run(course: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """``inn-course --root COURSE ARGS`` as root, from the hub's environment, as an administrator types it:
    by default from root's home, a folder the owner cannot enter."""
    return subprocess.run([str(PYTHON), "-m", "inn_course", "--root", str(course), *args], cwd=cwd or ROOT_ONLY,
                          capture_output=True, text=True, timeout=900)


ROOT_ONLY = Path(pwd.getpwuid(0).pw_dir)


@pytest.fixture(scope="module")
def owned(tmp_path_factory):
    """(course, owner, a root-only folder): a released course that belongs to OWNER, one submission in it."""
    reason = hub.can_run_here()
    if reason:
        pytest.skip(f"a course that belongs to another user: {reason}")
    hub.install_environment(hub.HUB_ENV)
    if subprocess.run(["id", OWNER], capture_output=True).returncode:
        subprocess.run(["useradd", "--no-create-home", "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin",
                        OWNER], check=True)
    owner = pwd.getpwnam(OWNER)
    base = Path(tempfile.mkdtemp(prefix="inn-owned-", dir="/tmp"))
    os.chmod(base, 0o755)
    course = copy_course(base / "course").root
    safe_files.chown_tree(course, owner.pw_uid, owner.pw_gid)
    layout = CourseLayout(course)
    added = subprocess.run([str(PYTHON), "-m", "nbgrader", "generate_assignment", "--force"],
                           user=owner.pw_uid, group=owner.pw_gid, cwd=course, capture_output=True, text=True,
                           env={"HOME": str(base), "PATH": f"{PYTHON.parent}:/usr/bin:/bin"})
    assert added.returncode == 0, added.stderr[-2000:]  # as the instructor releases it
    folder = layout.notebook("submitted", "alice").parent
    folder.mkdir(parents=True)
    notebooks.write(notebooks.read(layout.release_notebook), folder / f"{layout.assignment}.ipynb")
    safe_files.chown_tree(course / "submitted", owner.pw_uid, owner.pw_gid)
    secret = tmp_path_factory.mktemp("root-only")  # /tmp/pytest-of-root/...: root's alone
    (secret / "keep.txt").write_text("root's")
    yield course, owner, secret
    shutil.rmtree(base, ignore_errors=True)


def _plant_link(link: Path, target: Path, owner) -> None:
    link.parent.mkdir(exist_ok=True)
    os.lchown(link.parent, owner.pw_uid, owner.pw_gid)
    os.symlink(target, link)
    os.lchown(link, owner.pw_uid, owner.pw_gid)


def test_the_course_config_runs_as_its_owner_never_as_root(owned):
    course, owner, _ = owned
    config = course / "nbgrader_config.py"
    original = config.read_text()
    config.write_text(original + "\nimport os, pathlib\n"
                      f"pathlib.Path({str(course / 'who-ran-me')!r}).write_text(str(os.getuid()))\n")
    try:
        done = _run(course, "export", "--results", str(course / "exports"))
    finally:
        config.write_text(original)
    assert f"running as {OWNER}, not as root" in done.stderr, done.stderr[-2000:]
    assert (course / "who-ran-me").read_text() == str(owner.pw_uid), done.stderr[-2000:]
    assert (course / "who-ran-me").stat().st_uid == owner.pw_uid


def test_a_results_folder_that_is_a_link_is_refused(owned):
    course, owner, secret = owned
    _plant_link(course / "grading", secret, owner)
    try:
        done = _run(course, "grade-class", "--workers", "1")
    finally:
        os.unlink(course / "grading")
    assert done.returncode == 2 and "is a symbolic link" in done.stderr, done.stderr[-2000:]
    assert sorted(os.listdir(secret)) == ["keep.txt"] and os.stat(secret).st_uid == 0


def test_planted_logs_and_locks_are_replaced_not_followed(owned):
    course, owner, secret = owned
    target = secret / "log-target"
    target.write_text("root's log")
    _plant_link(course / "grading" / "alice.log", target, owner)
    done = _run(course, "grade-class", "--workers", "1")
    assert "alice" in done.stdout and "graded" in done.stdout, done.stdout[-2000:] + done.stderr[-3000:]
    # Run as the owner, not root: no control group can be made, and the summary says what bounded memory.
    assert "each kernel's memory was bounded by rlimits only" in done.stdout, done.stdout[-2000:]
    assert target.read_text() == "root's log" and os.stat(target).st_uid == 0
    log = course / "grading" / "alice.log"
    assert not log.is_symlink() and log.stat().st_uid == owner.pw_uid
    for made in (course / "gradebook.db", course / "grading" / "alice.json", course / "autograded" / "alice"):
        assert made.stat().st_uid == owner.pw_uid, made  # made by the owner: nothing to hand back
    # A lock that is a link: refused, its target untouched.
    (course / "grading" / ".lock").unlink()
    _plant_link(course / "grading" / ".lock", secret / "keep.txt", owner)
    done = _run(course, "grade-class", "--workers", "1")
    assert done.returncode == 2 and "cannot be used as the lock" in done.stderr, done.stderr[-2000:]
    assert (secret / "keep.txt").read_text() == "root's"
    (course / "grading" / ".lock").unlink()


def test_a_results_file_naming_another_path_is_not_merged(owned):
    course, owner, _ = owned
    victim = course.parent / "victim-dir"
    victim.mkdir(exist_ok=True)
    (victim / "precious.txt").write_text("x")
    folder = course / "grading"
    folder.mkdir(exist_ok=True)
    planted = folder / "x.json"
    planted.write_text(json.dumps({"student": "../../victim-dir", "status": "graded"}))
    os.lchown(planted, owner.pw_uid, owner.pw_gid)
    try:
        done = _run(course, "merge", "grading", cwd=course)  # a path relative to where root stands
    finally:
        planted.unlink()
    assert done.returncode == 2 and "names the student '../../victim-dir'" in done.stderr, done.stderr[-2000:]
    assert (victim / "precious.txt").exists()


def test_a_course_reached_through_a_link_is_refused(owned, tmp_path):
    course, _, _ = owned
    os.symlink(course, tmp_path / "linked")
    with pytest.raises(privileges.OwnerUnknown, match="without a link"):
        privileges.course_owner(tmp_path / "linked")
