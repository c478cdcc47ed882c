"""Final grades out of the gradebook, in a file an LMS imports (Canvas's gradebook CSV).

``grades.csv`` (written by ``grade-class``) has one column per autograded cell; this is the
other file a course needs at the end: one final score per student, auto + manual − late
penalty, as nbgrader's gradebook computes it once the hand grading is done.

Canvas imports a gradebook CSV whose first columns are ``Student, ID, SIS User ID,
SIS Login ID, Section``, followed by one column per assignment and an optional
``Points Possible`` row. Canvas matches a row to a student by ``ID`` (its own id), else
``SIS User ID``, else ``SIS Login ID``: nbgrader knows none of Canvas's ids, so the
student's login goes in ``SIS Login ID`` (where a university's single sign-on puts it)
and the others stay empty. A column whose header is not an existing assignment's
``Name (id)`` becomes a new assignment on import. Moodle and Blackboard import the same
shape (a login column and a score column).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from nbgrader.plugins import ExportPlugin
from traitlets import Unicode

from .api import open_api
from .names import spreadsheet_cell
from .paths import CourseLayout

CANVAS_COLUMNS = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]


@dataclass(frozen=True)
class FinalGrade:
    student: str
    name: str  # "Last, First" when the gradebook has names, else the login
    auto: float
    manual: float
    late_penalty: float
    max_score: float
    needs_manual_grade: bool
    submitted: bool = True  # False: in the gradebook's roster, nothing submitted (scored 0)

    @property
    def score(self) -> float:
        return max(0.0, self.auto + self.manual - self.late_penalty)


def final_grades(layout: CourseLayout, config=None) -> list[FinalGrade]:
    """Every student of the gradebook, with nbgrader's totals for the assignment (0 without a submission)."""
    with open_api(layout, config).gradebook as gb:
        return gradebook_grades(gb, layout.assignment)


def gradebook_grades(gb, assignment_name: str) -> list[FinalGrade]:
    """Every student of the gradebook: a student of the roster who submitted nothing is there with 0, so
    that an LMS import sets their grade instead of leaving it blank."""
    assignment = gb.find_assignment(assignment_name)
    submissions = {s.student.id: s for s in assignment.submissions}
    grades = []
    for student in sorted(gb.students, key=lambda s: s.id):
        name = ", ".join(p for p in (student.last_name, student.first_name) if p) or student.id
        submission = submissions.get(student.id)
        if submission is None:
            grades.append(FinalGrade(student.id, name, 0.0, 0.0, 0.0, float(assignment.max_score), False, False))
            continue
        auto = sum(g.auto_score or 0.0 for nb in submission.notebooks for g in nb.grades if g.manual_score is None)
        manual = sum(g.manual_score for nb in submission.notebooks for g in nb.grades if g.manual_score is not None)
        grades.append(FinalGrade(student.id, name, auto, manual, float(submission.late_submission_penalty or 0.0),
                                 float(assignment.max_score), bool(submission.needs_manual_grade)))
    return grades


def write_canvas_csv(grades: list[FinalGrade], path: Path, column: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([*CANVAS_COLUMNS, spreadsheet_cell(column)])
        if grades:
            writer.writerow(["Points Possible", "", "", "", "", f"{grades[0].max_score:g}"])
        for grade in grades:
            writer.writerow([spreadsheet_cell(grade.name), "", "", spreadsheet_cell(grade.student), "", f"{grade.score:g}"])
    return path


def write_final_csv(grades: list[FinalGrade], path: Path) -> Path:
    """The same totals with their parts, for the instructor's own records."""
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["student", "auto", "manual", "late_penalty", "final", "max", "needs_manual_grade",
                         "submitted"])
        for g in grades:
            writer.writerow([spreadsheet_cell(g.student), f"{g.auto:g}", f"{g.manual:g}", f"{g.late_penalty:g}",
                             f"{g.score:g}", f"{g.max_score:g}", "yes" if g.needs_manual_grade else "no",
                             "yes" if g.submitted else "no"])
    return path


class CanvasExportPlugin(ExportPlugin):
    """nbgrader's own export, in Canvas's gradebook format::

        nbgrader export --exporter inn_course.export.CanvasExportPlugin --to canvas.csv \\
            --CanvasExportPlugin.column="Invertible networks (123456)"

    ``column`` is the LMS's column: an existing Canvas assignment's header, ``Name (id)`` as in
    Canvas's own export, fills that assignment; any other text makes a new one.
    """

    column = Unicode("", help="the LMS assignment's column header (default: the assignment id)").tag(config=True)

    def export(self, gradebook) -> None:
        names = [str(a) for a in self.assignment] or [a.name for a in gradebook.assignments]
        if len(names) != 1:
            raise ValueError(f"one assignment per Canvas file: choose one of {names} with --assignment")
        write_canvas_csv(gradebook_grades(gradebook, names[0]), Path(self.to or "canvas.csv"), self.column or names[0])
