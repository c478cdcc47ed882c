"""Collect the class's submissions from nbgrader's exchange: who submitted and when, decided by the system.

nbgrader's exchange is a folder every user can write into. A submission is a folder
``inbound/<student>+<assignment>+<timestamp>+<random>`` that the student's own
``nbgrader submit`` makes, so everything its name and its ``timestamp.txt`` say was written
by a user: another student can make a folder named after you, and a late student can
rewrite the time. ``nbgrader collect`` believes the name (it only logs a warning), believes
the time, and copies the folder following links, as the instructor: a link in a submission
brings the instructor's own files (the source notebook, the gradebook) into the course,
and on to the student with the feedback.

This collect trusts only what the operating system says:

- **who**: the folder and every file in it must belong to the Linux user whose name the
  folder claims (the hub's users log in with their own password, and only root can give
  a file away); anything else is refused and reported, never collected;
- **when**: the time the files reached the exchange, the latest change time (ctime) of
  the folder and everything in it, which no user can set back. ``timestamp.txt`` is used
  only when it agrees with that (written at most ``CLAIM_TOLERANCE`` before the files
  arrived, never after); otherwise the arrival time is used, and the report says so. The
  latest submission is chosen by that time, so a timestamp in 2099 wins nothing;
- **what**: regular files only, copied through descriptors that never follow a link,
  capped in number and size (``safe_files``); what was refused is reported, and one
  student's broken folder never stops the others'.

It also refuses to collect from a course folder in the exchange that is not the
instructor's own (a student who made it first would own the submissions' parent).
The report lists, in plain words, every submission refused and every time not believed.
"""

from __future__ import annotations

import os
import pwd
import shutil
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from . import safe_files
from .names import student_id_problem
from .paths import CourseLayout

HOUSEKEEPING = {"timestamp.txt", "submission_secret.txt"}  # written by nbgrader's submit
CLAIM_TOLERANCE = timedelta(seconds=30)  # nbgrader writes timestamp.txt seconds before the copy ends
CAPS = safe_files.Caps(files=50, bytes=64 * 1024 ** 2, depth=4)
TIME_FORMAT = "%Y-%m-%d %H:%M:%S.%f %Z"  # nbgrader's Exchange.timestamp_format


class ExchangeRefused(RuntimeError):
    """The exchange's course folder cannot be trusted: nothing is collected."""


@dataclass
class Submission:
    """One folder of the exchange's inbound, and what was decided about it."""

    name: str
    student: str
    time: datetime | None = None  # the time used (timestamp.txt if it agrees with the arrival, else the arrival)
    text: str = ""  # that time, as written into submitted/<student>/<assignment>/timestamp.txt
    arrived: datetime | None = None  # the latest change time of the folder and everything in it
    refused: str = ""  # why it is not collected ("" = accepted)
    notes: list[str] = field(default_factory=list)  # accepted, but a human should know


@dataclass
class Collected:
    student: str
    timestamp: str = ""
    problems: list[str] = field(default_factory=list)


@dataclass
class Collection:
    collected: list[Collected]
    refused: list[Submission]  # refused submissions, for the report
    notes: list[tuple[str, str]]  # (student, note) about submissions collected


def uid_of_user(name: str) -> int | None:
    try:
        return pwd.getpwnam(name).pw_uid
    except KeyError:
        return None


def exchange_settings(layout: CourseLayout) -> tuple[Path, str]:
    """(Exchange.root, course id) from every nbgrader_config.py nbgrader reads (machine, user, course)."""
    from jupyter_core.paths import jupyter_config_path
    from traitlets.config import Config
    from traitlets.config.loader import ConfigFileNotFound, PyFileConfigLoader

    config = Config()
    for folder in [*reversed(jupyter_config_path()), str(layout.root)]:  # lowest priority first
        try:
            config.merge(PyFileConfigLoader("nbgrader_config.py", path=folder).load_config())
        except ConfigFileNotFound:
            continue
    root = config.Exchange.root if "root" in config.Exchange else "/srv/nbgrader/exchange"
    course = config.CourseDirectory.course_id if "course_id" in config.CourseDirectory else ""
    if not course:
        raise ExchangeRefused("no course id (CourseDirectory.course_id) in any nbgrader_config.py")
    return Path(root), course


