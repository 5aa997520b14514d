"""The download cache: where data sets live, checksums, and :func:`fetch`, the downloader."""

import hashlib
import http.client
import os
import urllib.request
from pathlib import Path

from .._files import atomic_write
from ..errors import InputError

_CHUNK = 1 << 16


class DownloadError(OSError):
    """No mirror delivered a file whose checksum matches; the message says what was tried."""


def data_home(data_dir=None):
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


def _checksum_of(path, algorithm):
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _split_checksum(checksum):
    """``"sha256:<hex>"`` or a bare 32-digit hex (MD5) into (algorithm, hex)."""
    algorithm, _, value = checksum.rpartition(":")
    return (algorithm or "md5").lower(), value.lower()


def _fetch_one(url, destination, algorithm, expected, timeout):
    """Download ``url`` to ``destination`` through a temporary file; OSError on any failure."""
    digest = hashlib.new(algorithm)
    received = 0
    with urllib.request.urlopen(url, timeout=timeout) as response:
        length = response.headers.get("Content-Length")
        with atomic_write(destination) as out:
            for chunk in iter(lambda: response.read(_CHUNK), b""):
                out.write(chunk)
                digest.update(chunk)
                received += len(chunk)
            if length is not None and received != int(length):
                raise OSError(f"truncated transfer: got {received} of {int(length)} bytes")
            if digest.hexdigest() != expected:
                raise OSError(
                    f"checksum mismatch: {algorithm} {digest.hexdigest()}, expected {expected}"
                )


def fetch(files, folder, mirrors, timeout=30.0):
    """Make sure every file is in ``folder`` with the right checksum, downloading what is missing.

    Each missing file is fetched from the mirrors in turn until one delivers it whole and with
    the expected checksum. It is written to a temporary ``.part`` file and renamed into place
    only then, so an interrupted download never leaves a file that looks complete.

    Parameters
    ----------
    files : dict of str to str
        File name to checksum: a bare hex string is an MD5, else ``"<algorithm>:<hex>"`` with
        any :mod:`hashlib` algorithm (``"sha256:..."``).
    folder : str or path-like
        Created when missing.
    mirrors : sequence of str
        Base URLs; a file's URL is the base URL joined with its name.
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
        When a file already in ``folder`` has the wrong checksum.
    """
    if isinstance(mirrors, str):
        mirrors = [mirrors]
    mirrors = list(mirrors)
    if not mirrors:
        raise InputError("mirrors must name at least one base URL; got none")
    folder = Path(folder)
    paths = {}
    for name, checksum in files.items():
        algorithm, expected = _split_checksum(checksum)
        destination = folder / name
        if destination.is_file():
            found = _checksum_of(destination, algorithm)
            if found != expected:
                raise InputError(
                    f"{destination} has {algorithm} {found}, expected {expected}: the file is "
                    "corrupt or not the right one; delete it to download it again"
                )
            paths[name] = destination
            continue
        folder.mkdir(parents=True, exist_ok=True)
        failures = []
        for mirror in mirrors:
            url = mirror if mirror.endswith("/") else mirror + "/"
            url += name
            try:
                _fetch_one(url, destination, algorithm, expected, timeout)
                break
            except (OSError, ValueError, http.client.HTTPException) as exc:
                # URLError, HTTPError, timeouts, refused connections, bad or short data
                reason = getattr(exc, "reason", None) or exc
                failures.append(f"{url} ({reason})")
        else:
            raise DownloadError(
                f"could not download {name}; tried: {'; '.join(failures)}. Searched folder: "
                f"{folder}. Without network access, download the files "
                f"{', '.join(files)} elsewhere (from any of {', '.join(mirrors)}), then copy "
                f"them into {folder}, or into any folder given as data_dir= (or $FASTNN_DATA)"
            )
        paths[name] = destination
    return paths
