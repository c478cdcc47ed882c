"""Root never works in a folder another user owns: a command on such a course runs as its owner.

On a JupyterHub the course directory is the instructor's, and its owner controls every
name in it: a ``grading`` folder may be a link to ``/etc``, a log or the lock a link to
any file, a results file may name ``../../somewhere`` as its student, and the course's
``nbgrader_config.py`` and answer key are Python that nbgrader and the judge execute.
Run as root, any of them is root's act. So before a course command does anything, when
it runs as root on a course that root does not own, it starts itself again as the
course's owner (their uid, gid and groups, a clean environment) and only relays the exit
code: every file it reads, writes, locks, merges or executes there, it does with the
owner's rights, exactly as if the owner had typed it. Nothing is handed back, because
nothing was made by root.

The owner's run grades in the unprivileged sandbox (bubblewrap in a user namespace, as
for any instructor without root): the kernel's view, limits and namespaces are the same;
it runs as the owner's uid mapped in a namespace instead of ``nobody``, and its memory
is limited by rlimits where the owner has no control group of their own.

The course's path is walked from ``/`` without following a link (a link anywhere on it
is refused), so root decides whose rights to take from the folder itself.
"""

from __future__ import annotations

import os
import pwd
import subprocess
import sys
from pathlib import Path

from . import safe_files


class OwnerUnknown(RuntimeError):
    """The course's owner cannot be determined safely, or cannot run this Python."""


def course_owner(root: Path) -> pwd.struct_passwd | None:
    """The course directory's owner when it is not root, else None (also when we are not root)."""
    if os.geteuid() != 0:
        return None
    if not root.is_absolute():
        raise OwnerUnknown(f"{root}: an absolute path is needed")
    try:
        fd = safe_files.open_beneath(Path("/"), root.relative_to("/"), safe_files.DIRECTORY)
    except OSError as error:
        raise OwnerUnknown(f"{root}: not a folder reached without a link ({error}); give its real path") from None
    try:
        uid = os.fstat(fd).st_uid
    finally:
        os.close(fd)
    if uid == 0:
        return None
    try:
        return pwd.getpwuid(uid)
    except KeyError:
        raise OwnerUnknown(f"{root} belongs to uid {uid}, who is not a user of this machine: not run as root") from None


def environment(owner: pwd.struct_passwd) -> dict[str, str]:
    """A clean environment for the owner's run: nothing of root's but the data root and the locale."""
    env = {"HOME": owner.pw_dir, "USER": owner.pw_name, "LOGNAME": owner.pw_name, "LANG": "C.UTF-8",
           "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "MPLBACKEND": "Agg"}
    for name in ("INN_DATA_ROOT", "TZ"):
        if name in os.environ:
            env[name] = os.environ[name]
    return env


def run_as_owner(owner: pwd.struct_passwd, args: list[str], cwd: Path) -> int:
    """``python -m inn_course ARGS`` as ``owner``, in ``cwd`` (the course: a folder the owner can enter,
    since nbgrader returns to its working folder); its exit code. ARGS hold absolute paths only."""
    rights = dict(user=owner.pw_uid, group=owner.pw_gid,
                  extra_groups=os.getgrouplist(owner.pw_name, owner.pw_gid), env=environment(owner))
    why = can_run_python(rights)
    if why:
        raise OwnerUnknown(f"{owner.pw_name} cannot run this Python ({sys.executable}: {why}); run the command from "
                           "an environment every user can read (on the hub: /opt/inn-course/hub-env/bin/inn-course)")
    print(f"inn-course: the course belongs to {owner.pw_name}: running as {owner.pw_name}, not as root",
          file=sys.stderr, flush=True)
    # -I: the course folder (the owner's) is not on sys.path, nor are PYTHON* variables read.
    return subprocess.run([sys.executable, "-I", "-m", "inn_course", *args], cwd=cwd, **rights).returncode


def can_run_python(rights: dict) -> str | None:
    """Why this Python cannot import the course's package with ``rights`` (subprocess's user, group...), or None."""
    try:
        probe = subprocess.run([sys.executable, "-I", "-c", "import inn_course.cli"], capture_output=True, text=True,
                               cwd="/", **rights)
    except OSError as error:
        return error.strerror
    return (probe.stderr.strip().splitlines() or ["?"])[-1] if probe.returncode else None
