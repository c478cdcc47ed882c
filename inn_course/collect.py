"""Collect the class's submissions from nbgrader's exchange, and say at once what is wrong with any.

``nbgrader collect`` copies each student's latest submission into ``submitted/`` and says
nothing about what it copied: a student who renamed the notebook, or submitted something
else, is only found out when grading gives them zero. Here the collection is checked as it
arrives (nothing is changed, nothing is followed): every student's folder must hold the
assignment's notebook; other notebooks, other files and links are listed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field

from .paths import CourseLayout

HOUSEKEEPING = {"timestamp.txt", "submission_secret.txt"}  # written by nbgrader's exchange


@dataclass
class Collected:
    student: str
    timestamp: str = ""
    problems: list[str] = field(default_factory=list)


def collect(layout: CourseLayout) -> list[Collected]:
    """``nbgrader collect`` in the course directory (latest submission per student), then check each.

    Run as nbgrader's own command, so that it reads every nbgrader_config.py nbgrader reads (the
    exchange's location is usually set machine-wide, not in the course).
    """
    done = subprocess.run([sys.executable, "-m", "nbgrader", "collect", "--update"], cwd=layout.root,
                          capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"nbgrader collect failed:\n{done.stderr[-2000:]}")
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


def report(collected: list[Collected]) -> str:
    lines = [f"{len(collected)} submissions collected"]
    for c in collected:
        lines.append(f"  {c.student:24s} {c.timestamp:32s} {'; '.join(c.problems) or 'ok'}")
    return "\n".join(lines)
