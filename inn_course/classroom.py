"""Grade a whole class: each submission in its own worker and sandbox, many at once, merged safely.

    inn-course grade-class [--workers N] [--shard I/N] [--results DIR] [--no-sandbox]
    inn-course merge DIR [DIR ...]

``grade-class`` grades ``submitted/<student>/<assignment>/`` for every
student (or the students of one shard). Each student is graded by a worker
process of its own, in a private copy of the course with a private copy of
the gradebook; the student's kernel runs in the bubblewrap sandbox
(``sandbox.py``). A worker writes only its results folder:
``results/<student>.json`` and the autograded notebook. Nothing a student
runs can reach the real gradebook: only ``merge`` writes there, from the
parent, reading those results. A worker that crashes, times out or is
killed costs only its own student, who is reported.

Without ``--shard``, ``grade-class`` merges at the end. With ``--shard I/N``
(students sorted, every N-th from the I-th) it grades one shard into its
results folder; ``merge`` combines any number of such folders into the
gradebook. A batch scheduler (Slurm array jobs, Kubernetes Jobs) runs one
shard per task and one merge at the end.

``merge`` also writes ``grades.csv`` (one row per student, one column per
graded cell) and ``grades.png`` (the score distribution and each question's
success rate) beside the results.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psutil

from . import grade, notebooks, release, sandbox
from .api import load_config, open_api
from .paths import CourseLayout, copy_course

GiB = 1024 ** 3
MEMORY_PER_WORKER = 3 * GiB  # a kernel training the lab's networks peaks near 2 GB
STUDENT_TIMEOUT = 1800  # seconds of wall time per student, nbgrader's own per-cell limit included


@dataclass
class StudentResult:
    student: str
    status: str  # "graded", "not graded", "worker failed"
    score: float = 0.0
    max_score: float = 0.0
    cells: dict[str, float | None] = field(default_factory=dict)
    max_points: dict[str, float] = field(default_factory=dict)
    grades: dict[str, dict] = field(default_factory=dict)  # grade id -> gradebook fields, for the merge
    timestamp: str | None = None
    seconds: float = 0.0
    flags: list[str] = field(default_factory=list)

    def save(self, folder: Path) -> None:
        (folder / f"{self.student}.json").write_text(json.dumps(asdict(self), indent=1, sort_keys=True))

    @classmethod
    def load(cls, path: Path) -> "StudentResult":
        return cls(**json.loads(path.read_text()))


def parse_shard(text: str) -> tuple[int, int]:
    index, count = (int(part) for part in text.split("/"))
    if not 1 <= index <= count:
        raise ValueError(f"shard {text!r}: expected I/N with 1 <= I <= N")
    return index, count


def shard_of(students: list[str], index: int, count: int) -> list[str]:
    """A deterministic share of the class: students in sorted order, every ``count``-th from ``index``."""
    return sorted(students)[index - 1::count]


def default_workers() -> int:
    """As many workers as the cores and the memory can hold."""
    cores = os.cpu_count() or 1
    memory = psutil.virtual_memory().available // MEMORY_PER_WORKER
    return max(1, min(cores, int(memory)))


# ----------------------------------------------------------------------------- the worker

def _private_course(template: Path, target: Path, layout: CourseLayout, student: str) -> CourseLayout:
    """A copy of the template course (config, source, release, gradebook) with one submission."""
    shutil.copytree(template, target)
    private = CourseLayout(target, layout.assignment)
    shutil.copytree(layout.notebook("submitted", student).parent, private.notebook("submitted", student).parent)
    return private


def _gradebook_fields(layout: CourseLayout, config, student: str) -> tuple[dict[str, dict], str | None]:
    api = open_api(layout, config)
    with api.gradebook as gb:
        submission = gb.find_submission(layout.assignment, student)
        fields = {}
        for nb in submission.notebooks:
            for g in nb.grades:
                fields[g.name] = {"notebook": nb.name, "auto_score": g.auto_score,
                                  "needs_manual_grade": bool(g.needs_manual_grade)}
            for c in nb.comments:
                fields.setdefault(c.name, {"notebook": nb.name})["auto_comment"] = c.auto_comment
        stamp = submission.timestamp.isoformat() if submission.timestamp else None
    return fields, stamp


def run_worker(course: Path, template: Path, student: str, results: Path, use_sandbox: bool, threads: int) -> int:
    """Grade one student (in this process); write results/<student>.json and the autograded notebook."""
    layout = CourseLayout(course)
    started = time.perf_counter()
    os.environ.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    with tempfile.TemporaryDirectory(prefix=f"grade-{student}-") as tmp:
        private = _private_course(template, Path(tmp) / "course", layout, student)
        config = load_config(private)
        config.CourseDirectory.db_url = f"sqlite:///{private.root / 'gradebook.db'}"
        if use_sandbox:
            workdir = private.notebook("autograded", student).parent
            config = sandbox.install(config, Path(tmp) / "sandbox", workdir)
        (outcome,) = grade.autograde(private, [student], config)
        result = StudentResult(student, "graded" if outcome.success else "not graded", outcome.score,
                               outcome.max_score, outcome.cells, outcome.max_points, flags=outcome.flags)
        if outcome.success:
            result.grades, result.timestamp = _gradebook_fields(private, config, student)
            autograded = results / "autograded" / student
            shutil.rmtree(autograded, ignore_errors=True)
            shutil.copytree(private.notebook("autograded", student).parent, autograded / layout.assignment)
    result.seconds = time.perf_counter() - started
    result.save(results)
    return 0


# ----------------------------------------------------------------------------- the parent

def _template(layout: CourseLayout, folder: Path) -> Path:
    """A course with the config, source, release and a gradebook that knows the assignment."""
    template = folder / "template"
    shutil.rmtree(template, ignore_errors=True)
    template.mkdir(parents=True)
    private = copy_course(template, layout.root)
    config = load_config(private)
    config.CourseDirectory.db_url = f"sqlite:///{template / 'gradebook.db'}"
    release.generate_release(private, config)
    return template


class Progress:
    """A one-line progress bar with an ETA, on stderr."""

    def __init__(self, total: int, stream=sys.stderr, width: int = 30):
        self.total, self.done, self.stream, self.width = total, 0, stream, width
        self.started = time.perf_counter()

    def step(self, label: str) -> None:
        self.done += 1
        elapsed = time.perf_counter() - self.started
        eta = elapsed / self.done * (self.total - self.done)
        filled = int(self.width * self.done / max(1, self.total))
        self.stream.write(f"\r[{'#' * filled}{'.' * (self.width - filled)}] {self.done}/{self.total} "
                          f"{elapsed / 60:4.1f} min, ETA {eta / 60:4.1f} min  {label[:30]:30s}")
        if self.done == self.total:
            self.stream.write("\n")
        self.stream.flush()


def grade_class(layout: CourseLayout, results: Path, workers: int | None = None, shard: tuple[int, int] = (1, 1),
                use_sandbox: bool = True, student_timeout: float = STUDENT_TIMEOUT,
                progress: bool = True) -> list[StudentResult]:
    """Grade the students of one shard into ``results``, ``workers`` at a time; return their results."""
    if use_sandbox:
        sandbox.check_available()
    students = shard_of(layout.students("submitted"), *shard)
    workers = workers or default_workers()
    threads = max(1, (os.cpu_count() or 1) // workers)
    results.mkdir(parents=True, exist_ok=True)
    template = _template(layout, results)
    bar = Progress(len(students)) if progress else None
    waiting, running, finished = list(students), {}, []
    while waiting or running:
        while waiting and len(running) < workers:
            student = waiting.pop(0)
            (results / f"{student}.json").unlink(missing_ok=True)
            command = [sys.executable, "-m", "inn_course.classroom", "worker", str(layout.root), str(template),
                       student, str(results), "--threads", str(threads)] + ([] if use_sandbox else ["--no-sandbox"])
            log = open(results / f"{student}.log", "w")
            running[student] = (subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                                 start_new_session=True), time.perf_counter(), log)
        time.sleep(0.2)
        for student, (process, started, log) in list(running.items()):
            elapsed = time.perf_counter() - started
            if process.poll() is None and elapsed < student_timeout:
                continue
            if process.poll() is None:  # out of time: the worker and everything it started
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            log.close()
            del running[student]
            finished.append(_collect(results, student, process.returncode, elapsed, student_timeout))
            if bar:
                bar.step(student)
    return sorted(finished, key=lambda r: r.student)


def _collect(results: Path, student: str, returncode: int, elapsed: float, timeout: float) -> StudentResult:
    path = results / f"{student}.json"
    if returncode == 0 and path.exists():
        return StudentResult.load(path)
    if elapsed >= timeout:
        why = f"worker stopped after {timeout:g} s (time limit per student)"
    elif returncode < 0:
        why = f"worker killed by signal {-returncode}"
    else:
        why = f"worker failed (exit code {returncode}, see {student}.log)"
    result = StudentResult(student, "worker failed", seconds=elapsed, flags=[f"{why}: not graded"])
    result.save(results)
    return result


def load_results(folders: list[Path]) -> list[StudentResult]:
    found: dict[str, StudentResult] = {}
    for folder in folders:
        for path in sorted(folder.glob("*.json")):
            result = StudentResult.load(path)
            if result.student in found:
                raise ValueError(f"student {result.student!r} is in more than one results folder")
            found[result.student] = result
    return sorted(found.values(), key=lambda r: r.student)


def merge(layout: CourseLayout, folders: list[Path], config=None) -> list[StudentResult]:
    """Write the results of ``folders`` into the course's gradebook and autograded/; export CSV and PNG.

    Only graded students are written; the others stay out of the gradebook, flagged in the summary.
    The assignment must be in the gradebook (``nbgrader generate_assignment``, or ``make all``).
    """
    from datetime import datetime

    results = load_results(folders)
    api = open_api(layout, config)
    with api.gradebook as gb:
        gb.find_assignment(layout.assignment)  # MissingEntry: release the assignment first
        for result in results:
            if result.status != "graded":
                continue
            gb.update_or_create_student(result.student)
            stamp = datetime.fromisoformat(result.timestamp) if result.timestamp else None
            gb.update_or_create_submission(layout.assignment, result.student, timestamp=stamp)
            for name, values in result.grades.items():
                if "auto_score" in values:
                    grade_row = gb.find_grade(name, values["notebook"], layout.assignment, result.student)
                    grade_row.auto_score = values["auto_score"]
                    grade_row.needs_manual_grade = values["needs_manual_grade"]
                if "auto_comment" in values:
                    comment = gb.find_comment(name, values["notebook"], layout.assignment, result.student)
                    comment.auto_comment = values["auto_comment"]
            gb.db.commit()
            for folder in folders:
                graded = folder / "autograded" / result.student
                if graded.is_dir():
                    target = layout.root / "autograded" / result.student
                    shutil.rmtree(target, ignore_errors=True)
                    shutil.copytree(graded, target)
    export(results, folders[0])
    return results


def gradebook_snapshot(layout: CourseLayout, config=None) -> dict[str, dict[str, tuple]]:
    """student -> grade id -> (auto score, manual score, needs manual grade): to compare two gradebooks."""
    api = open_api(layout, config)
    snapshot = {}
    with api.gradebook as gb:
        for submission in gb.find_assignment(layout.assignment).submissions:
            snapshot[submission.student.id] = {
                g.name: (g.auto_score, g.manual_score, bool(g.needs_manual_grade))
                for nb in submission.notebooks for g in nb.grades}
    return snapshot


def export(results: list[StudentResult], folder: Path) -> tuple[Path, Path]:
    """grades.csv (student x graded cell) and grades.png (score distribution, success rate per question)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cells = sorted({gid for r in results for gid, points in r.max_points.items() if points})
    csv_path, png_path = folder / "grades.csv", folder / "grades.png"
    with csv_path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["student", "status", "autograded score", "max score", *cells, "flags"])
        for r in results:
            row = [r.student, r.status, f"{r.score:g}", f"{r.max_score:g}"]
            row += ["" if r.cells.get(c) is None else f"{r.cells[c]:g}" for c in cells]
            writer.writerow(row + ["; ".join(r.flags)])
    graded = [r for r in results if r.status == "graded"]
    auto = [c for c in cells if graded and any(r.cells.get(c) is not None for r in graded)]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4), gridspec_kw={"width_ratios": [1, 2]})
    left.hist([r.score for r in graded], bins=range(0, int(max([r.max_score for r in graded], default=1)) + 2),
              color="tab:blue", edgecolor="white")
    left.set_xlabel("autograded score (points)")
    left.set_ylabel("students")
    left.set_title(f"Scores of {len(graded)} graded students")
    rates = [100 * sum((r.cells.get(c) or 0) >= r.max_points[c] for r in graded) / max(1, len(graded)) for c in auto]
    right.bar(range(len(auto)), rates, color="tab:green")
    right.set_xticks(range(len(auto)), auto, rotation=60, ha="right", fontsize=8)
    right.set_ylim(0, 100)
    right.set_ylabel("students with full points (%)")
    right.set_title("Success rate per autograded cell")
    fig.tight_layout()
    fig.savefig(png_path, dpi=100)
    plt.close(fig)
    return csv_path, png_path


def summary(results: list[StudentResult]) -> str:
    lines = [f"{'student':24s} {'status':14s} {'score':>9s} {'time':>7s}  flags"]
    for r in results:
        score = f"{r.score:g}/{r.max_score:g}" if r.status == "graded" else "–"
        lines.append(f"{r.student:24s} {r.status:14s} {score:>9s} {r.seconds:6.0f}s  {'; '.join(r.flags)}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """The worker entry point (the parent starts ``python -m inn_course.classroom worker ...``)."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m inn_course.classroom")
    sub = parser.add_subparsers(dest="command", required=True)
    worker = sub.add_parser("worker")
    for name in ("course", "template", "student", "results"):
        worker.add_argument(name)
    worker.add_argument("--threads", type=int, default=1)
    worker.add_argument("--no-sandbox", action="store_true")
    args = parser.parse_args(argv)
    return run_worker(Path(args.course), Path(args.template), args.student, Path(args.results),
                      not args.no_sandbox, args.threads)


if __name__ == "__main__":
    sys.exit(main())
