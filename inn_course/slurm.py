"""Grading a class on a Slurm cluster: an array job of shards, the merge after it, and what Slurm says.

    inn-course slurm-submit --shards N [--partition P] [--cpus-per-task C] [--mem-per-shard 7G]
                            [--time MINUTES] [--results DIR] [--dry-run]
    inn-course slurm-status [--results DIR] [--resubmit]

``slurm-submit`` writes two batch scripts into the results folder (a folder every
node sees): ``grade.sbatch``, an array job whose task *i* runs
``inn-course grade-class --shard i/N`` into ``shard-i/``, and ``merge.sbatch``,
which runs ``inn-course merge`` on every shard's folder once the array has ended
(``--dependency=afterany``: a failed shard does not stop the others' grades from
reaching the gradebook). It submits both (unless ``--dry-run``) and records the
job ids in ``slurm.json``. ``slurm-status`` asks Slurm for each shard's state
and reads each student's result; ``--resubmit`` submits again the shards that
failed, timed out or were cancelled, then the merge. The merge writes each
student's latest result over what the gradebook held, so nothing counts twice.

Each shard is the same ``grade-class`` as on one machine: every kernel in its
bubblewrap sandbox. Slurm runs a job as the user who submitted it; as root the
workers drop to an unprivileged user and each kernel gets its own control group,
as a user the sandbox holds but the kernels keep that user (docs/instructor/
grading-at-scale.md).
"""

from __future__ import annotations

import json
import math
import shlex
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from . import classroom
from .paths import CourseLayout

# Measured (docs/maintainers/timings.md, class grading): a submission takes about 25 s of one worker
# (grade-class --workers 1: 248.6 s for 10). A shard's time limit allows four times that per
# submission, one student running into the per-student limit, and 10 minutes to start.
SECONDS_PER_SUBMISSION = 25
MiB = 1024 ** 2
# Slurm's words for a shard that ran to its end, and for one that should run again.
DONE = {"COMPLETED"}
RERUN = {"FAILED", "TIMEOUT", "CANCELLED", "NODE_FAIL", "OUT_OF_MEMORY", "PREEMPTED", "BOOT_FAIL", "DEADLINE"}
ENDED = DONE | RERUN  # a job in one of these states will not change again


class SlurmError(RuntimeError):
    """Slurm refused or is not there; the message says which command and what it printed."""


@dataclass
class Plan:
    course: Path
    results: Path  # shared by every node: the scripts, slurm.json, shard-1 ... shard-N
    shards: int
    cpus: int = 2  # per shard: its grade-class workers
    memory: int = 0  # per shard, bytes (0: a worker's share, classroom.MEMORY_PER_WORKER, per CPU, and 1 GiB)
    minutes: int = 0  # per shard (0: from the class's size, see SECONDS_PER_SUBMISSION)
    partition: str | None = None
    student_timeout: float = classroom.STUDENT_TIMEOUT
    python: str = sys.executable

    def __post_init__(self) -> None:
        if self.shards < 1 or self.cpus < 1:
            raise ValueError("at least one shard of at least one CPU")
        if not self.memory:
            self.memory = self.cpus * classroom.MEMORY_PER_WORKER + 1024 * MiB
        if not self.minutes:
            per_shard = math.ceil(len(CourseLayout(self.course).students("submitted")) / self.shards)
            per_worker = math.ceil(per_shard / self.cpus)
            self.minutes = 10 + math.ceil((4 * SECONDS_PER_SUBMISSION * per_worker + self.student_timeout) / 60)

    def folder(self, index: int) -> Path:
        return self.results / f"shard-{index}"

    def inn_course(self, *args: str) -> str:
        return shlex.join([self.python, "-m", "inn_course", "--root", str(self.course), *args])


