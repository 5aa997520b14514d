"""Where the compiled kernels are cached on disk, and fastnn's extensions of Numba's cache.

:func:`decide` runs once, at import, and returns the ``cache`` option of every kernel.

``FASTNN_NUMBA_CACHE`` chooses:

- ``1``, ``true``, ``yes``, ``on`` (the default): cached on disk, with the extensions below;
- ``numba``: cached on disk by Numba alone, without them;
- ``0``, ``false``, ``no``, ``off``: compiled in memory in every process.

Numba looks for a cache folder in order: ``$NUMBA_CACHE_DIR``, the source folder's
``__pycache__``, then a folder under the user's home, and uses the first it can write to.
fastnn extends that in three ways, all through :func:`install`:

- **Every source in the key.** Numba keys a cached function on its own source file only, so a
  kernel whose callee changed in another file would load stale machine code. Every fastnn
  kernel's key also holds a digest of all the kernel sources (:func:`sources_digest`): editing
  any of them recompiles every kernel once, and nothing outside ``kernels/`` is compiled, so
  editing the rest of fastnn recompiles nothing.
- **Saving without races.** Entries are named by a digest of their key rather than by the first
  free number, and each save deletes the kernel's files its index no longer names
  (:func:`_save_without_races`).
- **Read-only caches.** A cache folder that holds compiled kernels but cannot be written to (an
  administrator's shared ``$NUMBA_CACHE_DIR``, the ``__pycache__`` of a read-only install) is
  read from; what it lacks is compiled in memory and not saved, and a notice says so once.

When no folder can be written or read at all, the kernels are compiled in memory and a notice
says so once.

The extensions replace parts of ``numba.core.caching``, which is not public API. Before changing
anything, :func:`install` checks that each part is there with the shape it expects
(:data:`REQUIRED`); when a Numba release has moved or reshaped one, fastnn changes nothing, says
so once on stderr, and the kernels use Numba's own disk cache.
"""

import functools
import hashlib
import inspect
import os
import re
import sys
import time

SETTINGS = {
    **dict.fromkeys(("1", "true", "yes", "on", ""), "fastnn"),
    "numba": "numba",
    **dict.fromkeys(("0", "false", "no", "off"), "off"),
}

# The parts of numba.core.caching that the extensions replace or call, with the parameters
# each function must have (None: a class attribute that must be a list of classes).
REQUIRED = {
    ("SourceFileBackedLocatorMixin", "get_source_stamp"): ("self",),
    ("IndexDataCacheFile", "__init__"): ("self", "cache_path", "filename_base", "source_stamp"),
    ("IndexDataCacheFile", "save"): ("self", "key", "data"),
    ("IndexDataCacheFile", "_save_data"): ("self", "name", "data"),
    ("IndexDataCacheFile", "_load_index"): ("self",),
    ("IndexDataCacheFile", "_save_index"): ("self", "overloads"),
    ("Cache", "save_overload"): ("self", "sig", "data"),
    ("CacheImpl", "_locator_classes"): None,
    ("CacheLocator", "get_cache_path"): ("self",),
    ("UserProvidedCacheLocator", "from_function"): ("py_func", "py_file"),
    ("UserProvidedCacheLocator", "get_suitable_cache_subpath"): ("py_file",),
    ("InTreeCacheLocator", "from_function"): ("py_func", "py_file"),
    ("UserWideCacheLocator", "from_function"): ("py_func", "py_file"),
}

# A data file younger than this may belong to a process that has saved it and not yet its
# index entry (see _save_without_races), so it is never deleted.
UNINDEXED_GRACE = 60.0  # seconds

_HERE = os.path.dirname(os.path.abspath(__file__))

installed = False  # whether install() has applied the extensions in this process


class NumbaChanged(Exception):
    """A part of numba.core.caching that fastnn extends is missing or has another shape."""


def notice(message):
    print(f"fastnn: {message}", file=sys.stderr, flush=True)


def setting(environ=os.environ):
    """``"fastnn"``, ``"numba"`` or ``"off"``, from ``$FASTNN_NUMBA_CACHE``; an unknown value
    says so on stderr and keeps the default."""
    raw = environ.get("FASTNN_NUMBA_CACHE", "1")
    value = SETTINGS.get(raw.strip().lower())
    if value is None:
        notice(
            f"FASTNN_NUMBA_CACHE={raw!r} is not one of 1/true/yes/on, numba, 0/false/no/off: "
            "using the default, 1 (kernels cached on disk)"
        )
        return "fastnn"
    return value


def _numba_class(name):
    """A class of ``numba.core.caching``; older and newer releases prefix some names with "_"."""
    from numba.core import caching

    found = getattr(caching, name, None) or getattr(caching, f"_{name}", None)
    if not isinstance(found, type):
        raise NumbaChanged(f"numba.core.caching has no class {name}")
    return found


