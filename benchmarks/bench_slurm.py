"""Grading through Slurm against grading on one machine (a benchmark, not a test).

In one run, on two copies of the same class of N submissions (the mix of
``bench_class_grading.make_class``), on a one-node Slurm cluster started on this
machine (``tests/slurm_cluster.py``: needs root, ``slurm-wlm`` and ``munge``):

1. ``inn-course grade-class --workers 2``: grading and merge, as on one machine;
2. ``inn-course slurm-submit --shards 2 --cpus-per-task 1``: from submission to the
   end of the merge job, polled every 0.5 s.

The difference is what the scheduler costs here (submission, start of each
task, the merge as a job of its own); on a real cluster the shards run on other
nodes, so the table it prints scales the measured cost per submission and core
to K nodes of C cores, stating its assumptions.

    .venv/bin/python benchmarks/bench_slurm.py [N]      (default 10)

It records its figures as "slurm" in artifacts/timings/ (``inn_course/timings.py``);
``make timings`` publishes them.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from inn_course import slurm, timings
from inn_course.api import open_api

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.bench_class_grading import fresh_course  # noqa: E402
from tests.slurm_cluster import Cluster, unavailable  # noqa: E402

SHARDS, CPUS = 2, 1  # the Slurm run: shards of one CPU each


def main() -> int:
    size = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    reason = unavailable()
    if reason:
        print(f"no benchmark: {reason}", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="bench-slurm-"))
    try:
        local, through_slurm = fresh_course(work / "local", size), fresh_course(work / "slurm", size)
        command = [sys.executable, "-m", "inn_course", "--root"]
        started = time.perf_counter()
        subprocess.run([*command, str(local.root), "grade-class", "--workers", "2"], capture_output=True, check=False)
        local_s = time.perf_counter() - started
        with Cluster(work / "cluster") as cluster:
            os.environ.update(cluster.env)
            started = time.perf_counter()
            plan = slurm.Plan(through_slurm.root, work / "results", shards=SHARDS, cpus=CPUS)
            submitted = slurm.submit(plan)
            while slurm.job_state(submitted.merge) not in slurm.ENDED:
                time.sleep(0.5)
            slurm_s = time.perf_counter() - started
            states = {shard.index: shard.state for shard in slurm.status(plan.results)}
        with open_api(local).gradebook as a, open_api(through_slurm).gradebook as b:
            same = [a.find_submission(local.assignment, s).score == b.find_submission(local.assignment, s).score
                    for s in local.students("submitted")]
        overhead = slurm_s - local_s
        print(f"class of {size}: grade-class --workers 2 {local_s:.1f} s; Slurm, {SHARDS} shards of {CPUS} CPU "
              f"(shards {states}), submission to merged {slurm_s:.1f} s; the same scores for "
              f"{sum(same)} of {size} students")
        print(f"Slurm's cost here: {overhead:.1f} s in all, {overhead / SHARDS:.1f} s per shard, "
              f"{overhead / size:.2f} s per student")
        per_core = local_s * 2 / size  # seconds of one core per submission, from the local run
        print(f"\none submission costs {per_core:.0f} s of one core (this run, 2 workers on 2 cores)."
              "\nA class of 500 on K nodes of C cores, one shard per node, a worker per core, assuming that"
              " cost, no wait in the queue, and the measured Slurm cost per shard:")
        print("| nodes × cores | shards | students per shard | hours |\n|---|---|---|---|")
        rows = []
        for nodes, cores in [(1, 2), (1, 16), (4, 16), (10, 32), (50, 32)]:
            per_shard = math.ceil(500 / nodes)
            hours = (math.ceil(per_shard / cores) * per_core + overhead / SHARDS) / 3600
            print(f"| {nodes} × {cores} | {nodes} | {per_shard} | {hours:.2f} |")
            rows.append({"nodes": nodes, "cores": cores, "students_per_shard": per_shard, "hours": round(hours, 2)})
        timings.record("slurm", {  # what it printed above, at the precision it printed
            "class_size": size, "shards": SHARDS, "cpus_per_task": CPUS,
            "local_s": round(local_s, 1), "slurm_s": round(slurm_s, 1), "slurm_cost_s": round(overhead, 1),
            "slurm_cost_s_per_shard": round(overhead / SHARDS, 1),
            "slurm_cost_s_per_student": round(overhead / size, 2),
            "same_scores": sum(same), "core_s_per_submission": round(per_core),
            "projection": {"class_size": 500, "rows": rows},
        })
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
