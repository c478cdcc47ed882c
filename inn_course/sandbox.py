"""The sandbox of the kernel that runs a student's notebook (bubblewrap, an unprivileged user, limits).

nbgrader itself (which reads the gradebook and the hidden tests) stays
outside; only the *kernel* runs inside. nbgrader starts it through a
kernelspec named ``python3`` whose command is this module's launcher::

    python -m inn_course.sandbox launch SPEC.json CONNECTION_FILE

The launcher is trusted code that runs with the grader's rights just long
enough to set the sandbox up, then ``exec``s bubblewrap:

1. it opens the connection file and the student's own submitted files, and
   hands them to bubblewrap as file descriptors (``--file``), so the kernel
   never needs a path into the grader's folders;
2. it puts itself into a new control group (memory, tmpfs included, and
   processes; ``cgroups.py``) where the machine allows it;
3. it sets rlimits (address space, CPU time, file size, processes, open files,
   no core files);
4. when the grader is root, it drops to an unprivileged host user
   (``nobody`` by default) with no groups and no capabilities, and sets
   ``no_new_privs``: inside, uid checks, ``RLIMIT_NPROC`` and file ownership
   mean what they say;
5. it closes every descriptor it inherited but those, with stdin, stdout and
   stderr on /dev/null (a worker's are its log file, outside the sandbox);
6. it runs ``bwrap`` with a cleared environment (an allow-list is passed),
   every namespace new (no network: the kernel talks to nbgrader over Unix
   sockets in one folder of its own), no nested user namespaces, the system,
   Python and MNIST read-only, ``/tmp`` and the working folder as tmpfs mounts
   of a fixed size.

The working folder is a fresh tmpfs mounted at the path nbgrader gives the
kernel (its autograded folder), holding only the student's own submitted
files. nbgrader's folder itself, where it writes the notebook with the hidden
tests, is never visible inside, and nothing the kernel writes there comes
back out: the tmpfs vanishes with the kernel.

When the sandbox is torn down (``KernelSandbox.close``) every process left in
its control group is killed and the group removed.
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import shutil
import subprocess
import sys
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path

from traitlets.config import Config

from . import cgroups
from .paths import DATA_ENV

MiB, GiB = 1024 ** 2, 1024 ** 3
NOBODY = 65534
CONNECTION_INSIDE = "/run/kernel/connection.json"


@dataclass(frozen=True)
class Limits:
    """Per-kernel limits. The lab's notebook peaks near 1.5 GB and 1-2 CPU minutes (docs/maintainers/timings.md)."""

    memory: int = 4 * GiB  # control group: everything the kernel and its children hold, tmpfs included
    address_space: int = 16 * GiB  # rlimit per process: torch's CUDA build maps several GB it never touches
    cpu_seconds: int = 3600
    file_size: int = 64 * MiB  # rlimit per file
    processes: int = 256  # control group (threads count); without one, RLIMIT_NPROC for the kernel's user
    open_files: int = 1024
    tmp_bytes: int = 256 * MiB  # /tmp inside (matplotlib's cache, IPython's folder)
    scratch_bytes: int = 256 * MiB  # the working folder inside
    submitted_files: int = 50  # the student's files copied into the working folder


class SandboxUnavailable(RuntimeError):
    """bubblewrap is missing or cannot create namespaces here."""


def check_available() -> None:
    """Raise SandboxUnavailable with what to do, unless bubblewrap can start a sandbox here."""
    if shutil.which("bwrap") is None:
        raise SandboxUnavailable(
            "bubblewrap (bwrap) is not installed: install it (Debian/Ubuntu: apt-get install bubblewrap) "
            "or grade without a sandbox with --no-sandbox, at your own risk."
        )
    probe = [*_drop_command(), "bwrap", "--unshare-all", "--unshare-user", "--disable-userns",
             "--ro-bind", "/", "/", "true"]
    result = subprocess.run(probe, capture_output=True, text=True)
    if result.returncode != 0:
        raise SandboxUnavailable(f"bwrap cannot create a sandbox here: {result.stderr.strip()}")


