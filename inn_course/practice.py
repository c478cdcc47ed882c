"""Self-study checks: a question's full tests, run on the learner's own code, with the grader's verdict.

Two ways in, one set of tests (the course's answer key, ``lab/<assignment>_hidden_tests.py``, judged
as when a notebook is graded: each property with its share of the points and its one-sentence message):

- in the **practice edition** (``self-study/<assignment>_practice.ipynb``, built by ``make selfstudy``),
  a check cell after each question, ``check("q05_split")``, runs that question's tests in the learner's
  own kernel, on what it holds now, and prints what holds, what fails and the points;
- from a terminal, ``inn-course check NOTEBOOK`` runs a whole notebook in a fresh kernel with the judge
  and prints a table of questions, points and failed properties (``check_notebook``).

Neither is grading: no gradebook, no sandbox, and nothing defends the tests against the notebook (they run
where the learner's code runs, for the learner's own information). They are for self-study after a course;
neither reaches the student release or the bundle.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from . import judge, notebooks
from .paths import REPO_ROOT, CourseLayout

STUB = "raise NotImplementedError()"  # the release's code stub (nbgrader_config.py's ClearSolutions.code_stub)
CHECK_TAG = "practice-check"  # the practice edition's check cells (not run when a whole notebook is checked)
MODEL_TAG = "model-answer"  # its collapsed model answers
_SOURCES: dict[str, str] = {}  # cell id -> the source last run in it (JupyterLab sends each cell's id)


@dataclass
class Report:
    """One question's verdict: each property with its share, and what a grader would give."""

    grade_id: str
    points: float
    parts: list[tuple[float, bool, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    unanswered: list[str] = field(default_factory=list)  # cells of the question that still hold the stub

    @property
    def earned(self) -> float:
        return sum(share for share, held, _ in self.parts if held)

    @property
    def failed(self) -> list[str]:
        return [message for _, held, message in self.parts if not held]

    def __str__(self) -> str:
        title = f"{self.grade_id}: {self.earned:g} of {self.points:g} points as a grader would give them"
        if self.unanswered:
            cells = ", ".join(self.unanswered)
            return (f"{self.grade_id}: not answered yet ({cells} still holds the template's "
                    f"`{STUB}`): write your answer there, run it, then check again.")
        lines = [title]
        for share, held, message in self.parts:
            lines.append(f"  {'passed' if held else 'FAILED'} ({share:g} pt): {message}")
        lines += [f"  note: {note}" for note in self.notes]
        if not self.failed:
            lines.append("Every property holds: compare your answer with the model answer below.")
        return "\n".join(lines)


def answer_key(layout: CourseLayout | None = None) -> judge.AnswerKey:
    layout = layout or CourseLayout(REPO_ROOT)
    path = layout.hidden_tests
    if not path.is_file():
        raise FileNotFoundError(f"the course's tests are not at {path}: the checks need a clone of the course's "
                                "repository (the practice edition runs from its self-study/ folder)")
    return judge.answer_key(path)


def run_check(key: judge.AnswerKey, grade_id: str, run_request, sources: dict[str, str]) -> Report:
    """The hidden tests of ``grade_id``, as the judge runs them, against a kernel reached by ``run_request``."""
    test = key.tests.get(grade_id)
    if test is None:
        raise KeyError(f"the course has no autograded question {grade_id!r} (known: {', '.join(key.tests)})")
    kernel, score = judge.Kernel(run_request, key, sources), judge.Score(test.points)
    test.run(kernel, score)
    return Report(grade_id, test.points, score.parts, score.notes + kernel.notes)


# ------------------------------------------------------------------------------ in the learner's kernel

def remember_cells() -> None:
    """Record the source of each cell as it runs, by cell id (a question may be checked on its cell's source)."""
    from IPython import get_ipython

    shell = get_ipython()
    if shell is None:
        raise RuntimeError("remember_cells() runs in a Jupyter kernel (the practice edition's first code cell)")
    with contextlib.suppress(ValueError):
        shell.events.unregister("pre_run_cell", _remember)
    shell.events.register("pre_run_cell", _remember)


def _remember(info) -> None:
    cell_id = getattr(info, "cell_id", None)
    if cell_id and not getattr(info, "silent", False):
        _SOURCES[cell_id] = info.raw_cell


def _run_here(source: str) -> list[dict]:
    """Run a request in this kernel's namespace, and return what it displayed as notebook outputs.

    A request runs as a cell of its own would: with gradients on, whatever the hidden test around it
    turned off in its own process (the judge's ``torch.no_grad()``, which a kernel never sees). Unlike a
    graded kernel, this one is the learner's and lives on: the names a request binds (Q10 runs the answer
    cell again with a recording ``train``) and torch's random state are put back afterwards."""
    import torch
    from IPython import get_ipython
    from IPython.utils.capture import capture_output

    shell = get_ipython()
    names, rng = dict(shell.user_ns), torch.get_rng_state()
    with capture_output(stdout=True, stderr=True, display=True) as captured, torch.enable_grad():
        try:
            exec(compile(source, judge.REQUEST_NAME, "exec"), shell.user_ns)
        except Exception as error:  # the request's own try catches the notebook's errors; this is anything else
            return [{"output_type": "error", "ename": type(error).__name__}]
        finally:
            for name in set(shell.user_ns) - set(names):
                del shell.user_ns[name]
            shell.user_ns.update(names)
            torch.set_rng_state(rng)
    return [{"output_type": "display_data", "data": json.loads(json.dumps(output.data, default=str))}
            for output in captured.outputs]


def _unanswered(grade_id: str) -> list[str]:
    """The question's answer cells last run with the stub: q05_*_answer for q05_split (q13_train_norm's
    answer is in q13_invertible_residual_answer); figure and measurement cells do not count."""
    prefix = grade_id.split("_", 1)[0] + "_"
    return sorted(cell for cell, source in _SOURCES.items()
                  if cell.startswith(prefix) and cell.endswith("_answer") and STUB in source)


def check(grade_id: str) -> None:
    """Print the verdict of the course's tests of ``grade_id`` on what this kernel holds now."""
    with contextlib.redirect_stdout(io.StringIO()):  # loading the key reads MNIST quietly
        key = answer_key()
    unanswered = _unanswered(grade_id)
    if unanswered:
        report = Report(grade_id, key.tests[grade_id].points, unanswered=unanswered)
    else:
        report = run_check(key, grade_id, _run_here, dict(_SOURCES))
    print(report)


# ------------------------------------------------------------------------------ a whole notebook, from a terminal

def check_notebook(path: Path, layout: CourseLayout, timeout: int | None = None) -> list[Report]:
    """Run ``path`` in a fresh kernel (its own folder as working folder) with the judge; one Report per question."""
    from .api import load_config, prepare_environment, unix_socket_kernels

    nb = notebooks.read(path)
    nb.cells = [cell for cell in nb.cells if CHECK_TAG not in cell.metadata.get("tags", [])]
    config = load_config(layout)
    if timeout:
        config.Execute.timeout = timeout
    prepare_environment()
    reports = []
    with unix_socket_kernels(config) as config:
        executor = judge.JudgedExecute(config=config)
        resources = {"nbgrader": {"assignment": layout.assignment}, "metadata": {"path": str(path.parent)}}
        try:
            executor.preprocess(nb, resources)
        except Exception as error:  # a cell that raised: the notebook is judged as far as it ran
            reports.append(Report("notebook", 0, [(0, False, f"Run All stopped: {type(error).__name__}: "
                                                      f"{_first_line(str(error))}")]))
    for grade_id, score in getattr(executor, "scores", {}).items():
        reports.append(Report(grade_id, score.points, score.parts, score.notes))
    return reports


def _first_line(text: str) -> str:
    text = re.sub(r"\x1b\[[0-9;]*m", "", text)
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1][:200] if lines else ""


def table(reports: list[Report], manual_points: float = 0) -> str:
    """The terminal's report: one row per question, the failed properties under it, the total."""
    rows = [r for r in reports if r.grade_id != "notebook"]
    width = max([len(r.grade_id) for r in rows] + [8])
    lines = [f"{'question':{width}s}  points  failed properties", f"{'-' * width}  ------  -----------------"]
    for report in rows:
        failed = report.failed
        lines.append(f"{report.grade_id:{width}s}  {report.earned:>2g}/{report.points:<3g}  "
                     f"{failed[0] if failed else '-'}")
        lines += [f"{'':{width}s}          {message}" for message in failed[1:]]
        lines += [f"{'':{width}s}          note: {note}" for note in report.notes]
    earned, total = sum(r.earned for r in rows), sum(r.points for r in rows)
    lines.append(f"\nautograded: {earned:g} of {total:g} points"
                 + (f" (and {manual_points:g} graded by hand, with the mark schemes)" if manual_points else ""))
    lines += [f"{r.parts[0][2]}" for r in reports if r.grade_id == "notebook"]
    return "\n".join(lines)
