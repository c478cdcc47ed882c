"""The student's view, in a real browser: JupyterLab + nbgrader's Validate button, headless Chromium.

JupyterLab serves a student's folder holding two copies of the release: one filled with the
reference answers, one untouched (the handout). Playwright drives Debian's Chromium through
what a student does: open the notebook, read it, Restart & Run All, click Validate.
Screenshots land in artifacts/browser/; `make screenshots` copies the docs' two (README.md, docs/student.md) from there.

Skipped, saying why, where Chromium is missing (`.ci/run` installs Debian's chromium).
Set INN_CHROMIUM to use another Chromium binary.
"""

from __future__ import annotations

import re
import shutil

import pytest

from inn_course import notebooks, practice, selfstudy, submissions
from inn_course.paths import REPO_ROOT, CourseLayout

from .submissions import variants
from .submissions.catalogue import with_answers

from .browser.chromium import CHROMIUM, CHROMIUM_ARGS, MISSING

ARTIFACTS = REPO_ROOT / "artifacts" / "browser"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None, reason=MISSING),
]
playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (requirements.txt)")

from .browser.jupyterlab import JupyterLab  # noqa: E402  (after the skips: needs playwright)
from .browser.student import StudentNotebook  # noqa: E402

NOTEBOOK = "invertible_networks.ipynb"
PRACTICE = "invertible_networks_practice.ipynb"


def _practice_tried(repo: CourseLayout):
    """The practice edition as a learner leaves it: Q5 answered wrongly (no odd-channel check), Q6 right, Q7 not yet."""
    nb = selfstudy.practice_notebook(notebooks.read(repo.release_notebook), notebooks.read(repo.source_notebook))
    reference = submissions.sample(repo, "reference")
    return with_answers(nb, {"q05_split_answer": variants.SPLIT_NO_ODD_CHECK, "q06_invertible_layer_answer":
                             reference.cells[notebooks.index_of(reference, "q06_invertible_layer_answer")].source})


@pytest.fixture(scope="module")
def release_nb(repo: CourseLayout):
    return notebooks.read(repo.release_notebook)


