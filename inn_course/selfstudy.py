"""The self-study edition: the worked solution, executed, as a notebook and as one HTML page.

Built from the source notebook for readers who want the answers and the maths
with every figure, without installing anything:

- solution code kept, its ``### BEGIN/END SOLUTION`` marker lines dropped;
- hidden tests removed (grading internals; cells left with nothing to run go);
- each task shows its question, model answer and mark scheme, unwrapped;
  the empty answer cells students write in are dropped;
- the student's section on how work is checked (``GRADING_CELL``) becomes one
  on how to use this edition (``OPENING``): a self-learner is not graded;
- followed by a *going further* part that is in no other edition
  (``lab/<assignment>_going_further.py``, compiled as the lab is: backprop
  without stored activations, the i-ResNet's log-determinant, a density
  learned by a small i-ResNet flow);
- executed top to bottom in a fresh kernel, then exported to one HTML page that
  needs no network: every image embedded, MathJax (vendored, see
  ``inn_course/vendor/README.md``) inlined to render the maths, nothing fetched
  from a CDN (``inn_course/templates/selfstudy``).

The notebook's metadata records the SHA-256 of the source notebook it was
built from, and so does the page, so a test can tell when the committed
edition is stale.

Beside it, the **practice edition** (``practice_notebook``, not executed): the
student version where each autograded question is followed by a check cell
(``inn_course/practice.py``: the question's full tests on the learner's own
code) and each answer by its model answer, collapsed (JupyterLab's
``source_hidden``), to open after trying.
"""

from __future__ import annotations

import copy
import hashlib
import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbconvert import HTMLExporter

from . import notebooks, practice
from .labsource import ANSWER_TAG, build_notebook
from .api import prepare_environment, unix_socket_kernels
from .paths import CourseLayout

FIGURE_TAG = "figure"  # a cell so tagged must draw at least one image
GRADING_CELL = "how-checked"  # the student version's section on grading, replaced by OPENING here
OPENING = """## How to use this edition

This is the worked solution: every answer written out and run, with its
figures, and for each maths question the model answer and the mark scheme a
grader uses. To learn from it, try each question first in the student version
of the notebook (`release/invertible_networks/invertible_networks.ipynb`), run
the test cell under your answer, and only then read the answer here; compare
your proofs with the mark schemes, criterion by criterion."""
METADATA_KEY = "inn_course"
EXECUTION_TIMEOUT = 600  # seconds per cell, as for grading (nbgrader_config.py)
PACKAGE = Path(__file__).resolve().parent
TEMPLATES = PACKAGE / "templates"
MATHJAX = PACKAGE / "vendor" / "mathjax" / "tex-svg-full.js"
MATHJAX_SHA256 = "a4354ff94fd868aea0cc6eaaa79a57fda0588646fc46ee3700a349ee0a11cbe6"  # npm mathjax@3.2.2


PRACTICE_OPENING = """## How to use the practice edition

This is the student version of the lab with two additions after each
question. Try the question first: write your answer, run it and its test
cell. Then run the **check** cell below it: it runs the course's full tests
of that question on your code (the visible ones and the properties the
graders' hidden tests judge) and prints what holds, what fails and the points
a grader would give. Only then open the **model answer**: it is collapsed
(click its bar, •••, to open it). For
the maths questions, the model answer comes with the mark scheme graders use.

The checks run the course's tests in this kernel: open this notebook from a
clone of the course's repository, with its package installed
(`pip install -r requirements.txt -e .`). From a terminal,
`inn-course check NOTEBOOK` checks a whole notebook the same way."""
PRACTICE_SETUP = """# The checks below run the course's own tests of a question in this kernel (inn_course/practice.py).
from inn_course.practice import check, remember_cells

remember_cells()  # a check looks at the source of the question's cells as you last ran them"""


@dataclass(frozen=True)
class Edition:
    notebook: Path
    html: Path
    practice: Path


def edition_paths(layout: CourseLayout, folder: Path | None = None) -> Edition:
    folder = folder or layout.root / "self-study"
    name = f"{layout.assignment}_solutions"
    return Edition(folder / f"{name}.ipynb", folder / f"{name}.html", folder / f"{layout.assignment}_practice.ipynb")


