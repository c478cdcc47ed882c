"""The practice edition and `inn-course check`: the course's full tests of each question, for self-study.

The fast tests read the editions; the slow ones run a notebook answered with the reference, one wrong
answer from the catalogue (Q5 without its odd-channel check) and one question left unanswered (Q9):
in the learner's kernel through the practice edition's check cells, and from a terminal.
"""

from __future__ import annotations

import json
import subprocess
import sys

import nbformat
import pytest
from nbclient import NotebookClient

from inn_course import bundle, lint, notebooks, practice, selfstudy, submissions
from inn_course.api import prepare_environment, unix_socket_kernels
from inn_course.paths import REPO_ROOT

from .submissions import variants
from .submissions.catalogue import with_answers


def _practice(repo):
    return selfstudy.practice_notebook(notebooks.read(repo.release_notebook), notebooks.read(repo.source_notebook))


def test_each_question_is_followed_by_its_check_and_each_answer_by_its_model_collapsed(repo):
    nb, source = _practice(repo), notebooks.read(repo.source_notebook)
    ids = [c.id for c in nb.cells]
    for test in notebooks.autograded_cells(nb):
        check = nb.cells[ids.index(test) + 1]
        assert check.source == f'check("{test}")' and practice.CHECK_TAG in check.metadata["tags"]
    models = {c.id: c for c in nb.cells if practice.MODEL_TAG in c.metadata.get("tags", [])}
    assert all(c.metadata["jupyter"]["source_hidden"] is True for c in models.values()), "a model answer is open"
    for cell in source.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution") and cell.cell_type == "code":
            shown = models[f"model-{cell.id}"].source
            code = [line for line in cell.source.splitlines() if line.strip() and "### " not in line]
            assert all(line in shown for line in code), f"the model answer of {cell.id} is not its solution"
            assert ids.index(f"model-{cell.id}") > ids.index(cell.id)
        if meta.get("task"):
            assert "Mark scheme" in models[f"model-{cell.id}"].source, f"{cell.id}'s model lacks its mark scheme"
    opening = nb.cells[ids.index(selfstudy.GRADING_CELL)]
    assert opening.source == selfstudy.PRACTICE_OPENING and "How your work is checked" not in opening.source


def test_the_committed_practice_edition_is_current(repo):
    committed = notebooks.read(selfstudy.edition_paths(repo).practice)
    fresh = _practice(repo)
    fresh.metadata[selfstudy.METADATA_KEY] = {"source_sha256": selfstudy.source_digest(repo)}
    assert json.loads(notebooks.dumps(committed)) == json.loads(notebooks.dumps(fresh)), \
        "self-study/ holds a stale practice edition: run `make selfstudy`"


def test_nothing_of_the_practice_edition_reaches_the_release_or_the_bundle(repo):
    """Check cells and model answers are the practice edition's alone; it holds no hidden-test line."""
    for name, text in {"the release": repo.release_notebook.read_text(), **bundle.bundle_texts(repo)}.items():
        for mark in (practice.CHECK_TAG, practice.MODEL_TAG, "inn_course.practice", 'check("q'):
            assert mark not in text, f"{name} holds {mark!r}"
    source = notebooks.read(repo.source_notebook)
    solutions = "\n".join(b for c in source.cells for b in notebooks.regions(c.source, *lint.SECRETS["solution"]))
    text = lint.notebook_text(_practice(repo))
    assert lint.leaks(source, text, kinds=("hidden test",), own_text=solutions,
                      answer_key=repo.answer_key_text()) == []


def test_a_report_says_what_holds_what_fails_and_the_points():
    report = practice.Report("q05_split", 2, [(1.5, True, "Halves round-trip."), (0.5, False, "Odd refused.")])
    text = str(report)
    assert text.splitlines()[0] == "q05_split: 1.5 of 2 points as a grader would give them"
    assert "  passed (1.5 pt): Halves round-trip." in text and "  FAILED (0.5 pt): Odd refused." in text
    assert "Every property holds" not in text
    whole = practice.Report("q09_exact_inverse", 1, [(1, True, "Measured.")])
    assert "Every property holds" in str(whole)
    waiting = practice.Report("q09_exact_inverse", 1, unanswered=["q09_exact_inverse_answer"])
    assert str(waiting).startswith("q09_exact_inverse: not answered yet (q09_exact_inverse_answer still holds")
    table = practice.table([report, whole], manual_points=24)
    assert "q05_split" in table and "Odd refused." in table and "autograded: 2.5 of 3 points" in table


