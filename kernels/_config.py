"""The one place where the Numba options of every kernel are set.

- fastmath: a subset without ``nnan``/``ninf``, so NaN and inf still behave (a NaN loss must
  surface as NaN, not be optimised away); ``reassoc`` and ``contract`` let LLVM vectorise
  reductions and use FMA.
- ``error_model="numpy"``: division by zero gives inf/NaN as in NumPy, never ZeroDivisionError.
- ``cache``: compiled kernels are kept on disk so that a second process starts at once.
  ``FASTNN_NUMBA_CACHE=0`` turns the disk cache off.

Where the cache lives is decided here, at import, for the two folders whose functions are
compiled (this package and :mod:`fastnn`, whose ``params.py`` and ``optimizers.py`` the kernels
compile too). Numba looks, in order, at ``$NUMBA_CACHE_DIR``, the folder's ``__pycache__`` and
a folder under the user's home, and uses the first it can write to. Two cases it does not
handle are handled here:

- A cache folder that holds compiled kernels but cannot be written to (a shared
  ``$NUMBA_CACHE_DIR`` populated by an administrator, or the ``__pycache__`` of a read-only
  install) is read from: loading needs no write access. ``$NUMBA_CACHE_DIR`` is used this way
  before the other folders (the user asked for it); an install's ``__pycache__`` only when
  nothing is writable. What such a cache lacks is compiled in memory and not saved, and a
  notice on stderr says so once.
- When no folder is usable at all, Numba would refuse to compile ("cannot cache function ...
  no locator available"). The kernels are then compiled in memory (``cache=False``), and a
  notice on stderr says once that nothing will be cached.

Numba chooses a function's cache folder with its list of "locator" classes; the read-only case
adds one, which answers only for fastnn's own source files, and makes Numba skip saving to it.

Numba keys a cached function by its own source file only, so a kernel whose callee changed in
another file would load stale machine code. Every fastnn kernel's cache key therefore also
holds a digest of all the sources the kernels compile (:data:`COMPILED_SOURCES`): a change to
any of them recompiles every kernel once.
"""

import functools
import hashlib
import os
import re
import sys
import time

FASTMATH = {"nsz", "arcp", "contract", "reassoc"}


def _numba_class(name):
    """A class of ``numba.core.caching`` (older Numba releases prefix the names with "_")."""
    from numba.core import caching

    return getattr(caching, name, None) or getattr(caching, f"_{name}")


def _source_folders():
    """The folders of the sources whose functions the kernels compile."""
    folders = {os.path.dirname(os.path.abspath(__file__))}
    parent = sys.modules.get(__name__.rpartition(".")[0].rpartition(".")[0])
    if parent is not None and getattr(parent, "__file__", None):
        folders.add(os.path.dirname(os.path.abspath(parent.__file__)))
    return sorted(folders)


# The files outside this package whose functions the kernels compile (the layout decoder, the
# optimizers' schedule, the name tables and records).
COMPILED_SOURCES = ("params.py", "optimizers.py", "_codes.py")


def _sources_digest():
    """A digest of the contents of every source file the kernels compile."""
    here = os.path.dirname(os.path.abspath(__file__))
    paths = [os.path.join(here, name) for name in sorted(os.listdir(here)) if name.endswith(".py")]
    paths += [os.path.join(os.path.dirname(here), name) for name in COMPILED_SOURCES]
    digest = hashlib.sha256()
    for path in paths:
        try:
            with open(path, "rb") as f:
                digest.update(f.read())
        except OSError:  # a source shipped without its .py: key on what is there
            digest.update(path.encode())
    return digest.hexdigest()


def _key_caches_on_every_source():
    """Make the cache stamp of fastnn's kernels include :func:`_sources_digest`."""
    mixin = _numba_class("SourceFileBackedLocatorMixin")
    stamp = getattr(mixin.get_source_stamp, "fastnn_wrapped", mixin.get_source_stamp)
    folders = set(_source_folders())
    digest = _sources_digest()

    @functools.wraps(stamp)
    def get_source_stamp(self):
        own = stamp(self)
        if os.path.dirname(os.path.abspath(self._py_file)) in folders:
            return (own, digest)
        return own

    get_source_stamp.fastnn_wrapped = stamp
    mixin.get_source_stamp = get_source_stamp
    _save_without_races(digest)


