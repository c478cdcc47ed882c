"""The batch scripts `inn-course slurm-submit` writes: the same grade-class and merge as on one machine.

The cluster itself (submission, a shard cancelled, reported and resubmitted, the merge) is tested on a
real one-node Slurm in test_classroom.py::test_shards_merged_equal_one_run_and_a_killed_worker_is_reported.
"""

from __future__ import annotations

import re
import subprocess

from inn_course import cli, slurm
from inn_course.paths import copy_course


def _argv(script: str, task: int) -> list[str]:
    """The argument vector bash gives the script's command line for array task ``task``."""
    (line,) = [line for line in script.splitlines() if " -m inn_course " in line]
    command = line.split(" || ")[0]
    shown = subprocess.run(["bash", "-c", f"printf '%s\\n' {command}"], capture_output=True, text=True, check=True,
                           env={"SLURM_ARRAY_TASK_ID": str(task)})
    return shown.stdout.splitlines()


def test_each_array_task_grades_its_own_shard_into_its_own_folder(tmp_path):
    course = tmp_path / "course"
    copy_course(course)
    results = tmp_path / "shared folder" / "grading"  # a space: quoting is the script's job
    plan = slurm.Plan(course, results, shards=3, cpus=2, partition="teaching", student_timeout=120)
    script = slurm.grade_script(plan)
    assert subprocess.run(["bash", "-n"], input=script, text=True).returncode == 0
    options = dict(re.findall(r"^#SBATCH --([a-z-]+)=(.*)$", script, re.M))
    assert options["array"] == "1-3" and options["cpus-per-task"] == "2" and options["partition"] == "teaching"
    assert options["mem"] == f"{(2 * 3 + 1) * 1024}M"  # 3 GiB per worker and 1 GiB
    assert int(options["time"]) == 10 + (0 + 120 + 59) // 60  # an empty class: start-up and one student's limit
    argv = _argv(script, 2)
    assert argv[:5] == [plan.python, "-m", "inn_course", "--root", str(course)], argv
    args = cli.parser().parse_args(argv[3:])
    assert (args.command, args.shard, str(args.results)) == ("grade-class", "2/3", f"{results}/shard-2")
    assert (args.workers, args.student_timeout) == (2, 120)
    merge = cli.parser().parse_args(_argv(slurm.merge_script(plan), 1)[3:])
    assert merge.command == "merge" and merge.folders == [f"{results}/shard-{i}" for i in (1, 2, 3)]


def test_a_dry_run_writes_the_scripts_and_submits_nothing(tmp_path, capsys):
    course = tmp_path / "course"
    copy_course(course)
    assert cli.main(["--root", str(course), "slurm-submit", "--shards", "2", "--dry-run"]) == 0
    folder = course / "grading" / "slurm"
    assert (folder / "grade.sbatch").is_file() and (folder / "merge.sbatch").is_file()
    assert not (folder / "slurm.json").exists()  # nothing submitted, so nothing recorded
    said = capsys.readouterr().out
    assert "nothing submitted" in said and f"sbatch --parsable {folder / 'grade.sbatch'}" in said
    # slurm-status on a folder nothing was submitted from says so, in one line.
    assert cli.main(["--root", str(course), "slurm-status"]) == 2
    assert "nothing was submitted" in capsys.readouterr().err


def test_status_reads_slurms_words_for_array_tasks():
    assert slurm._indices("[1-3,5]") == [1, 2, 3, 5] and slurm._indices("4") == [4]
    shard = slurm.ShardStatus(1, "TIMEOUT", {"ann": "graded"})
    assert shard.needs_rerun and not slurm.ShardStatus(2, "COMPLETED", {"ben": "worker failed"}).needs_rerun
    assert slurm.ShardStatus(3, "UNKNOWN", {"cat": "no result"}).needs_rerun
    assert "shard 1: timeout; 1 graded  <- slurm-status --resubmit" in slurm.describe([shard], "COMPLETED")


def test_a_shard_sizes_its_workers_and_threads_for_the_cpus_slurm_gave_it(monkeypatch):
    """On a shared node, grade-class must use the task's CPUs, not the node's (threads oversubscribed
    the cores: two 1-CPU shards on a 2-core node graded 3x slower than one machine's grade-class)."""
    from inn_course import classroom

    monkeypatch.delenv("SLURM_CPUS_PER_TASK", raising=False)
    mine = classroom.available_cores()
    monkeypatch.setenv("SLURM_CPUS_PER_TASK", "1")
    assert classroom.available_cores() == 1 and classroom.default_workers() == 1
    monkeypatch.setenv("SLURM_CPUS_PER_TASK", "4096")
    assert classroom.available_cores() == mine  # never more than the process may run on
