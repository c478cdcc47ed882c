"""Sample submissions, and the scan every submission gets before it is graded."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import nbformat

from . import lint, notebooks
from .paths import CourseLayout

# The samples graded by `make all` and committed under autograded/.
SAMPLES = ("reference", "handout")


def model_answers(source_nb) -> dict[str, str]:
    """Answer cell id -> the model answer of the task it follows (its mark scheme, up to the scheme itself)."""
    answers, task = {}, None
    for cell in source_nb.cells:
        if notebooks.nbgrader(cell).get("task"):
            task = cell
        elif "answer" in cell.metadata.get("tags", []) and task is not None:
            scheme = notebooks.regions(task.source, notebooks.MARK_SCHEME_BEGIN, notebooks.MARK_SCHEME_END)[0]
            answers[cell.id] = scheme.split("**Mark scheme")[0].strip()
    return answers


def reference_answers(source_nb, release_nb):
    """The release with every answer filled in from the source: solution code and model answers."""
    solutions = {notebooks.grade_id(c): c for c in source_nb.cells if notebooks.nbgrader(c).get("solution")}
    written = model_answers(source_nb)
    filled = nbformat.from_dict(json.loads(notebooks.dumps(release_nb)))
    for cell in filled.cells:
        if notebooks.nbgrader(cell).get("solution"):
            cell.source = notebooks.strip_marker_lines(
                solutions[notebooks.grade_id(cell)].source, notebooks.SOLUTION_BEGIN, notebooks.SOLUTION_END
            )
        elif cell.id in written:
            cell.source = written[cell.id]
    return filled


def sample(layout: CourseLayout, name: str):
    """A sample submission: ``reference`` (the model answers) or ``handout`` (untouched)."""
    release = notebooks.read(layout.release_notebook)
    if name == "handout":
        return release
    if name == "reference":
        return reference_answers(notebooks.read(layout.source_notebook), release)
    raise ValueError(f"unknown sample {name!r}; known: {', '.join(SAMPLES)}")


def submit(layout: CourseLayout, student: str, nb_or_text) -> Path:
    """Place a notebook (or raw text, to test broken files) where nbgrader collects it."""
    path = layout.notebook("submitted", student)
    if path.parent.exists():
        shutil.rmtree(path.parent)
    path.parent.mkdir(parents=True)
    path.write_text(nb_or_text if isinstance(nb_or_text, str) else notebooks.dumps(nb_or_text))
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f %Z")
    (path.parent / "timestamp.txt").write_text(stamp)
    return path


@dataclass
class Scan:
    """What the pre-grading scan found in one submission."""

    student: str
    gradable: bool = True
    flags: list[str] = field(default_factory=list)


def scan(layout: CourseLayout, student: str, expected: set[str] | None = None) -> Scan:
    """Check a submission before nbgrader sees it; repair what would abort a batch.

    nbgrader 0.9.6 aborts the whole autograde run on a duplicated grade cell
    (its DeduplicateIds leaves metadata it then rejects). The scan keeps the
    first cell of each grade id, turns later copies into ordinary cells, keeps
    the untouched file beside it (``<name>.ipynb.submitted``) and flags the
    submission for review. Deleted test cells need no repair here (nbgrader
    restores them, see OverwriteCells.add_missing_cells) but are flagged.
    """
    result = Scan(student)
    path = layout.notebook("submitted", student)
    if not path.exists():
        result.gradable = False
        result.flags.append(f"no {path.name} in the submission")
        return result
    try:
        nb = notebooks.read(path)
    except Exception as error:  # nbformat raises several types for broken files
        result.gradable = False
        result.flags.append(f"not a readable notebook ({type(error).__name__}): not graded")
        return result

    duplicates = lint.duplicate_grade_ids(nb)
    if duplicates:
        seen: set[str] = set()
        for cell in nb.cells:
            gid = notebooks.grade_id(cell)
            if gid in seen:
                cell.metadata.pop("nbgrader", None)
            elif gid:
                seen.add(gid)
        shutil.copyfile(path, path.with_name(path.name + ".submitted"))
        notebooks.write(nb, path)
        result.flags.append(f"duplicated grade cells {', '.join(duplicates)}: later copies ignored")

    if expected is None:  # the graded cells of the source (callers scanning a batch pass them once)
        expected = set(notebooks.graded_cells(notebooks.read(layout.source_notebook)))
    missing = sorted(expected - set(notebooks.graded_cells(nb)))
    if missing:
        result.flags.append(f"graded cells missing, restored from the source: {', '.join(missing)}")
    return result
