"""Is the self-study edition the whole worked solution, executed, with every figure, and up to date?"""

import re

import pytest

from inn_course import lint, notebooks, selfstudy
from inn_course.labsource import ANSWER_STUB

from .browser.chromium import CHROMIUM, CHROMIUM_ARGS, MISSING


def _edition_source(repo):
    return selfstudy.solution_notebook(notebooks.read(repo.source_notebook))


def test_edition_keeps_solutions_and_drops_grading_internals(repo):
    """Are solution code and model answers in, and markers, hidden tests, the kit and stubs out?"""
    source = notebooks.read(repo.source_notebook)
    nb = _edition_source(repo)
    text = lint.notebook_text(nb)
    for begin, end in lint.SECRETS.values():
        assert begin not in text and end not in text
    # The edition shows the solutions, so a hidden-test line that is also part of a solution line
    # ("dtype=torch.float64)") proves nothing: the solutions count as the edition's own text.
    solutions = "\n".join(b for c in source.cells for b in notebooks.regions(c.source, *lint.SECRETS["solution"]))
    assert lint.leaks(source, text, kinds=("hidden test",), own_text=solutions) == []
    assert "_KIT" not in text and all(cell.source != ANSWER_STUB for cell in nb.cells)
    assert "return model.inverse(path)" in text  # Q16's solution
    assert "**Mark scheme (5 points" in text and "Model answer" in text  # Q17's task, unwrapped
    assert all("nbgrader" not in cell.metadata for cell in nb.cells)
    figures = [c.id for c in nb.cells if selfstudy.FIGURE_TAG in c.metadata.get("tags", [])]
    assert {"q01_show", "q16_paths", "q16_predictions"} <= set(figures)


def test_edition_speaks_to_a_self_learner_not_to_a_student_being_graded(repo):
    """The student's section on grading becomes how to use the edition, in the same place, before Q1."""
    source = notebooks.read(repo.source_notebook)
    grading = [c for c in source.cells if c.get("id") == selfstudy.GRADING_CELL]
    assert len(grading) == 1 and "How your work is checked" in grading[0].source
    nb = _edition_source(repo)
    text = lint.notebook_text(nb)
    assert "How your work is checked" not in text and "Hidden tests" not in text
    ids = [c.get("id") for c in nb.cells]
    opening = ids.index(selfstudy.GRADING_CELL)
    assert nb.cells[opening].source == selfstudy.OPENING and opening < ids.index("q01_show")


def test_problems_finds_errors_and_missing_figures(repo):
    """Would an error output, a figure cell without an image, or an untagged image be reported?"""
    nb = _edition_source(repo)
    figure = next(c for c in nb.cells if selfstudy.FIGURE_TAG in c.metadata.get("tags", []))
    plain = next(c for c in nb.cells if c.cell_type == "code" and c is not figure)
    plain.outputs = [notebooks.nbformat.v4.new_output("error", ename="ValueError", evalue="boom", traceback=[]),
                     notebooks.nbformat.v4.new_output("display_data", data={"image/png": "iVBOR"})]
    found = "\n".join(selfstudy.problems(nb))
    assert "ValueError: boom" in found
    assert f"figure cell {figure.id} drew no image" in found
    assert f"cell {plain.id} draws an image but is not tagged" in found


def test_going_further_ends_the_executed_edition_and_no_other(repo):
    """The going-further part is the self-study edition's own: executed there, with its three figures, and in
    neither the source, the release nor the practice edition; changing it makes the edition stale."""
    further = selfstudy.going_further(repo)
    ids = [c.id for c in further]
    assert ids[0] == "further" and len(ids) >= 6
    edition = notebooks.read(selfstudy.edition_paths(repo).notebook)
    assert [c.id for c in edition.cells[-len(ids):]] == ids
    figures = [c for c in edition.cells[-len(ids):] if selfstudy.FIGURE_TAG in c.metadata.get("tags", [])]
    assert len(figures) == 3 and all(any("image/png" in o.get("data", {}) for o in c.outputs) for c in figures)
    for other in (repo.source_notebook, repo.release_notebook, selfstudy.edition_paths(repo).practice):
        assert not set(ids) & {c.id for c in notebooks.read(other).cells}, f"{other.name} holds going-further cells"
    assert "class ReversibleStack" not in repo.release_notebook.read_text()


