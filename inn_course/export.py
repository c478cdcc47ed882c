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

    @property
    def score(self) -> float:
        return max(0.0, self.auto + self.manual - self.late_penalty)


def final_grades(layout: CourseLayout, config=None) -> list[FinalGrade]:
    """Every student with a submission of the assignment, with nbgrader's totals."""
    api = open_api(layout, config)
    grades = []
    with api.gradebook as gb:
        assignment = gb.find_assignment(layout.assignment)
        for submission in sorted(assignment.submissions, key=lambda s: s.student.id):
            student = submission.student
            name = ", ".join(p for p in (student.last_name, student.first_name) if p) or student.id
            auto = sum(g.auto_score or 0.0 for nb in submission.notebooks for g in nb.grades
                       if g.manual_score is None)
            manual = sum(g.manual_score for nb in submission.notebooks for g in nb.grades
                         if g.manual_score is not None)
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
        writer.writerow(["student", "auto", "manual", "late_penalty", "final", "max", "needs_manual_grade"])
        for g in grades:
            writer.writerow([spreadsheet_cell(g.student), f"{g.auto:g}", f"{g.manual:g}", f"{g.late_penalty:g}", f"{g.score:g}",
                             f"{g.max_score:g}", "yes" if g.needs_manual_grade else "no"])
    return path