def grade_script(plan: Plan) -> str:
    header = ["--job-name=inn-grade", f"--array=1-{plan.shards}", f"--cpus-per-task={plan.cpus}",
              f"--mem={plan.memory // MiB}M", f"--time={plan.minutes}",
              f"--output={plan.results / 'logs' / 'shard-%a-job-%A.out'}"]
    if plan.partition:
        header.append(f"--partition={plan.partition}")
    task = '"${SLURM_ARRAY_TASK_ID}"'
    command = (f'{plan.inn_course("grade-class")} --shard {task}/{plan.shards} '
               f'--results {shlex.quote(str(plan.results))}/shard-{task} '
               f'{shlex.join(["--workers", str(plan.cpus), "--student-timeout", f"{plan.student_timeout:g}"])}')
    return "\n".join([
        "#!/bin/bash",
        f"# Written by `inn-course slurm-submit`: shard $SLURM_ARRAY_TASK_ID of {plan.shards} of the class in",
        f"# {plan.course}. Read or edit it, then `sbatch` it (or run slurm-submit without --dry-run).",
        *[f"#SBATCH {line}" for line in header],
        "set -u",
        "# grade-class exits 1 when a student could not be graded: that is recorded in the results, and the",
        "# shard itself ran to its end (Slurm's FAILED is kept for a shard that did not).",
        f'{command} || [ "$?" -eq 1 ]', ""])


def merge_script(plan: Plan) -> str:
    return "\n".join([
        "#!/bin/bash",
        "# Written by `inn-course slurm-submit`: every shard's results into the gradebook, after the array.",
        "#SBATCH --job-name=inn-merge",
        "#SBATCH --cpus-per-task=1",
        "#SBATCH --mem=2048M",
        "#SBATCH --time=30",
        f"#SBATCH --output={plan.results / 'logs' / 'merge-job-%j.out'}",
        *([f"#SBATCH --partition={plan.partition}"] if plan.partition else []),
        "set -u",
        f'{plan.inn_course("merge", *[str(plan.folder(i)) for i in range(1, plan.shards + 1)])} || [ "$?" -eq 1 ]',
        ""])


@dataclass
class Round:
    """One submission: the array (all shards, or those resubmitted) and the merge after it."""
    array: str
    merge: str
    shards: list[int]
    submitted: float = field(default_factory=time.time)


def _run(command: list[str]) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    except FileNotFoundError:
        raise SlurmError(f"no {command[0]} here: is this a Slurm login node?") from None
    if done.returncode:
        raise SlurmError(f"{shlex.join(command)}: {(done.stderr or done.stdout).strip()[-500:]}")
    return done.stdout


def write_scripts(plan: Plan) -> tuple[Path, Path]:
    classroom.results_folder(plan.results)
    (plan.results / "logs").mkdir(exist_ok=True)
    paths = plan.results / "grade.sbatch", plan.results / "merge.sbatch"
    for path, text in zip(paths, (grade_script(plan), merge_script(plan))):
        with classroom.fresh_file(plan.results, path.name) as out:
            out.write(text)
    with classroom.fresh_file(plan.results, "plan.json") as out:
        json.dump({k: str(v) if isinstance(v, Path) else v for k, v in asdict(plan).items()}, out, indent=1)
    return paths


def submit(plan: Plan, shards: list[int] | None = None) -> Round:
    """Submit the array (``shards``: only these, default all) and the merge after it; record both."""
    grade, merge = write_scripts(plan)
    shards = shards or list(range(1, plan.shards + 1))
    array = _run(["sbatch", "--parsable", f"--array={','.join(map(str, shards))}", str(grade)]).strip().split(";")[0]
    merged = _run(["sbatch", "--parsable", f"--dependency=afterany:{array}", str(merge)]).strip().split(";")[0]
    round_ = Round(array, merged, shards)
    every = rounds(plan.results) + [round_]
    with classroom.fresh_file(plan.results, "slurm.json") as out:
        json.dump([asdict(r) for r in every], out, indent=1)
    return round_


def rounds(results: Path) -> list[Round]:
    path = results / "slurm.json"
    return [Round(**r) for r in json.loads(path.read_text())] if path.is_file() else []


def load_plan(results: Path) -> Plan:
    path = results / "plan.json"
    if not path.is_file():
        raise SlurmError(f"{results} holds no slurm-submit (no plan.json): give the --results of slurm-submit")
    values = json.loads(path.read_text())
    return Plan(**{**values, "course": Path(values["course"]), "results": Path(values["results"])})


