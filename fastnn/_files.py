"""Writing files so that a failure never destroys what was there, and opening the files fastnn
reads so that a FIFO, a device or a folder is never read.

:func:`atomic_write` is the one writer of every file fastnn produces (models, plots,
predictions, CSV tables, the MNIST cache, downloads). What it promises:

- The new content goes to a hidden temporary file next to the target, named
  ``.fastnn-<pid>-<random>.part``, which is flushed to disk and then renamed over the target
  (:func:`os.replace`). A crash, a kill or an exception at any moment leaves either the old file
  or the new one, never a mix; an exception also removes the temporary file.
- A new file gets the mode a plain ``open()`` would give it (``0o666`` less the umask); an
  overwritten file keeps its own permission bits and, where the process may set them, its
  owner and group.
- A symbolic link is followed: its target is rewritten and the link stays a link.
- A hard link is broken: the path gets the new file, the file's other names keep the old
  content. Writing in place would keep the link but could leave a half-written file, which
  the guarantee above rules out (backup snapshots made of hard links also stay intact).
- A target that exists and is not a regular file (``/dev/null``, ``/dev/stdout``, a FIFO) is
  written in place: such a file cannot be replaced, only written to. A folder is refused.
- Errors name the target, never the temporary file, and keep the ``errno``.
- A save that was killed leaves its temporary file behind; a later write into the same folder
  removes the ones whose writing process is gone and that were last touched
  :data:`STALE_SECONDS` ago or more. A file of a process that is still running is never removed.

:func:`open_regular` is the one opener of the files fastnn reads (model files, CSV, svmlight and
IDX files, the inputs of ``fastnn predict``): a folder, a FIFO, a device or a socket is refused
by name without being opened, since reading one may block forever (a FIFO) or never end
(``/dev/zero``). Text is read through :class:`Lines`, which caps the length of a line, so that
a file without newlines (a sparse file of zeros) is refused rather than read into memory whole.
Every path fastnn takes may be a ``str``, ``bytes`` or an :class:`os.PathLike`
(:func:`as_path`).
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import stat
import tempfile
import threading
import time
import zipfile
import zlib

from ._typing import PathLike
from ._validation import check_memory
from .errors import InputError, InputTypeError

PREFIX = ".fastnn-"
SUFFIX = ".part"
STALE_SECONDS = 600
_PART_NAME = re.compile(r"\.fastnn-(\d+)-[A-Za-z0-9_]+\.part\Z")
_UMASK_LOCK = threading.Lock()

# What reading a damaged or hostile zip archive (a model file, a .npz) can raise, besides the
# checks' own errors.
ARCHIVE_ERRORS = (
    OSError,
    ValueError,
    EOFError,
    zipfile.BadZipFile,
    zlib.error,
    NotImplementedError,  # a compression method zipfile does not know
    RuntimeError,  # an encrypted entry
)


def as_path(path: PathLike, name: str = "path") -> str:
    """``path`` as a ``str``: a ``str``, ``bytes`` (decoded as the file system does) or an
    :class:`os.PathLike`; anything else is an :class:`~fastnn.errors.InputTypeError` naming
    ``name``. An empty path or one holding a NUL character is an
    :class:`~fastnn.errors.InputError`: no file has such a name."""
    if not isinstance(path, (str, bytes, os.PathLike)):
        raise InputTypeError(
            f"{name} must be a str, bytes or os.PathLike path; got {type(path).__name__} "
            f"{path!r:.60}"
        )
    path = os.fsdecode(os.fspath(path))
    if not path:
        raise InputError(f"{name} must name a file; got an empty path")
    if "\0" in path:
        raise InputError(f"{name} must not hold a NUL character; got {path!r:.80}")
    return path


def kind_of(mode):
    """What a file of ``st_mode`` ``mode`` is, in words: "a folder", "a FIFO", ..."""
    if stat.S_ISREG(mode):
        return "a regular file"
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a special file"


class NotRegularFileError(InputError):
    """A file to read is a folder, a FIFO, a device or a socket: it is refused unopened.

    ``kind`` says what it is ("a FIFO"); the message names the file.
    """

    def __init__(self, path, kind, what="a regular file"):
        wanted = what if kind == "a folder" else "a regular file"
        super().__init__(f"{path} is {kind}, not {wanted}")
        self.path = path
        self.kind = kind


def open_regular(path, mode="rb", what="a regular file", **open_kwargs):
    """Open ``path`` for reading if it is a regular file (a symbolic link to one is followed).

    A folder, a FIFO, a device (``/dev/zero``, ``/dev/stdin`` on a terminal) or a socket is
    refused with a :class:`NotRegularFileError` without being opened: reading one could block
    forever or never end. The file is opened without blocking and checked again once open, so
    a file swapped for a FIFO between the two checks is refused too. ``what`` names what the
    file should be, for the message about a folder ("a CSV file"). ``mode`` is a reading mode
    of :func:`open`; ``open_kwargs`` go to it (``encoding``, ``newline``).

    Raises
    ------
    FileNotFoundError
        When ``path`` does not exist.
    NotRegularFileError
        When it is not a regular file.
    """
    path = as_path(path)
    info = os.stat(path)
    if not stat.S_ISREG(info.st_mode):
        raise NotRegularFileError(path, kind_of(info.st_mode), what)
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):  # replaced since the check above
            raise NotRegularFileError(path, kind_of(info.st_mode), what)
        return os.fdopen(fd, mode, **open_kwargs)
    except BaseException:
        os.close(fd)
        raise


MAX_LINE_BYTES = 2**26  # the longest line a text file fastnn reads may have (64 MiB)


class Lines:
    """The lines of an open file, each at most :data:`MAX_LINE_BYTES` long.

    Iterating a file object reads a whole line before returning it, however long it is: a
    file of a few gigabytes without a newline (a sparse file of zeros, say) would be read into
    memory at once. A longer line is an :class:`~fastnn.errors.InputError` naming the file and
    the line instead. ``read`` is passed through, so parsers that want a file object (say,
    scikit-learn's svmlight reader) take one of these.
    """

    def __init__(self, f, path, limit=None):
        self._file = f
        self._path = path
        self._limit = MAX_LINE_BYTES if limit is None else limit
        self.line_number = 0

    def __iter__(self):
        while True:
            line = self._file.readline(self._limit + 1)
            if not line:
                return
            self.line_number += 1
            if len(line) > self._limit:
                raise InputError(
                    f"{self._path}, line {self.line_number}: longer than {self._limit:,} "
                    "characters; is it a text file?"
                )
            yield line

    def read(self, *args):
        return self._file.read(*args)


def check_size(f, per_byte, what):
    """Refuse, before reading it, an open file whose size times ``per_byte`` (the least memory
    reading one byte of it takes) exceeds the memory this process may use."""
    check_memory(os.fstat(f.fileno()).st_size * per_byte, what)


def current_umask():
    """The process's umask, read without changing it where Linux allows."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    with _UMASK_LOCK:  # elsewhere: set and restore at once
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return pid > 0  # another user's process (or a number no process can have)
    return True


def remove_stale_parts(folder, max_age=STALE_SECONDS):
    """Remove the temporary files of writes into ``folder`` that were killed; return their names.

    A file is stale when its name carries the id of a process that no longer runs and it was
    last modified ``max_age`` seconds ago or more.
    """
    removed = []
    now = time.time()
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        match = _PART_NAME.match(entry.name)
        if match is None:
            continue
        try:
            info = entry.stat(follow_symlinks=False)
            if not stat.S_ISREG(info.st_mode) or now - info.st_mtime < max_age:
                continue
            if _pid_alive(int(match.group(1))):
                continue
            os.unlink(entry.path)
        except OSError:
            continue
        removed.append(entry.name)
    return removed


def _named(exc, path, target):
    """``exc`` naming ``path`` instead of the temporary file, or None when it is about another
    file (or is a message of its own, without an errno)."""
    if exc.errno is None:
        return None
    if exc.filename is not None and exc.filename != target:
        name = os.path.basename(os.fspath(exc.filename))
        if not (name.startswith(PREFIX) and name.endswith(SUFFIX)):
            return None
    return OSError(exc.errno, exc.strerror or os.strerror(exc.errno), path)


def _existing(target):
    try:
        return os.stat(target)
    except FileNotFoundError:
        return None


def _fsync_folder(folder):
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _give_mode(fd, tmp, info):
    """The mode ``open()`` would give a new file, or the mode (and owner) of the file replaced."""
    mode = 0o666 & ~current_umask() if info is None else stat.S_IMODE(info.st_mode) & 0o777
    if hasattr(os, "fchmod"):
        os.fchmod(fd, mode)
    else:  # Windows
        os.chmod(tmp, mode)
    if info is not None and hasattr(os, "fchown"):
        if (info.st_uid, info.st_gid) != (os.geteuid(), os.getegid()):
            with contextlib.suppress(OSError):  # only root may give a file away
                os.fchown(fd, info.st_uid, info.st_gid)


@contextlib.contextmanager
def atomic_write(path, mode="wb", **open_kwargs):
    """Open a temporary file beside ``path``; when the block ends well it replaces ``path``.

    Parameters
    ----------
    path : str or path-like
        The file to write. A symbolic link is followed (its target is replaced); a hard link
        is broken (see the module's docstring).
    mode : str, default "wb"
        A writing mode of :func:`open`; ``open_kwargs`` are passed on to it.

    On any error the temporary file is removed and ``path`` is left as it was. An
    :class:`OSError` about the file itself names ``path`` and keeps its ``errno``.
    """
    shown = as_path(path)
    target = os.path.realpath(shown)
    folder = os.path.dirname(target)
    tmp = None
    try:
        info = _existing(target)
        if info is not None and stat.S_ISDIR(info.st_mode):
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), shown)
        if info is not None and not stat.S_ISREG(info.st_mode):
            with open(target, mode, **open_kwargs) as f:  # a device or a FIFO: write through
                yield f
            return
        remove_stale_parts(folder)
        fd, tmp = tempfile.mkstemp(prefix=f"{PREFIX}{os.getpid()}-", suffix=SUFFIX, dir=folder)
        with os.fdopen(fd, mode, **open_kwargs) as f:
            _give_mode(f.fileno(), tmp, info)
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
        tmp = None
        _fsync_folder(folder)
    except OSError as exc:
        named = _named(exc, shown, target)
        if named is None:
            raise
        raise named from None
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


__all__ = [
    "Lines",
    "MAX_LINE_BYTES",
    "NotRegularFileError",
    "as_path",
    "atomic_write",
    "check_size",
    "current_umask",
    "kind_of",
    "open_regular",
    "remove_stale_parts",
]
