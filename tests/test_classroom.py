"""Class-scale grading: is each kernel sandboxed, does shard + merge equal one run, is a killed worker reported?

The slow tests grade a few cheap submissions (the handout, with a probe or a trap added) in a
copy of the course, with the real sandbox (bubblewrap); they are skipped where it is missing.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
import pytest

from inn_course import classroom, notebooks, release, sandbox, submissions
from inn_course.api import load_config, open_api
from inn_course.paths import REPO_ROOT, copy_course

from .polling import until
from .submissions import catalogue

PROBE = '''
import json, pathlib, socket, subprocess
report = {{}}
try:
    socket.create_connection(("127.0.0.1", {port}), timeout=3).close()
    report["network"] = "open"
except OSError:
    report["network"] = "blocked"
for name, path in [("gradebook", "{root}/gradebook.db"), ("source", "{source}")]:
    try:
        pathlib.Path(path).read_bytes()
        report[name] = "read"
    except OSError:
        report[name] = "blocked"
for name, path in [("write outside", "{root}/written-by-a-student.txt"), ("write inside", "scratch.txt")]:
    try:
        pathlib.Path(path).write_text("x")
        report[name] = "written"
    except OSError:
        report[name] = "blocked"
subprocess.Popen(["sleep", "{token}"], start_new_session=True)
print("SANDBOX", json.dumps(report, sort_keys=True))
'''
TOKEN = "317"  # seconds the background process would sleep: finds it among the machine's processes


def _sandbox_or_skip():
    try:
        sandbox.check_available()
    except sandbox.SandboxUnavailable as error:
        pytest.skip(f"no sandbox here: {error}")


@pytest.fixture
def small_class(tmp_path):
    """A fresh course (its own gradebook knows the assignment), and the samples to build students from."""
    layout = copy_course(tmp_path / "course")
    release.generate_release(layout, load_config(layout))
    samples = {name: submissions.sample(layout, name) for name in submissions.SAMPLES}
    return layout, samples


def test_shard_selection_is_deterministic_and_complete():
    """Do the shards of a class cover every student exactly once, whatever the order they are listed in?"""
    students = [f"s{i:02d}" for i in range(11)]
    shards = [classroom.shard_of(list(reversed(students)), i, 3) for i in (1, 2, 3)]
    assert sorted(sum(shards, [])) == students and shards[0] == ["s00", "s03", "s06", "s09"]
    with pytest.raises(ValueError):
        classroom.parse_shard("4/3")


def test_missing_bubblewrap_refuses_with_a_reason(monkeypatch):
    """Without bwrap, does grading refuse and say how to install it or opt out?"""
    monkeypatch.setattr(sandbox.shutil, "which", lambda name: None)
    with pytest.raises(sandbox.SandboxUnavailable, match="apt-get install bubblewrap.*--no-sandbox"):
        sandbox.check_available()


def test_kernel_command_hides_the_course(tmp_path):
    """Does the kernel's bwrap mount only the system, Python and the data read-only, its sockets and a tmpfs?"""
    spec = sandbox.KernelSandbox(tmp_path / "box", tmp_path / "course" / "autograded" / "s" / "a").spec
    argv = sandbox.bwrap_argv(spec, {}, connection_fd=5, files={"invertible_networks.ipynb": 6})
    pairs = [(argv[i], argv[i + 1]) for i in range(len(argv) - 1)]
    read_only = [b for a, b in pairs if a == "--ro-bind"]
    writable = [b for a, b in pairs if a == "--bind"]
    assert writable == [spec.sockets] and str(tmp_path / "box" / "sockets") == spec.sockets
    assert ("--tmpfs", spec.workdir) in pairs and ("--chdir", spec.workdir) in pairs
    assert {"--unshare-all", "--unshare-user", "--disable-userns", "--die-with-parent", "--clearenv"} <= set(argv)
    assert not any(b in ("/", "/work", "/root", "/tmp") for b in read_only)
    assert str(REPO_ROOT) not in read_only  # the course (gradebook, source) is never bound, only its .venv
    assert ("--file", "6") in pairs and argv[argv.index("6") + 1] == f"{spec.workdir}/invertible_networks.ipynb"


def test_kernel_environment_is_an_allow_list(monkeypatch):
    """Does nothing of the grader's environment (a token, say) reach the kernel?"""
    monkeypatch.setenv("INN_SECRET_TOKEN", "s3cr3t")
    env = sandbox.environment(threads=1)
    assert "INN_SECRET_TOKEN" not in env and set(env) <= {
        "PATH", "HOME", "TMPDIR", "MPLCONFIGDIR", "LANG", "PYTHONDONTWRITEBYTECODE", "OMP_NUM_THREADS",
        "MKL_NUM_THREADS", "INN_DATA_ROOT", "MPLBACKEND"}