def _drop_command() -> list[str]:
    """As root, the probe runs as the kernel will: unprivileged (setpriv is part of util-linux)."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        return []
    return ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]


def read_only_paths() -> list[Path]:
    """What the kernel must read: the system, this Python and its packages, the data."""
    paths = [Path("/usr"), Path("/etc"), Path(sys.prefix), Path(os.path.realpath(sys.base_prefix))]
    if os.environ.get(DATA_ENV):
        paths.append(Path(os.environ[DATA_ENV]).resolve())
    unique: list[Path] = []
    for path in sorted(paths, key=lambda p: len(p.parts)):  # parents first: a nested path needs no bind
        if path.exists() and not any(path == u or u in path.parents for u in unique):
            unique.append(path)
    return unique


def environment(threads: int) -> dict[str, str]:
    """The kernel's whole environment: an allow-list; nothing of the grader's (tokens, paths) passes."""
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": "/tmp", "TMPDIR": "/tmp",
           "MPLCONFIGDIR": "/tmp/matplotlib", "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1",
           "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    for name in (DATA_ENV, "MPLBACKEND"):
        if os.environ.get(name):
            env[name] = os.environ[name]
    return env


@dataclass
class LaunchSpec:
    """What the launcher needs, written by the grader into a file only it can read."""

    workdir: str  # the path nbgrader gives the kernel as its working folder
    sockets: str  # folder of the kernel's Unix sockets (the only host folder it can write)
    files: list[tuple[str, str]]  # (host path, path relative to workdir): the student's own files
    env: dict[str, str]
    limits: dict
    uid: int
    cgroup: str | None  # name of the control group to create, or None
    read_only: list[str] = field(default_factory=list)
    cgroup_tree: str = ""  # the cgroup tree to make it in ("" : none usable)
    scoped: bool = False  # systemd owns the tree: ask it for a transient scope instead


def bwrap_argv(spec: LaunchSpec, sources: dict[str, str], connection_fd: int, files: dict[str, int]) -> list[str]:
    """The bubblewrap command for ``spec``.

    ``sources`` maps each folder mounted inside (read-only paths and the sockets) to where bubblewrap
    finds it; ``connection_fd`` and ``files`` (path relative to the working folder -> descriptor) are
    copied in from descriptors the launcher opened, so the kernel needs no path to them.
    """
    limits = Limits(**spec.limits)
    argv = ["bwrap", "--unshare-all", "--unshare-user", "--disable-userns", "--die-with-parent",
            "--new-session", "--cap-drop", "ALL", "--clearenv",
            "--proc", "/proc", "--dev", "/dev", "--size", str(limits.tmp_bytes), "--tmpfs", "/tmp"]
    for name in ("lib", "lib64", "bin", "sbin"):  # merged /usr: these are symlinks into /usr
        if Path(f"/{name}").is_symlink():
            argv += ["--symlink", os.readlink(f"/{name}"), f"/{name}"]
    for path in spec.read_only:
        argv += ["--ro-bind", sources.get(path, path), path]
    argv += ["--file", str(connection_fd), CONNECTION_INSIDE,
             "--bind", sources.get(spec.sockets, spec.sockets), spec.sockets,
             "--size", str(limits.scratch_bytes), "--tmpfs", spec.workdir]
    folders = sorted({str(Path(rel).parent) for rel in files if str(Path(rel).parent) != "."},
                     key=lambda p: len(Path(p).parts))
    for folder in folders:
        argv += ["--dir", str(Path(spec.workdir) / folder)]
    for rel, fd in sorted(files.items()):
        argv += ["--file", str(fd), str(Path(spec.workdir) / rel)]
    for name, value in sorted(spec.env.items()):
        argv += ["--setenv", name, value]
    argv += ["--chdir", spec.workdir, "--",
             sys.executable, "-m", "ipykernel_launcher", "-f", CONNECTION_INSIDE,
             "--HistoryManager.enabled=False"]
    return argv


def _stage(paths: list[str]) -> dict[str, str]:
    """As root, in a mount namespace of the launcher's own: make ``paths`` reachable by any user.

    The kernel's user must not be given a way through the folders that lead to these paths (a
    pyenv Python lives under /root, mode 0700): each is bind-mounted at ``/tmp/stage/<n>`` on a small
    tmpfs that only this launcher and bubblewrap see, and bubblewrap mounts it from there.
    """
    libc = ctypes.CDLL(None, use_errno=True)

    def check(result: int, what: str) -> None:
        if result != 0:
            raise OSError(ctypes.get_errno(), f"{what} failed")

    CLONE_NEWNS, MS_NOSUID, MS_NODEV, MS_BIND, MS_REC, MS_PRIVATE = 0x20000, 2, 4, 4096, 16384, 1 << 18
    check(libc.unshare(CLONE_NEWNS), "unshare(CLONE_NEWNS)")
    check(libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None), "making mounts private")
    # Opened in the new namespace (a mount of another namespace cannot be bound), before /tmp is covered.
    folders = {path: os.open(path, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC) for path in paths}
    check(libc.mount(b"tmpfs", b"/tmp", b"tmpfs", MS_NOSUID | MS_NODEV, b"mode=0755,size=64k"), "mounting /tmp")
    staged = {}
    for number, (path, fd) in enumerate(folders.items()):
        target = f"/tmp/stage/{number}"
        os.makedirs(target, mode=0o755)
        check(libc.mount(f"/proc/self/fd/{fd}".encode(), target.encode(), None, MS_BIND | MS_REC, None),
              f"staging {path}")
        os.close(fd)
        staged[path] = target
    return staged


SCOPED = "INN_COURSE_SCOPE"  # set when the launcher runs again inside the systemd scope it asked for


def launch(spec_path: str, connection_file: str) -> None:
    """The kernelspec's command: set up limits and user, then become bubblewrap (never returns)."""
    spec = LaunchSpec(**json.loads(Path(spec_path).read_text()))
    limits = Limits(**spec.limits)
    root = os.geteuid() == 0
    marker = os.environ.pop(SCOPED, None)
    scoped = bool(spec.cgroup) and spec.scoped and marker == spec.cgroup  # running again, inside the scope
    if root and spec.cgroup and spec.scoped and not scoped:
        # systemd owns the tree: it makes the kernel's group (a transient scope with the limits), and this
        # launcher starts again inside it, before it has opened or changed anything.
        os.environ[SCOPED] = spec.cgroup
        argv = cgroups.scope_argv(spec.cgroup, limits.memory, limits.processes,
                                  [sys.executable, "-m", "inn_course.sandbox", "launch", spec_path, connection_file])
        os.execv(argv[0], argv)
    uid = spec.uid if root else os.getuid()
    sockets = Path(spec.sockets)
    sockets.mkdir(mode=0o700, exist_ok=True)
    if root:
        os.chown(sockets, uid, uid)

    def descriptor(path: str) -> int:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        os.set_inheritable(fd, True)  # bubblewrap copies it in, then closes it
        return fd

    connection_fd = descriptor(connection_file)
    files = {rel: descriptor(host) for host, rel in spec.files[:limits.submitted_files]}
    bwrap = shutil.which("bwrap") or "bwrap"
    sources = _stage([*spec.read_only, spec.sockets]) if root else {}
    argv = bwrap_argv(spec, sources, connection_fd, files)

    tree = Path(spec.cgroup_tree) if spec.cgroup_tree else None
    if tree is not None and tree != cgroups.ROOT and cgroups.refused_tree(tree):
        tree = None  # not the tree the grader checked any more: no group rather than a folder someone made
    group = cgroups.create(spec.cgroup, limits.memory, limits.processes, root=tree) \
        if spec.cgroup and root and tree is not None and not spec.scoped else None
    if group is not None:
        group.join()
    # A group caps each kernel's processes; without one, RLIMIT_NPROC caps all of the kernel user's.
    nproc = limits.processes * 16 if group is not None or scoped else limits.processes
    for which, value in ((resource.RLIMIT_AS, limits.address_space), (resource.RLIMIT_CPU, limits.cpu_seconds),
                         (resource.RLIMIT_FSIZE, limits.file_size), (resource.RLIMIT_NPROC, nproc),
                         (resource.RLIMIT_NOFILE, limits.open_files), (resource.RLIMIT_CORE, 0)):
        hard = resource.getrlimit(which)[1]
        if not root and hard != resource.RLIM_INFINITY:
            value = min(value, hard)  # only root may raise a hard limit
        resource.setrlimit(which, (value, value))
    _no_new_privileges()
    if root:
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)
    _only_descriptors({connection_fd, *files.values()})
    os.execv(bwrap, argv)


