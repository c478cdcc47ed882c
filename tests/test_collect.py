"""Does the collection check name what is wrong with a submission folder, and only that?"""

import os

from inn_course import collect
from inn_course.paths import CourseLayout


def _folder(root, student):
    folder = root / "submitted" / student / "invertible_networks"
    folder.mkdir(parents=True)
    (folder / "timestamp.txt").write_text("2026-11-30 07:00:00.000000 UTC")
    return folder


def test_collected_folders_are_checked_without_following_links(tmp_path):
    layout = CourseLayout(tmp_path)
    (_folder(tmp_path, "good") / "invertible_networks.ipynb").write_text("{}")
    (_folder(tmp_path, "renamed") / "my_work.ipynb").write_text("{}")
    other = _folder(tmp_path, "other")
    (other / "answers.pdf").write_bytes(b"%PDF")
    os.symlink("/etc/shadow", other / "invertible_networks.ipynb")
    found = {c.student: c for c in (collect.check(layout, s) for s in ("good", "renamed", "other"))}
    assert found["good"].problems == [] and found["good"].timestamp.startswith("2026-11-30")
    assert set(found["renamed"].problems) == {"no invertible_networks.ipynb", "another notebook: my_work.ipynb"}
    assert set(found["other"].problems) == {"another file: answers.pdf", "a link: invertible_networks.ipynb"}
    text = collect.report(list(found.values()))
    assert "3 submissions collected" in text and "ok" in text.splitlines()[1]
