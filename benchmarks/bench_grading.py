"""How long the notebook takes, and what nbgrader adds on top (a benchmark, not a test).

In one run: (1) execute the reference answers in the release notebook with
nbclient, as a student's "Restart & Run All"; (2) execute the source notebook
(the same answers plus the hidden tests: the code autograding runs); (3)
autograde the answers with nbgrader in a throw-away course. (3) - (2) is
nbgrader's own overhead per submission. Timings vary between runs on shared machines: compare the
figures of one run with each other, and run it on an otherwise idle machine.

    make benchmark            (or: .venv/bin/python benchmarks/bench_grading.py)
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import torch
from nbclient import NotebookClient

from inn_course import grade, notebooks, release, submissions
from inn_course.api import load_config, prepare_environment
from inn_course.paths import copy_course


def main() -> int:
    prepare_environment()
    with tempfile.TemporaryDirectory() as tmp:
        layout = copy_course(Path(tmp))
        config = load_config(layout)  # the copy's own gradebook, shared by release and autograde
        release.generate_release(layout, config)
        answers = submissions.sample(layout, "reference")

        def run(nb) -> float:
            started = time.perf_counter()
            NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": tmp}}).execute()
            return time.perf_counter() - started

        student_run = run(submissions.sample(layout, "reference"))
        executed = run(notebooks.read(layout.source_notebook))

        submissions.submit(layout, "bench", answers)
        started = time.perf_counter()
        [result] = grade.autograde(layout, ["bench"], config)
        if not result.success:
            print(result.error, file=sys.stderr)
        autograded = time.perf_counter() - started

    print(f"machine: {torch.get_num_threads()} torch threads, python {sys.version.split()[0]}")
    print(f"student run-all, reference answers:   {student_run:6.1f} s")
    print(f"source notebook with hidden tests:    {executed:6.1f} s")
    print(f"autograde one submission (nbgrader):  {autograded:6.1f} s  "
          f"(autograded score {result.score:g}/{result.max_score - result.pending_manual:g})")
    print(f"nbgrader overhead per submission:     {autograded - executed:6.1f} s")
    return 0 if result.success and result.score == result.max_score - result.pending_manual else 1


if __name__ == "__main__":
    sys.exit(main())
