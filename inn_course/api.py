"""Open nbgrader's Python API on a course directory, with this course's config."""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from nbgrader.apps import NbGraderAPI
from nbgrader.coursedir import CourseDirectory
from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader

from .paths import DATA_ENV, CourseLayout, default_data_root


def load_config(layout: CourseLayout) -> Config:
    """The course's nbgrader_config.py, with the course root pinned to ``layout.root``."""
    config = PyFileConfigLoader(layout.config_file.name, path=str(layout.config_file.parent)).load_config()
    config.CourseDirectory.root = str(layout.root)
    return config


@contextmanager
def throwaway_gradebook(layout: CourseLayout) -> Iterator[Config]:
    """The course config with a fresh, temporary gradebook.

    Regenerating the release and grading the samples this way gives the same
    result on every run, and never touches (or conflicts with) an
    instructor's own gradebook.db, which nbgrader refuses to change once it
    holds submissions.
    """
    with tempfile.TemporaryDirectory() as tmp:
        config = load_config(layout)
        config.CourseDirectory.db_url = f"sqlite:///{Path(tmp) / 'gradebook.db'}"
        yield config


def prepare_environment() -> None:
    """What nbgrader's subprocesses need from ours.

    nbgrader runs ``alembic`` by name and starts kernels with ``python`` from
    PATH, so this interpreter's bin comes first; the notebook reads its data
    root from INN_DATA_ROOT, so grading offline finds MNIST.
    """
    bin_dir = str(Path(sys.executable).parent)
    if os.environ.get("PATH", "").split(os.pathsep)[0] != bin_dir:
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")
    data_root = default_data_root()
    if data_root is not None:
        os.environ.setdefault(DATA_ENV, str(data_root))


def open_api(layout: CourseLayout, config: Config | None = None) -> NbGraderAPI:
    prepare_environment()
    config = config or load_config(layout)
    return NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)
