"""Feedback for students without the hidden tests.

nbgrader's feedback HTML shows autograded notebooks as they ran, hidden tests
included (in the cell source, and again in the traceback of any that failed).
``RedactHiddenTests`` removes both: the student keeps the one-sentence message
of each failed check, which is what the messages are written for. Task cells
come back from the source with their mark scheme (graders need it in the
formgrader); it is removed from the feedback too. And any output line, in any
cell, that repeats a line of a hidden test (a student's code that printed
what it found in the kernel) is replaced: the kernel's sandbox and the
grading kit keep hidden tests out of reach, this is the last filter. A cell's
source or an output too long to read is replaced by a note (the student has
it in their own notebook): highlighting a hostile notebook's 2 MB cell took
nbconvert 112 s and made a 27 MB page.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor

from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Integer, Unicode
from traitlets.config import Config

from . import codescan, notebooks
from .api import open_api
from .paths import CourseLayout


class RedactHiddenTests(NbGraderPreprocessor):
    """Replace hidden-test regions and mark schemes by a note; shorten grade-cell tracebacks to their message."""

    placeholder = Unicode(
        "# (hidden tests: not shown)",
        help="Line that stands in for a removed hidden-test region.",
    ).tag(config=True)

    mark_scheme_placeholder = Unicode(
        "*(The model answer and mark scheme are not shown.)*",
        help="Line that stands in for a removed mark-scheme region of a task cell.",
    ).tag(config=True)

    max_characters = Integer(
        codescan.MAX_CELL_CHARS,  # the scan's bound: a cell too long to analyse is too long to highlight
        help="A cell source or an output longer than this is shown as a note saying so "
             "(the lab's longest cell has about 20,000 characters).",
    ).tag(config=True)

    def preprocess(self, nb, resources):
        hidden = set()
        for cell in nb.cells:
            for body in notebooks.regions(cell.source, notebooks.HIDDEN_BEGIN, notebooks.HIDDEN_END):
                hidden.update(s for s in (line.strip() for line in body.splitlines()) if len(s) >= 16)
        shown = {line.strip() for cell in nb.cells
                 for line in notebooks.redact(cell.source, notebooks.HIDDEN_BEGIN, notebooks.HIDDEN_END, "").splitlines()}
        self._hidden_lines = hidden - shown  # lines also in visible code (plt.close(_fig)) are no secret
        return super().preprocess(nb, resources)

    def _without_hidden_lines(self, text: str) -> str:
        if not any(marker in text for marker in (notebooks.HIDDEN_BEGIN, notebooks.HIDDEN_END)) \
                and not any(line.strip() in self._hidden_lines for line in text.splitlines()):
            return text
        return "\n".join(self.placeholder if line.strip() in self._hidden_lines
                         or notebooks.HIDDEN_BEGIN in line or notebooks.HIDDEN_END in line else line
                         for line in text.splitlines())

    def _shortened(self, text: str) -> str:
        if len(text) <= self.max_characters:
            return text
        # Cut at the end of a line: the hidden-line filter compares whole lines, and half a line could
        # be half of a hidden test's.
        cut = text.rfind("\n", 0, self.max_characters)
        head = text[:cut] if cut > 0 else text[:self.max_characters]
        return (f"{head}\n... ({len(text) - len(head):,} more characters of this output, not shown here: "
                "they are in your submitted notebook)")

    def preprocess_cell(self, cell, resources, index):
        if len(cell.source) > self.max_characters:
            note = f"this cell's {len(cell.source):,} characters are too many to show here: it is in your submitted notebook"
            cell.source = f"# ({note})" if cell.cell_type == "code" else f"*({note})*"
        for output in cell.get("outputs", []):
            if "text" in output:
                output["text"] = self._without_hidden_lines(self._shortened(str(output["text"])))
            for mime, value in output.get("data", {}).items():
                if mime.startswith("text/") and isinstance(value, str):
                    output["data"][mime] = self._without_hidden_lines(self._shortened(value))
            if "traceback" in output:
                output["traceback"] = [self._without_hidden_lines(str(line)) for line in output["traceback"]]
        if notebooks.is_graded(cell) and cell.cell_type == "code":
            cell.source = notebooks.redact(cell.source, notebooks.HIDDEN_BEGIN, notebooks.HIDDEN_END, self.placeholder)
            for output in cell.get("outputs", []):
                if output.get("output_type") == "error":
                    output["traceback"] = [f"{output.get('ename', 'Error')}: {output.get('evalue', '')}"]
        if notebooks.nbgrader(cell).get("task"):
            cell.source = notebooks.redact(cell.source, notebooks.MARK_SCHEME_BEGIN, notebooks.MARK_SCHEME_END,
                                           self.mark_scheme_placeholder)
        return cell, resources


def generate_feedback(layout: CourseLayout, students: list[str], config: Config | None = None,
                      workers: int = 1) -> dict[str, dict]:
    """Write feedback/<student>/<assignment>/<assignment>.html; return nbgrader's result per student.

    With ``workers`` > 1, the students are shared among that many processes: nbconvert's HTML export
    is single-threaded Python (about 1 s a student), and feedback only reads the gradebook.
    """
    workers = max(1, min(workers, len(students)))
    if workers == 1:
        return _feedback_for(layout, students, config)
    shares = [students[i::workers] for i in range(workers)]
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        outcomes = {}
        for share in pool.map(_feedback_for, [layout] * workers, shares, [config] * workers):
            outcomes.update(share)
    return {s: outcomes[s] for s in students}


def _feedback_for(layout: CourseLayout, students: list[str], config: Config | None) -> dict[str, dict]:
    api = open_api(layout, config)
    return {s: api.generate_feedback(layout.assignment, s, force=True) for s in students}
