"""Times the test suite for docs/maintainers/timings.md, when a run is the whole suite (or all quick tests).

Registered by ``tests/conftest.py``. A run records its figures into artifacts/timings/ (``suite`` for
``make test``, ``suite_quick`` for ``make quick``: ``inn_course/timings.py``) only when they describe the
suite: nothing selected or deselected but the quick tests' ``-m "not slow"``, nothing stopped early, every
test passed or skipped. It only adds up the durations pytest measures anyway, and a failure to record warns
and never fails the run.
"""

from __future__ import annotations

import os
import time
import warnings
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from inn_course import timings

QUICK = "not slow"  # `make quick`'s marker expression


@dataclass(frozen=True)
class Run:
    """What decides whether a run was the whole suite: the selection it was given and how it ended."""

    markexpr: str = ""  # -m
    keyword: str = ""  # -k
    paths: tuple[str, ...] = ()  # file_or_dir arguments: paths and node ids
    testpaths: tuple[str, ...] = ("tests",)  # the ini's testpaths: naming them is no selection
    narrowed: tuple[str, ...] = ()  # other options that select tests (--lf, --deselect, --ignore, ...)
    deselected_slow: int = 0  # deselected tests marked slow
    deselected_other: int = 0
    stopped: bool = False  # -x or --maxfail ended the run early
    exitstatus: int = 0
    ran: int = 0  # tests passed or skipped


def entry(run: Run) -> str | None:
    """The entry a run measures: "suite" (the whole suite), "suite_quick" (all but the slow tests) or None."""
    testpaths = {os.path.normpath(p) for p in run.testpaths}
    chosen = [p for p in run.paths if os.path.normpath(p) not in testpaths]
    if run.exitstatus != 0 or run.stopped or run.ran == 0 or run.keyword or chosen or run.narrowed \
            or run.deselected_other:
        return None
    markexpr = " ".join(run.markexpr.split())
    if not markexpr and not run.deselected_slow:
        return "suite"
    if markexpr == QUICK:
        return "suite_quick"
    return None


# Options that select tests without going through pytest_deselected (or on top of it).
NARROWING = ("lf", "stepwise", "deselect", "ignore", "ignore_glob", "collectonly")


@dataclass
class SuiteTimings:
    """The plugin: durations of every test phase, by test module, and the session's wall time."""

    config: object
    started: float = field(default_factory=time.perf_counter)
    modules: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    passed: int = 0
    skipped: int = 0
    deselected_slow: int = 0
    deselected_other: int = 0

    def pytest_deselected(self, items) -> None:
        for item in items:
            if item.get_closest_marker("slow"):
                self.deselected_slow += 1
            else:
                self.deselected_other += 1

    def pytest_runtest_logreport(self, report) -> None:
        self.modules[report.nodeid.split("::", 1)[0]] += report.duration
        if report.skipped:  # in setup (a skip mark, a fixture's skip) or in the call
            self.skipped += 1
        elif report.passed and report.when == "call":
            self.passed += 1

    def pytest_sessionfinish(self, session, exitstatus) -> None:
        seconds = time.perf_counter() - self.started
        try:
            option = self.config.getoption
            run = Run(markexpr=option("markexpr") or "", keyword=option("keyword") or "",
                      paths=tuple(option("file_or_dir") or ()), testpaths=tuple(self.config.getini("testpaths")),
                      narrowed=tuple(name for name in NARROWING if option(name, None)),
                      deselected_slow=self.deselected_slow, deselected_other=self.deselected_other,
                      stopped=bool(session.shouldstop or session.shouldfail), exitstatus=int(exitstatus),
                      ran=self.passed + self.skipped)
            name = entry(run)
            if name:
                publish(name, self.figures(seconds), Path(self.config.rootpath))
        except Exception as error:  # noqa: BLE001  (a timing is never worth a failed run)
            _warn(error)

    def figures(self, seconds: float) -> dict:
        modules = sorted(self.modules.items(), key=lambda item: -item[1])
        return {"tests": self.passed + self.skipped, "passed": self.passed, "skipped": self.skipped,
                "seconds": round(seconds, 1), "modules_s": {module: round(s, 1) for module, s in modules}}


def publish(name: str, figures: dict, root: Path) -> Path | None:
    """Record, or warn: the run's outcome is the tests', never this file's."""
    try:
        return timings.record(name, figures, root=root)
    except Exception as error:  # noqa: BLE001
        _warn(error)
        return None


def _warn(error: BaseException) -> None:
    try:
        warnings.warn(f"the suite's timings were not recorded: {type(error).__name__}: {error}", stacklevel=2)
    except Exception:  # noqa: BLE001  (-W error turns the warning itself into an exception)
        pass
