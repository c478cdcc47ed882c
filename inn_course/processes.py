"""Processes a graded notebook leaves behind: found and killed after each submission.

A student's code can start a process that outlives its kernel (a new session,
double-forked), and later rewrite the gradebook or another student's files.
On Linux the grading process makes itself the *subreaper* of its descendants,
so such orphans become its children instead of init's; after each submission
every descendant that appeared while it was graded and is still running is
killed, and the submission is flagged. (A sandbox per submission, with its
own process namespace, is the stronger guard.)
"""

from __future__ import annotations

import ctypes
import sys

import psutil

_PR_SET_CHILD_SUBREAPER = 36


def adopt_orphans() -> bool:
    """Become the subreaper of every later descendant; False where the OS has no such thing."""
    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    return libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0


def descendants() -> set[int]:
    return {p.pid for p in psutil.Process().children(recursive=True)}


def kill_new(before: set[int], grace: float = 2.0) -> list[str]:
    """Kill the descendants not in ``before`` that are still running after ``grace`` seconds; name them."""
    new = [p for p in psutil.Process().children(recursive=True) if p.pid not in before]
    _, alive = psutil.wait_procs(new, timeout=grace)  # also reaps those that already ended
    names = []
    for process in alive:
        try:
            names.append(" ".join(process.cmdline())[:60] or process.name())
            process.kill()
        except psutil.NoSuchProcess:
            continue
    psutil.wait_procs(alive, timeout=5)
    return names
