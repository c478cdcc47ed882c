"""Sample submissions, and the scan every submission gets before it is graded."""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import nbformat

from . import codescan, lint, notebooks, safe_files
from .codescan import printable
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
    """What a submission is compared with: the release's cells and the graded cells of the source."""

    release_cells: dict[str, nbformat.NotebookNode]  # cell id -> cell
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
    def release_by_grade_id(self) -> dict[str, nbformat.NotebookNode]:
        return {gid: c for c in self.release_cells.values() if (gid := notebooks.grade_id(c))}

    @property
    def locked_sources(self) -> frozenset[str]:
        """The code of the release's locked cells: what nbgrader runs for them, whatever a student wrote."""
        return frozenset(c.source for c in self.release_cells.values()
                         if c.cell_type == "code" and notebooks.nbgrader(c).get("locked"))


MAX_NOTEBOOK_BYTES = 32 * 1024 ** 2  # the answered notebook with its figures is under 2 MB
MAX_CELLS = 2000  # the release has under 150
# nbgrader metadata a student has no reason to change; a changed grade_id would make nbgrader
# miss the cell (or abort on an unknown one), so all of them are put back from the release.
_RESTORED_KEYS = ("grade_id", "points", "grade", "solution", "locked", "task", "checksum")


def _restore_metadata(nb, baseline: Baseline) -> list[str]:
    """Give each cell the release's nbgrader metadata, matched by grade id, else by cell id; drop the rest.

    The release decides which cells are graded, locked or answers, never the submission: a cell
    keeps nbgrader metadata only if the release has a cell of that grade id (or, when the grade id
    was edited, of that cell id) not already claimed by an earlier cell.
    """
    changed, claimed = [], set()
    by_grade_id, by_cell_id = baseline.release_by_grade_id, baseline.release_cells
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader")
        gid = meta.get("grade_id") if isinstance(meta, dict) else None
        original = by_grade_id.get(gid) if isinstance(gid, str) and gid not in claimed else None
        if original is None:
            candidate = by_cell_id.get(cell.get("id")) if isinstance(cell.get("id"), str) else None
            if candidate is not None and notebooks.grade_id(candidate) not in claimed | {None}:
                original = candidate
        if original is not None:
            want = original.metadata["nbgrader"]
            have = meta if isinstance(meta, dict) else {}
            edits = [k for k in _RESTORED_KEYS if have.get(k) != want.get(k)]
            if edits:
                changed.append(f"{want['grade_id']} ({', '.join(edits)})")
            cell.metadata["nbgrader"] = dict(want)
            claimed.add(want["grade_id"])
        elif meta is not None:
            label = printable(gid, 40) if isinstance(gid, str) else "no grade id"
            changed.append(f"{label} (unknown grade id: now an ordinary cell)")
            cell.metadata.pop("nbgrader")
    return changed


def _edited_locked_cells(nb, baseline: Baseline) -> list[str]:
    """Locked cells whose text differs from the release (nbgrader puts the release's text back)."""
    edited, release = [], baseline.release_by_grade_id
    for cell in nb.cells:
        original = release.get(notebooks.grade_id(cell))
        if original is not None and notebooks.nbgrader(original).get("locked") and cell.source != original.source:
            edited.append(notebooks.grade_id(original))
    return edited


def student_code_cells(nb, baseline: Baseline) -> list:
    """Code cells that may run as the student wrote them: every code cell but the release's own locked code.

    Decided by content, not by the submission's metadata: a cell is skipped only when its text is
    exactly that of a locked cell of the release (which is what nbgrader runs there anyway).
    """
    trusted = baseline.locked_sources
    return [c for c in nb.cells if c.cell_type == "code" and c.source not in trusted]


_SURROGATES = re.compile("[\ud800-\udfff]")


def _replace_surrogates(node) -> int:
    """Replace lone surrogates (valid JSON, invalid Unicode) in every string of a notebook; count them."""
    count = 0
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, value in list(items):
        if isinstance(value, str):
            fixed = _SURROGATES.sub("\ufffd", value)
            if fixed != value:
                node[key] = fixed
                count += 1
        else:
            count += _replace_surrogates(value)
    return count


class Unreadable(Exception):
    """A submitted notebook that cannot be read; the message says why, for a human."""

    def __init__(self, reason: str, missing: bool = False):
        super().__init__(reason)
        self.missing = missing  # no notebook at all (nothing to grade), rather than a broken one


