"""Where everything lives: the one place that knows the course layout."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from . import ASSIGNMENT
from .names import is_student_id, student_id_problem

REPO_ROOT = Path(__file__).resolve().parent.parent
DATA_ENV = "INN_DATA_ROOT"


@dataclass(frozen=True)
class CourseLayout:
    """Paths of one nbgrader course directory (the repository root, or a copy in tests)."""

    root: Path
    assignment: str = ASSIGNMENT

    @property
    def lab_file(self) -> Path:
        """The authoring file the source notebook is compiled from."""
        return self.root / "lab" / f"{self.assignment}.py"

    @property
    def hidden_tests(self) -> Path:
        """The answer key: the hidden tests the judge runs outside the student's kernel (``judge.py``)."""
        return self.root / "lab" / f"{self.assignment}_hidden_tests.py"

    def answer_key_text(self) -> str:
        """The answer key's text, or "" for a course that keeps its hidden tests in the notebook."""
        return self.hidden_tests.read_text() if self.hidden_tests.is_file() else ""

    @property
    def config_file(self) -> Path:
        return self.root / "nbgrader_config.py"

    def notebook(self, stage: str, student: str | None = None) -> Path:
        """The assignment notebook in ``stage`` (source, release, submitted, autograded, feedback)."""
        folder = self.root / stage
        if student is not None:
            folder = folder / student
        suffix = ".html" if stage == "feedback" else ".ipynb"
        return folder / self.assignment / f"{self.assignment}{suffix}"

    @property
    def source_notebook(self) -> Path:
        return self.notebook("source")

    @property
    def release_notebook(self) -> Path:
        return self.notebook("release")

    def students(self, stage: str = "submitted") -> list[str]:
        """The students with a folder of this assignment in ``stage`` whose name is a valid student id."""
        return [name for name in self._student_folders(stage) if is_student_id(name)]

    def refused_students(self, stage: str = "submitted") -> list[str]:
        """Why each folder of ``stage`` that is not a valid student id is left out (``names.py``)."""
        return [student_id_problem(name) for name in self._student_folders(stage) if not is_student_id(name)]

    def _student_folders(self, stage: str) -> list[str]:
        folder = self.root / stage
        if not folder.is_dir() or folder.is_symlink():
            return []
        return sorted(p.name for p in folder.iterdir()
                      if not p.is_symlink() and p.is_dir() and (p / self.assignment).is_dir())


# What a course directory is made of (everything else is generated from it).
COURSE_FILES = ("lab", "source", "nbgrader_config.py")


def copy_course(target: Path, origin: Path = REPO_ROOT) -> CourseLayout:
    """A fresh course directory in ``target`` with the lab, source and config of ``origin``."""
    for name in COURSE_FILES:
        src = origin / name
        if src.is_dir():
            shutil.copytree(src, target / name)
        else:
            shutil.copy(src, target / name)
    return CourseLayout(target)


def default_data_root() -> Path | None:
    """The MNIST root for tooling and tests: $INN_DATA_ROOT, else ../shared/data if present.

    The notebook itself reads $INN_DATA_ROOT (default ~/data); the tooling
    exports what it finds here so that grading runs offline on these machines.
    """
    if os.environ.get(DATA_ENV):
        return Path(os.environ[DATA_ENV]).expanduser().resolve()
    shared = REPO_ROOT.parent / "shared" / "data"
    if (shared / "MNIST" / "raw").is_dir():
        return shared.resolve()
    return None