@pytest.mark.slow
def test_sandbox_blocks_network_files_and_background_processes(small_class, tmp_path):
    """Can a graded notebook reach the network, read the gradebook or source, write outside, or leave a process?"""
    _sandbox_or_skip()
    layout, samples = small_class
    listener = __import__("socket").create_server(("127.0.0.1", 0))  # open on the host, invisible inside
    probe = PROBE.format(port=listener.getsockname()[1], root=layout.root, source=layout.source_notebook,
                         token=TOKEN)
    submissions.submit(layout, "prober", catalogue.with_new_cell(samples["handout"], "setup", probe, "probe"))
    (result,) = classroom.grade_class(layout, tmp_path / "results", workers=1, progress=False)
    listener.close()
    assert result.status == "graded", result.flags
    # The summary says what bounded the kernel's memory: its own group where the tree allows (v1 as root, here).
    from inn_course import cgroups

    expected = ("a control group of its own",) if cgroups.version() == 1 and os.geteuid() == 0 else \
        ("a control group of its own", "rlimits only")
    assert result.memory_bound.startswith(expected), result.memory_bound
    assert f"each kernel's memory was bounded by {result.memory_bound}" in classroom.summary([result])
    nb = notebooks.read(tmp_path / "results" / "autograded" / "prober" / layout.assignment / f"{layout.assignment}.ipynb")
    text = "".join(o.get("text", "") for c in nb.cells if c.id == "probe" for o in c.outputs)
    report = json.loads(text.split("SANDBOX ", 1)[1])
    assert report == {"network": "blocked", "gradebook": "blocked", "source": "blocked",
                      "write outside": "blocked", "write inside": "written"}
    assert not (layout.root / "written-by-a-student.txt").exists()
    assert not [p for p in psutil.process_iter(["cmdline"]) if p.info["cmdline"] == ["sleep", TOKEN]]


NPROC = 'import resource; print("NPROC", resource.getrlimit(resource.RLIMIT_NPROC)[0])'


@pytest.mark.slow
def test_a_class_is_graded_on_a_real_cgroup2_tree_and_on_a_fake_one_and_says_what_bounded_it(small_class, cgroup2_mount,
                                                                                               tmp_path, monkeypatch):
    """The grader's cgroup tree can be another mount (INN_COURSE_CGROUP_TREE): a real cgroup2 tree, which
    here offers no memory or pids controller (v1 holds them), grades with rlimits and says why in one line;
    a folder laid out like a v2 tree but not mounted is no tree at all: root writes nothing in it. (This
    machine's v1 tree is the default, graded with a group per kernel in the test above.)"""
    from inn_course import cgroups

    _sandbox_or_skip()  # cgroup2_mount skips where not root: control groups are made as root only
    layout, samples = small_class
    submissions.submit(layout, "ann", catalogue.with_new_cell(samples["handout"], "setup", NPROC, "nproc"))
    real, fake = cgroup2_mount, tmp_path / "fake"
    fake.mkdir()
    (fake / "cgroup.controllers").write_text("memory pids\n")
    (fake / "cgroup.procs").write_text("")
    offered = (real / "cgroup.controllers").read_text().split()
    if {"memory", "pids"} <= set(offered):
        pytest.skip("this machine's cgroup2 tree bounds memory: the fallback cannot be seen here")
    for tree, why in ((real, f"the cgroup v2 tree at {real} offers no memory or pids controller"),
                      (fake, f"INN_COURSE_CGROUP_TREE={fake} is not a mounted cgroup tree")):
        monkeypatch.setenv(cgroups.TREE_ENV, str(tree))
        groups_before = {p for p in tree.rglob("*") if p.is_dir()}  # the hierarchy may hold others' groups
        (result,) = classroom.grade_class(layout, tmp_path / f"results-{tree.name}", workers=1, progress=False)
        assert result.status == "graded" and result.score == 0, result.flags
        assert result.memory_bound.startswith(f"rlimits only ({why}"), result.memory_bound
        summary = classroom.summary([result]).splitlines()
        assert summary[-1] == f"each kernel's memory was bounded by {result.memory_bound}"
        nb = notebooks.read(tmp_path / f"results-{tree.name}" / "autograded" / "ann" / layout.assignment /
                            f"{layout.assignment}.ipynb")
        seen = "".join(o.get("text", "") for c in nb.cells if c.id == "nproc" for o in c.outputs)
        # Without a group of its own, the kernel's processes are capped per user (with one, 16 times that).
        assert seen == f"NPROC {sandbox.Limits().processes}\n", seen
        assert {p for p in tree.rglob("*") if p.is_dir()} == groups_before, "nothing made in the tree"