def test_a_question_is_unanswered_while_one_of_its_cells_holds_the_stub(monkeypatch):
    monkeypatch.setattr(practice, "_SOURCES", {"q09_exact_inverse_answer": "# YOUR CODE HERE\nraise NotImplementedError()",
                                               "q05_split_answer": "class SplitAlongChannels: ...",
                                               "q13_invertible_residual_answer": "raise NotImplementedError()",
                                               "q16_interpolate_answer": "def interpolate(): ...",
                                               "q16_paths": "# YOUR CODE HERE\nraise NotImplementedError()"})
    assert practice._unanswered("q09_exact_inverse") == ["q09_exact_inverse_answer"]
    assert practice._unanswered("q05_split") == []
    assert practice._unanswered("q13_train_norm") == ["q13_invertible_residual_answer"]  # its answer's cell
    assert practice._unanswered("q16_interpolate") == []  # a figure cell left as given is not the answer


# ------------------------------------------------------------------------------ running them

class LabClient(NotebookClient):
    """nbclient that sends each cell's id with its code, as JupyterLab does (IPython hands it to the check)."""

    async def async_execute_cell(self, cell, cell_index, execution_count=None, store_history=True):
        if not getattr(self.kc, "sends_cell_ids", False):
            session, channel = self.kc.session, self.kc.shell_channel

            def execute(code, silent=False, store_history=True, user_expressions=None, allow_stdin=None,
                        stop_on_error=True):
                content = {"code": code, "silent": silent, "store_history": store_history,
                           "user_expressions": user_expressions or {}, "allow_stdin": False,
                           "stop_on_error": stop_on_error}
                msg = session.msg("execute_request", content, metadata={"cellId": self._cell_id})
                channel.send(msg)
                return msg["header"]["msg_id"]

            self.kc.execute, self.kc.sends_cell_ids = execute, True
        self._cell_id = cell.get("id")
        return await super().async_execute_cell(cell, cell_index, execution_count, store_history)


@pytest.fixture(scope="module")
def answered(repo, tmp_path_factory):
    """The practice edition answered with the reference, but Q5 without its odd-channel check and Q9 left as given."""
    nb = _practice(repo)
    reference = submissions.sample(repo, "reference")
    answers = {c.id: c.source for c in reference.cells if c.metadata.get("nbgrader", {}).get("solution")
               and c.cell_type == "code"}
    answers["q05_split_answer"] = variants.SPLIT_NO_ODD_CHECK
    del answers["q09_exact_inverse_answer"]
    nb = with_answers(nb, answers)
    folder = tmp_path_factory.mktemp("practice")
    path = folder / "practice.ipynb"
    notebooks.write(nb, path)
    return path


@pytest.mark.slow
def test_check_cells_judge_the_learners_own_code_in_their_kernel(answered):
    nb = notebooks.read(answered)
    prepare_environment()
    with unix_socket_kernels() as config:
        LabClient(nb, timeout=600, kernel_name="python3", allow_errors=True, config=config,
                  resources={"metadata": {"path": str(answered.parent)}}).execute()
    said = {c.id.removeprefix("check-"): "".join(o.get("text", "") for o in c.outputs)
            for c in nb.cells if c.id.startswith("check-")}
    assert said["q05_split"].startswith("q05_split: 1.5 of 2 points")
    assert "FAILED (0.5 pt): Splitting an odd number of channels must raise an error" in said["q05_split"]
    assert said["q09_exact_inverse"].startswith("q09_exact_inverse: not answered yet (q09_exact_inverse_answer")
    for grade_id, text in said.items():
        if grade_id not in ("q05_split", "q09_exact_inverse"):
            points = practice.answer_key(None).tests[grade_id].points
            assert text.startswith(f"{grade_id}: {points:g} of {points:g} points") and "FAILED" not in text, text


@pytest.mark.slow
def test_inn_course_check_prints_each_questions_points_and_failed_properties(answered):
    run = subprocess.run([sys.executable, "-m", "inn_course", "--root", str(REPO_ROOT), "check", str(answered)],
                         capture_output=True, text=True, timeout=900)
    assert run.returncode == 1, run.stderr
    rows = {line.split()[0]: line for line in run.stdout.splitlines() if line.startswith("q")}
    assert rows["q05_split"].split()[1] == "1.5/2" and "Splitting an odd number" in rows["q05_split"]
    assert rows["q09_exact_inverse"].split()[1] == "0/1"
    assert rows["q16_interpolate"].split()[1:3] == ["3/3", "-"]
    assert "autograded: 30.5 of 32 points (and 24 graded by hand" in run.stdout
