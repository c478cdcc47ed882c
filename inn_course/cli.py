"""``inn-course`` (or ``python -m inn_course``): the course's commands for instructors.

Each command is a thin layer over the library functions, which return results;
only this module turns them into printed tables and exit codes.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from . import grade, pipeline, release, selfstudy
from .paths import REPO_ROOT, CourseLayout


def _cmd_build(layout: CourseLayout, args) -> int:
    changed = release.build_source(layout)
    print(f"{layout.source_notebook.relative_to(layout.root)}: {'rebuilt' if changed else 'up to date'}")
    return 0


def _cmd_release(layout: CourseLayout, args) -> int:
    release.generate_release(layout)
    print(f"release written: {layout.release_notebook.relative_to(layout.root)}")
    return 0


def _report(layout: CourseLayout, result: pipeline.PipelineResult) -> int:
    print(f"release written: {layout.release_notebook.relative_to(layout.root)}\n")
    print(grade.score_table(result.results))
    print()
    for student, ok in result.feedback_ok.items():
        where = layout.notebook("feedback", student).relative_to(layout.root)
        print(f"feedback for {student}: {where}" + ("" if ok else "  (FAILED)"))
    failed = [r.student for r in result.results if not r.success] + [s for s, ok in result.feedback_ok.items() if not ok]
    return 1 if failed else 0


def _cmd_selfstudy(layout: CourseLayout, args) -> int:
    release.build_source(layout)
    started = time.perf_counter()
    edition, found = selfstudy.build(layout)
    for path in (edition.notebook, edition.html):
        print(f"self-study edition: {path.relative_to(layout.root)} ({path.stat().st_size / 1e6:.1f} MB)")
    print(f"executed in {time.perf_counter() - started:.0f} s")
    for problem in found:
        print(f"PROBLEM: {problem}")
    return 1 if found else 0


def _cmd_all(layout: CourseLayout, args) -> int:
    started = time.perf_counter()
    status = _report(layout, pipeline.grade_samples(layout))
    print()
    status = _cmd_selfstudy(layout, args) or status
    print(f"\ndone in {time.perf_counter() - started:.0f} s")
    return status


COMMANDS = {
    "build": (_cmd_build, "compile lab/*.py into the nbgrader source notebook"),
    "release": (_cmd_release, "build, then generate release/ with nbgrader and check it leaks nothing"),
    "selfstudy": (_cmd_selfstudy, "build the self-study edition: the worked solution, executed, as a notebook and an HTML page"),
    "all": (_cmd_all, "regenerate the release, grade the sample submissions (score table, feedback), build the self-study edition"),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="inn-course", description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=REPO_ROOT, help="course directory (default: this repository)")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (_, help_text) in COMMANDS.items():
        sub.add_parser(name, help=help_text)
    args = parser.parse_args(argv)
    layout = CourseLayout(args.root.resolve())
    return COMMANDS[args.command][0](layout, args)


if __name__ == "__main__":
    sys.exit(main())
