"""A control group per sandboxed kernel: memory (tmpfs included) and process count, counted by the Linux kernel.

rlimits count per process (address space) or per user (processes): a notebook
that fills a tmpfs, or two students' kernels running as the same user, slip
between them. A control group counts everything the kernel and its children
use, page cache and tmpfs pages included, and is killed as one.

Two layouts exist: cgroup v2 (one tree, ``/sys/fs/cgroup/cgroup.controllers``)
and v1 (one tree per controller, ``/sys/fs/cgroup/memory`` and
``/sys/fs/cgroup/pids``). Either needs write access to the tree (the grader
running as root, or a delegated subtree); where neither is usable,
``create`` returns None and the sandbox falls back to rlimits and sized tmpfs
mounts (see ``sandbox.py``), which docs/reference/grading-guarantees.md states.

Where systemd runs the host (PID 1) on the unified tree, the tree is systemd's
to write (one writer): there the launcher asks systemd for a transient scope
per kernel (``systemd-run --scope`` with ``MemoryMax`` and ``TasksMax``,
``scope_argv``) instead of making folders itself, and a scope is stopped with
``systemctl stop``. That path cannot run on the machines the suite runs on (no
systemd as PID 1): its commands are tested, not its effect.

The tree is ``/sys/fs/cgroup`` unless ``INN_COURSE_CGROUP_TREE`` names another
mount (``tree()``): a cgroup2 mount, or a folder where the v1 ``memory`` and
``pids`` hierarchies are mounted, on a path only root can change. Anything
else (a folder someone made, a link, files that claim another layout than the
mount) is no tree at all (``refused_tree``): root never writes there. The
variable is ignored on a host systemd runs. The tests use it to grade a class
on a real cgroup2 mount.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import stat
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")
PREFIX = "inn-course"
SYSTEMD = Path("/run/systemd/system")  # a folder only while systemd is PID 1 (what sd_booted() checks)
SLICE = "inncourse.slice"  # the kernels' scopes: /sys/fs/cgroup/inncourse.slice/inncourse-<name>.scope
SYSTEM_PATH = "/usr/bin:/bin"  # where root looks for systemd's tools (never the caller's PATH)
TREE_ENV = "INN_COURSE_CGROUP_TREE"  # another mounted cgroup tree to use instead of ROOT
REFUSED_ENV = "INN_COURSE_CGROUP_TREE_REFUSED"  # why the grader refused it, for a worker that cannot see it
CONTROLLERS = ("memory", "pids")  # what a kernel's group must bound


@dataclass(frozen=True)
class Cgroup:
    """One kernel's group: the folders that hold it (one for v2, one per controller for v1)."""

    version: int
    folders: tuple[Path, ...]

    @property
    def procs_files(self) -> list[Path]:
        return [folder / "cgroup.procs" for folder in self.folders]

    def join(self, pid: int | None = None) -> None:
        """Move ``pid`` (default: this process) into the group; its children are born in it."""
        for path in self.procs_files:
            path.write_text(f"{pid or os.getpid()}\n")

    def pids(self) -> set[int]:
        found: set[int] = set()
        for path in self.procs_files:
            try:
                found |= {int(line) for line in path.read_text().split()}
            except OSError:
                continue
        return found

    def memory_peak(self) -> int | None:
        """The most memory the group used, in bytes (None where the kernel does not say)."""
        names = ("memory.peak",) if self.version == 2 else ("memory.max_usage_in_bytes",)
        for folder in self.folders:
            for name in names:
                try:
                    return int((folder / name).read_text())
                except (OSError, ValueError):
                    continue
        return None

    def out_of_memory(self) -> bool:
        """Did the group hit its memory limit (an allocation refused or a process killed)?"""
        for folder in self.folders:
            try:
                if self.version == 2:
                    events = dict(line.split() for line in (folder / "memory.events").read_text().splitlines())
                    return int(events.get("oom_kill", 0)) > 0 or int(events.get("max", 0)) > 0
                if (folder / "memory.oom_control").exists():
                    control = dict(line.split() for line in (folder / "memory.oom_control").read_text().splitlines())
                    failed = int((folder / "memory.failcnt").read_text()) if (folder / "memory.failcnt").exists() else 0
                    return int(control.get("oom_kill", 0)) > 0 or failed > 0
            except (OSError, ValueError):
                continue
        return False

    def kill_and_remove(self, timeout: float = 5.0) -> None:
        """Kill every process of the group, then remove its folders."""
        deadline = time.monotonic() + timeout
        while self.pids() and time.monotonic() < deadline:
            for pid in self.pids():
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.05)
        for folder in self.folders:
            try:
                folder.rmdir()
            except OSError:
                pass


def tree() -> Path | None:
    """The cgroup tree kernels' groups go in: ROOT, or the tree ``INN_COURSE_CGROUP_TREE`` names if
    ``refused_tree`` finds nothing against it (else None: no groups). On a host systemd runs, the variable is
    ignored: any cgroup2 mount there is a view of systemd's own hierarchy, which systemd alone writes."""
    configured = os.environ.get(TREE_ENV)
    if not configured or systemd_manages():
        return ROOT
    return None if refused_tree(Path(configured)) else Path(configured)