def collect(layout: CourseLayout, exchange: Path | None = None, course_id: str | None = None,
            uid_of: Callable[[str], int | None] = uid_of_user) -> Collection:
    """Copy each student's latest accepted submission into ``submitted/`` (when newer), and check each."""
    if exchange is None or course_id is None:
        exchange, course_id = exchange_settings(layout)
    inbound = _open_inbound(exchange, course_id)
    try:
        submissions = [_examine_safely(inbound, name, uid_of) for name in sorted(os.listdir(inbound))
                       if _assignment_of(name) == layout.assignment]
        chosen: dict[str, Submission] = {}
        for s in submissions:
            if not s.refused and (s.student not in chosen or s.time > chosen[s.student].time):
                chosen[s.student] = s
        notes, late_refusals = [], []
        for student, s in sorted(chosen.items()):
            try:
                s = _bring_in(layout, inbound, s, uid_of(student))
            except OSError as error:  # one student's folder never stops the others'
                s.refused = f"could not be copied ({error})"
            notes += [(student, note) for note in s.notes]
            late_refusals += [s] if s.refused else []
    finally:
        os.close(inbound)
    refused = [s for s in submissions if s.refused] + late_refusals
    return Collection([check(layout, student) for student in layout.students()], refused, notes)


def _open_inbound(exchange: Path, course_id: str) -> int:
    """The course's inbound folder, reached without a link, in a course folder that is the caller's own."""
    if student_id_problem(course_id):
        raise ExchangeRefused(f"course id {course_id!r} is not a plain name")
    try:
        course = safe_files.open_beneath(exchange, course_id, safe_files.DIRECTORY)
    except OSError as error:
        raise ExchangeRefused(f"{exchange / course_id}: not the course's folder in the exchange ({error})") from None
    try:
        owner = os.fstat(course).st_uid
        if owner != os.geteuid():
            raise ExchangeRefused(
                f"{exchange / course_id} belongs to uid {owner} ({_user_name(owner)}), not to you: someone made it "
                "before the course was set up; an administrator must move it aside (inn-course hub does)")
        return os.open("inbound", safe_files.DIRECTORY, dir_fd=course)
    except FileNotFoundError:
        raise ExchangeRefused(f"{exchange / course_id / 'inbound'}: nothing submitted yet (no inbound folder)") from None
    finally:
        os.close(course)


def _user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return "no such user"


def _assignment_of(name: str) -> str | None:
    parts = name.split("+")
    return parts[1] if len(parts) in (3, 4) else None


def _examine_safely(inbound: int, name: str, uid_of: Callable[[str], int | None]) -> Submission:
    try:
        return _examine(inbound, name, uid_of)
    except OSError as error:  # changed under our feet, unreadable: refused, and the others go on
        return Submission(name, name.split("+")[0], refused=f"could not be examined ({error})")


def _examine(inbound: int, name: str, uid_of: Callable[[str], int | None]) -> Submission:
    """Decide whether the folder ``name`` is a submission of the student it names, and when it arrived."""
    student = name.split("+")[0]
    s = Submission(name, student)
    why = student_id_problem(student)
    if why:
        s.refused = why
        return s
    uid = uid_of(student)
    if uid is None:
        s.refused = f"names {student}, who is not a user of this machine"
        return s
    try:
        fd = os.open(name, safe_files.DIRECTORY, dir_fd=inbound)
    except OSError as error:
        s.refused = "a symbolic link, not a folder" if error.errno == 40 else f"not a folder ({error.strerror})"
        return s
    try:
        owner = os.fstat(fd).st_uid
        if owner != uid:
            s.refused = (f"claims to be {student}'s but was made by {_user_name(owner)} (uid {owner}): "
                         "only a student can submit for themselves")
            return s
        strangers, arrived = _arrival(fd, uid)
        if strangers:
            s.refused = f"holds files another user put there ({'; '.join(strangers[:3])})"
            return s
        try:
            claim = safe_files.read_regular_at(fd, "timestamp.txt", 200, uid).decode("utf-8").strip()
            safe_files.read_regular_at(fd, "submission_secret.txt", 4096, uid)
        except (OSError, UnicodeDecodeError) as error:
            s.refused = f"not as nbgrader submit leaves it ({error}); feedback could not be released to it"
            return s
    finally:
        os.close(fd)
    s.arrived, s.time, s.text = arrived, arrived, arrived.strftime(TIME_FORMAT)
    claimed = _parse(claim)
    if claimed is not None and arrived - CLAIM_TOLERANCE <= claimed <= arrived + timedelta(seconds=1):
        s.time, s.text = claimed, claim
    else:
        s.notes.append(f"its timestamp.txt says {claim[:40]!r}, but its files reached the exchange at {s.text}: "
                       "that time is used")
    return s


def _parse(text: str) -> datetime | None:
    from nbgrader.utils import parse_utc

    try:
        return parse_utc(text).replace(tzinfo=timezone.utc)
    except Exception:  # not a date: no claim to believe
        return None


def _arrival(fd: int, uid: int) -> tuple[list[str], datetime]:
    """(entries that belong to another user, the latest change time of the folder and everything in it)."""
    strangers, latest = _scan(fd, uid)
    return strangers, datetime.fromtimestamp(latest / 1e9, timezone.utc)


