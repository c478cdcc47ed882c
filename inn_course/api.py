"""Open nbgrader's Python API on a course directory, with this course's config."""

from __future__ import annotations

import os
import sys
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from nbgrader.apps import NbGraderAPI
from nbgrader.coursedir import CourseDirectory
from sqlalchemy.exc import SAWarning
from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader

from .paths import DATA_ENV, CourseLayout, default_data_root

# nbgrader 0.9's Gradebook.add_submission builds a submission's rows (SubmittedAssignment,
# SubmittedNotebook, their grades) before it adds them to the session; SQLAlchemy 2 warns at
# the autoflush in between ("... not in session, add operation ... will not proceed"), then
# nbgrader adds and commits them all: every grade is there (tests/test_grading.py reads them
# back). Only these, raised from nbgrader.api, are silenced (tests/test_quiet.py).
NBGRADER_AUTOFLUSH = r"Object of type <Submitted(Assignment|Notebook)> not in session"


def silence_nbgrader_autoflush() -> None:
    """Installed by ``open_api``, through which every use of nbgrader here goes (idempotent)."""
    warnings.filterwarnings("ignore", message=NBGRADER_AUTOFLUSH, category=SAWarning, module=r"nbgrader\.api")


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


@contextmanager
def unix_socket_kernels(config: Config | None = None) -> Iterator[Config]:
    """``config`` with kernels reached over Unix sockets in a private 0700 folder, not TCP.

    A kernel's TCP ports on localhost are open to every user of the machine
    (the connection file's key is the only guard), and ipykernel says so at each
    start ("Kernel is running over TCP without encryption"). Sockets in a folder
    only we can enter close that, so the warning is gone at its cause. A config
    that already chose a transport (the grading sandbox's) is left as it is.
    """
    config = Config(config or {})
    if "transport" in config.KernelManager:
        yield config
        return
    # Short path: a Unix socket's address must stay under 108 bytes.
    with tempfile.TemporaryDirectory(prefix="inn-kernel-", dir="/tmp") as folder:
        config.KernelManager.transport = "ipc"
        config.KernelManager.ip = str(Path(folder) / "k")
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
    silence_nbgrader_autoflush()
    config = config or load_config(layout)
    return NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)
