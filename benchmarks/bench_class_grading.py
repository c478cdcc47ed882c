"""Class-scale grading: plain sequential nbgrader against `inn-course grade-class` (a benchmark, not a test).

In one run, on the same class of N submissions (copies of the samples: the
reference answers, wrong answers from the catalogue, untouched handouts):

1. plain ``nbgrader autograde``, one student after another (no scan, no sandbox);
2. ``grade-class`` with 1 worker, each kernel sandboxed (bubblewrap);
3. ``grade-class`` with 2 workers;
4. the sandbox's own cost: a few handouts graded by one worker with and without the sandbox.

Timings vary between runs on shared machines: compare the figures of one run
with each other, on an otherwise idle machine.

    .venv/bin/python benchmarks/bench_class_grading.py [N]      (default 20)

With ``--baseline CHECKOUT`` (another checkout of this repository, e.g. a
``git worktree`` of an older commit) it times only ``inn-course grade-class
--workers 2`` (grading and merge, as instructors run it) on the same class,
once with this checkout's code and once with the other's: what a change
costs per submission, measured in one run.

    .venv/bin/python benchmarks/bench_class_grading.py --baseline /tmp/old [N]

The first form records its figures as "class_grading" in artifacts/timings/
(``inn_course/timings.py``); ``make timings`` publishes them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from inn_course import classroom, release, submissions, timings
from inn_course.api import load_config, open_api
from inn_course.paths import CourseLayout, copy_course

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.submissions import variants  # noqa: E402  (wrong answers of the catalogue)


def make_class(layout: CourseLayout, size: int) -> dict[str, str]:
    """size students: 40 % reference answers, 20 % wrong answers, 40 % untouched handouts."""
    samples = {name: submissions.sample(layout, name) for name in submissions.SAMPLES}
    wrong = [v for v in variants.VARIANTS if v.loses]
    kinds = {}
    for i in range(size):
        slot = i % 5
        if slot in (0, 2):
            nb, kind = samples["reference"], "reference"
        elif slot == 4:
            variant = wrong[(i // 5) % len(wrong)]
            nb, kind = variants.apply(submissions.sample(layout, "reference"), variant), variant.name
        else:
            nb, kind = samples["handout"], "handout"
        student = f"student{i:03d}"
        submissions.submit(layout, student, nb)
        kinds[student] = kind
    return kinds


def fresh_course(folder: Path, size: int) -> CourseLayout:
    layout = copy_course(folder)
    release.generate_release(layout, load_config(layout))
    make_class(layout, size)
    return layout


def timed(label: str, function) -> float:
    started = time.perf_counter()
    function()
    seconds = time.perf_counter() - started
    print(f"{label:48s} {seconds:7.1f} s", flush=True)
    return seconds


BUILD = """
import sys
from pathlib import Path
sys.path.insert(0, str(Path(sys.argv[1]) / "benchmarks"))
from bench_class_grading import fresh_course
fresh_course(Path(sys.argv[2]), int(sys.argv[3]))
"""


def cli_grade_class(checkout: Path, folder: Path, size: int) -> float:
    """Build the class and time `inn-course grade-class --workers 2` with the code of ``checkout``."""
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    subprocess.run([sys.executable, "-c", BUILD, str(checkout), str(folder), str(size)], env=env, check=True,
                   capture_output=True)
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "inn_course", "--root", str(folder), "grade-class", "--workers", "2",
                    "--results", str(folder / "grading")], env=env, capture_output=True, check=True)  # all graded
    return time.perf_counter() - started


def compare(baseline: Path, size: int) -> int:
    here = Path(__file__).resolve().parents[1]
    if Path("/tmp") in baseline.parents:
        # grade-class's workers mount a private /tmp: they would not see the baseline's code and would import
        # this checkout's instead (an editable install), timing the wrong code without a word.
        print(f"the baseline {baseline} is under /tmp, which grading workers cannot see: put it elsewhere "
              "(e.g. git worktree add ../old <commit>)", file=sys.stderr)
        return 2
    print(f"{size} submissions: 40 % reference, 20 % wrong, 40 % handout; grade-class --workers 2 (CLI, with merge)")
    with tempfile.TemporaryDirectory() as tmp:
        times = {}
        for label, checkout in (("this checkout", here), (f"baseline {baseline}", baseline)):
            times[label] = cli_grade_class(checkout, Path(tmp) / label.split()[0], size)
            print(f"{label:48s} {times[label]:7.1f} s  ({times[label] / size:.1f} s per submission)", flush=True)
    new, old = times.values()
    print(f"cost of this checkout over the baseline: {(new - old) / size:+.1f} s per submission ({new / old:.2f}x)")
    return 0


def main() -> int:
    args = sys.argv[1:]
    if args[:1] == ["--baseline"]:
        return compare(Path(args[1]).resolve(), int(args[2]) if len(args) > 2 else 20)
    size = int(args[0]) if args else 20
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        plain = fresh_course(tmp / "plain", size)
        api = open_api(plain)

        def sequential():
            for student in plain.students():
                api.autograde(plain.assignment, student, force=True, create=True)

        print(f"{size} submissions: 40 % reference, 20 % wrong, 40 % handout")
        t_plain = timed("plain nbgrader autograde, sequential", sequential)
        runs = {}
        for workers in (1, 2):
            course = fresh_course(tmp / f"w{workers}", size)
            runs[workers] = timed(f"grade-class, {workers} worker(s), sandboxed",
                                  lambda: classroom.grade_class(course, tmp / f"w{workers}-results", workers,
                                                                progress=False))
        few = 4
        overhead = {}
        for sandboxed in (False, True):
            course = copy_course(tmp / f"sb{sandboxed}")
            release.generate_release(course, load_config(course))
            handout = submissions.sample(course, "handout")
            for i in range(few):
                submissions.submit(course, f"h{i}", handout)
            overhead[sandboxed] = timed(f"{few} handouts, 1 worker, sandbox {'on' if sandboxed else 'off'}",
                                        lambda: classroom.grade_class(course, tmp / f"sb{sandboxed}-results", 1,
                                                                      use_sandbox=sandboxed, progress=False))
            shutil.rmtree(course.root)
    print()
    print(f"throughput, submissions per minute: plain {60 * size / t_plain:.2f}, "
          f"1 worker {60 * size / runs[1]:.2f}, 2 workers {60 * size / runs[2]:.2f}")
    print(f"speed-up of 2 workers over plain sequential nbgrader: {t_plain / runs[2]:.2f}x; over 1 worker: "
          f"{runs[1] / runs[2]:.2f}x")
    print(f"cost of 1 worker over plain nbgrader (scan, private course, sandbox, merge-ready results): "
          f"{(runs[1] - t_plain) / size:+.1f} s per submission")
    print(f"the sandbox's own cost: {(overhead[True] - overhead[False]) / few:+.1f} s per submission")
    timings.record("class_grading", {  # what it printed above, at the precision it printed
        "class_size": size, "mix": "40 % reference answers, 20 % wrong answers, 40 % untouched handouts",
        "plain_s": round(t_plain, 1), "plain_per_min": round(60 * size / t_plain, 2),
        "workers_1_s": round(runs[1], 1), "workers_1_per_min": round(60 * size / runs[1], 2),
        "workers_2_s": round(runs[2], 1), "workers_2_per_min": round(60 * size / runs[2], 2),
        "speedup_2_workers_vs_plain": round(t_plain / runs[2], 2),
        "speedup_2_workers_vs_1": round(runs[1] / runs[2], 2),
        "worker_cost_s_per_submission": round((runs[1] - t_plain) / size, 1),
        "sandbox_handouts": few, "sandbox_off_s": round(overhead[False], 1), "sandbox_on_s": round(overhead[True], 1),
        "sandbox_cost_s_per_submission": round((overhead[True] - overhead[False]) / few, 1),
    })
    return 0


if __name__ == "__main__":
    sys.exit(main())
