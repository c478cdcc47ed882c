"""What nbgrader's Validate tells a student before they submit.

Validate (the button in JupyterLab, `nbgrader validate` on the command line) lists the test
cells that fail. A visible test that *skips* when an earlier answer is missing would let an
unanswered question validate as "Success!"; these tests make sure it cannot. The browser test
(tests/test_browser.py) clicks the real button; here nbgrader's Validator, which that button
calls, runs on notebooks built for each case.
"""

from __future__ import annotations

import pytest

from inn_course import notebooks, submissions

from .submissions import catalogue

# Test cells whose visible part may skip ("Visible tests skipped: ..."): the answer that, left
# unanswered while every other answer is right, must still make Validate fail, and what it must say.
CONDITIONAL_TESTS = {
    # runs once Q5 and Q6 work, so the template's own error shows
    "q07_irevnet": ("q07_irevnet_answer", "NotImplementedError"),
    # reads the table the cell above computes, and says why it is missing
    "q08_train_and_compare": ("q08_train_and_compare_answer", "train_and_compare is not written yet"),
}


def _test_cells_that_can_skip(nb) -> set[str]:
    return {notebooks.grade_id(c) for c in nb.cells
            if notebooks.nbgrader(c).get("grade") and "Visible tests skipped" in c.source}


def _validate(nb, folder) -> dict:
    from nbgrader.validator import Validator
    from traitlets.config import Config

    path = folder / "invertible_networks.ipynb"
    path.write_text(notebooks.dumps(nb))
    config = Config()
    config.Execute.timeout = 600  # the course's limit: these tests are about what Validate says, not speed
    return Validator(config=config).validate(str(path))


def test_every_visible_test_that_can_skip_is_checked_here(repo):
    assert _test_cells_that_can_skip(notebooks.read(repo.release_notebook)) == set(CONDITIONAL_TESTS)


@pytest.mark.slow
@pytest.mark.parametrize("test_cell", sorted(CONDITIONAL_TESTS))
def test_an_unanswered_question_never_validates_as_success(repo, tmp_path, test_cell):
    """The reference answers with one answer put back to its template: Validate names that question alone."""
    release = notebooks.read(repo.release_notebook)
    answer, message = CONDITIONAL_TESTS[test_cell]
    template = release.cells[notebooks.index_of(release, answer)].source
    assert "NotImplementedError" in template
    nb = catalogue.with_answers(submissions.sample(repo, "reference"), {answer: template})

    result = _validate(nb, tmp_path)
    failed = [c["source"] for c in result.get("failed", [])]
    expected = release.cells[notebooks.index_of(release, test_cell)].source.strip()
    assert failed == [expected], f"Validate should list only {test_cell}; it said {sorted(result)}"
    assert message in result["failed"][0]["error"]
