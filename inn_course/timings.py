"""Measured timings in one generated place: ``docs/maintainers/timings.md``.

Prose that repeats a timing by hand goes stale the day the code changes, so
the commands that measure (``make benchmark``, ``make all``, the other
benchmarks, the whole test suite) each ``record`` what they print into
``artifacts/timings/<name>.json`` (git-ignored: a run must never dirty the
tree), and a maintainer publishes them on purpose:

    python -m inn_course.timings            (make timings)

merges those files into the committed ``docs/maintainers/timings.json`` (an
entry not measured again keeps its own figures and date) and renders
``docs/maintainers/timings.md`` from it; ``--check`` exits 1 when the page
differs from the JSON (as ``tests/test_timings.py`` does).

Numbers are stored rounded as their command prints them, and the page shows
them at that precision: the JSON, the page and the command's output agree.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .paths import REPO_ROOT

ARTIFACTS = Path("artifacts") / "timings"  # under the repository root; git-ignored
JSON_FILE = Path("docs") / "maintainers" / "timings.json"
PAGE = Path("docs") / "maintainers" / "timings.md"
NAME = re.compile(r"[a-z][a-z0-9_]*")  # an entry's name is also a file name

# The page's sections, in this order: name -> (title, the command that measures it). Entries of other
# names (a new benchmark not listed yet) follow, as plain key/value tables.
SECTIONS: dict[str, tuple[str, str]] = {
    "notebook": ("The notebook: a student's Run All and one autograde",
                 "`make benchmark` (`benchmarks/bench_grading.py`)"),
    "make_all": ("`make all`", "`make all` (`inn-course all`)"),
    "catalogue": ("The catalogue of submissions", "`make catalogue` (`python -m tests.submissions.report`)"),
    "suite": ("The whole test suite", "`make test` (`pytest`, no selection: recorded by `tests/conftest.py`)"),
    "suite_quick": ("The quick tests", "`make quick` (`pytest -m \"not slow\"`: recorded by `tests/conftest.py`)"),
    "class_grading": ("Grading a class on one machine",
                      "`.venv/bin/python benchmarks/bench_class_grading.py {class_size}`"),
    "slurm": ("Grading a class through Slurm", "`.venv/bin/python benchmarks/bench_slurm.py {class_size}`"),
    "installing": ("Installing", "timing `make .venv/bin/.installed` by hand (nothing records it)"),
}
CELL_ROWS = 12  # the slowest cells shown one by one (bench_grading.py's default); the rest in one row


def today() -> str:
    """The date of a measurement: UTC, day precision (a time of day would suggest a precision runs lack)."""
    return datetime.now(timezone.utc).date().isoformat()


def machine() -> dict[str, Any]:
    """The CPU model and its cores, read without importing anything heavy (torch costs seconds)."""
    cpu = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as info:
            cpu = next((line.split(":", 1)[1].strip() for line in info if line.startswith("model name")), "")
    except OSError:  # not Linux, or no /proc: the cores still say much
        pass
    try:
        usable = len(os.sched_getaffinity(0))  # what this process may use (a container, taskset, a Slurm job)
    except AttributeError:
        usable = os.cpu_count()
    return {"cpu": cpu or "unknown CPU", "cores": os.cpu_count(), "usable_cores": usable}


def record(name: str, data: dict, root: Path | None = None) -> Path:
    """Write one measurement to ``artifacts/timings/<name>.json`` under ``root`` (default: the repository).

    Adds when (``measured``) and where (``machine``) unless ``data`` says so itself. Only artifacts/
    is written: publishing into docs/ is ``make timings``, a maintainer's decision.
    """
    if not NAME.fullmatch(name):
        raise ValueError(f"not a timings name: {name!r} (lower-case letters, digits, _)")
    entry = {"measured": today(), "machine": machine(), **data}
    path = (root or REPO_ROOT) / ARTIFACTS / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".json.partial")  # never a half-written file for collect to read
    partial.write_text(json.dumps(entry, indent=2) + "\n")
    partial.replace(path)
    return path


def _ordered(data: dict) -> dict:
    known = [name for name in SECTIONS if name in data]
    return {name: data[name] for name in known + sorted(set(data) - set(known))}


def load(root: Path | None = None) -> dict:
    """The committed timings (empty when there are none yet)."""
    path = (root or REPO_ROOT) / JSON_FILE
    return json.loads(path.read_text()) if path.is_file() else {}


def collect(root: Path | None = None) -> dict:
    """Merge every ``artifacts/timings/*.json`` into ``docs/maintainers/timings.json``; return the result.

    A measurement replaces the entry of its name unless it is older than that entry (a stale artifact
    left from weeks ago must not undo a newer published figure); other entries stay as they are.
    """
    root = root or REPO_ROOT
    data = load(root)
    for path in sorted((root / ARTIFACTS).glob("*.json")):
        try:
            entry = json.loads(path.read_text())
        except ValueError as error:
            raise ValueError(f"{path}: not JSON ({error}); measure again or delete it") from None
        old = data.get(path.stem)
        if old is None or entry.get("measured", "") >= old.get("measured", ""):
            data[path.stem] = entry
    data = _ordered(data)
    target = root / JSON_FILE
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    return data


# Rendering ------------------------------------------------------------------------------------------------

def _n(value: Any) -> str:
    """A number as stored (its precision is the measurement's), with thousands separated."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    return f"{value:,}"


def _f(value: float, digits: int = 2) -> str:
    """A ratio or a rate at the precision its command prints (JSON keeps no trailing zeros: 3.70 is 3.7)."""
    return f"{value:,.{digits}f}"


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min"


def _machine(entry: dict) -> str:
    where = entry.get("machine") or {}
    if "description" in where:  # carried over from prose, before anything recorded the machine
        return where["description"]
    text = f"{where.get('cpu', 'unknown CPU')}, {where.get('cores', '?')} cores"
    if where.get("usable_cores") not in (None, where.get("cores")):
        text += f" ({where['usable_cores']} usable)"
    return text


def _rows(header: tuple[str, ...], rows: list[tuple]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]


def _slowest(seconds: dict[str, float], rest: dict | None, show: int | None, what: str, digits: int) -> list[tuple]:
    """Rows for the ``show`` slowest of ``seconds``, then the others in one row (``rest``: ones not named)."""
    names = sorted(seconds, key=lambda key: -seconds[key])
    shown, others = (names, []) if show is None else (names[:show], names[show:])
    rows = [(f"`{name}`", _f(seconds[name], digits)) for name in shown]
    count = len(others) + (rest or {}).get("count", 0)
    if count:
        total = round(sum(seconds[name] for name in others) + (rest or {}).get("s", 0), digits)
        rows.append((f"everything else ({count} {what})", _f(total, digits)))
    return rows


def _target(ratio: float, target: float) -> str:
    return f"≤ {_n(target)}× ({'met' if ratio <= target else 'not met'})"


def _notebook(e: dict) -> list[str]:
    lines = []
    if e.get("rounds", 1) > 1:
        lines += [f"Each figure is the best of {e['rounds']} rounds (the run least disturbed by other work).", ""]
    lines += _rows(("cell of the student's Run All", "seconds"),
                   [*_slowest(e["cells_s"], e.get("cells_rest"), CELL_ROWS, "cells", 1),
                    ("**all cells**", f"**{_f(e['cells_total_s'], 1)}**")])
    lines += [""] + _rows(("hidden test (the judge, outside the kernel; its requests to the kernel included)",
                           "seconds"),
                          [*_slowest(e["hidden_tests_s"], e.get("hidden_tests_rest"), None, "hidden tests", 2),
                           ("**all hidden tests**", f"**{_f(e['hidden_tests_total_s'], 1)}**")])
    rounds = e.get("autograde_vs_run_all_rounds")
    in_rounds = f" (rounds: {', '.join(f'{_f(r)}×' for r in rounds)})" if rounds else ""
    lines += [""] + _rows(("what", "seconds", "ratio", "target"), [
        ("a student's *Restart & Run All* of the model solution (kernel start included)", _n(e["run_all_s"]),
         f"{_f(e['run_all_vs_floor'], 1)}× the compute floor of {e['floor_s']:g} s",
         _target(e["run_all_vs_floor"], e["run_all_vs_floor_target"])),
        ("`nbgrader autograde` of one submission (the judge runs the hidden tests)", _n(e["autograde_s"]),
         f"{_f(e['autograde_vs_run_all'])}× the student's Run All{in_rounds}",
         _target(e["autograde_vs_run_all"], e["autograde_vs_run_all_target"])),
    ])
    return lines


def _make_all(e: dict) -> list[str]:
    return _rows(("what", "seconds"), [
        ("building the self-study edition (it prints `executed in`)", _n(e["selfstudy_s"])),
        ("all of `make all`: release, the two samples graded, their feedback, the self-study edition "
         "(it prints `done in`)", _n(e["make_all_s"])),
    ])


def _catalogue(e: dict) -> list[str]:
    return [f"{e['cases']} cases graded as a class and the report rewritten in {_n(e['seconds'])} s "
            f"({_minutes(e['seconds'])})."]


def _suite(e: dict) -> list[str]:
    counted = [f"{_n(e[key])} {key}" for key in ("passed", "skipped") if key in e]
    lines = [f"{_n(e['tests'])} tests{' (' + ', '.join(counted) + ')' if counted else ''} in "
             f"{_n(e['seconds'])} s ({_minutes(e['seconds'])}) of wall time, collection included.", ""]
    rows = [(f"`{module}`", _n(seconds)) for module, seconds in e.get("modules_s", {}).items()]
    if "modules_rest_s" in e:
        rows.append(("everything else", _n(e["modules_rest_s"])))
    if rows:
        lines += _rows(("test module", "seconds"), rows)
        summed = "" if "modules_rest_s" in e else \
            "A module's seconds are the sum of its tests' setup, call and teardown. "
        lines += ["", f"{summed}A session-scoped fixture's cost falls on the first test that uses it, and so on "
                  "that test's module."]
    return lines


def _class_grading(e: dict) -> list[str]:
    lines = [f"A class of {e['class_size']} ({e['mix']}).", ""]
    lines += _rows(("how", "seconds", "submissions per minute"), [
        ("plain `nbgrader autograde`, one after another (no scan, no sandbox)", _n(e["plain_s"]),
         _f(e["plain_per_min"])),
        ("`grade-class --workers 1` (sandboxed)", _n(e["workers_1_s"]), _f(e["workers_1_per_min"])),
        ("`grade-class --workers 2` (sandboxed)", _n(e["workers_2_s"]), _f(e["workers_2_per_min"])),
    ])
    lines += ["", f"Two workers: {_f(e['speedup_2_workers_vs_plain'])}× plain nbgrader's throughput, "
              f"{_f(e['speedup_2_workers_vs_1'])}× one worker's. One worker costs "
              f"{_n(e['worker_cost_s_per_submission'])} s per submission over plain nbgrader (scan, private "
              f"course, sandbox, results ready to merge); the sandbox itself "
              f"{_n(e['sandbox_cost_s_per_submission'])} s ({e['sandbox_handouts']} handouts: "
              f"{_n(e['sandbox_off_s'])} s without, {_n(e['sandbox_on_s'])} s with)."]
    return lines


def _slurm(e: dict) -> list[str]:
    lines = _rows(("how (a class of " + str(e["class_size"]) + ")", "seconds"), [
        ("`grade-class --workers 2` on this machine", _n(e["local_s"])),
        (f"`slurm-submit --shards {e['shards']} --cpus-per-task {e['cpus_per_task']}`, submission to the end of "
         "the merge job (a one-node cluster on this machine)", _n(e["slurm_s"])),
    ])
    lines += ["", f"Slurm's cost (submission, the start of each task, the merge as a job of its own): "
              f"{_n(e['slurm_cost_s'])} s in all, {_n(e['slurm_cost_s_per_shard'])} s per shard, "
              f"{_f(e['slurm_cost_s_per_student'])} s per student. The same scores for {e['same_scores']} of "
              f"{e['class_size']} students. One submission costs {_n(e['core_s_per_submission'])} s of one core.",
              ""]
    projection = e["projection"]
    lines += [f"A class of {projection['class_size']} on K nodes of C cores, one shard per node and a worker per "
              "core, assuming that cost per submission, the measured cost per shard and no wait in the queue:",
              ""]
    lines += _rows(("nodes × cores", "students per shard", "hours"),
                   [(f"{r['nodes']} × {r['cores']}", r["students_per_shard"], _f(r["hours"]))
                    for r in projection["rows"]])
    return lines


def _installing(e: dict) -> list[str]:
    return _rows(("what", "minutes"), [
        ("`make` creates `.venv`, pip's cache already holding the wheels", _n(e["venv_warm_cache_min"])),
        ("the same, pip's cache empty (torch alone is a 5.5 GB CUDA build)", f"about {_n(e['venv_cold_cache_min'])}"),
        ("the hub's environment, on a fresh machine (the first `inn-course hub`, or `make test`'s semester test)",
         f"about {_n(e['hub_environment_min'])}"),
    ])


def _other(e: dict) -> list[str]:
    rows = [(f"`{key}`", json.dumps(value, ensure_ascii=False) if isinstance(value, (dict, list)) else _n(value))
            for key, value in e.items() if key not in ("measured", "machine", "note", "command")]
    return _rows(("figure", "value"), rows)


RENDER = {"notebook": _notebook, "make_all": _make_all, "catalogue": _catalogue, "suite": _suite,
          "suite_quick": _suite, "class_grading": _class_grading, "slurm": _slurm, "installing": _installing}


def markdown(data: dict) -> str:
    """The page: a title, that it is generated, then one section per entry in SECTIONS' order."""
    lines = ["# Timings", "",
             "This page is generated from `timings.json` beside it by `make timings`, from what the commands below "
             "recorded when they last ran: do not edit it (a test fails when the two differ)."]
    for name, entry in _ordered(data).items():
        title, command = SECTIONS.get(name, (f"`{name}`", entry.get("command", "")))
        command = command.format(**{k: v for k, v in entry.items() if isinstance(v, (int, float, str))})
        lines += ["", f"## {title}", "",
                  f"Measured {entry.get('measured', 'on an unknown date')} on {_machine(entry)}"
                  + (f", by {command}." if command else ".")]
        if entry.get("note"):
            lines += ["", entry["note"]]
        lines += ["", *RENDER.get(name, _other)(entry)]
        while lines[-1] == "":
            lines.pop()
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help=f"collect nothing; exit 1 when {PAGE} differs from what {JSON_FILE} renders")
    parser.add_argument("--root", type=Path, default=REPO_ROOT, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    page = args.root / PAGE
    if args.check:
        if not page.is_file() or page.read_text() != markdown(load(args.root)):
            print(f"{PAGE} is stale or missing: run `make timings` and commit both files", file=sys.stderr)
            return 1
        return 0
    data = collect(args.root)
    page.write_text(markdown(data))
    dates = ", ".join(f"{name} {entry.get('measured')}" for name, entry in data.items())
    print(f"{JSON_FILE} and {PAGE} written: {len(data)} entries ({dates})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
