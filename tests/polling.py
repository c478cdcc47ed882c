"""Waiting in a test for something another process does: poll, and fail saying what never happened."""

from __future__ import annotations

import time


def until(condition, seconds: float, message: str, every: float = 0.3) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"{message} in {seconds:g} s"
        time.sleep(every)
