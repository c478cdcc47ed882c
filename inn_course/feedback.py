"""Feedback for students without the hidden tests.

nbgrader's feedback HTML shows autograded notebooks as they ran, hidden tests
included (in the cell source, and again in the traceback of any that failed).
``RedactHiddenTests`` removes both: the student keeps the one-sentence message
of each failed check, which is what the messages are written for. Task cells
come back from the source with their mark scheme (graders need it in the
formgrader); it is removed from the feedback too.
"""

from __future__ import annotations

from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Unicode
from traitlets.config import Config

from . import notebooks
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

    def preprocess_cell(self, cell, resources, index):
        if notebooks.is_graded(cell) and cell.cell_type == "code":
            cell.source = notebooks.redact(cell.source, notebooks.HIDDEN_BEGIN, notebooks.HIDDEN_END, self.placeholder)
            for output in cell.get("outputs", []):
                if output.get("output_type") == "error":
                    output["traceback"] = [f"{output.get('ename', 'Error')}: {output.get('evalue', '')}"]
        if notebooks.nbgrader(cell).get("task"):
            cell.source = notebooks.redact(cell.source, notebooks.MARK_SCHEME_BEGIN, notebooks.MARK_SCHEME_END,
                                           self.mark_scheme_placeholder)
        return cell, resources


def generate_feedback(layout: CourseLayout, students: list[str], config: Config | None = None) -> dict[str, dict]:
    """Write feedback/<student>/<assignment>/<assignment>.html; return nbgrader's result per student."""
    api = open_api(layout, config)
    return {s: api.generate_feedback(layout.assignment, s, force=True) for s in students}
