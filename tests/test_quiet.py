"""Is `make all` quiet for the right reasons: the two known warnings gone at their cause, no other?"""

import os
import re
import stat
import warnings

from jupyter_client.manager import KernelManager
from nbgrader.api import Gradebook
from sqlalchemy.exc import SAWarning
from traitlets.config import Config

from inn_course.api import NBGRADER_AUTOFLUSH, prepare_environment, silence_nbgrader_autoflush, unix_socket_kernels

TCP_WARNING = "Kernel is running over TCP without encryption"


def _kernel_stderr(config, log) -> str:
    """What a kernel started with ``config`` writes on stderr between its start and its shutdown."""
    km = KernelManager(kernel_name="python3", config=config)
    with open(log, "w") as stderr:
        km.start_kernel(stderr=stderr)
        try:
            client = km.client()
            client.start_channels()
            client.wait_for_ready(timeout=60)
            client.stop_channels()
        finally:
            km.shutdown_kernel(now=True)
    return log.read_text()


def test_kernels_talk_over_private_unix_sockets_so_ipykernel_has_nothing_to_warn(tmp_path):
    """Kernels reached over Unix sockets in a 0700 folder (gone afterwards) start without the TCP warning."""
    assert TCP_WARNING in _kernel_stderr(Config(), tmp_path / 'tcp.log')  # the warning this removes, as a plain TCP kernel prints it
    with unix_socket_kernels() as config:
        assert config.KernelManager.transport == "ipc"
        folder = os.path.dirname(config.KernelManager.ip)
        assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700
        assert TCP_WARNING not in _kernel_stderr(config, tmp_path / 'ipc.log')
    assert not os.path.exists(folder)
    chosen = Config({"KernelManager": {"transport": "ipc", "ip": str(tmp_path / "sandbox")}})
    with unix_socket_kernels(chosen) as config:  # the sandbox's own choice is kept
        assert config.KernelManager.ip == str(tmp_path / "sandbox")


def _add_submission(folder) -> list:
    prepare_environment()  # nbgrader runs alembic by name
    folder.mkdir()
    with Gradebook(f"sqlite:///{folder / 'gradebook.db'}") as gb:
        gb.add_assignment("ps1")
        gb.add_notebook("nb", "ps1")
        gb.add_grade_cell("q1", "nb", "ps1", max_score=2, cell_type="code")
        gb.add_student("alice")
        with warnings.catch_warnings(record=True) as caught:
            gb.add_submission("ps1", "alice")
        assert gb.find_submission("ps1", "alice").notebooks[0].grades[0].max_score == 2
    return [w for w in caught if issubclass(w.category, Warning)]


def test_nbgrader_autoflush_warnings_alone_are_silenced(tmp_path):
    """nbgrader's add_submission warns from SQLAlchemy without the filter, and with it warns of nothing."""
    with warnings.catch_warnings():
        silence_nbgrader_autoflush()
        assert _add_submission(tmp_path / "filtered") == []
    with warnings.catch_warnings():
        warnings.resetwarnings()
        warnings.simplefilter("always")
        caught = _add_submission(tmp_path / "plain")
    assert caught and all(issubclass(w.category, SAWarning) for w in caught)
    assert all(re.search(NBGRADER_AUTOFLUSH, str(w.message)) for w in caught)