def _save_without_races(digest):
    """Make the saving of fastnn's compiled kernels safe when processes compile at once.

    Numba names a new entry's data file by the first number its copy of the index leaves free,
    and writes the index before the data. Two processes that compile different signatures of
    a kernel at the same moment (workers of a grid search on a first run) can then both take
    number 1: the index keeps one's signature, the file the other's machine code, and every
    later run that loads it crashes. fastnn's entries are instead named by a digest of their
    key, so that a name only ever holds the code of its signature, and the data is on disk
    before the index points at it; two processes racing can at worst drop an index entry,
    which is compiled again on its next use.

    Numba's numbered files were overwritten when a source changed; named by key, they would
    pile up (a new set for every edit or upgrade). Each save therefore also deletes the
    kernel's cache files that its index no longer names (:func:`_drop_unindexed`).
    """
    index_file = _numba_class("IndexDataCacheFile")
    save = getattr(index_file.save, "fastnn_wrapped", index_file.save)

    @functools.wraps(save)
    def save_by_key(self, key, data):
        stamp = self._source_stamp
        if not (isinstance(stamp, tuple) and len(stamp) == 2 and stamp[1] == digest):
            return save(self, key, data)  # not a fastnn kernel
        name = hashlib.sha256(repr((key, stamp)).encode()).hexdigest()[:20]
        data_name = self._data_name_pattern.replace("{number:d}", name)
        self._save_data(data_name, data)
        overloads = self._load_index()
        overloads[key] = data_name
        self._save_index(overloads)
        _drop_unindexed(self._cache_path, self._data_name_pattern, set(overloads.values()))

    save_by_key.fastnn_wrapped = save
    index_file.save = save_by_key


# A data file younger than this may belong to a process that has saved it and not yet its
# index entry (see _save_without_races), so it is never deleted.
UNINDEXED_GRACE = 60.0  # seconds


def _drop_unindexed(folder, pattern, indexed):
    """Delete the cache files of one kernel in ``folder`` that its index does not name and
    that are older than UNINDEXED_GRACE: the code of an earlier version of the sources, or an
    entry a race dropped.

    ``pattern`` is Numba's name for the kernel's data files,
    ``<module>.<function>-<line>.py311.{number:d}.nbc``, and ``indexed`` the names its index
    holds. The index and data files of the same function at another line (its place in an
    earlier version of the file; Numba tells functions apart by their line) go too. Whatever
    cannot be deleted stays; a file deleted while another process reads it is, for that
    process, a cache miss: it compiles again.
    """
    base = re.fullmatch(r"(?P<stem>.+-)(?P<line>\d+)(?P<tail>\.py\d+\w*\.)", pattern.partition(
        "{number:d}")[0])  # fmt: skip
    if base is None:
        return
    ours = re.compile(re.escape(base["stem"]) + r"(\d+)" + re.escape(base["tail"][:-1])
                      + r"(\.nbi|\.\w+\.nbc)")  # fmt: skip
    try:
        names = os.listdir(folder)
    except OSError:
        return
    now = time.time()
    for name in names:
        match = ours.fullmatch(name)
        if match is None or name in indexed:
            continue
        if match[1] == base["line"] and match[2] == ".nbi":  # the index just saved
            continue
        path = os.path.join(folder, name)
        try:
            if now - os.stat(path).st_mtime > UNINDEXED_GRACE:
                os.remove(path)
        except OSError:
            pass


def _holds_cache(folder):
    """Whether ``folder`` can be read and holds at least one Numba index file."""
    if not os.access(folder, os.R_OK | os.X_OK):
        return False
    try:
        return any(name.endswith(".nbi") for name in os.listdir(folder))
    except OSError:
        return False


def _probe():
    """Stands in for a kernel when asking Numba's locators about a folder."""