@pytest.mark.slow
def test_shards_merged_equal_one_run_and_a_killed_worker_is_reported(small_class, slurm_cluster, tmp_path, capsys):
    """Do two shards + merge give the same gradebook as one run, and is a student whose worker dies reported?

    Where a Slurm cluster starts (CI installs it), the shards run as `inn-course slurm-submit` does it, and
    one shard is killed (scancel) while it runs, reported by slurm-status and resubmitted; elsewhere the
    two shards run as two processes at once."""
    _sandbox_or_skip()
    layout, samples = small_class
    other = classroom.CourseLayout(tmp_path / "other", layout.assignment)
    shutil.copytree(layout.root, other.root)  # the same course, gradebook included, before any grading
    for course in (layout, other):
        submissions.submit(course, "ann", samples["handout"])
        submissions.submit(course, "ben", catalogue.with_answers(samples["handout"], {
            "q09_exact_inverse_answer": catalogue.variants.ERROR_AMAX}))
        submissions.submit(course, "cat", catalogue.with_new_cell(samples["handout"], "setup",
                                                                  catalogue.ENDLESS_LOOP, "student-loop"))
    # One run, a worker per student; "cat" loops until the per-student limit kills its worker (30 s: a
    # handout grades in about 8 s).
    single = classroom.grade_class(layout, tmp_path / "single", workers=3, student_timeout=30, progress=False)
    classroom.merge(layout, [tmp_path / "single"])
    # The same class in two shards, graded at the same time (as on two machines), merged.
    if slurm_cluster is not None:
        merged = _shards_through_slurm(other, tmp_path / "slurm", capsys)
    else:
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(lambda index: classroom.grade_class(other, tmp_path / f"shard{index}", workers=2,
                                                              shard=(index, 2), student_timeout=30,
                                                              progress=False), (1, 2)))
        merged = classroom.merge(other, [tmp_path / "shard1", tmp_path / "shard2"])
    by_name = {r.student: r for r in single}
    assert by_name["ann"].status == by_name["ben"].status == "graded"
    assert by_name["ben"].cells["q09_exact_inverse"] == 1 and by_name["ann"].cells["q09_exact_inverse"] == 0
    assert by_name["cat"].status == "worker failed"
    assert any("worker stopped after 30 s" in flag for flag in by_name["cat"].flags)
    assert [r.student for r in merged] == ["ann", "ben", "cat"]
    snapshot = classroom.gradebook_snapshot(layout)
    assert snapshot == classroom.gradebook_snapshot(other) and set(snapshot) == {"ann", "ben", "cat"}
    assert set(snapshot["cat"].values()) == {(None, None, True)}  # recorded as not graded, for a human
    rows = (tmp_path / "single" / "grades.csv").read_text().splitlines()
    assert rows[0].startswith("student,status,autograded score") and len(rows) == 4
    assert (tmp_path / "single" / "grades.png").stat().st_size > 10_000


def _shards_through_slurm(course, results: Path, capsys) -> list:
    """The commands of docs/instructor/grading-at-scale.md: two shards of one CPU (`slurm-submit`); shard 1 (ann, then cat's 30 s loop) is
    cancelled while it runs, reported (`slurm-status`), resubmitted alone (`--resubmit`); the merged results."""
    from inn_course import cli, slurm

    command = ["--root", str(course.root)]
    assert cli.main([*command, "slurm-submit", "--shards", "2", "--cpus-per-task", "1", "--student-timeout", "30",
                     "--results", str(results)]) == 0
    (first,) = slurm.rounds(results)
    assert f"grading: job {first.array}" in capsys.readouterr().out
    until(lambda: slurm.job_states(first.array).get(1) == "RUNNING", 120, "shard 1 never ran")
    subprocess.run(["scancel", f"{first.array}_1"], check=True)
    until(lambda: slurm.job_state(first.merge) in slurm.ENDED, 300, "the first merge never ended")
    assert cli.main([*command, "slurm-status", "--results", str(results)]) == 1  # a shard must run again
    said = capsys.readouterr().out
    assert "shard 1: cancelled" in said and "<- slurm-status --resubmit runs it again" in said, said
    assert "shard 2: completed; 1 graded" in said and "merge into the gradebook: completed" in said, said
    assert cli.main([*command, "slurm-status", "--results", str(results), "--resubmit"]) == 0
    again = slurm.rounds(results)[-1]
    assert again.shards == [1] and f"resubmitted shards 1: job {again.array}" in capsys.readouterr().out
    until(lambda: slurm.job_state(again.merge) in slurm.ENDED, 300, "the merge after the resubmission never ended")
    assert slurm.job_state(again.merge) == "COMPLETED", sorted((results / "logs").iterdir())
    assert not any(shard.needs_rerun for shard in slurm.status(results)) and slurm.resubmit(results) is None
    return classroom.load_results([results / "shard-1", results / "shard-2"])


