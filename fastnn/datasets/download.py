"""The download cache: where data sets live, checksums, and :func:`fetch`, the downloader.

Every file :func:`fetch` downloads is listed, with its size and modification time, in a record
file (``.fastnn-downloads``) in its folder. Only a file listed there, and unchanged since, is
ever called safe to delete in an error message: a file the user placed is never called that.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import urllib.request
from collections.abc import Iterable, Mapping
from pathlib import Path

from .._files import atomic_write
from .._typing import StrPath
from ..errors import FastnnError, InputError

MAX_DOWNLOAD_BYTES = 2**31  # a transfer longer than this is refused
_CHUNK = 1 << 20
_RECORD = ".fastnn-downloads"


class DownloadError(FastnnError, OSError):
    """No mirror delivered a file whose checksum matches; the message says what was tried."""


class DataFileNotFoundError(FastnnError, FileNotFoundError):
    """A data file the caller named, or a loader needs, is not there."""


def data_home(data_dir: StrPath | None = None) -> Path:
    """The folder where downloaded data sets live.

    ``data_dir`` when given, else ``$FASTNN_DATA``, else ``~/.cache/fastnn``. Nothing is
    created here.
    """
    if data_dir is not None:
        return Path(data_dir).expanduser()
    env = os.environ.get("FASTNN_DATA")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "fastnn"


# -- checksums -------------------------------------------------------------------------------


def split_checksum(checksum: str, what: str = "checksum") -> tuple[str, str]:
    """``"sha256:<hex>"`` or a bare hex string (MD5) into (algorithm, hex), checked."""
    if not isinstance(checksum, str):
        raise InputError(f"{what} must be a hex string or '<algorithm>:<hex>'; got {checksum!r}")
    algorithm, _, value = checksum.rpartition(":")
    algorithm = (algorithm or "md5").lower()
    if algorithm not in hashlib.algorithms_available:
        raise InputError(
            f"{what} {checksum!r} names the hash {algorithm!r}, which hashlib does not know; "
            "use md5, sha1, sha256, ..."
        )
    return algorithm, value.lower()


def _checksum_of(path, algorithm):
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


# -- which files fastnn downloaded -------------------------------------------------------------


def _stamp(path):
    stat = os.stat(path)
    return f"{stat.st_size} {stat.st_mtime_ns}"


def _read_record(folder):
    try:
        text = (Path(folder) / _RECORD).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return {}
    record = {}
    for line in text.splitlines():
        name, sep, stamp = line.partition("\t")
        if sep:
            record[name] = stamp
    return record


def _record_download(path):
    """List ``path`` as downloaded by fastnn; a folder that cannot be written is not listed."""
    path = Path(path)
    try:
        record = _read_record(path.parent)
        record[path.name] = _stamp(path)
        with atomic_write(path.parent / _RECORD, "w", encoding="utf-8") as f:
            f.writelines(f"{name}\t{stamp}\n" for name, stamp in sorted(record.items()))
    except OSError:
        pass


def downloaded_by_fastnn(path: StrPath) -> bool:
    """Whether :func:`fetch` downloaded ``path`` and nothing has rewritten it since."""
    path = Path(path)
    try:
        return _read_record(path.parent).get(path.name) == _stamp(path)
    except OSError:
        return False


def bad_file_advice(path: StrPath) -> str:
    """What to do with a file that fails a check, for the end of an error message."""
    if downloaded_by_fastnn(path):
        return "fastnn downloaded it, so delete it and it will be downloaded again"
    return (
        "fastnn did not download this file and leaves it alone: replace it with a good copy "
        "or point data_dir= at another folder"
    )


# -- the downloader --------------------------------------------------------------------------


def _declared_length(response, url):
    length = response.headers.get("Content-Length")
    if length is None:
        return None
    length = int(length)
    if length > MAX_DOWNLOAD_BYTES:
        raise OSError(f"{url} declares {length} bytes, more than {MAX_DOWNLOAD_BYTES}")
    return length


def _fetch_one(url, destination, algorithm, expected, timeout):
    """Download ``url`` to ``destination`` through a temporary file; OSError on any failure."""
    digest = hashlib.new(algorithm)
    received = 0
    with urllib.request.urlopen(url, timeout=timeout) as response:
        length = _declared_length(response, url)
        with atomic_write(destination) as out:
            for chunk in iter(lambda: response.read(_CHUNK), b""):
                received += len(chunk)
                if received > MAX_DOWNLOAD_BYTES:
                    raise OSError(f"more than {MAX_DOWNLOAD_BYTES} bytes; stopped")
                out.write(chunk)
                digest.update(chunk)
            if length is not None and received != length:
                raise OSError(f"truncated transfer: got {received} of {length} bytes")
            if digest.hexdigest() != expected:
                raise OSError(
                    f"checksum mismatch: {algorithm} {digest.hexdigest()}, expected {expected}"
                )
    _record_download(destination)


def _check_present(destination, algorithm, expected):
    found = _checksum_of(destination, algorithm)
    if found != expected:
        raise InputError(
            f"{destination} has {algorithm} {found}, expected {expected}: the file is corrupt "
            f"or not the right one; {bad_file_advice(destination)}"
        )


def _download(name, algorithm, expected, folder, mirrors, timeout, all_names):
    folder.mkdir(parents=True, exist_ok=True)
    failures = []
    for mirror in mirrors:
        url = (mirror if mirror.endswith("/") else mirror + "/") + name
        try:
            _fetch_one(url, folder / name, algorithm, expected, timeout)
            return
        except (OSError, ValueError, http.client.HTTPException) as exc:
            # URLError, HTTPError, timeouts, refused connections, bad or short data
            reason = getattr(exc, "reason", None) or exc
            failures.append(f"{url} ({reason})")
    raise DownloadError(
        f"could not download {name}; tried: {'; '.join(failures)}. Searched folder: "
        f"{folder}. Without network access, download the files "
        f"{', '.join(all_names)} elsewhere (from any of {', '.join(mirrors)}), then copy "
        f"them into {folder}, or into any folder given as data_dir= (or $FASTNN_DATA)"
    )


def fetch(
    files: Mapping[str, str],
    folder: StrPath,
    mirrors: str | Iterable[str],
    timeout: float = 30.0,
) -> dict[str, Path]:
    """Make sure every file is in ``folder`` with the right checksum, downloading what is missing.

    Each missing file is fetched from the mirrors in turn until one delivers it whole and with
    the expected checksum. It is written to a temporary ``.part`` file and renamed into place
    only then, so an interrupted download never leaves a file that looks complete. A transfer
    longer than :data:`MAX_DOWNLOAD_BYTES` is refused.

    Parameters
    ----------
    files : dict of str to str
        File name to checksum: a bare hex string is an MD5, else ``"<algorithm>:<hex>"`` with
        any :mod:`hashlib` algorithm (``"sha256:..."``).
    folder : str or path-like
        Created when missing.
    mirrors : str or sequence of str
        Base URLs (or one); a file's URL is the base URL joined with its name.
    timeout : float, default 30
        Seconds to wait on a silent connection.

    Returns
    -------
    dict of str to Path
        Where each file is.

    Raises
    ------
    DownloadError
        When no mirror delivers a file. The message names the mirrors tried with what went
        wrong at each, the folder, and how to place the files by hand.
    ValueError
        When a file already in ``folder`` has the wrong checksum. The message calls it safe to
        delete only when fastnn downloaded it itself.
    """
    if isinstance(mirrors, str):
        mirrors = [mirrors]
    mirrors = list(mirrors)
    if not mirrors:
        raise InputError("mirrors must name at least one base URL; got none")
    folder = Path(folder)
    paths = {}
    for name, checksum in files.items():
        algorithm, expected = split_checksum(checksum, f"the checksum of {name}")
        destination = folder / name
        if destination.is_file():
            _check_present(destination, algorithm, expected)
        else:
            _download(name, algorithm, expected, folder, mirrors, timeout, list(files))
        paths[name] = destination
    return paths
