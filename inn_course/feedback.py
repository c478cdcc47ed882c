"""Feedback for students without the hidden tests.

nbgrader's feedback HTML shows autograded notebooks as they ran, hidden tests
included (in the cell source, and again in the traceback of any that failed).
``RedactHiddenTests`` removes both: the student keeps the one-sentence message
of each failed check, which is what the messages are written for.
"""

from __future__ import annotations

from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Unicode
from traitlets.config import Config

from . import notebooks
from .api import open_api
from .paths import CourseLayout


class RedactHiddenTests(NbGraderPreprocessor):
    """Replace hidden-test regions by a note and shorten grade-cell tracebacks to their message."""

    placeholder = Unicode(
        "# (hidden tests: not shown)",
        help="Line that stands in for a removed hidden-test region.",
    ).tag(config=True)

    def preprocess_cell(self, cell, resources, index):
        if notebooks.is_graded(cell) and cell.cell_type == "code":
            cell.source = self._redact(cell.source)
            for output in cell.get("outputs", []):
                if output.get("output_type") == "error":
                    output["traceback"] = [f"{output.get('ename', 'Error')}: {output.get('evalue', '')}"]
        return cell, resources

    def _redact(self, source: str) -> str:
        kept, hidden = [], False
        for line in source.splitlines():
            if notebooks.HIDDEN_BEGIN in line:
                hidden = True
                kept.append(self.placeholder)
            elif notebooks.HIDDEN_END in line:
                hidden = False
            elif not hidden:
                kept.append(line)
        return "\n".join(kept)


def generate_feedback(layout: CourseLayout, students: list[str], config: Config | None = None) -> dict[str, dict]:
    """Write feedback/<student>/<assignment>/<assignment>.html; return nbgrader's result per student."""
    api = open_api(layout, config)
    return {s: api.generate_feedback(layout.assignment, s, force=True) for s in students}
