"""Collect: who submitted and when, decided by the system; nothing followed, nothing a student wrote believed.

The exchange here is a folder with nbgrader's layout; its students are uids (files are given to them
with chown, so these tests need root, as the hub does). The semester test (test_semester.py) does the
same with real users, nbgrader's own submit and JupyterLab.
"""

import os
import time
from datetime import datetime, timedelta, timezone

import pytest

from inn_course import collect
from inn_course.paths import CourseLayout

ASSIGNMENT = "invertible_networks"
NOTEBOOK = f"{ASSIGNMENT}.ipynb"
UIDS = {"alice": 41001, "bob": 41002, "carol": 41003}
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="giving files to other users (chown) needs root")


def _now(delta: float = 0) -> str:
    return (datetime.now(timezone.utc) + timedelta(seconds=delta)).strftime(collect.TIME_FORMAT)


@pytest.fixture
def world(tmp_path):
    """(course layout, exchange root): an empty inbound in a course folder that is ours."""
    course = tmp_path / "course"
    course.mkdir()
    (tmp_path / "exchange" / "course101" / "inbound").mkdir(parents=True)
    return CourseLayout(course), tmp_path / "exchange"


def _submit(exchange, folder: str, uid: int, notebook: str = "{}", claim: str | None = None,
            secret: bool = True) -> str:
    """A submission folder as nbgrader submit leaves it, belonging to ``uid``."""
    path = exchange / "course101" / "inbound" / folder
    path.mkdir()
    (path / NOTEBOOK).write_text(notebook)
    (path / "timestamp.txt").write_text(claim or _now())
    if secret:
        (path / "submission_secret.txt").write_text("f" * 128)
    for entry in [path, *path.iterdir()]:
        os.lchown(entry, uid, uid)
    return folder


def _collect(world):
    layout, exchange = world
    return collect.collect(layout, exchange, "course101", uid_of=UIDS.get)


def _notebook(world, student):
    return (world[0].notebook("submitted", student)).read_text()


@needs_root
def test_a_student_cannot_submit_as_another(world):
    _submit(world[1], f"alice+{ASSIGNMENT}+{_now()}+aaaa", UIDS["alice"], notebook="alice's own")
    forged = _submit(world[1], f"alice+{ASSIGNMENT}+2099-01-01 00:00:00.000000 UTC+x", UIDS["bob"],
                     notebook="bob's", claim="2099-01-01 00:00:00.000000 UTC")
    collection = _collect(world)
    assert _notebook(world, "alice") == "alice's own"
    assert [s.name for s in collection.refused] == [forged]
    text = collect.report(collection)
    assert "claims to be alice's but was made by" in text and "uid 41002" in text, text


@needs_root
def test_a_file_another_user_put_into_a_submission_refuses_it(world):
    folder = _submit(world[1], f"alice+{ASSIGNMENT}+{_now()}+aaaa", UIDS["alice"])
    planted = world[1] / "course101" / "inbound" / folder / "extra.py"
    planted.write_text("x = 1")
    os.lchown(planted, UIDS["bob"], UIDS["bob"])
    collection = _collect(world)
    assert not world[0].notebook("submitted", "alice").exists()
    assert "another user put there (extra.py: uid 41002)" in collect.report(collection)


@needs_root
def test_the_time_is_when_the_files_arrived_not_what_the_student_wrote(world):
    # A late student rewrites timestamp.txt to a time before the due date; another claims 2099 first,
    # then submits again: the later arrival is the one collected, with the arrival time.
    _submit(world[1], f"alice+{ASSIGNMENT}+{_now()}+aaaa", UIDS["alice"], claim="2000-01-01 00:00:00.000000 UTC")
    _submit(world[1], f"bob+{ASSIGNMENT}+2099-01-01 00:00:00.000000 UTC+b1", UIDS["bob"], notebook="first",
            claim="2099-01-01 00:00:00.000000 UTC")
    time.sleep(0.05)
    _submit(world[1], f"bob+{ASSIGNMENT}+{_now()}+b2", UIDS["bob"], notebook="second")
    collection = _collect(world)
    stamps = {c.student: c.timestamp for c in collection.collected}
    assert stamps["alice"].startswith(str(datetime.now(timezone.utc).year)), stamps  # not 2000
    assert _notebook(world, "bob") == "second"
    notes = dict(collection.notes)
    assert "says '2000-01-01" in notes["alice"] and "reached the exchange at" in notes["alice"], notes
    assert "bob" not in notes  # its chosen submission's time agrees with its arrival


@needs_root
def test_an_honest_time_is_kept_as_written(world):
    claim = _now(-2)
    _submit(world[1], f"alice+{ASSIGNMENT}+{claim}+aaaa", UIDS["alice"], claim=claim)
    collection = _collect(world)
    assert collection.collected[0].timestamp == claim and not collection.notes and not collection.refused


