"""Sample submissions, and the scan every submission gets before it is graded."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import nbformat

from . import codescan, lint, notebooks
from .labsource import ANSWER_TAG
from .paths import CourseLayout

# The samples graded by `make all` and committed under autograded/.
SAMPLES = ("reference", "handout")


def model_answers(source_nb) -> dict[str, str]:
    """Answer cell id -> the model answer of the task it follows (its mark scheme, up to the scheme itself)."""
    answers, task = {}, None
    for cell in source_nb.cells:
        if notebooks.nbgrader(cell).get("task"):
            task = cell
        elif ANSWER_TAG in cell.metadata.get("tags", []) and task is not None:
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


@dataclass(frozen=True)
class Baseline:
    """What a submission is compared with: the release's cells (by cell id) and the graded cells of the source."""

    release_cells: dict[str, nbformat.NotebookNode]
    max_points: dict[str, float]  # graded cell of the source -> its points

    @classmethod
    def of(cls, layout: CourseLayout) -> "Baseline":
        release = notebooks.read(layout.release_notebook)
        graded = notebooks.graded_cells(notebooks.read(layout.source_notebook))
        return cls({c.id: c for c in release.cells},
                   {gid: float(notebooks.nbgrader(c)["points"]) for gid, c in graded.items()})

    @property
    def graded_ids(self) -> frozenset[str]:
        return frozenset(self.max_points)

    @property
    def release_grade_ids(self) -> frozenset[str]:
        return frozenset(gid for c in self.release_cells.values() if (gid := notebooks.grade_id(c)))


# nbgrader metadata a student has no reason to change; a changed grade_id would make nbgrader
# miss the cell (or abort on an unknown one), so all of them are put back from the release.
_RESTORED_KEYS = ("grade_id", "points", "grade", "solution", "locked", "task", "checksum")


def _restore_metadata(nb, baseline: Baseline) -> list[str]:
    """Put back the nbgrader metadata of cells that kept their release cell id; drop unknown grade ids."""
    changed, seen, known = [], set(), baseline.release_grade_ids
    for cell in nb.cells:
        original = baseline.release_cells.get(cell.get("id")) if cell.get("id") not in seen else None
        seen.add(cell.get("id"))
        meta = cell.metadata.get("nbgrader")
        if original is not None and "nbgrader" in original.metadata:
            want = original.metadata["nbgrader"]
            have = meta or {}
            edits = [k for k in _RESTORED_KEYS if have.get(k) != want.get(k)]
            if edits:
                changed.append(f"{want['grade_id']} ({', '.join(edits)})")
                cell.metadata["nbgrader"] = dict(want)
        elif meta and meta.get("grade_id") not in known:
            changed.append(f"{meta.get('grade_id')} (unknown grade id: now an ordinary cell)")
            cell.metadata.pop("nbgrader")
    return changed


def _edited_locked_cells(nb, baseline: Baseline) -> list[str]:
    """Locked cells whose text differs from the release (nbgrader puts the release's text back)."""
    edited = []
    for cell in nb.cells:
        original = baseline.release_cells.get(cell.get("id"))
        if original is not None and notebooks.nbgrader(original).get("locked") and cell.source != original.source:
            edited.append(notebooks.grade_id(original))
    return edited


def student_code_cells(nb, baseline: Baseline) -> list:
    """Code cells that run as the student left them (locked cells are put back by nbgrader)."""
    return [c for c in nb.cells if c.cell_type == "code"
            and not notebooks.nbgrader(baseline.release_cells.get(c.get("id"), c)).get("locked")]


def scan(layout: CourseLayout, student: str, baseline: Baseline | None = None) -> Scan:
    """Check a submission before nbgrader sees it; repair what would abort or fool a batch; flag it all.

    - nbgrader 0.9.6 aborts the whole autograde run on a duplicated grade cell
      (its DeduplicateIds leaves metadata it then rejects): the first cell of
      each grade id is kept, later copies become ordinary cells.
    - Edited nbgrader metadata (a changed grade id, points, checksum) is put
      back from the release, matched by cell id; cells with unknown grade ids
      become ordinary cells.
    - Deleted graded cells and edited locked cells need no repair (nbgrader
      restores them) but are flagged.
    - Code that could interfere with grading (``codescan``) is flagged.

    A repaired submission keeps its untouched file beside it (``<name>.ipynb.submitted``).
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
    baseline = baseline or Baseline.of(layout)
    repaired = False

    duplicates = lint.duplicate_grade_ids(nb)
    if duplicates:
        seen: set[str] = set()
        for cell in nb.cells:
            gid = notebooks.grade_id(cell)
            if gid in seen:
                cell.metadata.pop("nbgrader", None)
            elif gid:
                seen.add(gid)
        repaired = True
        result.flags.append(f"duplicated grade cells {', '.join(duplicates)}: later copies ignored")

    restored = _restore_metadata(nb, baseline)
    if restored:
        repaired = True
        result.flags.append(f"edited nbgrader metadata, put back from the release: {', '.join(restored)}")

    if repaired:
        shutil.copyfile(path, path.with_name(path.name + ".submitted"))
        notebooks.write(nb, path)

    missing = sorted(baseline.graded_ids - set(notebooks.graded_cells(nb)))
    if missing:
        result.flags.append(f"graded cells missing, restored from the source: {', '.join(missing)}")
    edited = _edited_locked_cells(nb, baseline)
    if edited:
        result.flags.append(f"locked cells edited, restored from the source: {', '.join(edited)}")

    findings = [f for cell in student_code_cells(nb, baseline) for f in codescan.scan_code(cell.get("id", "?"), cell.source)]
    if findings:
        result.flags.append(codescan.summary(findings))
    return result
