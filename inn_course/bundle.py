"""The student bundle: exactly what a student may have, for courses that hand the lab out by file.

``inn-course student-bundle DIR`` writes four files: the release notebook, how to get
MNIST (``DATA.md``), how to work and what to submit (``README.md``) and the packages to
install (``requirements.txt``, the course's pins without the instructor's tools). Nothing
else from this repository goes in: it holds the solutions, hidden tests and mark schemes.

Before it returns, every file written is checked against the source notebook's secret
lines (``lint.leaks``); a bundle that fails is deleted, never left half-made.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import nbformat

from . import lint, notebooks
from .paths import REPO_ROOT, CourseLayout

# What a student needs to run the release and press Validate; the rest of requirements.txt
# (pytest, playwright, ...) is the instructor's.
STUDENT_PACKAGES = ("torch", "torchvision", "numpy", "matplotlib", "jupyterlab", "notebook", "ipykernel", "nbgrader")


class BundleError(RuntimeError):
    pass


def student_requirements(requirements: Path = REPO_ROOT / "requirements.txt") -> str:
    pins = {}
    for line in requirements.read_text().splitlines():
        match = re.match(r"([A-Za-z0-9_.-]+)==(\S+)", line.strip())
        if match:
            pins[match.group(1).lower()] = line.strip()
    missing = [name for name in STUDENT_PACKAGES if name not in pins]
    if missing:
        raise BundleError(f"requirements.txt pins no version of {', '.join(missing)}")
    lines = [pins[name] for name in STUDENT_PACKAGES]
    return "# The packages the lab needs (pip install -r requirements.txt), pinned as the course tested them.\n" + "\n".join(lines) + "\n"


DATA_TEXT = """# Getting MNIST

The notebook reads MNIST from the folder named by the environment variable
`INN_DATA_ROOT` (default: `~/data`).

- **With internet access** nothing is needed: the first run downloads MNIST
  (about 12 MB) into that folder.
- **Offline** (or on a machine that blocks downloads), put the four original
  MNIST files, uncompressed, in `<data root>/MNIST/raw/`:
  `train-images-idx3-ubyte`, `train-labels-idx1-ubyte`,
  `t10k-images-idx3-ubyte`, `t10k-labels-idx1-ubyte`.
  Then either use `~/data`, or start JupyterLab with
  `INN_DATA_ROOT=/path/to/folder jupyter lab`.

If the files are missing and cannot be downloaded, the notebook's first cell
says where it looked.
"""

README_TEXT = """# {title}

Your lab: `{notebook}`. Open it in JupyterLab and answer the 17 questions in
the cells marked *YOUR CODE HERE* or *YOUR ANSWER HERE*.

## Set up

```bash
python3 -m venv .venv && . .venv/bin/activate
pip install -r requirements.txt   # torch is large: allow a few minutes
jupyter lab {notebook}
```

MNIST: see `DATA.md`.

## While you work

- Run each test cell after your answer: the visible tests there tell you what
  fails and why. More tests, hidden, run when your notebook is graded.
- Keep the names and signatures the questions give, and do not edit, copy or
  delete the test cells (they are restored from the original when graded).
- Before you submit: *Kernel → Restart Kernel and Run All Cells*, then press
  **Validate** in the toolbar (or run `nbgrader validate {notebook}`).
  The whole notebook runs in well under a minute on a 2-core laptop CPU.

## Submitting

Submit `{notebook}` as your course says (nbgrader's *Assignments* tab on a
JupyterHub, or the course's upload page). Submit only the notebook.

## Licence

The lab's text is under CC BY 4.0 and its code under the MIT licence; see the
course's repository for the full texts and how to cite it.
"""


def _title(nb) -> str:
    first = nb.cells[0].source.splitlines()[0] if nb.cells else ""
    return first.lstrip("# ").strip() or "The lab"


def bundle_texts(layout: CourseLayout) -> dict[str, str]:
    """The bundle's files, name -> text, from the committed release."""
    release = layout.release_notebook
    nb = notebooks.read(release)
    return {
        release.name: release.read_text(),
        "DATA.md": DATA_TEXT,
        "README.md": README_TEXT.format(title=_title(nb), notebook=release.name),
        "requirements.txt": student_requirements(layout.root / "requirements.txt"),
    }


def check(layout: CourseLayout, texts: dict[str, str]) -> list[str]:
    """Secret lines (solution, hidden test, mark scheme, the answer key) found in any of the bundle's files."""
    source = notebooks.read(layout.source_notebook)
    found = []
    for name, text in texts.items():
        # A notebook is checked as its file (JSON-escaped) and as what a reader sees in it.
        views = [text, lint.notebook_text(nbformat.reads(text, as_version=4))] if name.endswith(".ipynb") else [text]
        found += [f"{name}: {leak}" for view in views
                  for leak in lint.leaks(source, view, answer_key=layout.answer_key_text())]
    return found


def write_bundle(layout: CourseLayout, target: Path) -> list[Path]:
    """Write the bundle into ``target`` (which must not exist, or be empty); return its files."""
    if target.is_symlink() or (target.exists() and (not target.is_dir() or any(target.iterdir()))):
        raise BundleError(f"{target} exists and is not an empty folder: choose a new one")
    texts = bundle_texts(layout)
    found = check(layout, texts)
    if found:
        raise BundleError("the bundle would leak: " + "; ".join(found))
    target.mkdir(parents=True, exist_ok=True)
    written = []
    try:
        for name, text in texts.items():
            path = target / name
            with open(path, "x") as handle:  # "x": never write through something already there
                handle.write(text)
            written.append(path)
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)
        raise
    return written
