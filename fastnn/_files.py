"""Writing files so that a failure never destroys what was there.

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
"""

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
    shown = os.fspath(path)
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


__all__ = ["atomic_write", "current_umask", "remove_stale_parts"]
