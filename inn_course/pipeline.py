"""The main job, stage by stage: release, sample submissions, autograde, feedback."""

from __future__ import annotations

from dataclasses import dataclass

from . import feedback, grade, notebooks, release, submissions
from .paths import CourseLayout


@dataclass
class PipelineResult:
    results: list[grade.GradeResult]
    feedback_ok: dict[str, bool]


def tidy_autograded(layout: CourseLayout, student: str) -> None:
    """Make a committed autograded sample reproducible: no timestamps, no timing metadata."""
    path = layout.notebook("autograded", student)
    (path.parent / "timestamp.txt").unlink(missing_ok=True)
    nb = notebooks.read(path)
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        if cell.cell_type == "code":
            cell.execution_count = None
            for output in cell.outputs:
                output.pop("execution_count", None)
    notebooks.write(nb, path)


def grade_samples(layout: CourseLayout, names=submissions.SAMPLES) -> PipelineResult:
    """Submit the sample notebooks, autograde them, write their feedback."""
    for name in names:
        submissions.submit(layout, name, submissions.sample(layout, name))
    results = grade.autograde(layout, list(names))
    graded = [r.student for r in results if r.success]
    for student in graded:
        tidy_autograded(layout, student)
    outcomes = feedback.generate_feedback(layout, graded)
    return PipelineResult(results, {s: bool(o["success"]) for s, o in outcomes.items()})


def run_all(layout: CourseLayout) -> PipelineResult:
    release.generate_release(layout)
    return grade_samples(layout)
