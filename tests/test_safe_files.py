"""Copies and reads of files a student could have made: regular files only, never through a link, capped."""

import os

import pytest

from inn_course import safe_files


@pytest.fixture
def hostile_folder(tmp_path):
    root = tmp_path / "root"
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / "ok.txt").write_text("ok")
    (root / "sub" / "deeper" / "ok2.txt").write_text("ok2")
    os.chmod(root / "ok.txt", 0o4777)  # setuid and world-writable: must not be carried over
    (root / "link-to-dir").symlink_to(tmp_path)
    (root / "sub" / "link-to-file").symlink_to("/etc/hostname")
    os.mkfifo(root / "fifo")
    return root


def test_copy_refuses_links_and_special_files_and_sets_its_own_modes(hostile_folder, tmp_path):
    """Does the copy take regular files only, with fresh permissions, and leave the source untouched?"""
    mode_before = os.stat(hostile_folder / "ok.txt").st_mode
    report = safe_files.copy_tree(hostile_folder, tmp_path / "copy")
    assert sorted(report.copied) == ["ok.txt", "sub/deeper/ok2.txt"]
    assert sorted(r.split(":")[0] for r in report.refused) == ["fifo", "link-to-dir", "sub/link-to-file"]
    assert os.stat(tmp_path / "copy" / "ok.txt").st_mode & 0o7777 == 0o644
    assert os.stat(hostile_folder / "ok.txt").st_mode == mode_before


def test_copy_caps_count_bytes_and_depth(tmp_path):
    """Do a thousand files, a large file and a deep tree stop at the caps, reported?"""
    many = tmp_path / "many"
    many.mkdir()
    for i in range(30):
        (many / f"f{i:02d}").write_bytes(b"x" * 1000)
    deep = many / "a" / "b" / "c"
    deep.mkdir(parents=True)
    (deep / "deep.txt").write_text("deep")
    report = safe_files.copy_tree(many, tmp_path / "copy", safe_files.Caps(files=10, bytes=5_000, depth=2))
    assert len(report.copied) == 5 and report.bytes == 5_000
    assert any("more than" in r or "pass 5,000 bytes" in r for r in report.refused)
    assert any("nested deeper than 2" in r for r in report.refused)


def test_reading_beneath_a_root_never_follows_a_link(tmp_path):
    """Is a link anywhere on the path (not only at its end) refused, and a FIFO read without blocking?"""
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "timestamp.txt").write_text("2026-01-01 00:00:00")
    (tmp_path / "submitted").mkdir()
    (tmp_path / "submitted" / "alice").symlink_to(tmp_path / "real")
    os.mkfifo(tmp_path / "real" / "fifo")
    assert safe_files.read_regular(tmp_path, "real/timestamp.txt", 100).startswith(b"2026")
    for path in ("submitted/alice/timestamp.txt", "real/fifo", "../etc/passwd"):
        with pytest.raises(safe_files.UnsafeFile):
            safe_files.read_regular(tmp_path, path, 100)
    with pytest.raises(safe_files.UnsafeFile, match="more than 10"):
        safe_files.read_regular(tmp_path, "real/timestamp.txt", 10)
    assert safe_files.unsafe_entries(tmp_path, "submitted") == ["alice: a symbolic link"]


@pytest.mark.skipif(os.geteuid() != 0, reason="changing a file's owner needs root")
def test_chown_tree_never_follows_a_link(tmp_path):
    """Does chown_tree give the whole tree away, and nothing a link inside it points to?"""
    outside = tmp_path / "outside"
    outside.write_text("not theirs")
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "sub" / "file").write_text("x")
    (tree / "link").symlink_to(outside)
    (tree / "dirlink").symlink_to(tmp_path)
    safe_files.chown_tree(tree, 65534, 65534)
    for path in (tree, tree / "sub", tree / "sub" / "file", tree / "link", tree / "dirlink"):
        assert os.lstat(path).st_uid == 65534, path
    assert outside.stat().st_uid == 0 and tmp_path.stat().st_uid == 0
