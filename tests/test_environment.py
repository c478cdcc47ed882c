"""Do requirements.txt and environment.yml pin the same versions, and are they what runs?"""

import re
from importlib.metadata import version

from inn_course.paths import REPO_ROOT

PIN = re.compile(r"^\s*(?:-\s*)?([A-Za-z0-9_.\-]+)==([^\s#]+)")


def _pins(path):
    return {m[1].lower().replace("_", "-"): m[2] for line in path.read_text().splitlines() if (m := PIN.match(line))}


def test_requirements_and_environment_agree():
    """Do pip users and conda users get the same packages at the same versions?"""
    pip_pins = _pins(REPO_ROOT / "requirements.txt")
    conda_pins = _pins(REPO_ROOT / "environment.yml")
    assert pip_pins and pip_pins == conda_pins


def test_pins_are_what_is_installed():
    """Are the tests running on exactly the pinned versions?"""
    pins = _pins(REPO_ROOT / "requirements.txt")
    installed = {name: version(name).split("+")[0] for name in pins}
    assert installed == pins


def test_required_pins_from_the_course_brief():
    """Are torch, torchvision and nbgrader at the versions the course is built on?"""
    pins = _pins(REPO_ROOT / "requirements.txt")
    assert pins["torch"] == "2.14.1" and pins["torchvision"] == "0.29.1" and pins["nbgrader"] == "0.9.6"
    assert pins["jupyterlab"].startswith("4.6.")