def _only_descriptors(keep: set[int]) -> None:
    """Close every inherited descriptor but ``keep`` (what bubblewrap copies in); stdin, stdout and stderr
    become /dev/null. The launcher inherits the grader's: a worker's are its log file, open for writing
    outside the sandbox, where a kernel could write without end."""
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd > 2 and fd not in keep:
            try:
                os.close(fd)
            except OSError:  # the listing's own descriptor, already closed
                pass


def _prctl(option: int, value: int) -> None:
    if ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), f"prctl({option}, {value}) failed")


def _no_new_privileges() -> None:
    """No setuid binary or file capability can give the kernel more rights than it starts with."""
    _prctl(38, 1)  # PR_SET_NO_NEW_PRIVS


class KernelSandbox:
    """The sandbox of one student's kernel: its kernelspec, launch spec, sockets and control group.

    ``install`` points a config (and JUPYTER_PATH) at it; ``close`` kills what is left and removes it.
    ``root`` is a folder of the grader's that the kernel never sees but for ``root/sockets``.
    """

    def __init__(self, root: Path, workdir: Path, files: Path | None = None, limits: Limits = Limits(),
                 threads: int = 1, uid: int = NOBODY):
        self.root, self.workdir, self.limits = root, workdir, limits
        self.cgroup_name = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.tree = cgroups.tree()
        # As root on a host systemd runs, its tree is systemd's: the launcher asks it for a scope. systemd
        # removes the scope when the kernel ends, so close() cannot find it, only ask systemd how it ended.
        self.scoped = os.geteuid() == 0 and self.tree == cgroups.ROOT and cgroups.systemd_manages()
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.spec = LaunchSpec(
            workdir=str(workdir), sockets=str(root / "sockets"), files=self._files(files), env=environment(threads),
            limits=asdict(limits), uid=uid, cgroup=self.cgroup_name,
            read_only=[str(p) for p in read_only_paths()], cgroup_tree=str(self.tree or ""), scoped=self.scoped)

    def _files(self, folder: Path | None) -> list[tuple[str, str]]:
        """The student's submitted files (regular files only: the folder is a safe copy)."""
        if folder is None or not folder.is_dir():
            return []
        found = []
        for path in sorted(folder.rglob("*")):
            if path.is_file() and not path.is_symlink():
                found.append((str(path), str(path.relative_to(folder))))
        return found[:self.limits.submitted_files]

    def install(self, config: Config) -> Config:
        """Make nbgrader (run in this process with ``config``) start its kernel in this sandbox."""
        spec_path = self.root / "launch.json"
        spec_path.write_text(json.dumps(asdict(self.spec), indent=1))
        os.chmod(spec_path, 0o600)
        kernels = self.root / "jupyter" / "kernels" / "python3"
        kernels.mkdir(parents=True, exist_ok=True)
        (kernels / "kernel.json").write_text(json.dumps({
            "argv": [sys.executable, "-m", "inn_course.sandbox", "launch", str(spec_path), "{connection_file}"],
            "display_name": "Python 3 (sandboxed)", "language": "python",
            "interrupt_mode": "message",  # a signal would stop at bubblewrap; ipykernel signals itself
        }, indent=1))
        self._jupyter_path = os.environ.get("JUPYTER_PATH")  # put back by close()
        os.environ["JUPYTER_PATH"] = os.pathsep.join(
            [str(self.root / "jupyter"), os.environ.get("JUPYTER_PATH", "")]).strip(os.pathsep)
        config = Config(config)
        config.KernelManager.transport = "ipc"
        config.KernelManager.ip = str(Path(self.spec.sockets) / "kernel")
        config.KernelManager.connection_file = str(self.root / "connection.json")
        return config

    def group(self) -> cgroups.Cgroup | None:
        """The kernel's control group, if the launcher made one (or systemd did, as a scope, while it runs)."""
        if self.scoped:
            return cgroups.find_scope(self.cgroup_name)
        return cgroups.find(self.cgroup_name, self.tree) if self.tree is not None else None

    def close(self) -> dict:
        """Kill whatever the kernel left, remove its group; report its peak memory and whether it ran out.

        Also takes this sandbox's kernelspec off JUPYTER_PATH, so that later kernels of this process
        are ordinary ones again.
        """
        if hasattr(self, "_jupyter_path"):
            if self._jupyter_path is None:
                os.environ.pop("JUPYTER_PATH", None)
            else:
                os.environ["JUPYTER_PATH"] = self._jupyter_path
        if self.scoped:
            ended = cgroups.scope_result(self.cgroup_name)  # "oom-kill" when the limit killed it
            cgroups.stop_scope(self.cgroup_name)
            return {"memory_peak": None, "out_of_memory": ended == "oom-kill",
                    "memory_bound": f"a systemd scope of its own (cgroup v2, {self.limits.memory / GiB:g} GB)"}
        group = self.group()
        if group is None:
            why = "not root" if os.geteuid() != 0 else \
                cgroups.unavailable(self.tree) or f"the cgroup tree at {self.tree} refused a group"
            return {"memory_bound": f"rlimits only ({why})"}
        report = {"memory_peak": group.memory_peak(), "out_of_memory": group.out_of_memory(),
                  "memory_bound": f"a control group of its own (cgroup v{group.version}, {self.limits.memory / GiB:g} GB)"}
        group.kill_and_remove()
        return report


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) >= 3 and argv[0] == "launch":
        launch(argv[1], argv[2])  # what nbgrader appends (--HistoryManager...) is dropped: set inside
    print("usage: python -m inn_course.sandbox launch SPEC.json CONNECTION_FILE", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