def test_a_results_folder_takes_one_run_at_a_time(small_class, tmp_path):
    """Is a second grade-class (or merge) on a folder in use refused, and the folder free again afterwards?"""
    layout, _ = small_class
    with classroom.locked(tmp_path / "results"):
        with pytest.raises(classroom.ResultsBusy, match="in use by another grade-class or merge"):
            classroom.grade_class(layout, tmp_path / "results", workers=1, use_sandbox=False, progress=False)
        with pytest.raises(classroom.ResultsBusy):
            classroom.merge(layout, [tmp_path / "results"])
    assert classroom.grade_class(layout, tmp_path / "results", workers=1, use_sandbox=False, progress=False) == []


def test_an_ungradable_resubmission_replaces_the_old_score(small_class, tmp_path):
    """After a graded submission, is a resubmission that cannot be graded recorded as such, not the old score?"""
    layout, _ = small_class
    results = tmp_path / "results"
    results.mkdir()
    (layout.root / "autograded" / "ann" / layout.assignment).mkdir(parents=True)
    layout.notebook("submitted", "ann").parent.mkdir(parents=True)  # merge takes results of submitted students only
    points = {"q09_exact_inverse": 1.0}
    classroom.StudentResult("ann", "graded", 1.0, 56.0, dict(points), dict(points), timestamp="2026-11-01T10:00:00",
                            grades={"q09_exact_inverse": {"notebook": layout.assignment, "auto_score": 1.0,
                                                          "needs_manual_grade": False}}).save(results)
    classroom.merge(layout, [results])
    assert classroom.gradebook_snapshot(layout)["ann"]["q09_exact_inverse"] == (1.0, None, False)
    classroom.StudentResult("ann", "not graded", timestamp="2026-11-02T10:00:00",
                            flags=["not a readable notebook (JSONDecodeError): not graded"]).save(results)
    classroom.merge(layout, [results])
    snapshot = classroom.gradebook_snapshot(layout)["ann"]
    assert set(snapshot.values()) == {(None, None, True)}  # every grade emptied, every one for a human
    with open_api(layout).gradebook as gb:
        submission = gb.find_submission(layout.assignment, "ann")
        assert submission.timestamp.isoformat().startswith("2026-11-02") and submission.score == 0
        comments = [c.auto_comment for nb in submission.notebooks for c in nb.comments]
        assert comments and all("Not autograded: not a readable notebook" in c for c in comments)
    assert not (layout.root / "autograded" / "ann").exists()  # the old graded notebook is gone


@pytest.mark.slow
def test_workers_die_with_their_parent_and_leave_nothing(small_class, tmp_path):
    """After kill -9 of grade-class, do its workers and kernels die, leaving no course copy, and can it run again?"""
    _sandbox_or_skip()
    layout, samples = small_class
    submissions.submit(layout, "looper", catalogue.with_new_cell(samples["handout"], "setup",
                                                                 catalogue.ENDLESS_LOOP, "student-loop"))
    results = tmp_path / "results"
    parent = subprocess.Popen([sys.executable, "-m", "inn_course", "--root", str(layout.root), "grade-class",
                               "--workers", "1", "--results", str(results)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def descendants() -> list[psutil.Process]:
        try:
            return psutil.Process(parent.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []

    def command(process: psutil.Process) -> str:
        try:
            return " ".join(process.cmdline())
        except psutil.Error:  # it ended (or is a zombie) between the listing and this read
            return ""

    def kernel_started() -> bool:
        return any("ipykernel_launcher" in command(p) for p in descendants())

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not kernel_started():
        time.sleep(0.5)
    assert kernel_started(), "the kernel never started"
    started = descendants()
    parent.kill()
    parent.wait()
    time.sleep(2)
    def running(process: psutil.Process) -> bool:
        try:
            return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
        except psutil.Error:
            return False

    alive = [p for p in started if running(p)]
    assert alive == [], [command(p)[:80] for p in alive]
    assert not list(Path(tempfile.gettempdir()).glob("grade-looper-*"))  # the copy with the solutions
    again = classroom.grade_class(layout, results, workers=1, student_timeout=1, progress=False)
    assert [r.status for r in again] == ["worker failed"]  # the lock was released with the dead parent