def going_further_file(layout: CourseLayout) -> Path:
    return layout.root / "lab" / f"{layout.assignment}_going_further.py"


def going_further(layout: CourseLayout) -> list:
    """The self-study edition's own last part (ungraded), as notebook cells; none when the course has none."""
    path = going_further_file(layout)
    return build_notebook(path.read_text()).cells if path.is_file() else []


def source_digest(layout: CourseLayout) -> str:
    """What the edition is built from: the source notebook, and the going-further part if there is one."""
    digest = hashlib.sha256(layout.source_notebook.read_bytes())
    if going_further_file(layout).is_file():
        digest.update(going_further_file(layout).read_bytes())
    return digest.hexdigest()


def _only_comments(source: str) -> bool:
    return all(not line.strip() or line.lstrip().startswith("#") for line in source.splitlines())


def solution_notebook(source: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The source notebook as a plain worked solution (not executed)."""
    nb = copy.deepcopy(source)
    cells = []
    for cell in nb.cells:
        meta = cell.metadata
        if ANSWER_TAG in meta.get("tags", []):
            continue
        text = notebooks.redact(cell.source, notebooks.HIDDEN_BEGIN, notebooks.HIDDEN_END, "")
        text = notebooks.strip_marker_lines(text, notebooks.SOLUTION_BEGIN, notebooks.SOLUTION_END,
                                            notebooks.MARK_SCHEME_BEGIN, notebooks.MARK_SCHEME_END)
        cell.source = text.strip("\n")
        if cell.cell_type == "code" and _only_comments(cell.source):
            continue  # e.g. the grading kit: nothing is left once its hidden part is gone
        meta.pop("nbgrader", None)
        if cell.get("id") == GRADING_CELL:
            cell.source = OPENING
        cells.append(cell)
    nb.cells = cells
    return nb


def _collapsed(cell_id: str, text: str) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_markdown_cell(text, id=cell_id)
    cell.metadata = {"jupyter": {"source_hidden": True}, "tags": [practice.MODEL_TAG]}
    return cell


def _model_code(cell) -> str:
    code = notebooks.redact(cell.source, notebooks.HIDDEN_BEGIN, notebooks.HIDDEN_END, "")
    code = notebooks.strip_marker_lines(code, notebooks.SOLUTION_BEGIN, notebooks.SOLUTION_END).strip("\n")
    return f"**Model answer** (the cell `{cell.id}`):\n\n```python\n{code}\n```"


def practice_notebook(release: nbformat.NotebookNode, source: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The student version with, after each autograded question, its check and its model answer, collapsed."""
    nb = copy.deepcopy(release)
    solutions = {cell.id: cell for cell in source.cells}
    tests = set(notebooks.autograded_cells(nb))  # grade ids, which are the cells' ids in this lab
    cells, pending, task = [], [], None
    for cell in nb.cells:
        meta = notebooks.nbgrader(cell)
        if cell.id == GRADING_CELL:
            setup = nbformat.v4.new_code_cell(PRACTICE_SETUP, id="practice-setup")
            setup.metadata = {"tags": [practice.CHECK_TAG]}
            cells += [nbformat.v4.new_markdown_cell(PRACTICE_OPENING, id=GRADING_CELL), setup]
            continue
        cells.append(cell)
        if meta.get("task"):
            task = cell.id
        if meta.get("solution") and cell.cell_type == "code":
            model = _collapsed(f"model-{cell.id}", _model_code(solutions[cell.id]))
            if cell.id.removesuffix("_answer") in tests:
                pending.append(model)  # shown after the question's test cell and its check
            else:
                cells.append(model)  # a figure or a measurement: its model right under it
        elif cell.id in tests:
            check = nbformat.v4.new_code_cell(f'check("{cell.id}")', id=f"check-{cell.id}")
            check.metadata = {"tags": [practice.CHECK_TAG]}
            cells += [check, *pending]
            pending = []
        elif ANSWER_TAG in cell.metadata.get("tags", []) and task is not None:
            schemes = notebooks.regions(solutions[task].source, notebooks.MARK_SCHEME_BEGIN, notebooks.MARK_SCHEME_END)
            cells.append(_collapsed(f"model-{task}", "\n\n".join(s.strip("\n") for s in schemes)))
            task = None
    if pending:
        raise ValueError(f"model answers with no test cell after them: {[c.id for c in pending]}")
    nb.cells = cells
    return nb


@contextmanager
def _inline_figures():
    """Kernels inherit MPLBACKEND; the tooling sets Agg, which would draw no image into the outputs."""
    saved = os.environ.get("MPLBACKEND")
    os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("MPLBACKEND", None)
        else:
            os.environ["MPLBACKEND"] = saved


def execute(nb: nbformat.NotebookNode, workdir: Path) -> nbformat.NotebookNode:
    """Run every cell in a fresh kernel; an error is kept in the outputs (and reported by ``problems``)."""
    prepare_environment()
    with _inline_figures(), unix_socket_kernels() as config:
        NotebookClient(nb, timeout=EXECUTION_TIMEOUT, kernel_name="python3", allow_errors=True, config=config,
                       resources={"metadata": {"path": str(workdir)}}).execute()
    return nb


def _has_image(cell) -> bool:
    return any("image/png" in output.get("data", {}) for output in cell.get("outputs", []))


def problems(nb: nbformat.NotebookNode) -> list[str]:
    """What is wrong with an executed edition: errors, figure cells without an image, untagged images."""
    found = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        for output in cell.outputs:
            if output.output_type == "error":
                found.append(f"cell {cell.id}: {output.ename}: {output.evalue}")
            elif output.output_type == "stream" and output.name == "stderr":
                found.append(f"cell {cell.id} wrote to stderr: {output.text.strip()[:200]}")
        tagged = FIGURE_TAG in cell.metadata.get("tags", [])
        if tagged and not _has_image(cell):
            found.append(f"figure cell {cell.id} drew no image")
        if _has_image(cell) and not tagged:
            found.append(f"cell {cell.id} draws an image but is not tagged {FIGURE_TAG!r}")
    return found


def _mathjax() -> str:
    script = MATHJAX.read_bytes()
    if hashlib.sha256(script).hexdigest() != MATHJAX_SHA256:
        raise RuntimeError(f"{MATHJAX} is not the vendored MathJax (see inn_course/vendor/README.md)")
    text = script.decode()
    if "</script" in text.lower():  # would end the inline <script> early
        raise RuntimeError(f"{MATHJAX} cannot be inlined: it contains '</script'")
    return text


def to_html(nb: nbformat.NotebookNode, digest: str) -> str:
    """One page that works offline: images embedded by nbconvert, MathJax inlined, no CDN."""
    exporter = HTMLExporter(template_name="selfstudy", extra_template_basedirs=[str(TEMPLATES)])
    html, _ = exporter.from_notebook_node(nb, resources={"inline_mathjax": _mathjax()})
    return html.replace("<head>", f'<head>\n<meta name="{METADATA_KEY}-source-sha256" content="{digest}">', 1)


def build(layout: CourseLayout, folder: Path | None = None) -> tuple[Edition, list[str]]:
    """Write the executed solution notebook and its HTML page; return them and any problems."""
    edition = edition_paths(layout, folder)
    edition.notebook.parent.mkdir(parents=True, exist_ok=True)
    digest, source = source_digest(layout), notebooks.read(layout.source_notebook)
    nb = solution_notebook(source)
    nb.cells += going_further(layout)
    nb = execute(nb, edition.notebook.parent)
    for cell in nb.cells:  # run times differ on every build: keep the diff to what the cells show
        cell.metadata.pop("execution", None)
    nb.metadata[METADATA_KEY] = {"source_sha256": digest}
    notebooks.write(nb, edition.notebook)
    edition.html.write_text(to_html(nb, digest))
    drill = practice_notebook(notebooks.read(layout.release_notebook), source)
    drill.metadata[METADATA_KEY] = {"source_sha256": digest}
    notebooks.write(drill, edition.practice)
    return edition, problems(nb)
