"""A JupyterLab server as a student runs it, on 127.0.0.1, isolated from this machine's Jupyter set-up.

Isolated: its own config, data, runtime, settings and workspace folders, so nothing the
developer (or the grading sandbox) installed changes what the test sees. As a student has it:
no ``nbgrader_config.py`` in its folder, and no ``MPLBACKEND`` (the Makefile sets Agg for the
tooling; a student's kernel uses the inline backend, which is what puts figures in the page).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil

# JupyterLab settings for the test browser, written as a user's settings files would be.
SETTINGS = {
    # Every cell in the page: JupyterLab 4 otherwise renders only the cells near the
    # viewport, and the test reads all of them (headings, maths, outputs).
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
    # No "get notified about Jupyter news?" toast over the screenshots, and no update check.
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
    # Files change on disk only when a test saves (Validate does): no autosave halfway through a test.
    "@jupyterlab/docmanager-extension/plugin": {"autosave": False},
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class JupyterLab:
    """``with JupyterLab(home, state) as lab:`` serves ``home``; ``lab.url(path)`` opens a notebook in it."""

    def __init__(self, home: Path, state: Path, startup_timeout: float = 90.0):
        self.home, self.state, self.startup_timeout = home, state, startup_timeout
        self.port = _free_port()
        self.log_path = state / "jupyterlab.log"
        self.process: subprocess.Popen | None = None

    def url(self, notebook: str) -> str:
        # ?reset: a fresh workspace, so no tab from an earlier test is restored beside this one.
        return f"http://127.0.0.1:{self.port}/lab/tree/{notebook}?reset"

    def _environment(self) -> dict[str, str]:
        inherited = ("MPLBACKEND", "JUPYTER_PATH", "JUPYTER_CONFIG_PATH", "JPY_PARENT_PID")
        env = {k: v for k, v in os.environ.items() if k not in inherited}
        for name in ("config", "data", "runtime", "settings", "workspaces", "ipython"):
            (self.state / name).mkdir(parents=True, exist_ok=True)
        env.update(
            JUPYTER_CONFIG_DIR=str(self.state / "config"),
            JUPYTER_DATA_DIR=str(self.state / "data"),
            JUPYTER_RUNTIME_DIR=str(self.state / "runtime"),
            JUPYTERLAB_SETTINGS_DIR=str(self.state / "settings"),
            JUPYTERLAB_WORKSPACES_DIR=str(self.state / "workspaces"),
            IPYTHONDIR=str(self.state / "ipython"),  # no startup scripts or kernel config of the developer's
        )
        for plugin, values in SETTINGS.items():
            path = self.state / "settings" / f"{plugin}.jupyterlab-settings"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(values))
        return env

    def __enter__(self) -> "JupyterLab":
        # port_retries=0: if another process took the port meanwhile, fail rather than move to another.
        command = [sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--port={self.port}",
                   "--ServerApp.port_retries=0", "--ip=127.0.0.1", "--ServerApp.token=", "--ServerApp.password=",
                   f"--ServerApp.root_dir={self.home}"]
        if os.geteuid() == 0:
            command.append("--allow-root")  # containers and CI run as root; JupyterLab refuses it otherwise
        with self.log_path.open("w") as log:
            self.process = subprocess.Popen(command, cwd=self.home, env=self._environment(),
                                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"JupyterLab exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/api/status", timeout=2):
                    return self
            except OSError:
                time.sleep(0.5)
        self.__exit__()
        raise RuntimeError(f"JupyterLab did not answer within {self.startup_timeout:.0f} s:\n{self.log_tail()}")

    def __exit__(self, *exc) -> None:
        """Stop the server and every kernel it started (kernels run in sessions of their own)."""
        if self.process is None or self.process.poll() is not None:
            return
        descendants = psutil.Process(self.process.pid).children(recursive=True)
        self.process.terminate()  # the server shuts its kernels down on SIGTERM
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        for child in descendants:
            try:
                child.kill()
            except psutil.NoSuchProcess:
                pass  # already shut down by the server

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