def refused_tree(path: Path) -> str:
    """What forbids ``path`` as the grader's tree ('' if nothing): it must be absolute, every folder on it
    root's and writable by root alone (or sticky, as /tmp), and mounted as the layout its files claim
    (a cgroup2 mount, or v1 mounts of memory and pids in it): root never writes where another user could
    have put the folder, or a file that makes the tree look like another layout."""
    if not path.is_absolute():
        return "is not an absolute path"
    for folder in (path, *path.parents):
        try:
            info = os.lstat(folder)
        except OSError:
            return "does not exist"
        if stat.S_ISLNK(info.st_mode):
            return f"goes through a link ({folder})"
        if info.st_uid != 0 or (info.st_mode & 0o022 and not info.st_mode & stat.S_ISVTX):
            return f"goes through a folder that is not root's alone ({folder})"
    layout = mounted(path)
    if layout is None:
        return "is not a mounted cgroup tree"
    if layout != version(path):
        return f"is mounted as cgroup v{layout} but holds files of another layout"
    return ""


def _mount_types(table: str | None = None) -> dict[str, str]:
    """Mount point -> file-system type, from this process's mount table (or ``table``, its text)."""
    found = {}
    for line in (Path("/proc/self/mountinfo").read_text() if table is None else table).splitlines():
        fields, _, rest = line.partition(" - ")
        point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), fields.split()[4])  # "\040": a space
        found[point] = rest.split()[0] if rest else ""
    return found


def mounted(root: Path) -> int | None:
    """The cgroup layout the mount table shows at ``root``: 2 for a cgroup2 mount, 1 for a folder holding the
    v1 memory and pids hierarchies' mounts, None for anything else."""
    types = _mount_types()
    if types.get(str(root)) == "cgroup2":
        return 2
    return 1 if all(types.get(str(root / c)) == "cgroup" for c in CONTROLLERS) else None


def unavailable(root: Path | None) -> str:
    """Why ``create`` can make no group in ``root``, as far as can be told without making one ('' if it can)."""
    if root is None:
        configured = os.environ.get(TREE_ENV, "")
        why = os.environ.get(REFUSED_ENV) or refused_tree(Path(configured)) or "changed while grading"
        return f"{TREE_ENV}={configured} {why}"
    layout = version(root)
    if layout is None:
        return f"no cgroup tree at {root}"
    if layout == 2:
        try:
            offered = set((_v2_base(root).parent / "cgroup.controllers").read_text().split())
        except OSError as error:
            return f"the cgroup v2 tree at {root} cannot be read ({error.strerror})"
        missing = [c for c in CONTROLLERS if c not in offered]
        if missing:
            others = f"only {', '.join(sorted(offered))}" if offered else "none at all"
            return f"the cgroup v2 tree at {root} offers no {' or '.join(missing)} controller, {others}"
    return ""


def systemd_manages(root: Path = ROOT, marker: Path = SYSTEMD) -> bool:
    """Does systemd run this host and own its unified (v2) tree? Then kernels get transient scopes."""
    return marker.is_dir() and version(root) == 2 and _tool("systemd-run") is not None


def _tool(name: str) -> str | None:
    return shutil.which(name, path=SYSTEM_PATH)


def scope_unit(name: str) -> str:
    return f"inncourse-{name}.scope"


def scope_argv(name: str, memory: int, processes: int, command: list[str]) -> list[str]:
    """``command`` run in a new transient scope with these limits (swap not allowed). Not ``--collect``: a scope
    that failed (its kernel killed at the limit) stays loaded until ``stop_scope``, so its result can be read."""
    return [_tool("systemd-run") or "/usr/bin/systemd-run", "--scope", "--quiet", f"--slice={SLICE}",
            f"--unit={scope_unit(name)}",
            "-p", f"MemoryMax={memory}", "-p", "MemorySwapMax=0", "-p", f"TasksMax={processes}", "--", *command]


def adopt_argv(name: str, pid: int, memory: int, processes: int) -> list[str]:
    """Ask systemd (over D-Bus, with ``busctl``) for a transient scope around the running process ``pid`` and
    its future children, with these limits: ``scope_argv`` for a process that is already started (a hub's
    server, which JupyterHub starts as its user)."""
    return [_tool("busctl") or "/usr/bin/busctl", "call", "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
            "org.freedesktop.systemd1.Manager", "StartTransientUnit", "ssa(sv)a(sa(sv))", scope_unit(name), "fail",
            "5", "PIDs", "au", "1", str(pid), "Slice", "s", SLICE, "MemoryMax", "t", str(memory),
            "MemorySwapMax", "t", "0", "TasksMax", "t", str(processes), "0"]


