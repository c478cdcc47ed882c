"""The main job, stage by stage: release, sample submissions, autograde, feedback."""

from __future__ import annotations

from dataclasses import dataclass

from . import feedback, grade, notebooks, release, submissions
from .api import throwaway_gradebook
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
                if "execution_count" in output:
                    output["execution_count"] = None
    notebooks.write(nb, path)


def grade_samples(layout: CourseLayout, names=submissions.SAMPLES) -> PipelineResult:
    """Release, submit the sample notebooks, autograde them, write their feedback.

    The samples are graded against a throw-away gradebook, so the run is the
    same every time and an instructor's own gradebook.db is never touched.
    """
    with throwaway_gradebook(layout) as config:
        release.generate_release(layout, config)
        for name in names:
            submissions.submit(layout, name, submissions.sample(layout, name))
        results = grade.autograde(layout, list(names), config)
        graded = [r.student for r in results if r.success]
        for student in graded:
            tidy_autograded(layout, student)
        outcomes = feedback.generate_feedback(layout, graded, config)
    return PipelineResult(results, {s: bool(o["success"]) for s, o in outcomes.items()})