def test_the_edition_is_stale_when_the_going_further_part_changes(repo, tmp_path):
    from inn_course.paths import copy_course

    course = copy_course(tmp_path / "course")
    before = selfstudy.source_digest(course)
    path = selfstudy.going_further_file(course)
    path.write_text(path.read_text() + "\n# %% [markdown]\n# One more remark.\n")
    assert selfstudy.source_digest(course) != before


def test_committed_edition_is_up_to_date_and_complete(repo):
    """Was the committed edition built from the current source, without errors, every figure embedded?"""
    edition = selfstudy.edition_paths(repo)
    nb = notebooks.read(edition.notebook)
    digest = selfstudy.source_digest(repo)
    assert nb.metadata[selfstudy.METADATA_KEY]["source_sha256"] == digest, "self-study edition is stale: run `make all`"
    assert selfstudy.problems(nb) == []
    html = edition.html.read_text()
    assert f'content="{digest}"' in html, "self-study HTML is stale: run `make all`"
    images = sum("image/png" in o.get("data", {}) for c in nb.cells for o in c.get("outputs", []))
    assert images >= 5 and len(re.findall(r'<img [^>]*src="data:image/png;base64,', html)) == images


@pytest.mark.slow
def test_edition_builds_with_every_figure_and_no_error(repo, tmp_path):
    """Does the worked solution run from a clean kernel and draw every figure (and export to HTML)?"""
    edition, found = selfstudy.build(repo, tmp_path)
    assert found == []
    nb = notebooks.read(edition.notebook)
    for cell in nb.cells:
        if selfstudy.FIGURE_TAG in cell.metadata.get("tags", []):
            assert any("image/png" in o.get("data", {}) for o in cell.outputs), cell.id
    assert "Q17. i-RevNet or i-ResNet?" in edition.html.read_text()


def test_committed_page_fetches_nothing_from_the_network(repo):
    """Does the committed HTML load no script, style or font from outside (MathJax is inlined)?"""
    html = selfstudy.edition_paths(repo).html.read_text()
    assert re.findall(r'<(?:script|link|img|iframe)\b[^>]*\b(?:src|href)="(?!data:)[^"]*"', html) == []
    assert "window.MathJax" in html and 'VERSION="3.2.2"' in html


@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason=MISSING)
def test_maths_renders_in_a_browser_with_the_network_off(repo):
    """Opened offline in Chromium, does every formula render, with no raw $ and no MathJax error?"""
    from playwright.sync_api import sync_playwright

    page_url = selfstudy.edition_paths(repo).html.as_uri()
    markdown = notebooks.read(selfstudy.edition_paths(repo).notebook)
    formulas = sum(len(re.findall(r"\$\$.+?\$\$|\$.+?\$", c.source, re.S)) for c in markdown.cells
                   if c.cell_type == "markdown")
    requested = []
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            context = chromium.new_context(offline=True)
            context.on("request", lambda request: requested.append(request.url))
            page = context.new_page()
            page.goto(page_url)
            page.wait_for_function("window.MathJax && MathJax.startup && MathJax.startup.promise", timeout=60_000)
            page.evaluate("MathJax.startup.promise")
            rendered = page.locator(".jp-MarkdownOutput mjx-container").count()
            errors = page.locator("mjx-merror").count()
            dollars = page.evaluate("""[...document.querySelectorAll('.jp-MarkdownOutput')]
                .map(e => e.innerText).join('\\n').split('\\n').filter(line => line.includes('$'))""")
        finally:
            chromium.close()
    assert [url for url in requested if not url.startswith(("file:", "data:"))] == []
    assert errors == 0, f"{errors} formulas fail to render"
    assert dollars == [], f"maths left as raw TeX: {dollars[:3]}"
    assert rendered >= formulas > 300
