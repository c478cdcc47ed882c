"""Source -> student release: compile the lab, lint it, run nbgrader generate_assignment."""

from __future__ import annotations

from traitlets.config import Config

from . import labsource, lint, notebooks
from .api import open_api, throwaway_gradebook
from .paths import CourseLayout


class ReleaseError(RuntimeError):
    """The source is unsound or the release would leak; nothing to hand out."""


def build_source(layout: CourseLayout) -> bool:
    """Compile lab/<assignment>.py into the source notebook; True when it changed."""
    nb = labsource.build_notebook(layout.lab_file.read_text())
    problems = lint.lint_source(nb)
    if problems:
        raise ReleaseError("source notebook: " + "; ".join(problems))
    text = notebooks.dumps(nb)
    target = layout.source_notebook
    if target.exists() and target.read_text() == text:
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)
    return True


def generate_release(layout: CourseLayout, config: Config | None = None) -> None:
    """Regenerate release/ from source/ and check it hides every solution and hidden test.

    Without ``config``, nbgrader records the assignment in a throw-away gradebook.
    """
    if config is None:
        with throwaway_gradebook(layout) as config:
            return generate_release(layout, config)
    build_source(layout)
    result = open_api(layout, config).generate_assignment(layout.assignment, force=True)
    if not result["success"]:
        raise ReleaseError(f"nbgrader generate_assignment failed:\n{result['error']}\n{result['log']}")
    release = notebooks.clean(notebooks.read(layout.release_notebook))
    notebooks.write(release, layout.release_notebook)
    leaks = lint.leaks(notebooks.read(layout.source_notebook), lint.notebook_text(release),
                       answer_key=layout.answer_key_text())
    if leaks:
        raise ReleaseError("the release leaks: " + "; ".join(leaks))