def check_numba():
    """Raise :class:`NumbaChanged` unless every part in :data:`REQUIRED` is there as expected."""
    for (owner, name), parameters in REQUIRED.items():
        what = f"{owner}.{name}"
        value = getattr(_numba_class(owner), name, None)
        if value is None:
            raise NumbaChanged(f"numba.core.caching has no {what}")
        if parameters is None:
            if not isinstance(value, list) or not all(isinstance(c, type) for c in value):
                raise NumbaChanged(f"{what} is no longer a list of classes")
            continue
        value = getattr(value, "fastnn_wrapped", value)
        try:
            found = tuple(inspect.signature(value).parameters)
        except (TypeError, ValueError):
            raise NumbaChanged(f"{what} is no longer a function") from None
        if found != parameters:
            raise NumbaChanged(f"{what} takes ({', '.join(found)}), not ({', '.join(parameters)})")


def sources_digest():
    """A digest of every source file in ``kernels/`` (all that is compiled)."""
    digest = hashlib.sha256()
    for name in sorted(os.listdir(_HERE)):
        if not name.endswith(".py"):
            continue
        path = os.path.join(_HERE, name)
        try:
            with open(path, "rb") as f:
                digest.update(name.encode() + b"\0" + f.read())
        except OSError:  # a source shipped without its .py: key on what is there
            digest.update(path.encode())
    return digest.hexdigest()


def _probe():
    """Stands in for a kernel when asking Numba's locators about a folder."""


def _holds_cache(folder):
    """Whether ``folder`` can be read and holds at least one Numba index file."""
    if not os.access(folder, os.R_OK | os.X_OK):
        return False
    try:
        return any(name.endswith(".nbi") for name in os.listdir(folder))
    except OSError:
        return False


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


def _writable_folder():
    """Whether Numba's own locators would find a folder to write to, judged without Numba's
    internals: ``$NUMBA_CACHE_DIR``, this folder's ``__pycache__``, or the user's cache."""
    from numba.core import config

    candidates = [config.CACHE_DIR] if config.CACHE_DIR else []
    candidates += [
        os.path.join(_HERE, "__pycache__"),
        os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "numba"),
    ]
    for folder in candidates:
        existing = folder
        while not os.path.exists(existing) and os.path.dirname(existing) != existing:
            existing = os.path.dirname(existing)
        if os.access(existing, os.W_OK | os.X_OK):
            return True
    return False


def decide(environ=os.environ):
    """Whether the kernels are cached on disk; installs fastnn's extensions when it can."""
    chosen = setting(environ)
    if chosen == "off":
        return False
    from numba.core import config

    if getattr(config, "CACHE_LOCATOR_CLASSES", None):  # the user chose Numba's locators
        return True
    if chosen == "fastnn":
        try:
            check_numba()
            return install()
        except NumbaChanged as exc:
            import numba

            notice(
                f"Numba {numba.__version__} has changed the caching internals fastnn extends "
                f"({exc}): the kernels use Numba's own disk cache"
            )
    if _writable_folder():
        return True
    notice(
        "no writable folder for the compiled kernels (set NUMBA_CACHE_DIR to one): they are "
        "compiled in memory and nothing will be cached"
    )
    return False


def install():
    """Apply fastnn's extensions (after :func:`check_numba`); False when nothing can be cached."""
    caches = {}
    cache = _cache_for(_HERE)
    if cache is None:
        notice(
            "no writable folder for the compiled kernels (set NUMBA_CACHE_DIR to one): they "
            "are compiled in memory and nothing will be cached"
        )
        return False
    if cache != "numba":
        caches[_HERE] = cache
        _use_read_only_caches(caches)
    digest = sources_digest()
    _key_caches_on_every_source(digest)
    _save_without_races(digest)
    global installed
    installed = True
    return True


def _key_caches_on_every_source(digest):
    """Make the cache stamp of fastnn's kernels include ``digest``."""
    mixin = _numba_class("SourceFileBackedLocatorMixin")
    stamp = getattr(mixin.get_source_stamp, "fastnn_wrapped", mixin.get_source_stamp)

    @functools.wraps(stamp)
    def get_source_stamp(self):
        own = stamp(self)
        if os.path.dirname(os.path.abspath(self._py_file)) == _HERE:
            return (own, digest)
        return own

    get_source_stamp.fastnn_wrapped = stamp
    mixin.get_source_stamp = get_source_stamp


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
        stamp = getattr(self, "_source_stamp", None)
        pattern = getattr(self, "_data_name_pattern", None)
        folder = getattr(self, "_cache_path", None)
        ours = isinstance(stamp, tuple) and len(stamp) == 2 and stamp[1] == digest
        if not ours or not isinstance(pattern, str) or "{number:d}" not in pattern:
            return save(self, key, data)  # not a fastnn kernel, or a file laid out otherwise
        name = hashlib.sha256(repr((key, stamp)).encode()).hexdigest()[:20]
        data_name = pattern.replace("{number:d}", name)
        self._save_data(data_name, data)
        overloads = self._load_index()
        overloads[key] = data_name
        self._save_index(overloads)
        _drop_unindexed(folder, pattern, set(overloads.values()))

    save_by_key.fastnn_wrapped = save
    index_file.save = save_by_key


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
    if base is None or not folder:
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
            notice(
                f"the kernel cache {locator.get_cache_path()} is read-only: the kernels it "
                "lacks are compiled in memory and not saved"
            )

    save_unless_read_only.fastnn_wrapped = save_overload
    caching.Cache.save_overload = save_unless_read_only
