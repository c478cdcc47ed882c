"""Grade a whole class: each submission in its own worker and sandbox, many at once, merged safely.

    inn-course grade-class [--workers N] [--shard I/N] [--results DIR] [--no-sandbox]
    inn-course merge DIR [DIR ...]

``grade-class`` grades ``submitted/<student>/<assignment>/`` for every
student (or the students of one shard). Each student is graded by a worker
process of its own, in a private copy of the course with a private copy of
the gradebook; the worker runs in a bubblewrap sandbox of its own (all
read-only but its results folder, a private /tmp that vanishes with it, no
network, killed with its parent), and the student's kernel in the kernel
sandbox (``sandbox.py``). The submission is copied in, and the autograded
notebook out, by ``safe_files`` (regular files only, never through a link).
A worker writes only its results folder: ``results/<student>.json`` and the
autograded notebook. Nothing a student runs can reach the real gradebook:
only ``merge`` writes there, from the parent, reading those results. A
worker that crashes, times out or is killed costs only its own student, who
is reported, and recorded in the gradebook as not graded.

Without ``--shard``, ``grade-class`` merges at the end. With ``--shard I/N``
(students sorted, every N-th from the I-th) it grades one shard into its
results folder; ``merge`` combines any number of such folders into the
gradebook. A batch scheduler (Slurm array jobs, Kubernetes Jobs) runs one
shard per task and one merge at the end. A results folder is locked for one
run (or merge) at a time.

``merge`` also writes ``grades.csv`` (one row per student, one column per
graded cell) and ``grades.png`` (the score distribution and each question's
success rate) beside the results, and ``similarity.csv``: the pairs of students
whose answers are unusually alike (``similarity.py``), also named in
``grades.csv`` and the summary; no score depends on it.
"""

from __future__ import annotations

import csv
import ctypes
import fcntl
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import psutil

from . import cgroups, grade, release, safe_files, sandbox, similarity
from .api import load_config, open_api
from .names import is_student_id, spreadsheet_cell
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
    late_penalties: dict[str, float] = field(default_factory=dict)  # notebook -> points taken off for lateness
    timestamp: str | None = None
    seconds: float = 0.0
    flags: list[str] = field(default_factory=list)
    similar: dict[str, str] = field(default_factory=dict)  # other student -> how alike (set by merge; no score)
    similarity_note: str = ""  # why this notebook was not compared with the others
    memory_bound: str = ""  # what bounded the kernel's memory (a control group, or rlimits only)

    def save(self, folder: Path) -> None:
        with fresh_file(folder, f"{self.student}.json") as handle:
            handle.write(json.dumps(asdict(self), indent=1, sort_keys=True))

    @classmethod
    def load(cls, path: Path) -> "StudentResult":
        """A results file, read without following a link and checked: a student it names must be a
        plain student id and the file's own name (a results folder is only as trusted as its owner)."""
        try:
            data = json.loads(safe_files.read_regular(path.parent, path.name, RESULT_BYTES))
            result = cls(**data)
        except (OSError, ValueError, TypeError) as error:
            raise BadResults(f"{path}: not a results file of grade-class ({error})") from None
        if not isinstance(result.student, str) or not is_student_id(result.student) \
                or path.name != f"{result.student}.json":
            raise BadResults(f"{path}: names the student {str(result.student)[:80]!r}, not {path.stem!r}")
        if result.status not in STATUSES or not all(isinstance(v, dict) for v in result.grades.values()):
            raise BadResults(f"{path}: not a results file of grade-class (status {str(result.status)[:40]!r})")
        return result


STATUSES = ("graded", "not graded", "worker failed")
RESULT_BYTES = 16 * 1024 ** 2


class BadResults(ValueError):
    """A results folder holds a file that grade-class did not write: nothing is merged."""


