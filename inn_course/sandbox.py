"""A bubblewrap sandbox for the kernel that runs a student's notebook.

nbgrader itself (which reads the gradebook and the hidden tests) stays
outside; only the *kernel* runs inside, started through a kernelspec named
``python3`` that wraps ``ipykernel`` in ``bwrap`` and ``prlimit``. The
kernel talks to nbgrader over Unix sockets (ZMQ's ``ipc`` transport) in a
folder both sides see, so the sandbox can have no network at all.

Inside: no network (a new, empty network namespace), a new process
namespace (every process the notebook starts dies with it), a private
``/tmp``, the user ``nobody`` (65534), the system, Python and the MNIST
folder read-only, and the student's working copy (the folder nbgrader runs
the notebook in) as the only writable place. The course folder, its
gradebook and its source notebook are not there at all. ``prlimit`` caps
address space, CPU time, file size and (where the grader is not root)
processes.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from traitlets.config import Config

from .paths import DATA_ENV

GiB = 1024 ** 3


@dataclass(frozen=True)
class Limits:
    """Per-kernel limits (prlimit). The notebook needs about 2 GB and 1-2 CPU minutes."""

    address_space: int = 16 * GiB  # virtual memory: torch's CUDA build maps several GB it never touches
    cpu_seconds: int = 3600
    file_size: int = 1 * GiB
    processes: int = 512  # RLIMIT_NPROC: ignored by Linux when the grader runs as root


class SandboxUnavailable(RuntimeError):
    """bubblewrap is missing or cannot create namespaces here."""


def check_available() -> None:
    """Raise SandboxUnavailable with what to do, unless ``bwrap`` can start a sandbox here."""
    if shutil.which("bwrap") is None:
        raise SandboxUnavailable(
            "bubblewrap (bwrap) is not installed: install it (Debian/Ubuntu: apt-get install bubblewrap) "
            "or grade without a sandbox with --no-sandbox, at your own risk."
        )
    probe = subprocess.run(["bwrap", "--unshare-all", "--ro-bind", "/", "/", "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        raise SandboxUnavailable(f"bwrap cannot create a sandbox here: {probe.stderr.strip()}")


def _read_only_paths() -> list[Path]:
    """What the kernel must read: the system, this Python and its packages, the data."""
    paths = [Path("/usr"), Path("/etc"), Path(sys.prefix), Path(os.path.realpath(sys.base_prefix))]
    if os.environ.get(DATA_ENV):
        paths.append(Path(os.environ[DATA_ENV]).resolve())
    unique: list[Path] = []
    for path in sorted(paths, key=lambda p: len(p.parts)):  # parents first: a nested path needs no bind
        if path.exists() and not any(path == u or u in path.parents for u in unique):
            unique.append(path)
    return unique


def kernel_argv(workdir: Path, runtime: Path, limits: Limits = Limits()) -> list[str]:
    """The kernelspec's argv: ipykernel in bwrap, working in ``workdir``, sockets in ``runtime``."""
    argv = ["bwrap", "--unshare-all", "--die-with-parent", "--new-session",
            "--uid", "65534", "--gid", "65534",
            "--tmpfs", "/tmp", "--proc", "/proc", "--dev", "/dev"]
    for name in ("lib", "lib64", "bin", "sbin"):  # merged /usr: these are symlinks into /usr
        if Path(f"/{name}").is_symlink():
            argv += ["--symlink", os.readlink(f"/{name}"), f"/{name}"]
        elif Path(f"/{name}").exists():
            argv += ["--ro-bind", f"/{name}", f"/{name}"]
    for path in _read_only_paths():
        argv += ["--ro-bind", str(path), str(path)]
    argv += ["--bind", str(workdir), str(workdir), "--bind", str(runtime), str(runtime),
             "--unsetenv", "JPY_PARENT_PID",  # the client's pid means nothing in the new pid namespace
             "--setenv", "HOME", "/tmp", "--setenv", "MPLCONFIGDIR", "/tmp",
             "--chdir", str(workdir), "--",
             "prlimit", f"--as={limits.address_space}", f"--cpu={limits.cpu_seconds}",
             f"--fsize={limits.file_size}", f"--nproc={limits.processes}", "--",
             sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    return argv


def install(config: Config, root: Path, workdir: Path, limits: Limits = Limits()) -> Config:
    """Make nbgrader (run in this process with ``config``) start its kernels in the sandbox.

    Writes a ``python3`` kernelspec under ``root`` and puts it first on JUPYTER_PATH; returns the
    config with the kernel's sockets and connection file in ``root/runtime``.
    """
    runtime = root / "runtime"
    runtime.mkdir(parents=True, exist_ok=True)
    workdir.mkdir(parents=True, exist_ok=True)
    spec = root / "jupyter" / "kernels" / "python3"
    spec.mkdir(parents=True, exist_ok=True)
    (spec / "kernel.json").write_text(json.dumps(
        {"argv": kernel_argv(workdir, runtime, limits), "display_name": "Python 3 (sandboxed)", "language": "python"},
        indent=1))
    os.environ["JUPYTER_PATH"] = os.pathsep.join([str(root / "jupyter"), os.environ.get("JUPYTER_PATH", "")]).strip(os.pathsep)
    config = Config(config)
    config.KernelManager.transport = "ipc"
    config.KernelManager.ip = str(runtime / "kernel")
    config.KernelManager.connection_file = str(runtime / "kernel.json")
    return config
