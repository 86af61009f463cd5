"""Paths kerascnn writes to on a user's behalf, checked before anything is written (and, in the
command line, before the backend loads): a path that cannot be used is one `ConfigError` naming it
and what is wrong, never a traceback from deep inside a writer (pathlib, h5py, TensorFlow's file
system) after minutes of work.

What is checked, walking up from the path to the first thing that exists:
- every existing part above the path is a folder ("'notes.txt' is a file, where a folder is needed");
- the first existing folder takes new files: a file is created there and removed at once, which is
  the one test that holds for every reason it may not (permissions, a read-only mount, /proc, a
  full quota, root's rights included);
- a folder to write into (`check_folder`) is not a file; a new file (`check_new_file`) is not
  there yet: kerascnn never overwrites.

Nothing is created: folders the path needs are made later, by the writer, once the work is done.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from kerascnn.config.errors import ConfigError, first_line, option

__all__ = ["check_folder", "check_new_file", "new_picture", "describe_os_error", "os_reason"]


def check_folder(path: str | Path, *, what: str) -> Path:
    """A folder kerascnn will write into: it exists and takes new files, or it can be made.

    Args:
        path: the folder.
        what: how the user named it, for the message: "--out", "the run directory".

    Raises:
        ConfigError: one line naming the path and what is wrong.
    """
    path = Path(path)
    if _exists(path, path, what):
        if not path.is_dir():
            raise _refused(path, what, "it is a file, where a folder is needed")
        _takes_files(path, path, what)
        return path
    _creatable(path, what)
    return path


def check_new_file(path: str | Path, *, what: str) -> Path:
    """A file kerascnn will create: not there yet (never overwritten) and its folder exists and
    takes new files, or can be made.

    Raises:
        ConfigError: one line naming the path and what is wrong.
    """
    path = Path(path)
    if _exists(path, path, what):
        kind = "a folder" if path.is_dir() else "a file"
        raise ConfigError(
            f"{what} {str(path)!r} exists ({kind}); kerascnn never overwrites. "
            f"Choose another name or remove it first."
        )
    _creatable(path, what)
    return path


def describe_os_error(error: OSError) -> str:
    """An OSError about a path as one line: the path and the system's words for what went wrong
    (TensorFlow's and h5py's own messages are pages)."""
    reason = os_reason(error)
    return f"{error.filename}: {reason}" if error.filename is not None else reason


def os_reason(error: OSError) -> str:
    """The system's own words for an OSError's errno ("No space left on device"), else its
    message's first line."""
    return os.strerror(error.errno) if error.errno else (error.strerror or first_line(error))


def _creatable(path: Path, what: str) -> None:
    """The first existing part above `path` is a folder that takes new files."""
    for parent in path.absolute().parents:
        if _exists(parent, path, what):
            if not parent.is_dir():
                shown = _as_given(parent, path)
                raise _refused(path, what, f"{shown!r} is a file, where a folder is needed")
            _takes_files(parent, path, what)
            return


def _exists(candidate: Path, path: Path, what: str) -> bool:
    """Whether `candidate` exists (a link to nothing counts: it is in the way); a part that cannot
    even be looked at is an error."""
    try:
        os.lstat(candidate)
    except (FileNotFoundError, NotADirectoryError):
        return False
    except OSError as e:
        raise _refused(
            path, what, f"{_as_given(candidate, path)!r} cannot be looked at ({os_reason(e)})"
        ) from None
    if candidate.is_symlink() and not candidate.exists():
        raise _refused(path, what, f"{_as_given(candidate, path)!r} is a link to nothing")
    return True


def _takes_files(folder: Path, path: Path, what: str) -> None:
    """A file can be created in `folder` (made and removed at once)."""
    try:
        fd, probe = tempfile.mkstemp(prefix=".kerascnn-", suffix=".probe", dir=folder)
    except OSError as e:
        raise _refused(
            path, what, f"no file can be created in {_as_given(folder, path)!r} ({os_reason(e)})"
        ) from None
    os.close(fd)
    os.unlink(probe)


def _as_given(part: Path, path: Path) -> str:
    """`part` as the user wrote it: relative when `path` was."""
    if path.is_absolute():
        return str(part)
    try:
        return str(part.relative_to(Path.cwd()))
    except ValueError:
        return str(part)


def _refused(path: Path, what: str, problem: str) -> ConfigError:
    return ConfigError(f"{what} {str(path)!r} cannot be written: {problem}.")


def new_picture(path, *, flag: str | None = None) -> Path:
    """A picture to write: a .png/.svg/.pdf name that is not taken (kerascnn never overwrites) in
    a folder that takes files; checked before anything is computed. `flag`: the command-line option
    that named it, for the message (default: the Python argument `path`)."""
    path = Path(path)
    what = flag or option("out", python="path")
    if path.suffix.lower() not in (".png", ".svg", ".pdf"):
        raise ConfigError(f"{what} must be a .png, .svg or .pdf file. Received: {str(path)!r}.")
    if path.exists():
        raise ConfigError(
            f"{str(path)!r} exists; kerascnn does not overwrite pictures. Choose another name or "
            "remove it first."
        )
    return check_new_file(path, what=what)