def find_scope(name: str, root: Path = ROOT) -> Cgroup | None:
    """The scope systemd made for the kernel ``name``, if it is there."""
    folder = root / SLICE / scope_unit(name)
    return Cgroup(2, (folder,)) if folder.is_dir() else None


def scope_result(name: str) -> str:
    """How systemd says the scope ended ("success", "oom-kill", ...; "" once it is gone)."""
    done = subprocess.run([_tool("systemctl") or "/usr/bin/systemctl", "show", "-p", "Result", "--value",
                           scope_unit(name)], capture_output=True, text=True, timeout=30, check=False)
    return done.stdout.strip()


def stop_scope(name: str) -> None:
    """Kill what is left in the scope and forget a failed one, through systemd (its tree is not ours to write)."""
    systemctl = _tool("systemctl") or "/usr/bin/systemctl"
    for verb in ("stop", "reset-failed"):
        subprocess.run([systemctl, verb, scope_unit(name)], capture_output=True, timeout=30, check=False)


def version(root: Path = ROOT) -> int | None:
    """2 or 1 for the cgroup layout mounted at ``root``; None without one."""
    if (root / "cgroup.controllers").exists():
        return 2
    if (root / "memory" / "tasks").exists() and (root / "pids" / "tasks").exists():
        return 1
    return None


def _own_v2_path(root: Path) -> Path:
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        if line.startswith("0::"):
            return root / line[3:].lstrip("/")
    return root


def _v2_base(root: Path) -> Path:
    """Where this process's groups go in a v2 tree: ``inn-course/`` beside its own group (in that group's
    parent), or in the tree's root when the process is in the root; never above the tree."""
    own = _own_v2_path(root)
    return (own.parent if own != root and root in own.parents else root) / PREFIX


def create(name: str, memory: int, processes: int, root: Path = ROOT) -> Cgroup | None:
    """A new group ``inn-course/<name>`` with these limits; None where this machine does not let us.

    v2: created beside the grader's own group when its parent delegates ``memory`` and ``pids``.
    v1: created in the memory and pids hierarchies. Swap counts towards the limit where the kernel
    accounts it (``memory.memsw`` / ``memory.swap.max``).
    """
    layout = version(root)
    try:
        if layout == 2:
            return _create_v2(name, memory, processes, root)
        if layout == 1:
            return _create_v1(name, memory, processes, root)
    except OSError:
        return None
    return None


def _create_v1(name: str, memory: int, processes: int, root: Path) -> Cgroup:
    folders = []
    for controller in CONTROLLERS:
        folder = root / controller / PREFIX / name
        folder.mkdir(parents=True, exist_ok=True)
        folders.append(folder)
    memory_folder, pids_folder = folders
    (memory_folder / "memory.limit_in_bytes").write_text(str(memory))
    swap = memory_folder / "memory.memsw.limit_in_bytes"
    if swap.exists():
        swap.write_text(str(memory))
    (pids_folder / "pids.max").write_text(str(processes))
    return Cgroup(1, tuple(folders))


def _create_v2(name: str, memory: int, processes: int, root: Path) -> Cgroup | None:
    parent = _v2_base(root)
    wanted = set(CONTROLLERS)
    if unavailable(root):
        return None  # this tree cannot bound memory or processes (rlimits do): nothing is made in it
    parent.mkdir(exist_ok=True)
    enabled = set((parent / "cgroup.subtree_control").read_text().split())
    if not wanted <= enabled:
        (parent / "cgroup.subtree_control").write_text(" ".join(f"+{c}" for c in sorted(wanted - enabled)))
    folder = parent / name
    folder.mkdir(exist_ok=True)
    (folder / "memory.max").write_text(str(memory))
    if (folder / "memory.swap.max").exists():
        (folder / "memory.swap.max").write_text("0")
    (folder / "pids.max").write_text(str(processes))
    return Cgroup(2, (folder,))


def find(name: str, root: Path = ROOT) -> Cgroup | None:
    """The group ``create(name, ...)`` made, if it is there."""
    layout = version(root)
    if layout == 2:
        folders = (_v2_base(root) / name,)
    elif layout == 1:
        folders = tuple(root / controller / PREFIX / name for controller in CONTROLLERS)
    else:
        return None
    return Cgroup(layout, folders) if all(folder.is_dir() for folder in folders) else None


def sweep(root: Path = ROOT, older_than: float = 600.0) -> int:
    """Remove the empty groups that killed graders left behind (older than ``older_than`` s); how many."""
    removed = 0
    bases = [root / c / PREFIX for c in CONTROLLERS] if version(root) == 1 else \
        [_v2_base(root)] if version(root) == 2 else []
    for base in bases:
        if not base.is_dir():
            continue
        for folder in base.iterdir():
            if folder.is_dir() and time.time() - folder.stat().st_mtime > older_than:
                group = Cgroup(version(root) or 1, (folder,))
                if not group.pids():
                    try:
                        folder.rmdir()
                        removed += 1
                    except OSError:
                        pass
    return removed
