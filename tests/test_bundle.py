"""Does `inn-course student-bundle` hand out exactly what a student may have, and nothing secret?"""

import pytest

from inn_course import bundle, cli, lint, notebooks
from inn_course.notebooks import MARK_SCHEME_BEGIN, MARK_SCHEME_END, regions

EXPECTED = {"invertible_networks.ipynb", "DATA.md", "README.md", "requirements.txt"}


def test_bundle_holds_the_release_and_no_secret_line(repo, tmp_path, capsys):
    """Four files, the notebook byte for byte the release, no solution, hidden-test or mark-scheme line."""
    target = tmp_path / "for-students"
    assert cli.main(["--root", str(repo.root), "student-bundle", str(target)]) == 0
    assert "no solution, hidden-test or mark-scheme line" in capsys.readouterr().out
    assert {p.name for p in target.iterdir()} == EXPECTED
    assert (target / "invertible_networks.ipynb").read_bytes() == repo.release_notebook.read_bytes()
    source = notebooks.read(repo.source_notebook)
    everything = "\n".join(p.read_text() for p in target.iterdir())
    everything += lint.notebook_text(notebooks.read(target / "invertible_networks.ipynb"))
    assert lint.leaks(source, everything, answer_key=repo.answer_key_text()) == []
    # The check above is only as good as the secrets it knows: solutions and mark schemes in the source,
    # the hidden tests in the answer key.
    for begin, end in (lint.SECRETS["solution"], lint.SECRETS["mark scheme"]):
        assert any(regions(c.source, begin, end) for c in source.cells), begin
    assert len(lint.answer_key_lines(repo.answer_key_text())) > 300
    pins = set((repo.root / "requirements.txt").read_text().splitlines())
    wanted = [line for line in (target / "requirements.txt").read_text().splitlines() if not line.startswith("#")]
    assert {line.split("==")[0] for line in wanted} == set(bundle.STUDENT_PACKAGES) and set(wanted) <= pins
    assert "INN_DATA_ROOT" in (target / "DATA.md").read_text()


@pytest.mark.parametrize("kind", ["hidden test", "mark scheme"])
def test_a_bundle_that_would_leak_is_refused_and_not_written(repo, tmp_path, monkeypatch, kind):
    """A secret line slipped into the README: is the bundle refused, with no folder left behind?"""
    if kind == "hidden test":
        secret = repo.answer_key_text()
        secret = secret[secret.index("def q06_invertible_layer"):]
    else:
        source = notebooks.read(repo.source_notebook)
        secret = next(b for c in source.cells for b in regions(c.source, MARK_SCHEME_BEGIN, MARK_SCHEME_END))
    line = next(s.strip() for s in secret.splitlines() if len(s.strip()) >= 30)
    texts = bundle.bundle_texts(repo)
    monkeypatch.setattr(bundle, "bundle_texts", lambda layout: {**texts, "README.md": texts["README.md"] + line})
    target = tmp_path / "for-students"
    with pytest.raises(bundle.BundleError, match="would leak"):
        bundle.write_bundle(repo, target)
    assert not target.exists()


def test_a_bundle_never_writes_into_an_existing_folder_or_through_a_link(repo, tmp_path):
    used = tmp_path / "used"
    used.mkdir()
    (used / "notes.txt").write_text("mine")
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    for target in (used, link, used / "notes.txt"):
        with pytest.raises(bundle.BundleError, match="not an empty folder"):
            bundle.write_bundle(repo, target)
    assert [p.name for p in used.iterdir()] == ["notes.txt"] and not (tmp_path / "elsewhere").exists()