def _cache_for(folder):
    """Where the kernels of ``folder``'s sources are cached: ``"numba"`` when one of Numba's
    own locators can write there, else a read-only cache folder that holds kernels, else None."""
    from numba.core import config

    source = os.path.join(folder, "__init__.py")
    user_provided = _numba_class("UserProvidedCacheLocator")
    if user_provided.from_function(_probe, source) is not None:
        return "numba"
    if config.CACHE_DIR:  # the folder the user asked for comes first, even read-only
        shared = os.path.join(config.CACHE_DIR, user_provided.get_suitable_cache_subpath(source))
        if _holds_cache(shared):
            return shared
    for name in ("InTreeCacheLocator", "UserWideCacheLocator"):
        if _numba_class(name).from_function(_probe, source) is not None:
            return "numba"
    installed = os.path.join(folder, "__pycache__")
    return installed if _holds_cache(installed) else None


def _notice(message):
    print(f"fastnn: {message}", file=sys.stderr, flush=True)


def _use_read_only_caches(caches):
    """Make Numba load the kernels of the source folders in ``caches`` from the read-only cache
    folder given for each, and skip saving there what it has to compile."""
    from numba.core import caching

    class ReadOnlyCacheLocator(
        _numba_class("SourceFileBackedLocatorMixin"), _numba_class("CacheLocator")
    ):
        """fastnn's sources, cached in a folder that can be read but not written."""

        folders = caches

        def __init__(self, py_func, py_file):
            self._py_file = py_file
            self._lineno = py_func.__code__.co_firstlineno
            self._cache_path = self.folders[os.path.dirname(os.path.abspath(py_file))]

        def get_cache_path(self):
            return self._cache_path

        def ensure_cache_path(self):
            raise PermissionError(f"{self._cache_path} is read-only")

        @classmethod
        def from_function(cls, py_func, py_file):
            if os.path.dirname(os.path.abspath(py_file)) not in cls.folders:
                return None
            return cls(py_func, py_file)

    # Numba asks its locators in turn; this one goes right after $NUMBA_CACHE_DIR's.
    impl = _numba_class("CacheImpl")
    classes = [c for c in impl._locator_classes if c.__name__ != ReadOnlyCacheLocator.__name__]
    user_provided = _numba_class("UserProvidedCacheLocator")
    at = classes.index(user_provided) + 1 if user_provided in classes else 0
    impl._locator_classes = [*classes[:at], ReadOnlyCacheLocator, *classes[at:]]

    # Numba saves what it compiles without asking whether it may; for these caches it may not.
    save_overload = caching.Cache.save_overload
    save_overload = getattr(save_overload, "fastnn_wrapped", save_overload)
    told = set()

    @functools.wraps(save_overload)
    def save_unless_read_only(self, sig, data):
        locator = getattr(self._impl, "locator", None)
        if type(locator).__name__ != ReadOnlyCacheLocator.__name__:
            return save_overload(self, sig, data)
        if locator.get_cache_path() not in told:
            told.add(locator.get_cache_path())
            _notice(
                f"the kernel cache {locator.get_cache_path()} is read-only: the kernels it "
                "lacks are compiled in memory and not saved"
            )

    save_unless_read_only.fastnn_wrapped = save_overload
    caching.Cache.save_overload = save_unless_read_only


def _decide_cache():
    """Whether the kernels are cached on disk; sets up the read-only caches that needs."""
    if os.environ.get("FASTNN_NUMBA_CACHE", "1") == "0":
        return False
    from numba.core import config

    if config.CACHE_LOCATOR_CLASSES:  # the user chose Numba's locators: leave them be
        return True
    caches = {}
    for folder in _source_folders():
        cache = _cache_for(folder)
        if cache is None:
            _notice(
                "no writable folder for the compiled kernels (set NUMBA_CACHE_DIR to one): "
                "they are compiled in memory and nothing will be cached"
            )
            return False
        if cache != "numba":
            caches[folder] = cache
    if caches:
        _use_read_only_caches(caches)
    _key_caches_on_every_source()
    return True


CACHE = _decide_cache()

JIT_OPTIONS = dict(nogil=True, fastmath=FASTMATH, error_model="numpy", cache=CACHE)

# For the few operations whose rounding must not be reassociated with their neighbours (a loss
# term that subtracts two huge logits): no fastmath flags at all.
EXACT_OPTIONS = dict(JIT_OPTIONS, fastmath=False)

# Parallel kernels are not cached on disk: cached parallel functions have crashed when the
# thread count changed between processes. They compile on first use in each process.
PARALLEL_OPTIONS = dict(JIT_OPTIONS, cache=False, parallel=True)