def fresh_file(folder: Path, name: str):
    """``folder/name`` opened for writing as a new file: whatever had that name (a file, a link someone
    planted) is removed first, and the open never follows a link (O_NOFOLLOW, O_EXCL)."""
    with suppress(FileNotFoundError):
        os.unlink(folder / name)
    fd = os.open(folder / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    return open(fd, "w")


def results_folder(results: Path) -> Path:
    """``results``, created if missing; refused if it is a link (a results folder is written into)."""
    if results.is_symlink():
        raise ResultsRefused(f"{results} is a symbolic link: grade-class writes only into a real folder")
    results.mkdir(parents=True, exist_ok=True)
    return results


class ResultsRefused(RuntimeError):
    """The results folder cannot be written safely."""


def parse_shard(text: str) -> tuple[int, int]:
    index, count = (int(part) for part in text.split("/"))
    if not 1 <= index <= count:
        raise ValueError(f"shard {text!r}: expected I/N with 1 <= I <= N")
    return index, count


def shard_of(students: list[str], index: int, count: int) -> list[str]:
    """A deterministic share of the class: students in sorted order, every ``count``-th from ``index``."""
    return sorted(students)[index - 1::count]


def available_cores() -> int:
    """The cores this process may use: those it is pinned to, and no more than a Slurm task was given
    (a shard's grade-class on a shared node must not size its workers and threads for the whole node:
    two shards of 1 CPU, each running 2 torch threads on a 2-core node, graded 3x slower, measured)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    slurm = os.environ.get("SLURM_CPUS_PER_TASK", "")
    return max(1, min(cores, int(slurm))) if slurm.isdigit() else max(1, cores)


def default_workers() -> int:
    """As many workers as the cores and the memory can hold."""
    cores = available_cores()
    memory = psutil.virtual_memory().available // MEMORY_PER_WORKER
    return max(1, min(cores, int(memory)))


# ----------------------------------------------------------------------------- the worker

WORKER_TMP_BYTES = 2 * GiB  # the worker's private /tmp: the course copy, the sockets, nbgrader's output
WORKER_ADDRESS_SPACE = 6 * GiB  # nbgrader, its notebook and one bounded output at a time
SUBMISSION_CAPS = safe_files.Caps(files=50, bytes=64 * 1024 ** 2, depth=4)
AUTOGRADED_CAPS = safe_files.Caps(files=200, bytes=128 * 1024 ** 2, depth=4)


def _private_course(template: Path, target: Path, layout: CourseLayout, student: str) -> tuple[CourseLayout, list[str]]:
    """A copy of the template course (config, source, release, gradebook) with one submission.

    The submission is copied without following links (regular files only, capped): what was
    refused is returned, for a flag.
    """
    shutil.copytree(template, target)
    private = CourseLayout(target, layout.assignment)
    folder = private.notebook("submitted", student).parent
    folder.parent.mkdir(parents=True, exist_ok=True)
    relative = layout.notebook("submitted", student).parent.relative_to(layout.root)
    report = safe_files.copy_tree_beneath(layout.root, relative, folder, SUBMISSION_CAPS)
    if not folder.exists():
        folder.mkdir()
    return private, report.refused


def _gradebook_fields(layout: CourseLayout, config, student: str) -> tuple[dict[str, dict], dict[str, float],
                                                                           str | None]:
    api = open_api(layout, config)
    with api.gradebook as gb:
        submission = gb.find_submission(layout.assignment, student)
        fields = {}
        penalties = {nb.name: float(nb.late_submission_penalty or 0.0) for nb in submission.notebooks}
        for nb in submission.notebooks:
            for g in nb.grades:
                fields[g.name] = {"notebook": nb.name, "auto_score": g.auto_score,
                                  "needs_manual_grade": bool(g.needs_manual_grade)}
            for c in nb.comments:
                fields.setdefault(c.name, {"notebook": nb.name})["auto_comment"] = c.auto_comment
        stamp = submission.timestamp.isoformat() if submission.timestamp else None
    return fields, penalties, stamp


def run_worker(course: Path, template: Path, student: str, results: Path, use_sandbox: bool, threads: int,
               cell_timeout: int | None = None, extension: float | None = None) -> int:
    """Grade one student (in this process); write results/<student>.json and the autograded notebook.

    ``extension`` (seconds) is the student's extension in the course's gradebook: nbgrader adds it to
    the due date when it computes the late penalty, so the private gradebook must know it too.
    """
    layout = CourseLayout(course)
    started = time.perf_counter()
    os.environ.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    with tempfile.TemporaryDirectory(prefix=f"grade-{student}-", dir=_work_folder(results, use_sandbox)) as tmp:
        private, refused = _private_course(template, Path(tmp) / "course", layout, student)
        config = load_config(private)
        config.CourseDirectory.db_url = f"sqlite:///{private.root / 'gradebook.db'}"
        if cell_timeout is not None:
            config.Execute.timeout = cell_timeout
        if extension:
            _grant_extension(private, config, student, extension)
        box = None
        if use_sandbox:
            box = sandbox.KernelSandbox(Path(tmp) / "sandbox", private.notebook("autograded", student).parent,
                                        private.notebook("submitted", student).parent, threads=threads)
            config = box.install(config)
        try:
            (outcome,) = grade.autograde(private, [student], config)
        finally:
            kernel = box.close() if box else {}
        flags = ([f"submitted files refused ({'; '.join(refused[:3])})"] if refused else []) + outcome.flags
        if kernel.get("out_of_memory"):
            flags.append(f"the kernel reached its memory limit ({box.limits.memory / GiB:g} GB)")
        result = StudentResult(student, "graded" if outcome.success else "not graded", outcome.score,
                               outcome.max_score, outcome.cells, outcome.max_points, flags=flags,
                               timestamp=_submitted_timestamp(layout, student),
                               memory_bound=kernel.get("memory_bound", "") if box else
                               "the worker's address-space limit only (no sandbox)")
        if outcome.success:
            result.grades, result.late_penalties, result.timestamp = _gradebook_fields(private, config, student)
            autograded = results / "autograded" / student
            shutil.rmtree(autograded, ignore_errors=True)
            autograded.mkdir(parents=True)
            copied = safe_files.copy_tree(private.notebook("autograded", student).parent,
                                          autograded / layout.assignment, AUTOGRADED_CAPS)
            if copied.refused:
                result.flags.append(f"autograded files not kept: {copied.summary()}")
    result.seconds = time.perf_counter() - started
    result.save(results)
    return 0


def _grant_extension(layout: CourseLayout, config, student: str, seconds: float) -> None:
    with open_api(layout, config).gradebook as gb:
        gb.update_or_create_student(student)
        gb.update_or_create_submission(layout.assignment, student, extension=timedelta(seconds=seconds))


def _work_folder(results: Path, use_sandbox: bool) -> Path | None:
    """Where a worker makes its private course: its own tmpfs in the sandbox, else results/.work/.

    Without the sandbox there is no private tmpfs to vanish with a killed worker: the folder is in
    the results, and the parent removes it at the start and the end of every run.
    """
    if use_sandbox:
        return None
    folder = results / ".work"
    folder.mkdir(exist_ok=True)
    return folder


def _submitted_timestamp(layout: CourseLayout, student: str) -> str | None:
    """The submission's timestamp.txt (read without following links, size-capped), as ISO text, or None."""
    from nbgrader.utils import parse_utc

    relative = layout.notebook("submitted", student).parent.relative_to(layout.root) / "timestamp.txt"
    try:
        text = safe_files.read_regular(layout.root, relative, 200).decode("utf-8").strip()
        return parse_utc(text).isoformat()
    except Exception:  # missing, a link, too long or not a date: no timestamp
        return None


# ----------------------------------------------------------------------------- the parent

def _template(layout: CourseLayout, folder: Path, duedate) -> Path:
    """A course with the config, source, release and a gradebook that knows the assignment (and ``duedate``)."""
    template = folder / "template"
    shutil.rmtree(template, ignore_errors=True)
    template.mkdir(parents=True)
    private = copy_course(template, layout.root)
    config = load_config(private)
    config.CourseDirectory.db_url = f"sqlite:///{template / 'gradebook.db'}"
    release.generate_release(private, config)
    if duedate is not None:  # the workers' gradebooks must know it, for nbgrader's late penalties
        with open_api(private, config).gradebook as gb:
            gb.update_or_create_assignment(layout.assignment, duedate=duedate)
    return template


class NotReady(RuntimeError):
    """The course's gradebook does not know the assignment yet: nothing could be merged."""


def check_ready(layout: CourseLayout) -> tuple[datetime | None, dict[str, float]]:
    """The assignment's due date and each student's extension in seconds (nbgrader's own fields), read
    from the course's gradebook; NotReady, in one sentence saying what to run, unless the gradebook knows
    the assignment and its cells.

    Checked before grading: a class graded into a gradebook without the assignment (or with the
    assignment but not its notebook, after ``nbgrader db assignment add``) could not be merged.
    """
    from nbgrader.api import MissingEntry

    fix = f"run `nbgrader generate_assignment {layout.assignment}` in {layout.root} first"
    if not (layout.root / "gradebook.db").exists():
        raise NotReady(f"{layout.root} has no gradebook.db yet: {fix}")
    with open_api(layout).gradebook as gb:
        try:
            assignment = gb.find_assignment(layout.assignment)
        except MissingEntry:
            raise NotReady(f"the gradebook does not know {layout.assignment!r}: {fix}") from None
        if not any(nb.grade_cells for nb in assignment.notebooks):
            raise NotReady(f"the gradebook knows {layout.assignment!r} but not its graded cells: {fix}")
        return assignment.duedate, {s.student.id: s.extension.total_seconds() for s in assignment.submissions
                                    if s.extension}


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


class ResultsBusy(RuntimeError):
    """Another grade-class or merge is using this results folder."""


@contextmanager
def locked(results: Path) -> Iterator[None]:
    """Hold ``results/.lock`` for the whole run: two runs at once on one folder would mix their results.

    The lock is released by the operating system when the holder dies, so a killed run never
    leaves the folder locked.
    """
    results_folder(results)
    try:  # never through a link planted as the lock (O_NOFOLLOW); the lock file itself is never written
        fd = os.open(results / ".lock", os.O_RDONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    except OSError as error:
        raise ResultsRefused(f"{results / '.lock'}: cannot be used as the lock ({error.strerror}): remove it") from None
    handle = open(fd)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise ResultsBusy(f"{results} is in use by another grade-class or merge (it holds {results / '.lock'})") from None
    try:
        yield
    finally:
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()


def worker_command(layout: CourseLayout, template: Path, student: str, results: Path, threads: int,
                   use_sandbox: bool, cell_timeout: int | None = None, extension: float | None = None) -> list[str]:
    """The worker's command: in its own bubblewrap sandbox when grading sandboxed.

    The worker runs nbgrader (trusted code) on hostile files, so it gets no more than it needs:
    every file read-only but its results folder, a private /tmp of a fixed size that vanishes with
    it (the course copy with the solutions included), no network, killed with its parent. As root
    it keeps only the capabilities the kernel's launcher needs (to drop to an unprivileged user,
    set limits, mount the kernel's read-only view and manage control groups).
    """
    command = [sys.executable, "-m", "inn_course.classroom", "worker", str(layout.root), str(template),
               student, str(results), "--threads", str(threads)]
    if cell_timeout is not None:
        command += ["--cell-timeout", str(cell_timeout)]
    if extension:
        command += ["--extension", repr(float(extension))]
    if not use_sandbox:
        return command + ["--no-sandbox"]
    argv = ["bwrap", "--die-with-parent", "--unshare-net", "--unshare-ipc", "--unshare-uts",
            "--ro-bind", "/", "/", "--dev", "/dev",
            # The host's /proc, writable and not covered (bwrap's own --proc covers parts of it): the
            # kernel's nested, unprivileged sandbox may only mount a proc it could see in full.
            "--bind", "/proc", "/proc",
            "--size", str(WORKER_TMP_BYTES), "--tmpfs", "/tmp"]
    for path in sorted({layout.root, PACKAGE, *sandbox.read_only_paths()}):  # what the new /tmp would hide
        if Path("/tmp") in path.parents:
            argv += ["--ro-bind", str(path), str(path)]
    argv += ["--bind", str(results), str(results),
             "--setenv", "TMPDIR", "/tmp", "--setenv", "HOME", "/tmp", "--chdir", "/tmp"]
    if os.geteuid() == 0:
        tree = cgroups.tree()
        if tree is not None and cgroups.version(tree) is not None:  # where the kernels' launchers make groups
            argv += ["--bind", str(tree), str(tree)]
        elif tree is None:  # a tree named but refused: the worker cannot see it, so it is told why
            argv += ["--setenv", cgroups.REFUSED_ENV, cgroups.refused_tree(Path(os.environ[cgroups.TREE_ENV]))]
        for capability in WORKER_CAPABILITIES:
            argv += ["--cap-add", capability]
    else:
        argv += ["--unshare-user"]
    return argv + ["--"] + command


# Where this package's code is: in the Python's site-packages when installed, in a checkout when installed
# editable (`pip install -e`), which may be under /tmp.
PACKAGE = Path(__file__).resolve().parent

WORKER_CAPABILITIES = ("CAP_SETUID", "CAP_SETGID", "CAP_CHOWN", "CAP_KILL", "CAP_SYS_RESOURCE", "CAP_SYS_ADMIN",
                       "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER")


def _limit_worker(use_sandbox: bool) -> None:
    """In the worker, before it starts: die with the parent, and a cap on its memory."""
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (WORKER_ADDRESS_SPACE, hard))  # raised by the root launcher only


def grade_class(layout: CourseLayout, results: Path, workers: int | None = None, shard: tuple[int, int] = (1, 1),
                use_sandbox: bool = True, student_timeout: float = STUDENT_TIMEOUT,
                progress: bool = True, cell_timeouts: dict[str, int] | None = None,
                only: list[str] | None = None) -> list[StudentResult]:
    """Grade the students of one shard into ``results``, ``workers`` at a time; return their results.

    ``cell_timeouts`` (student -> seconds) overrides the course's per-cell limit for some students;
    ``only`` grades just these students (a resubmission, a regrade request), whose results replace theirs.
    """
    if use_sandbox:
        sandbox.check_available()
    deadlines = check_ready(layout)
    unknown = sorted(set(only or ()) - set(layout.students("submitted")))
    if unknown:
        raise NotReady(f"no submission to grade for {', '.join(map(repr, unknown))} in {layout.root / 'submitted'}")
    with locked(results):
        return _grade_class(layout, results, workers, shard, use_sandbox, student_timeout, progress,
                            cell_timeouts or {}, only, deadlines)


def _grade_class(layout, results, workers, shard, use_sandbox, student_timeout, progress, cell_timeouts, only,
                 deadlines):
    students = [s for s in shard_of(layout.students("submitted"), *shard) if only is None or s in only]
    workers = workers or default_workers()
    threads = max(1, available_cores() // workers)
    shutil.rmtree(results / ".work", ignore_errors=True)  # what killed workers of a run without sandbox left
    tree = cgroups.tree() if use_sandbox and os.geteuid() == 0 else None
    if tree is not None:
        cgroups.sweep(tree)
    duedate, granted = deadlines
    template = _template(layout, results, duedate)
    bar = Progress(len(students)) if progress else None
    waiting, running, finished = list(students), {}, []
    try:
        while waiting or running:
            while waiting and len(running) < workers:
                student = waiting.pop(0)
                (results / f"{student}.json").unlink(missing_ok=True)
                command = worker_command(layout, template, student, results, threads, use_sandbox,
                                         cell_timeouts.get(student), granted.get(student))
                log = fresh_file(results, f"{student}.log")
                running[student] = (subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                                     start_new_session=True,
                                                     preexec_fn=lambda: _limit_worker(use_sandbox)),
                                    time.perf_counter(), log)
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
                finished.append(_collect(layout, results, student, process.returncode, elapsed, student_timeout))
                if bar:
                    bar.step(student)
    finally:  # interrupted (Ctrl-C, an error): no worker outlives the run
        for process, _, log in running.values():
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            log.close()
        shutil.rmtree(results / ".work", ignore_errors=True)
    return sorted(finished, key=lambda r: r.student)


def _collect(layout: CourseLayout, results: Path, student: str, returncode: int, elapsed: float,
             timeout: float) -> StudentResult:
    path = results / f"{student}.json"
    if returncode == 0 and path.exists():
        return StudentResult.load(path)
    if elapsed >= timeout:
        why = f"worker stopped after {timeout:g} s (time limit per student)"
    elif returncode < 0:
        why = f"worker killed by signal {-returncode}"
    else:
        why = f"worker failed (exit code {returncode}, see {student}.log)"
    result = StudentResult(student, "worker failed", seconds=elapsed, flags=[f"{why}: not graded"],
                           timestamp=_submitted_timestamp(layout, student))
    result.save(results)
    return result


def load_results(folders: list[Path], students: list[str] | None = None) -> list[StudentResult]:
    """The results in ``folders``; BadResults if one is not grade-class's or names a student not in ``students``."""
    found: dict[str, StudentResult] = {}
    for folder in folders:
        for path in sorted(folder.glob("*.json")):
            result = StudentResult.load(path)
            if students is not None and result.student not in students:
                raise BadResults(f"{path}: {result.student!r} has no submission in this course: nothing merged")
            if result.student in found:
                raise ValueError(f"student {result.student!r} is in more than one results folder")
            found[result.student] = result
    return sorted(found.values(), key=lambda r: r.student)


def merge(layout: CourseLayout, folders: list[Path], config=None, only: list[str] | None = None) -> list[StudentResult]:
    """Write the results of ``folders`` into the course's gradebook and autograded/; export CSV and PNG.

    ``only``: write just these students into the gradebook (after ``grade-class --student``); the CSV,
    the figure and the similarity report still cover every result in the folders.

    A graded student's scores replace whatever the gradebook held. A student who could not be
    graded is recorded as such, never left with an older submission's score: the submission's
    timestamp is updated, every grade is emptied and marked for a human (``needs_manual_grade``),
    each comment says why, and the older autograded notebook is removed.
    The assignment must be in the gradebook (``nbgrader generate_assignment``, or ``make all``).
    """
    with ExitStack() as stack:
        for folder in folders:
            stack.enter_context(locked(folder))
        return _merge(layout, folders, config, only)


def _merge(layout: CourseLayout, folders: list[Path], config, only: list[str] | None = None) -> list[StudentResult]:
    results = load_results(folders, layout.students("submitted"))
    api = open_api(layout, config)
    with api.gradebook as gb:
        gb.find_assignment(layout.assignment)  # MissingEntry: release the assignment first
        for result in results:
            if only is not None and result.student not in only:
                continue
            gb.update_or_create_student(result.student)
            stamp = datetime.fromisoformat(result.timestamp) if result.timestamp else None
            submission = gb.update_or_create_submission(layout.assignment, result.student, timestamp=stamp)
            target = layout.root / "autograded" / result.student
            if result.status != "graded":
                _record_not_graded(submission, result)
                gb.db.commit()
                shutil.rmtree(target, ignore_errors=True)
                continue
            for nb in submission.notebooks:  # what nbgrader's AssignLatePenalties set in the worker
                nb.late_submission_penalty = result.late_penalties.get(nb.name) or None
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
                if graded.is_dir() and not graded.is_symlink():
                    shutil.rmtree(target, ignore_errors=True)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    safe_files.copy_tree(graded, target, AUTOGRADED_CAPS)
    try:  # after the gradebook is written: nothing here may stop the merge from finishing
        report = similarity.class_report(layout, [r.student for r in results])
    except Exception as error:
        report = similarity.Report([], {r.student: f"similarity not computed ({type(error).__name__}: {error})"[:200]
                                        for r in results})
    report.annotate(results)
    report.write_csv(folders[0] / "similarity.csv")
    try:
        report.write_side_by_side(folders[0] / "similar")
    except OSError as error:  # a page that cannot be written costs the page, never the merge
        print(f"similar pairs not written side by side: {error}", file=sys.stderr)
    export(results, folders[0])
    return results


NOT_GRADED_COMMENT = "Not autograded: {reasons}. A grader must look at this submission."


def _record_not_graded(submission, result: StudentResult) -> None:
    """Empty every grade of ``submission`` and mark it for a human, with the reasons as comments."""
    reasons = "; ".join(result.flags) or result.status
    for nb in submission.notebooks:
        for grade_row in nb.grades:
            grade_row.auto_score = None
            grade_row.manual_score = None
            grade_row.needs_manual_grade = True
        for comment in nb.comments:
            comment.auto_comment = NOT_GRADED_COMMENT.format(reasons=reasons)
            comment.manual_comment = None


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
        writer.writerow(["student", "status", "autograded score", "max score", *cells, "flags", "similar answers"])
        for r in results:
            row = [spreadsheet_cell(r.student), r.status, f"{r.score:g}", f"{r.max_score:g}"]
            row += ["" if r.cells.get(c) is None else f"{r.cells[c]:g}" for c in cells]
            similar = [f"{other} ({how})" for other, how in sorted(r.similar.items())]
            notes = similar + ([r.similarity_note] if r.similarity_note else [])
            writer.writerow(row + [spreadsheet_cell("; ".join(r.flags)), spreadsheet_cell("; ".join(notes))])
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
    pairs = [f"  {r.student} ~ {other}: {how}" for r in results for other, how in sorted(r.similar.items())
             if r.student < other]
    if pairs or any(r.similarity_note for r in results):
        lines += ["", f"similar answers: {len(pairs)} pair(s) of students; read both notebooks "
                  "(a signal for a human: no score changed; similarity.csv)", *pairs]
        lines += [f"  {r.student}: {r.similarity_note}" for r in results if r.similarity_note]
    bounds = sorted({r.memory_bound for r in results if r.memory_bound})
    if bounds:
        lines += ["", f"each kernel's memory was bounded by {' or '.join(bounds)}"]
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
    worker.add_argument("--cell-timeout", type=int, default=None)
    worker.add_argument("--extension", type=float, default=None)
    worker.add_argument("--no-sandbox", action="store_true")
    args = parser.parse_args(argv)
    return run_worker(Path(args.course), Path(args.template), args.student, Path(args.results),
                      not args.no_sandbox, args.threads, args.cell_timeout, args.extension)


if __name__ == "__main__":
    sys.exit(main())