def _scan(fd: int, uid: int, depth: int = 0) -> tuple[list[str], int]:
    """``_arrival`` with the time in nanoseconds, as the file system gives it."""
    latest = os.fstat(fd).st_ctime_ns
    strangers: list[str] = []
    for name in os.listdir(fd):
        info = os.stat(name, dir_fd=fd, follow_symlinks=False)
        latest = max(latest, info.st_ctime_ns)
        if info.st_uid != uid:
            strangers.append(f"{name}: uid {info.st_uid}")
        elif stat.S_ISDIR(info.st_mode) and depth < CAPS.depth:
            child = os.open(name, safe_files.DIRECTORY, dir_fd=fd)
            try:
                more, when = _scan(child, uid, depth + 1)
            finally:
                os.close(child)
            strangers += [f"{name}/{m}" for m in more]
            latest = max(latest, when)
    return strangers, latest


def _bring_in(layout: CourseLayout, inbound: int, s: Submission, uid: int) -> Submission:
    """Copy ``s`` into submitted/<student>/<assignment>/ unless what is there is as recent; return what
    was decided (examined again if it changed while it was copied).

    The copy is made beside the target and renamed into place; if the folder changed while it was
    copied (its latest change time moved), the copy is thrown away and the folder examined again.
    """
    target = layout.notebook("submitted", s.student).parent
    existing = _existing_time(target)
    if existing is not None and existing >= s.time:
        return s
    target.parent.mkdir(parents=True, exist_ok=True)
    incoming = target.parent / f".incoming-{layout.assignment}"
    for _ in range(3):
        shutil.rmtree(incoming, ignore_errors=True)
        fd = os.open(s.name, safe_files.DIRECTORY, dir_fd=inbound)
        try:
            report = safe_files.copy_dir_fd(fd, incoming, CAPS, owner=uid)
            _, arrived = _arrival(fd, uid)
        finally:
            os.close(fd)
        if arrived == s.arrived:
            break
        notes = s.notes
        s = _examine(inbound, s.name, lambda _: uid)  # changed while it was copied: decide again
        s.notes[:0] = notes
        if s.refused:
            break
    else:
        s.refused = "kept changing while it was being collected"
    if s.refused:
        shutil.rmtree(incoming, ignore_errors=True)
        return s
    if "submission_secret.txt" not in report.copied:
        shutil.rmtree(incoming, ignore_errors=True)
        s.refused = "its submission_secret.txt could not be copied (feedback could not be released to it)"
        return s
    (incoming / "timestamp.txt").unlink(missing_ok=True)
    (incoming / "timestamp.txt").write_text(s.text)  # the time decided here, not the student's
    if report.refused:
        s.notes.append(f"files not collected: {report.summary()}")
    if target.exists() or target.is_symlink():
        old = target.parent / f".previous-{layout.assignment}"
        shutil.rmtree(old, ignore_errors=True)
        os.rename(target, old)
        shutil.rmtree(old, ignore_errors=True)
    os.rename(incoming, target)
    return s


def _existing_time(folder: Path) -> datetime | None:
    try:
        return _parse(safe_files.read_regular(folder, "timestamp.txt", 200).decode("utf-8").strip())
    except (OSError, UnicodeDecodeError):
        return None


def check(layout: CourseLayout, student: str) -> Collected:
    """What is wrong with a collected folder: a missing or renamed notebook, other files, links."""
    folder = layout.notebook("submitted", student).parent
    expected = layout.notebook("submitted", student).name
    found = Collected(student)
    entries = {entry.name: entry for entry in os.scandir(folder)}
    stamp = entries.get("timestamp.txt")
    if stamp is not None and stamp.is_file(follow_symlinks=False):
        found.timestamp = open(stamp.path, errors="replace").read(100).strip()
    if expected not in entries:
        found.problems.append(f"no {expected}")
    for name, entry in sorted(entries.items()):
        if name in HOUSEKEEPING:
            continue
        if entry.is_symlink():
            found.problems.append(f"a link: {name}")
        elif name == expected:
            if not entry.is_file(follow_symlinks=False):
                found.problems.append(f"not a regular file: {name}")
        elif name.endswith(".ipynb"):
            found.problems.append(f"another notebook: {name}")
        elif not name.startswith("."):
            found.problems.append(f"another file: {name}")
    return found


def report(collection: Collection | list[Collected]) -> str:
    collection = collection if isinstance(collection, Collection) else Collection(collection, [], [])
    lines = [f"{len(collection.collected)} submissions collected"]
    for c in collection.collected:
        lines.append(f"  {c.student:24s} {c.timestamp:32s} {'; '.join(c.problems) or 'ok'}")
    if collection.notes:
        lines += ["", "times not believed, files left out (collected; check them):"]
        lines += [f"  {student}: {note}" for student, note in collection.notes]
    if collection.refused:
        lines += ["", f"refused ({len(collection.refused)} folder(s) in the exchange, not collected):"]
        lines += [f"  {s.name.encode('unicode_escape').decode('ascii')[:100]}: {s.refused}" for s in collection.refused]
    return "\n".join(lines)
