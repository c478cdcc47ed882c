"""Copying and reading files a student could have made: regular files only, never through a link.

Every folder a submission's code could have written (or a student could have
submitted) may hold symbolic links to the gradebook or to ``/etc``, FIFOs
that block a reader forever, devices, or a million small files. Whatever
reads or copies such a folder outside the sandbox uses these functions:

- a path is walked one component at a time from a trusted folder, each opened
  with ``O_NOFOLLOW`` (a link anywhere on the way is refused, not followed);
- only regular files are read (checked on the open file, so a file swapped
  for a link or a FIFO between the check and the open is refused too);
- copies are capped in file count, depth and bytes, and the copies get fresh
  permissions (``0644``/``0755`` of their own); nothing of the source's mode,
  owner or links is carried over, and nothing that was not created by the copy
  is ever modified.

What was refused is reported, so the caller can flag it.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

MiB = 1024 ** 2
_READ = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
# A folder opened as a descriptor, never through a link (for callers that walk folders themselves too).
DIRECTORY = os.O_RDONLY | os.O_NOFOLLOW | os.O_DIRECTORY | os.O_CLOEXEC


class UnsafeFile(OSError):
    """A path that is a link, not a regular file, or too large: refused."""


@dataclass(frozen=True)
class Caps:
    files: int = 200
    bytes: int = 64 * MiB
    depth: int = 8


@dataclass
class CopyReport:
    copied: list[str] = field(default_factory=list)  # relative paths
    refused: list[str] = field(default_factory=list)  # "relative path: reason"
    bytes: int = 0

    def summary(self, limit: int = 3) -> str:
        shown = "; ".join(self.refused[:limit]) + (f"; and {len(self.refused) - limit} more"
                                                   if len(self.refused) > limit else "")
        return f"{len(self.refused)} file(s) refused ({shown})"


def open_beneath(root: Path, relative: str | Path, flags: int = _READ) -> int:
    """Open ``root/relative`` without following a link on the way; return the file descriptor.

    ``root`` itself is trusted (the caller made it or chose it); every component below it is opened
    with O_NOFOLLOW, so a component that is a symbolic link raises UnsafeFile.
    """
    parts = [p for p in Path(relative).parts if p not in ("", ".")]
    if any(p == ".." or "/" in p for p in parts) or Path(relative).is_absolute():
        raise UnsafeFile(f"{relative}: not a plain relative path")
    fd = os.open(root, DIRECTORY)
    try:
        for part in parts[:-1]:
            try:
                next_fd = os.open(part, DIRECTORY, dir_fd=fd)
            except OSError as error:
                raise UnsafeFile(f"{relative}: {part} is not a folder ({error.strerror})") from None
            os.close(fd)
            fd = next_fd
        if not parts:
            return os.dup(fd)
        try:
            return os.open(parts[-1], flags, dir_fd=fd)
        except OSError as error:
            reason = "a symbolic link" if error.errno == 40 else error.strerror  # ELOOP: O_NOFOLLOW hit a link
            raise UnsafeFile(f"{relative}: {reason}") from None
    finally:
        os.close(fd)


def read_regular(root: Path, relative: str | Path, max_bytes: int) -> bytes:
    """The bytes of the regular file ``root/relative`` (no link on the way), at most ``max_bytes``."""
    return _read_open_regular(open_beneath(root, relative), relative, max_bytes)


def read_regular_at(dir_fd: int, name: str, max_bytes: int, owner: int | None = None) -> bytes:
    """The bytes of the regular file ``name`` in the open folder ``dir_fd`` (not a link), at most
    ``max_bytes``; with ``owner``, only a file that belongs to that uid."""
    try:
        fd = os.open(name, _READ, dir_fd=dir_fd)
    except OSError as error:
        raise UnsafeFile(f"{name}: {'a symbolic link' if error.errno == 40 else error.strerror}") from None
    return _read_open_regular(fd, name, max_bytes, owner)


def _read_open_regular(fd: int, label: str | Path, max_bytes: int, owner: int | None = None) -> bytes:
    """Read (and close) ``fd``, checked on the open file: a regular file, of ``owner`` if given, capped."""
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UnsafeFile(f"{label}: not a regular file")
        if owner is not None and info.st_uid != owner:
            raise UnsafeFile(f"{label}: belongs to another user (uid {info.st_uid})")
        if info.st_size > max_bytes:
            raise UnsafeFile(f"{label}: {info.st_size:,} bytes, more than {max_bytes:,}")
        data = _read_fd(fd, max_bytes + 1)
        if len(data) > max_bytes:
            raise UnsafeFile(f"{label}: more than {max_bytes:,} bytes")
        return data
    finally:
        os.close(fd)


def _read_fd(fd: int, limit: int) -> bytes:
    chunks, total = [], 0
    while total < limit:
        chunk = os.read(fd, min(MiB, limit - total))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    return b"".join(chunks)


def copy_tree(source: Path, target: Path, caps: Caps = Caps(), skip: tuple[str, ...] = (),
              owner: int | None = None) -> CopyReport:
    """Copy the regular files and folders of ``source`` into a new folder ``target``; refuse the rest.

    ``source`` is opened with O_NOFOLLOW (a link there is refused as a whole). ``target`` must not
    exist; its parent must. Names in ``skip`` (top level only) are left out without a report.
    With ``owner`` (a uid), a file or folder that belongs to anyone else is refused too (checked on
    the open file).
    """
    try:
        fd = os.open(source, DIRECTORY)
    except OSError as error:
        return CopyReport(refused=[f"{source.name}: not a folder one may copy ({error.strerror})"])
    try:
        return copy_dir_fd(fd, target, caps, owner, skip)
    finally:
        os.close(fd)


def copy_tree_beneath(root: Path, relative: str | Path, target: Path, caps: Caps = Caps()) -> CopyReport:
    """``copy_tree`` of the folder ``root/relative``, reached without following a link on the way."""
    try:
        fd = open_beneath(root, relative, DIRECTORY)
    except OSError as error:
        return CopyReport(refused=[str(error)])
    try:
        return copy_dir_fd(fd, target, caps)
    finally:
        os.close(fd)


def copy_dir_fd(fd: int, target: Path, caps: Caps = Caps(), owner: int | None = None,
                skip: tuple[str, ...] = ()) -> CopyReport:
    """``copy_tree`` of a folder already open as ``fd`` (the caller opened it without following a link)."""
    report = CopyReport()
    os.mkdir(target, 0o755)
    _copy_dir(fd, target, "", caps, report, 0, skip, owner)
    return report


def _copy_dir(fd: int, target: Path, prefix: str, caps: Caps, report: CopyReport, depth: int,
              skip: tuple[str, ...], owner: int | None = None) -> None:
    for name in sorted(os.listdir(fd)):
        relative = f"{prefix}{name}"
        if depth == 0 and name in skip:
            continue
        try:
            info = os.stat(name, dir_fd=fd, follow_symlinks=False)
        except OSError as error:
            report.refused.append(f"{relative}: {error.strerror}")
            continue
        if owner is not None and info.st_uid != owner:
            report.refused.append(f"{relative}: belongs to another user (uid {info.st_uid})")
            continue
        if stat.S_ISDIR(info.st_mode):
            if depth + 1 > caps.depth:
                report.refused.append(f"{relative}: folders nested deeper than {caps.depth}")
                continue
            try:
                child = os.open(name, DIRECTORY, dir_fd=fd)
            except OSError as error:
                report.refused.append(f"{relative}: {error.strerror}")
                continue
            try:
                os.mkdir(target / name, 0o755)
                _copy_dir(child, target / name, relative + "/", caps, report, depth + 1, skip, owner)
            finally:
                os.close(child)
            continue
        if not stat.S_ISREG(info.st_mode):
            kind = "a symbolic link" if stat.S_ISLNK(info.st_mode) else "not a regular file"
            report.refused.append(f"{relative}: {kind}")
            continue
        if len(report.copied) >= caps.files:
            report.refused.append(f"{relative}: more than {caps.files} files")
            continue
        if report.bytes + info.st_size > caps.bytes:
            report.refused.append(f"{relative}: the copy would pass {caps.bytes:,} bytes")
            continue
        try:
            report.bytes += _copy_file(fd, name, target / name, info, caps.bytes - report.bytes, owner)
            report.copied.append(relative)
        except UnsafeFile as error:
            report.refused.append(f"{relative}: {error}")


def _copy_file(dir_fd: int, name: str, target: Path, before: os.stat_result, budget: int,
               owner: int | None = None) -> int:
    """Copy one regular file (checked again on the open descriptor); return its size."""
    try:
        fd = os.open(name, _READ, dir_fd=dir_fd)
    except OSError as error:
        raise UnsafeFile("a symbolic link" if error.errno == 40 else error.strerror) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or (info.st_dev, info.st_ino) != (before.st_dev, before.st_ino):
            raise UnsafeFile("replaced while it was being copied")
        if owner is not None and info.st_uid != owner:
            raise UnsafeFile(f"belongs to another user (uid {info.st_uid})")
        data = _read_fd(fd, budget + 1)
        if len(data) > budget:
            raise UnsafeFile("grew past the copy's size limit")
    finally:
        os.close(fd)
    out = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(out, view):]
    finally:
        os.close(out)
    return len(data)


def unsafe_entries(root: Path, relative: str | Path, caps: Caps = Caps()) -> list[str]:
    """What in the folder ``root/relative`` a copy would refuse (links, special files, too many or deep).

    Empty for a folder of regular files and folders; a missing folder is not unsafe (nothing to follow).
    """
    try:
        fd = open_beneath(root, relative, DIRECTORY)
    except FileNotFoundError:
        return []
    except OSError as error:
        return [str(error)]
    found: list[str] = []
    try:
        _inspect(fd, "", caps, found, [0], 0)
    finally:
        os.close(fd)
    return found


def _inspect(fd: int, prefix: str, caps: Caps, found: list[str], count: list[int], depth: int) -> None:
    for name in sorted(os.listdir(fd)):
        relative = f"{prefix}{name}"
        info = os.stat(name, dir_fd=fd, follow_symlinks=False)
        if stat.S_ISDIR(info.st_mode):
            if depth + 1 > caps.depth:
                found.append(f"{relative}: folders nested deeper than {caps.depth}")
                continue
            child = os.open(name, DIRECTORY, dir_fd=fd)
            try:
                _inspect(child, relative + "/", caps, found, count, depth + 1)
            finally:
                os.close(child)
        elif not stat.S_ISREG(info.st_mode):
            found.append(f"{relative}: {'a symbolic link' if stat.S_ISLNK(info.st_mode) else 'not a regular file'}")
        else:
            count[0] += 1
            if count[0] == caps.files + 1:
                found.append(f"more than {caps.files} files")


def chown_tree(path: Path, uid: int, gid: int) -> None:
    """Give ``path`` and everything beneath it to ``uid:gid``, never through a link (``lchown``;
    links are not descended into), so that nothing outside the tree changes owner."""
    if not os.path.lexists(path):
        return
    os.lchown(path, uid, gid)
    if path.is_dir() and not path.is_symlink():
        for folder, dirs, files in os.walk(path):
            for name in dirs + files:
                os.lchown(os.path.join(folder, name), uid, gid)
