"""Reading and writing the user's paths, with every failure turned into a message that names
the path (exit 2), never an OSError traceback."""

from __future__ import annotations

import errno
import os
from pathlib import Path


class PathError(Exception):
    """A path preflight was given cannot be read or written: bad input (exit 2)."""


def describe(err: OSError | UnicodeDecodeError, path: Path, what: str) -> str:
    """One line saying why `path` could not be used, in words rather than errno names."""
    if isinstance(err, UnicodeDecodeError):
        return (f"{path}: {what} is not UTF-8 text (invalid byte 0x{err.object[err.start]:02x} at offset "
                f"{err.start}); save it as UTF-8")
    reasons = {
        errno.ENOENT: "no such file or folder",
        errno.EISDIR: f"is a folder; give a {what} file",
        errno.ENOTDIR: "a part of the path is a file, not a folder",
        errno.EACCES: "permission denied",
        errno.EPERM: "permission denied",
        errno.EROFS: "read-only file system",
        errno.ENOSPC: "no space left on the device",
    }
    return f"{path}: cannot use this {what}: {reasons.get(err.errno, err.strerror or str(err))}"


def read_text(path: Path, what: str) -> str:
    """The file's text, decoded as UTF-8 (Kubernetes and Pulumi read nothing else)."""
    try:
        if path.is_dir():
            raise PathError(f"{path}: is a folder; give a {what} file")
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise PathError(describe(err, path, what)) from None


def check_writable(path: Path, what: str) -> None:
    """Fail before any work when `path` cannot be written: its folder is missing, it is a
    folder itself, or the folder is read-only (os.access is only a hint when run as root)."""
    folder = path.parent
    if path.is_dir():
        raise PathError(f"{path}: is a folder; give a file name for the {what}")
    if not folder.is_dir():
        raise PathError(f"{path}: the folder {folder} does not exist; create it first")
    if not os.access(folder, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise PathError(f"{path}: cannot write the {what} here: permission denied")


def write_text(path: Path, text: str, what: str) -> None:
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as err:
        raise PathError(describe(err, path, what)) from None
