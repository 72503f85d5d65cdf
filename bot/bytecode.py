"""Where gate steps keep compiled bytecode and tool caches: outside the repository, warm
where nothing untrusted could have written them, fresh where something could.

Python reads and writes every .pyc under PYTHONPYCACHEPREFIX (the project's, the
interpreter's and its packages'), and pytest puts its assertion-rewritten test modules there
too (`_pytest.assertion.rewrite.get_cache_dir` follows `sys.pycache_prefix`); ruff keeps its
cache under RUFF_CACHE_DIR. So nothing compiled lands in the work tree, and a cache that
lives from run to run spares every run the compiling.

Trust: a timestamp pyc is taken as long as the source's mtime and size match its header,
and an agent (same user) can write the header it likes. Hash-based pycs do not help: the
header holds a hash of the *source*, which the agent can read, and the code after it is
never checked. So no check on a cache's contents makes it safe; only who could write it can:

- `selfheal gate` on the user's checkout: the user's own cache (like their __pycache__),
  kept from run to run: `user_cache_dir()`.
- heal and implement: a cache of their own (`RunCache`), new each run, in the workspace's
  private dir. It is filled before any agent runs (the user's own bytecode of the files the
  work tree shares with their checkout, restamped; the interpreter's and packages' from the
  last heal) and by the gate runs that come before the agent (the base's code); then sealed.
  From then on, before every gate run, any file in it that the seal did not see, or that
  changed since (size, mtime, ctime, inode: ctime no process can set back), is removed, and
  so is the bytecode of every work-tree source that changed since the seal: an agent that
  edits a file and sets its mtime back gets its own code compiled, never the base's served.
  What the agent, or code it changed, writes there during the run is never read. The seed
  is trusted as the user's own caches are (their pytest reads their __pycache__ too): an
  agent's tools never reach them, but a command agent running as the same user could plant
  bytecode there for a *later* run, as it could in site-packages. Where that matters, run
  agents as another user (not built yet: bot.isolation) or on a fresh runner, as Actions is.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import stat
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

from bot.forge.owned_dirs import remove_tree

PREFIX = "PYTHONPYCACHEPREFIX"
RUFF_CACHE = "RUFF_CACHE_DIR"
PYCACHE = "pycache"  # the prefix, under a cache dir


def user_cache_dir(environ: Mapping[str, str] | None = None) -> Path:
    """selfheal's cache for this user: $XDG_CACHE_HOME/selfheal, else ~/.cache/selfheal."""
    environ = os.environ if environ is None else environ
    base = environ.get("XDG_CACHE_HOME") or str(Path(environ.get("HOME") or "~") / ".cache")
    return Path(base).expanduser() / "selfheal"


def forget(env: Mapping[str, str], source_dir: Path) -> None:
    """Remove what processes run with `env` compiled from `source_dir`, a dir being removed
    (a gate's scratch dir, which holds selfheal's pytest plugin): its mirror under the
    PYTHONPYCACHEPREFIX, where pytest keeps the plugin rewritten. A new scratch dir each run
    would otherwise leave a new mirror in the user's cache each run, for ever."""
    prefix = env.get(PREFIX)
    if prefix and source_dir.is_absolute():
        remove_tree(Path(prefix) / source_dir.relative_to(source_dir.anchor))


def kept_bytecode() -> Path:
    """Where a heal or implement run leaves the interpreter's and packages' bytecode for the
    next one (see `RunCache.keep`)."""
    return user_cache_dir() / "heal" / PYCACHE


def bytecode_env(env: Mapping[str, str], cache: Path, repo: Path) -> dict[str, str]:
    """`env` with bytecode and ruff's cache under `cache`. A cache inside `repo` (or one
    that can't be made) is not used: the steps then write no bytecode at all, as before."""
    out = dict(env)
    try:
        cache = cache.resolve()
        if cache.is_relative_to(repo.resolve()):
            raise OSError("inside the repository")
        (cache / PYCACHE).mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError:
        out.pop(PREFIX, None)
        out["PYTHONDONTWRITEBYTECODE"] = "1"
        return out
    out[PREFIX] = str(cache / PYCACHE)
    out[RUFF_CACHE] = str(cache / "ruff")
    out.pop("PYTHONDONTWRITEBYTECODE", None)
    return out


