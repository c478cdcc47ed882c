"""Collect the class's submissions from nbgrader's exchange, and say at once what is wrong with any.

``nbgrader collect`` copies each student's latest submission into ``submitted/`` and says
nothing about what it copied: a student who renamed the notebook, or submitted something
else, is only found out when grading gives them zero. Here the collection is checked as it
arrives (nothing is changed, nothing is followed): every student's folder must hold the
assignment's notebook; other notebooks, other files and links are listed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from .api import open_api
from .paths import CourseLayout

HOUSEKEEPING = {"timestamp.txt", "submission_secret.txt"}  # written by nbgrader's exchange


@dataclass
class Collected:
    student: str
    timestamp: str = ""
    problems: list[str] = field(default_factory=list)


def collect(layout: CourseLayout, config=None) -> list[Collected]:
    """``nbgrader collect`` for the course's assignment (latest submission per student), then check each."""
    api = open_api(layout, config)
    outcome = api.collect(layout.assignment, update=True)
    if not outcome.get("success", False):
        raise RuntimeError(f"nbgrader collect failed: {outcome.get('error') or outcome.get('log', '')[-2000:]}")
    return [check(layout, student) for student in layout.students()]


def check(layout: CourseLayout, student: str) -> Collected:
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
        if name in HOUSEKEEPING or name == expected:
            continue
        if entry.is_symlink():
            found.problems.append(f"a link: {name}")
        elif name.endswith(".ipynb"):
            found.problems.append(f"another notebook: {name}")
        elif not name.startswith("."):
            found.problems.append(f"another file: {name}")
    return found


def report(collected: list[Collected]) -> str:
    lines = [f"{len(collected)} submissions collected"]
    for c in collected:
        lines.append(f"  {c.student:24s} {c.timestamp:32s} {'; '.join(c.problems) or 'ok'}")
    return "\n".join(lines)
