"""The self-study edition: the worked solution, executed, as a notebook and as one HTML page.

Built from the source notebook for readers who want the answers and the maths
with every figure, without installing anything:

- solution code kept, its ``### BEGIN/END SOLUTION`` marker lines dropped;
- hidden tests removed (grading internals; cells left with nothing to run go);
- each task shows its question, model answer and mark scheme, unwrapped;
  the empty answer cells students write in are dropped;
- the student's section on how work is checked (``GRADING_CELL``) becomes one
  on how to use this edition (``OPENING``): a self-learner is not graded;
- executed top to bottom in a fresh kernel, then exported to one HTML page that
  needs no network: every image embedded, MathJax (vendored, see
  ``inn_course/vendor/README.md``) inlined to render the maths, nothing fetched
  from a CDN (``inn_course/templates/selfstudy``).

The notebook's metadata records the SHA-256 of the source notebook it was
built from, and so does the page, so a test can tell when the committed
edition is stale.
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

from . import notebooks
from .labsource import ANSWER_TAG
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


@dataclass(frozen=True)
class Edition:
    notebook: Path
    html: Path


def edition_paths(layout: CourseLayout, folder: Path | None = None) -> Edition:
    folder = folder or layout.root / "self-study"
    name = f"{layout.assignment}_solutions"
    return Edition(folder / f"{name}.ipynb", folder / f"{name}.html")


def source_digest(layout: CourseLayout) -> str:
    return hashlib.sha256(layout.source_notebook.read_bytes()).hexdigest()


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
    digest = source_digest(layout)
    nb = execute(solution_notebook(notebooks.read(layout.source_notebook)), edition.notebook.parent)
    for cell in nb.cells:  # run times differ on every build: keep the diff to what the cells show
        cell.metadata.pop("execution", None)
    nb.metadata[METADATA_KEY] = {"source_sha256": digest}
    notebooks.write(nb, edition.notebook)
    edition.html.write_text(to_html(nb, digest))
    return edition, problems(nb)