@pytest.fixture(scope="module")
def lab(tmp_path_factory, repo: CourseLayout, release_nb):
    """JupyterLab on a student's folder: reference/ (model answers filled in) and handout/ (untouched); and a
    self-learner's practice/ (the practice edition, tried on three questions)."""
    home = tmp_path_factory.mktemp("student")
    for name in ("reference", "handout"):
        (home / name).mkdir()
        (home / name / NOTEBOOK).write_text(notebooks.dumps(submissions.sample(repo, name)))
    (home / "practice").mkdir()
    (home / "practice" / PRACTICE).write_text(notebooks.dumps(_practice_tried(repo)))
    with JupyterLab(home, tmp_path_factory.mktemp("jupyter")) as server:
        yield server


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    """A fresh browser page, 1400×900, that records uncaught JavaScript errors in ``page.js_errors``."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.js_errors = []
    page.on("pageerror", lambda error: page.js_errors.append(str(error)))
    yield page
    context.close()


def _cells_where(nb, predicate) -> list[int]:
    return [i for i, cell in enumerate(nb.cells) if predicate(cell)]


def test_release_opens_with_every_question_and_its_maths_typeset(lab, page, release_nb):
    student = StudentNotebook(page, lab.url(f"handout/{NOTEBOOK}"))
    assert student.cells.count() == len(release_nb.cells), "JupyterLab does not show every cell of the release"

    expected = [line[3:].replace("`", "").strip() for cell in release_nb.cells if cell.cell_type == "markdown"
                for line in cell.source.splitlines() if line.startswith("## ")]
    shown = student.headings(2)
    assert shown == expected
    assert [h.split(".")[0] for h in shown if re.match(r"Q\d+\.", h)] == [f"Q{n}" for n in range(1, 18)]

    maths = _cells_where(release_nb, lambda c: c.cell_type == "markdown" and "$" in c.source)
    assert len(maths) >= 10, "the release has lost its maths"
    student.wait_for_maths(maths)
    assert student.maths_problems() == []
    student.screenshot(ARTIFACTS / "handout-opened.png")
    assert page.js_errors == []


def test_reference_answers_run_all_with_every_figure_and_no_error(lab, page, release_nb):
    student = StudentNotebook(page, lab.url(f"reference/{NOTEBOOK}"))
    student.restart_and_run_all()

    assert student.unexecuted_code_cells() == [], "Run All stopped before the end"
    assert student.error_outputs() == {}
    figures = _cells_where(release_nb, lambda c: "figure" in c.metadata.get("tags", []))
    images = student.images_per_cell()
    assert sorted(images) == figures, f"cells with images {sorted(images)}, figure cells {figures}"
    assert sum(images.values()) >= len(figures)

    # Q1's visible tests passing above the student's first figure; Q16's paths between two digits.
    q01_tests, q16_paths = (notebooks.index_of(release_nb, gid) for gid in ("q01_visualise_data", "q16_paths"))
    student.screenshot(ARTIFACTS / "notebook-q01.png", top=student.cell(q01_tests))
    student.screenshot(ARTIFACTS / "notebook-q16.png", top=student.cell(q16_paths).locator("img").first)
    assert page.js_errors == []


def test_run_all_on_the_handout_stops_at_the_first_unanswered_question(lab, page, release_nb):
    """The error detectors above can fail: on the handout, Run All stops at Q1's test with the template's error."""
    student = StudentNotebook(page, lab.url(f"handout/{NOTEBOOK}"))
    student.restart_and_run_all()

    first_test = notebooks.index_of(release_nb, "q01_visualise_data")
    errors = student.error_outputs()
    assert list(errors) == [first_test] and "NotImplementedError" in errors[first_test]
    later_code = _cells_where(release_nb, lambda c: c.cell_type == "code")
    assert student.unexecuted_code_cells() == [i for i in later_code if i > first_test]
    assert student.images_per_cell() == {}
    student.screenshot(ARTIFACTS / "handout-run-all.png", top=student.cell(first_test))
    assert page.js_errors == []


def test_validate_accepts_the_reference_answers_and_the_saved_file_grades_cleanly(lab, page, repo, tmp_path):
    student = StudentNotebook(page, lab.url(f"reference/{NOTEBOOK}"))
    validation = student.validate()
    student.screenshot(ARTIFACTS / "validate-reference.png")
    assert validation.outcome == "success", validation.text[:2000]
    assert "Success! Your notebook passes all the tests." in validation.text

    # Validate saved the notebook first: what JupyterLab wrote must pass the pre-grading scan untouched.
    course = CourseLayout(tmp_path)
    saved = lab.home / "reference" / NOTEBOOK
    submitted = course.notebook("submitted", "browser")
    submitted.parent.mkdir(parents=True)
    shutil.copy(saved, submitted)
    scan = submissions.scan(course, "browser", submissions.Baseline.of(repo))
    assert scan.gradable and scan.flags == []
    assert page.js_errors == []


def test_validate_lists_every_failing_test_of_the_handout(lab, page, release_nb):
    student = StudentNotebook(page, lab.url(f"handout/{NOTEBOOK}"))
    validation = student.validate()
    student.screenshot(ARTIFACTS / "validate-handout.png")
    assert validation.outcome == "failed", validation.text[:2000]

    # Every autograded question fails, except Q7: its visible tests wait until Q5 and Q6 pass, and
    # those two are listed (tests/test_validate.py checks that no question can skip its way to "Success!").
    # (The autograded cells have points: the 0-point grading kit passes on any notebook.)
    expected = [c.source.strip() for gid, c in notebooks.autograded_cells(release_nb).items() if gid != "q07_irevnet"]
    listed = [s.strip() for s in validation.failed_sources]
    assert listed == expected, "Validate should list the test cell of every unanswered question, in order"
    # Each failure says why in its last line: the template's NotImplementedError, or a test's own
    # message (an AssertionError with text), never a bare NameError or TypeError from inside a test.
    last_lines = [e.strip().splitlines()[-1].strip() for e in validation.errors]
    unexplained = [line for line in last_lines
                   if not (line.startswith("NotImplementedError") or re.match(r"AssertionError: \w", line))]
    assert len(validation.errors) == len(listed) and unexplained == []
    assert page.js_errors == []


def test_the_practice_edition_checks_the_learners_code_and_opens_each_model_answer_on_demand(lab, page, repo):
    """A self-learner's loop in JupyterLab: answers collapsed; a check names a failed property, gives full points
    for a right answer, says plainly that an unanswered question is unanswered; a click opens a model answer."""
    nb = _practice_tried(repo)
    ids = [cell.id for cell in nb.cells]
    student = StudentNotebook(page, lab.url(f"practice/{PRACTICE}"))
    models = [i for i, cell in enumerate(nb.cells) if practice.MODEL_TAG in cell.metadata.get("tags", [])]
    assert student.collapsed_inputs() == models, "every model answer, and nothing else, should open collapsed"

    said = {}
    for cell_id in ("practice-setup", "setup", "q05_split_answer", "check-q05_split", "q06_invertible_layer_answer",
                    "check-q06_invertible_layer", "q07_irevnet_answer", "check-q07_irevnet"):
        said[cell_id] = student.run_cell(ids.index(cell_id))
    assert said["check-q05_split"].startswith("q05_split: 1.5 of 2 points"), said["check-q05_split"]
    assert "FAILED (0.5 pt): Splitting an odd number of channels must raise an error" in said["check-q05_split"]
    assert said["check-q06_invertible_layer"].startswith("q06_invertible_layer: 3 of 3 points")
    assert "FAILED" not in said["check-q06_invertible_layer"]
    assert said["check-q07_irevnet"].startswith("q07_irevnet: not answered yet (q07_irevnet_answer still holds")
    student.screenshot(ARTIFACTS / "practice-check.png", top=student.cell(ids.index("check-q05_split")))

    model = ids.index("model-q05_split_answer")
    student.expand(model)
    assert model not in student.collapsed_inputs()
    shown = student.cell(model).inner_text()
    assert "Model answer" in shown and "class SplitAlongChannels" in shown and "ValueError" in shown
    student.screenshot(ARTIFACTS / "practice-model-answer.png", top=student.cell(model))
    assert page.js_errors == []