def without_bytecode_cache(env: Mapping[str, str]) -> dict[str, str]:
    """`env` with no bytecode cache to read or write (a PYTHONPYCACHEPREFIX selfheal's own
    environment had would be one the agent can write to)."""
    out = {k: v for k, v in env.items() if k not in (PREFIX, RUFF_CACHE)}
    out["PYTHONDONTWRITEBYTECODE"] = "1"
    return out


# A pyc starts with 16 bytes, in Python's and in pytest's rewritten ones alike: the magic
# number, flags, then the source's mtime and size (flags 0) or its hash (PEP 552).
_HEADER = 16
_CHECKED_HASH = 3  # PEP 552: hash-based, and the hash is checked
Stamp = tuple[int, int, int, int]


def _stamp(st: os.stat_result) -> Stamp:
    """What changes whenever a file is written, replaced or touched (ctime included)."""
    return (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def mirror(prefix: Path, directory: Path) -> Path:
    """Where Python keeps the bytecode of `directory`'s modules under `prefix`."""
    return prefix / directory.relative_to(directory.anchor)


def _files(root: Path) -> Iterator[os.DirEntry[str]]:
    """Every entry under `root` that is not a real directory (links are not followed)."""
    try:
        entries = list(os.scandir(root))
    except OSError:
        return
    for entry in entries:
        if entry.is_dir(follow_symlinks=False):
            yield from _files(Path(entry.path))
        else:
            yield entry


def drop_racy(env: Mapping[str, str], directory: Path, since: float) -> int:
    """Remove each pyc of `directory`'s modules, written under env's PYTHONPYCACHEPREFIX since
    `since` (a time.time()), that is no newer in whole seconds than its source; how many.

    Python takes a timestamp pyc while its source's size and mtime in whole seconds match
    its header, so a pyc compiled in the same second as its source's last write would serve
    a same-size edit made later in that second (`2 * x` -> `3 * x`): the old code would run
    and a broken change could pass the gate. Such a pyc is "racy", as git calls an index
    entry written in the second its file last changed. Removed, it is compiled again next
    run; the check needs no pyc's contents: a pyc not newer than its source is either racy
    or stale (Python compiles a stale one again anyway)."""
    prefix = env.get(PREFIX)
    if not prefix:
        return 0
    removed = 0
    for where in dict.fromkeys((directory, directory.resolve())):
        for entry in _files(mirror(Path(prefix), where)):
            if not entry.name.endswith(".pyc"):
                continue
            pyc = Path(entry.path)
            try:
                written = entry.stat(follow_symlinks=False).st_mtime
                if written < since:
                    continue
                if not _racy(written, _source_of(Path(prefix), pyc).stat().st_mtime):
                    continue
                pyc.unlink()
            except OSError:
                continue
            removed += 1
    return removed


def _racy(written: float, source_written: float) -> bool:
    """Whether a pyc written at `written` could serve an edit its source gets later in the
    second of its last write, `source_written`: not written in a later second."""
    return int(written) <= int(source_written)


def _usable(pyc: Path, theirs: Path, ours: Path) -> bytes | None:
    """`pyc` (compiled from the checkout's file `theirs`) as it serves the work tree's file
    `ours`, or None where it would not: a checked-hash pyc (pytest's rewritten tests) whose
    hash is of `ours`; a timestamp pyc that is current for `theirs` and was written after
    the second of its last write (`drop_racy`), when `ours` holds the same bytes, restamped
    with `ours`'s mtime. An unchecked-hash pyc is never taken."""
    try:
        data, mine = pyc.read_bytes(), ours.read_bytes()
        if len(data) < _HEADER:
            return None
        flags = int.from_bytes(data[4:8], "little")
        if flags == _CHECKED_HASH:
            return data if importlib.util.source_hash(mine) == data[8:16] else None
        their_stat = theirs.stat()
        mtime = int.from_bytes(data[8:12], "little")
        size = int.from_bytes(data[12:16], "little")
        current = mtime == int(their_stat.st_mtime) & 0xFFFFFFFF
        if flags or not current or size != their_stat.st_size & 0xFFFFFFFF:
            return None
        if _racy(pyc.stat().st_mtime, their_stat.st_mtime):
            return None  # compiled in the second of the last write (see drop_racy)
        if theirs != ours and theirs.read_bytes() != mine:
            return None
        stamp = int(ours.stat().st_mtime) & 0xFFFFFFFF
    except OSError:
        return None
    return data[:8] + stamp.to_bytes(4, "little") + data[12:]


def _source_of(prefix: Path, pyc: Path) -> Path:
    """The source file `pyc` (under `prefix`) was compiled from: mirror's inverse."""
    folder = Path(pyc.anchor or "/") / pyc.parent.relative_to(prefix)
    return folder / f"{pyc.name.partition('.')[0]}.py"


class RunCache:
    """The bytecode cache of one heal or implement run (see the module doc): `seed` it,
    `seal` it before the agent first runs, `prune` it before every gate run after that,
    hand the gate `env(...)`, and `keep` what is worth keeping for the next run."""

    def __init__(self, root: Path, work_tree: Path) -> None:
        self._root = root
        self.prefix = root / PYCACHE
        self.prefix.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.work_tree = work_tree.resolve()  # as a process started in it sees its cwd
        # Python mirrors a module's path as it was imported: through PYTHONPATH's entry (the
        # path as given) or the cwd (resolved). Both are the work tree's.
        self._work_trees = (work_tree, self.work_tree)
        self._inside = tuple({mirror(self.prefix, p) for p in self._work_trees})
        self.seeded = 0
        self._sealed: dict[str, Stamp] | None = None
        self._sources: dict[str, tuple[Path, Stamp]] = {}  # a work-tree pyc: its source
        self._from_kept: set[str] = set()  # what the seed copied from the last run's

    def env(self, env: Mapping[str, str]) -> dict[str, str]:
        """`env` for a gate run: this cache and no other; ruff's cache stays in the work
        tree, which every reset clears."""
        out = without_bytecode_cache(env)
        out.pop("PYTHONDONTWRITEBYTECODE")
        out[PREFIX] = str(self.prefix)
        return out

    def _in_work_tree(self, pyc: Path) -> bool:
        return any(pyc.is_relative_to(inside) for inside in self._inside)

    # -- before the agent -------------------------------------------------------------

    def seed(self, kept: Path, checkout: Path, sources: Iterable[str]) -> None:
        """Warm the cache before any gate run: the files `keep` left in `kept` (outside the
        work tree), and for each of `sources` (work-tree paths) that is the same file in the
        user's `checkout`, its bytecode there (its __pycache__, or `selfheal gate`'s cache),
        restamped with the work tree's mtime. Best effort: what can't be read is compiled."""
        if self._sealed is not None:
            raise RuntimeError("a sealed cache is not seeded")
        self._from_kept = self._copy_tree(kept, self.prefix)
        checkout = checkout.resolve()
        gate_cache = mirror(user_cache_dir() / "gate" / PYCACHE, checkout)
        by_dir: dict[str, list[str]] = {}
        for rel in sources:
            if rel.endswith(".py") and not set(rel) & {"\n", "\r", "\0"}:
                head, _, name = rel.rpartition("/")
                by_dir.setdefault(head, []).append(name[:-3])
        for head, stems in by_dir.items():
            found: dict[str, list[Path]] = {}
            for where in (checkout / head / "__pycache__", gate_cache / head):
                try:
                    names = [path.name for path in where.iterdir()]
                except OSError:
                    continue
                for name in names:
                    stem, dot, rest = name.partition(".")
                    if dot and rest.endswith(".pyc"):
                        found.setdefault(stem, []).append(where / name)
            for stem in stems:
                for pyc in found.get(stem, ()):
                    self._restamp(pyc, checkout / head / f"{stem}.py", self.work_tree / head)

    def _restamp(self, pyc: Path, theirs: Path, into: Path) -> None:
        ours = into / theirs.name
        target = mirror(self.prefix, into) / pyc.name
        if target.exists() or not ours.is_file() or ours.is_symlink():
            return  # the checkout's own __pycache__ came first
        data = _usable(pyc, theirs, ours)
        if data is None:
            return
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        except OSError:
            return
        self.seeded += 1

    def seal(self) -> None:
        """From now on only what the cache holds now is read (see the module doc)."""
        if self._sealed is not None:
            return
        self._sealed = {}
        for entry in _files(self.prefix):
            path = Path(entry.path)
            try:
                st = entry.stat(follow_symlinks=False)
                if not stat.S_ISREG(st.st_mode):
                    continue  # never read: prune removes it
                if self._in_work_tree(path):
                    source = _source_of(self.prefix, path)
                    self._sources[entry.path] = (source, _stamp(source.lstat()))
            except OSError:
                continue
            self._sealed[entry.path] = _stamp(st)

    # -- after the agent --------------------------------------------------------------

    def prune(self) -> None:
        """Before a gate run, once sealed: remove all the seal did not see or that changed."""
        if self._sealed is None:
            return
        if self.prefix.is_symlink() or not self.prefix.is_dir():
            self._start_over()
            return
        doomed = []
        for entry in list(_files(self.prefix)):
            try:
                now_stamp = _stamp(entry.stat(follow_symlinks=False))
            except OSError:
                now_stamp = None
            if now_stamp is None or self._sealed.get(entry.path) != now_stamp:
                doomed.append(entry.path)
        for pyc, (source, stamp) in list(self._sources.items()):
            try:
                same = _stamp(source.lstat()) == stamp
            except OSError:
                same = False
            if not same:
                doomed.append(pyc)
                del self._sources[pyc]
        for path in doomed:
            remove_tree(Path(path))
            self._sealed.pop(path, None)
            if os.path.lexists(path):  # it would be read: no file of this cache is trusted
                self._start_over()
                return

    def _start_over(self) -> None:
        """An empty cache in a new dir (the old one could not be cleaned): colder, and
        nothing in it the agent could have written."""
        remove_tree(self.prefix)
        self.prefix = self._root / f"{PYCACHE}-{len(list(self._root.iterdir()))}"
        self.prefix.mkdir(mode=0o700)
        self._inside = tuple({mirror(self.prefix, p) for p in self._work_trees})
        self._sealed, self._sources = {}, {}

    def keep(self, kept: Path) -> None:
        """Leave in `kept`, for the next run's seed, the sealed bytecode of files outside the
        work tree that is still as sealed and whose source is still there (the interpreter's,
        the packages'; not a gate run's scratch dir). What the seed took from `kept` is part
        of it, so this adds to what was there; never a work tree's."""
        if not self._sealed:
            return
        keep = []
        for path, stamp in self._sealed.items():
            pyc = Path(path)
            if self._in_work_tree(pyc) or not _source_of(self.prefix, pyc).is_file():
                continue
            with contextlib.suppress(OSError):
                if _stamp(pyc.lstat()) == stamp:
                    keep.append(path)
        if set(keep) == self._from_kept:
            return  # what the last run left, and nothing more: as it is
        fresh = kept.with_name(f"{kept.name}.new-{os.getpid()}")
        remove_tree(fresh)
        try:
            for path in keep:
                source = Path(path)
                target = fresh / source.relative_to(self.prefix)
                target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                shutil.copyfile(source, target)
            old = kept.with_name(f"{kept.name}.old-{os.getpid()}")
            if kept.exists():
                kept.rename(old)
            fresh.rename(kept)
            remove_tree(old)
        except OSError:
            remove_tree(fresh)

    @staticmethod
    def _copy_tree(source: Path, target: Path) -> set[str]:
        """Link (else copy) the files under `source` into `target`; their paths there. A
        link costs no copy, and is no weaker: `source` is the same user's as the copy."""
        copied = set()
        for entry in _files(source):
            path = Path(entry.path)
            try:
                if not entry.is_file(follow_symlinks=False):
                    continue
                into = target / path.relative_to(source)
                into.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                try:
                    os.link(path, into)
                except OSError:
                    shutil.copyfile(path, into)
            except OSError:
                continue
            copied.add(str(into))
        return copied