@needs_root
def test_links_are_never_followed_and_one_broken_folder_stops_nobody(world, tmp_path):
    # Links named like feedback pages to the instructor's source notebook and gradebook, a dangling link,
    # a FIFO: none is followed or copied, each is reported, and the other students are collected.
    secret = tmp_path / "course" / "source.ipynb"
    secret.write_text("THE SOLUTIONS")
    folder = _submit(world[1], f"alice+{ASSIGNMENT}+{_now()}+aaaa", UIDS["alice"])
    inside = world[1] / "course101" / "inbound" / folder
    for name, target in (("notes.html", secret), ("grades.html", tmp_path / "course" / "gradebook.db"),
                         ("dangling", tmp_path / "nowhere")):
        os.symlink(target, inside / name)
        os.lchown(inside / name, UIDS["alice"], UIDS["alice"])
    os.mkfifo(inside / "pipe")
    os.lchown(inside / "pipe", UIDS["alice"], UIDS["alice"])
    _submit(world[1], f"bob+{ASSIGNMENT}+{_now()}+bbbb", UIDS["bob"])
    collection = _collect(world)
    collected = world[0].notebook("submitted", "alice").parent
    assert sorted(os.listdir(collected)) == [NOTEBOOK, "submission_secret.txt", "timestamp.txt"]
    assert world[0].notebook("submitted", "bob").exists()
    note = dict(collection.notes)["alice"]
    assert "notes.html: a symbolic link" in note and "4 file(s) refused" in note, note


@needs_root
def test_names_that_are_not_student_ids_are_refused_at_the_door(world):
    _submit(world[1], f'=HYPERLINK("x";"y")+{ASSIGNMENT}+{_now()}+a', UIDS["alice"])
    _submit(world[1], f"it's\r\x1b[31m+{ASSIGNMENT}+{_now()}+a", UIDS["alice"])
    _submit(world[1], f"-rf+{ASSIGNMENT}+{_now()}+a", UIDS["alice"])
    collection = _collect(world)
    assert collection.collected == [] and len(collection.refused) == 3
    assert all("is not a student id" in s.refused for s in collection.refused)
    assert not (world[0].root / "submitted").exists() or os.listdir(world[0].root / "submitted") == []


@needs_root
def test_a_submission_without_its_secret_is_refused_and_the_previous_one_kept(world):
    _submit(world[1], f"alice+{ASSIGNMENT}+{_now()}+a1", UIDS["alice"], notebook="on time")
    time.sleep(0.05)
    _submit(world[1], f"alice+{ASSIGNMENT}+{_now()}+a2", UIDS["alice"], notebook="no secret", secret=False)
    collection = _collect(world)
    assert _notebook(world, "alice") == "on time"
    assert "not as nbgrader submit leaves it" in collect.report(collection)


@needs_root
def test_a_course_folder_someone_else_made_is_not_collected_from(world):
    os.chown(world[1] / "course101", UIDS["bob"], UIDS["bob"])
    with pytest.raises(collect.ExchangeRefused, match="belongs to uid 41002"):
        _collect(world)


@needs_root
def test_collecting_again_keeps_what_is_there_until_a_newer_submission_arrives(world):
    _submit(world[1], f"alice+{ASSIGNMENT}+{_now()}+a1", UIDS["alice"], notebook="one")
    _collect(world)
    folder = world[0].notebook("submitted", "alice").parent
    before = os.stat(folder).st_ino
    _collect(world)
    assert os.stat(folder).st_ino == before  # not copied again
    time.sleep(0.05)
    _submit(world[1], f"alice+{ASSIGNMENT}+{_now()}+a2", UIDS["alice"], notebook="two")
    _collect(world)
    assert _notebook(world, "alice") == "two"


def test_collected_folders_are_checked_without_following_links(tmp_path):
    layout = CourseLayout(tmp_path)

    def folder(student):
        path = tmp_path / "submitted" / student / ASSIGNMENT
        path.mkdir(parents=True)
        (path / "timestamp.txt").write_text("2026-11-30 07:00:00.000000 UTC")
        return path

    (folder("good") / NOTEBOOK).write_text("{}")
    (folder("renamed") / "my_work.ipynb").write_text("{}")
    other = folder("other")
    (other / "answers.pdf").write_bytes(b"%PDF")
    os.symlink("/etc/shadow", other / NOTEBOOK)
    found = {c.student: c for c in (collect.check(layout, s) for s in ("good", "renamed", "other"))}
    assert found["good"].problems == [] and found["good"].timestamp.startswith("2026-11-30")
    assert set(found["renamed"].problems) == {f"no {NOTEBOOK}", "another notebook: my_work.ipynb"}
    assert set(found["other"].problems) == {"another file: answers.pdf", f"a link: {NOTEBOOK}"}
    text = collect.report(list(found.values()))
    assert "3 submissions collected" in text and "ok" in text.splitlines()[1]