def read_submitted(layout: CourseLayout, student: str) -> tuple[nbformat.NotebookNode, bytes]:
    """A student's submitted notebook, and the bytes it was read from: a regular file reached through
    no link, at most 32 MB, valid UTF-8 and JSON, a list of at most 2,000 cells. Raises ``Unreadable``
    otherwise."""
    path = layout.notebook("submitted", student)
    try:
        data = safe_files.read_regular(layout.root, path.relative_to(layout.root), MAX_NOTEBOOK_BYTES)
    except FileNotFoundError:
        raise Unreadable(f"no {path.name} in the submission", missing=True) from None
    except OSError as error:
        raise Unreadable(f"notebook not read ({printable(error, 120)})") from None
    try:
        nb = nbformat.reads(data.decode("utf-8"), as_version=4)
        if not isinstance(nb.get("cells"), list) or not all(isinstance(c, dict) for c in nb.cells):
            raise ValueError("no list of cells")
    except Exception as error:  # nbformat raises several types for broken files (and RecursionError)
        raise Unreadable(f"not a readable notebook ({type(error).__name__})") from None
    if len(nb.cells) > MAX_CELLS:
        raise Unreadable(f"{len(nb.cells):,} cells (more than {MAX_CELLS:,})")
    return nb, data


def scan(layout: CourseLayout, student: str, baseline: Baseline | None = None) -> Scan:
    """Check a submission before nbgrader sees it; repair what would abort or fool a batch; flag it all.

    Never raises for anything in the submission: a notebook the scan cannot handle is reported as
    not gradable with the reason, and the batch goes on.

    - A submission folder with symbolic links, FIFOs or devices is not graded
      (nbgrader would follow them); a notebook over 32 MB or 2,000 cells is not read.
    - Lone surrogates (valid JSON, invalid Unicode) are replaced.
    - nbgrader 0.9.6 aborts the whole autograde run on a duplicated grade cell
      (its DeduplicateIds leaves metadata it then rejects): the first cell of
      each grade id is kept, later copies become ordinary cells.
    - nbgrader metadata is put back from the release, matched by grade id, else by cell id;
      cells with unknown grade ids become ordinary cells.
    - Deleted graded cells and edited locked cells need no repair (nbgrader
      restores them) but are flagged.
    - Code that could interfere with grading, or cannot be analysed (``codescan``), is flagged.

    A repaired submission keeps its untouched file beside it (``<name>.ipynb.submitted``).
    """
    baseline = baseline or Baseline.of(layout)
    try:
        return _scan(layout, student, baseline)
    except Exception as error:  # a bug of the scan must not stop the batch, nor let the notebook through
        return Scan(student, gradable=False,
                    flags=[f"the pre-grading scan failed ({type(error).__name__}): not graded, grade by hand"])


def _scan(layout: CourseLayout, student: str, baseline: Baseline) -> Scan:
    result = Scan(student)
    path = layout.notebook("submitted", student)
    relative = path.relative_to(layout.root)
    unsafe = safe_files.unsafe_entries(layout.root, relative.parent)
    if unsafe:
        result.gradable = False
        result.flags.append(f"the submission holds links or special files ({'; '.join(unsafe[:3])}): not graded")
        return result
    try:
        nb, data = read_submitted(layout, student)  # data: the untouched file, kept beside a repaired one
    except Unreadable as error:
        result.gradable = False
        result.flags.append(str(error) if error.missing else f"{error}: not graded")
        return result
    repaired = False

    replaced = _replace_surrogates(nb)
    if replaced:
        repaired = True
        result.flags.append(f"characters that are not valid Unicode replaced in {replaced} place(s)")

    duplicates = lint.duplicate_grade_ids(nb)
    if duplicates:
        repaired = True
        result.flags.append(f"duplicated grade cells {', '.join(printable(d, 40) for d in duplicates)}: "
                            "later copies ignored")

    restored = _restore_metadata(nb, baseline)
    if restored:
        repaired = True
        restored = [r for r in restored if not any(r.startswith(f"{d} (unknown") for d in duplicates)]
        if restored:
            result.flags.append(f"edited nbgrader metadata, put back from the release: {', '.join(restored)}")

    if repaired:
        backup = path.with_name(path.name + ".submitted")
        backup.unlink(missing_ok=True)
        backup.write_bytes(data)
        path.unlink()
        notebooks.write(nb, path)

    missing = sorted(baseline.graded_ids - set(notebooks.graded_cells(nb)))
    if missing:
        result.flags.append(f"graded cells missing, restored from the source: {', '.join(missing)}")
    edited = _edited_locked_cells(nb, baseline)
    if edited:
        result.flags.append(f"locked cells edited, restored from the source: {', '.join(edited)}")

    student_cells = student_code_cells(nb, baseline)
    context = codescan.Context.of([*baseline.locked_sources, *(c.source for c in student_cells)])
    findings = [f for cell in student_cells
                for f in codescan.scan_code(str(cell.get("id", "?")), cell.source, context)]
    if findings:
        result.flags.append(codescan.summary(findings))
    return result
