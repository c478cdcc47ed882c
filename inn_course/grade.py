"""Autograde submissions with nbgrader and collect per-cell scores."""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field

from traitlets.config import Config

from . import execution, judge, notebooks, processes, submissions
from .api import load_config, open_api, unix_socket_kernels
from .paths import CourseLayout


@dataclass
class GradeResult:
    """One student's autograde outcome (nbgrader's result dict, made explicit)."""

    student: str
    success: bool
    score: float = 0.0  # everything graded so far (autograded, and manual grades once given)
    max_score: float = 0.0  # every point of the assignment
    max_points: dict[str, float] = field(default_factory=dict)  # grade_id -> points
    cells: dict[str, float | None] = field(default_factory=dict)  # grade_id -> score (None: awaits manual grading)

    @property
    def pending_manual(self) -> float:
        """Points that still await a human grader."""
        return sum(self.max_points[gid] for gid, score in self.cells.items() if score is None)
    flags: list[str] = field(default_factory=list)
    seconds: float = 0.0
    error: str = ""


def autograde(layout: CourseLayout, students: list[str], config: Config | None = None,
              timeout: int | None = None) -> list[GradeResult]:
    """Scan and autograde each student; one broken or hostile submission never stops or touches the others.

    ``timeout`` (seconds per cell) overrides the course's ``Execute.timeout`` for this batch.
    """
    config = Config(config or load_config(layout))
    if timeout is not None:
        config.Execute.timeout = timeout
    with unix_socket_kernels(config) as config:
        api = open_api(layout, config)
        baseline = submissions.Baseline.of(layout)
        processes.adopt_orphans()
        results = []
        for student in students:
            started = time.perf_counter()
            try:
                result = _autograde_one(api, layout, student, baseline)
            except Exception as error:  # whatever one submission does, the others are graded
                result = GradeResult(student, success=False, max_score=sum(baseline.max_points.values()),
                                     max_points=dict(baseline.max_points), error=repr(error),
                                     flags=[f"grading failed ({type(error).__name__}: {str(error)[:200]}): "
                                            "not graded, grade by hand"])
            result.seconds = time.perf_counter() - started
            results.append(result)
    return results


def _autograde_one(api, layout: CourseLayout, student: str, baseline: submissions.Baseline) -> GradeResult:
    scan = submissions.scan(layout, student, baseline)
    result = GradeResult(student, success=False, flags=list(scan.flags),
                         max_score=sum(baseline.max_points.values()), max_points=dict(baseline.max_points))
    if not scan.gradable:
        shutil.rmtree(layout.notebook("autograded", student).parent, ignore_errors=True)
        return result
    before = processes.descendants()
    outcome = api.autograde(layout.assignment, student, force=True, create=True)
    left = processes.kill_new(before)
    if left:
        result.flags.append(f"left {len(left)} process(es) running after grading: killed")
    result.success = bool(outcome["success"])
    result.error = outcome.get("error") or ""
    log = outcome.get("log", "") or ""
    if result.success:
        _collect_scores(api, layout, result)
        result.flags.extend(_run_time_flags(layout, student))
    elif execution.KILLED_MARK in result.error + log:
        result.flags.append(f"a cell ignored the interrupt at the time limit: its kernel was killed, not graded")
    elif execution.NO_REPLY_MARK in result.error + log:
        result.flags.append("the kernel stopped replying to requests (its request handler was changed or broken): "
                            "killed, not graded")
    elif "Timeout waiting for IOPub output" in result.error + log:
        result.flags.append(f"the kernel's output stopped arriving (a message over "
                            f"{execution.BoundedExecute.max_message_bytes.default_value // 2 ** 20} MB?): not graded")
    elif any(sign in result.error + log for sign in ("DeadKernelError", "Kernel died")):
        result.flags.append("the kernel died while running it (os._exit, a crash, or out of memory): not graded")
    else:
        result.flags.append(f"nbgrader could not grade it ({last_line(result.error or log)}): not graded")
    return result


def last_line(text: str, limit: int = 200) -> str:
    """The last non-empty line of an error or log (a traceback's exception), cut to ``limit`` characters:
    the reason a student was not graded, kept in the results, the summary and the gradebook's comment."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return (lines[-1] if lines else "no error given")[:limit]


def _run_time_flags(layout: CourseLayout, student: str) -> list[str]:
    """What the graded run itself shows: cells stopped by the time limit, outputs cut, what the judge noted."""
    nb = notebooks.read(layout.notebook("autograded", student))

    def cells(found) -> list[str]:
        return [str(notebooks.grade_id(c) or c.get("id", "?")) for c in nb.cells
                if any(found(o) for o in c.get("outputs", []))]

    def text(output) -> str:
        return str(output.get("text", "")) + str(output.get("data", {}).get("text/plain", ""))

    flags = []
    timed_out = cells(lambda o: o.get("ename") == "CellTimeoutError")
    if timed_out:
        flags.append(f"cells stopped by the time limit: {', '.join(timed_out)}")
    cut = cells(lambda o: execution.TRUNCATED.split("{")[0] in text(o))
    if cut:
        flags.append(f"outputs cut to their size limit: {', '.join(cut)}")
    notes = sorted({line[len(judge.NOTE):].strip() for c in nb.cells if judge.is_test_cell(c)
                    for o in c.get("outputs", []) for line in text(o).splitlines() if line.startswith(judge.NOTE)})
    if notes:
        more = f"; and {len(notes) - 3} more (see the test cells)" if len(notes) > 3 else ""
        flags.append(f"the judge's notes: {'; '.join(notes[:3])}{more}")
    return flags


def _collect_scores(api, layout: CourseLayout, result: GradeResult) -> None:
    with api.gradebook as gb:
        submission = gb.find_submission(layout.assignment, result.student)
        result.score = float(submission.score)
        for nb in submission.notebooks:
            for grade in nb.grades:
                ungraded = grade.needs_manual_grade or (grade.auto_score is None and grade.manual_score is None)
                result.cells[grade.name] = None if ungraded else float(grade.score)


def score_table(results: list[GradeResult]) -> str:
    """A plain-text table: one row per student, one column per graded cell ("–": to grade by hand)."""
    cells = sorted({name for r in results for name, points in r.max_points.items() if points})
    header = ["student", "score", *cells, "flags"]
    rows = []
    for r in results:
        score = f"{r.score:g}/{r.max_score:g}" if r.success else "not graded"
        if r.success and r.pending_manual:
            score += f" ({r.pending_manual:g} to grade by hand)"
        row = [r.student, score]
        row += ["–" if r.cells.get(c) is None else f"{r.cells[c]:g}" for c in cells]
        row.append("; ".join(r.flags) or "")
        rows.append(row)
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    lines = ["  ".join(str(x).ljust(w) for x, w in zip(line, widths)).rstrip() for line in [header, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