def _records(job: str) -> list[dict[str, str]]:
    """What Slurm knows of ``job`` (or of each task of an array): the controller's memory (``scontrol``),
    else accounting (``sacct``) once the controller has forgotten it; [] when neither knows."""
    try:
        return [dict(part.split("=", 1) for part in line.split() if "=" in part)
                for line in _run(["scontrol", "show", "job", "-o", job]).splitlines() if line.strip()]
    except SlurmError:
        pass
    try:
        records = []
        for line in _run(["sacct", "-n", "-P", "-X", "-j", job, "-o", "JobID,State"]).splitlines():
            job_id, state = (line.split("|") + [""])[:2]
            record = {"JobId": job_id, "JobState": (state.split() or ["UNKNOWN"])[0]}
            if "_" in job_id:  # a task of an array: <job>_<index>
                record["ArrayTaskId"] = job_id.split("_")[1]
            records.append(record)
        return records
    except SlurmError:
        return []


def job_states(job: str) -> dict[int, str]:
    """Slurm's state of each task of array ``job``."""
    states: dict[int, str] = {}
    for record in _records(job):
        for index in _indices(record.get("ArrayTaskId", "").split("%")[0]):  # "2", or "1-3" still pending
            states[index] = record.get("JobState", "UNKNOWN")
    return states


def job_state(job: str) -> str:
    """Slurm's state of one job (the merge), or UNKNOWN when Slurm no longer knows it."""
    records = _records(job)
    return records[0].get("JobState", "UNKNOWN") if records else "UNKNOWN"


def _indices(text: str) -> list[int]:
    found = []
    for part in text.strip("[]").split(","):
        if "-" in part:
            low, high = part.split("-")
            found += range(int(low), int(high) + 1)
        elif part.isdigit():
            found.append(int(part))
    return found


@dataclass
class ShardStatus:
    index: int
    state: str  # Slurm's, from the latest round that ran this shard
    students: dict[str, str]  # student -> result status ("graded", "worker failed", ...; "no result")

    @property
    def needs_rerun(self) -> bool:
        return self.state in RERUN or (self.state == "UNKNOWN" and "no result" in self.students.values())


def status(results: Path) -> list[ShardStatus]:
    plan = load_plan(results)
    submitted = rounds(results)
    if not submitted:
        raise SlurmError(f"nothing was submitted from {results} (slurm.json is missing): run slurm-submit")
    state = {index: "UNKNOWN" for index in range(1, plan.shards + 1)}
    for round_ in submitted:  # later rounds replace earlier ones, shard by shard
        for index, value in job_states(round_.array).items():
            if index in round_.shards:
                state[index] = value
    students = CourseLayout(plan.course).students("submitted")
    report = []
    for index in range(1, plan.shards + 1):
        found = {r.student: r.status for r in classroom.load_results([plan.folder(index)])} \
            if plan.folder(index).is_dir() else {}
        mine = classroom.shard_of(students, index, plan.shards)
        report.append(ShardStatus(index, state[index], {s: found.get(s, "no result") for s in mine}))
    return report


def resubmit(results: Path) -> Round | None:
    """Submit again the shards that need it (and the merge); None when none does."""
    rerun = [shard.index for shard in status(results) if shard.needs_rerun]
    return submit(load_plan(results), rerun) if rerun else None


def merge_state(results: Path) -> str:
    """Slurm's state of the latest round's merge."""
    submitted = rounds(results)
    return job_state(submitted[-1].merge) if submitted else "UNKNOWN"


def describe(report: list[ShardStatus], merge: str | None = None) -> str:
    lines = []
    for shard in report:
        counts: dict[str, int] = {}
        for value in shard.students.values():
            counts[value] = counts.get(value, 0) + 1
        what = ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "no students"
        advice = "  <- slurm-status --resubmit runs it again" if shard.needs_rerun else ""
        lines.append(f"shard {shard.index}: {shard.state.lower()}; {what}{advice}")
    if merge is not None:
        lines.append(f"merge into the gradebook: {merge.lower()}")
    return "\n".join(lines)
