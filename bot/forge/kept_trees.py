"""Work trees kept from one workspace to the next, so a large repository is not written out
again for every heal.

Writing every file of the base into a new work tree is most of what opening a copy-mode
workspace costs (50,000 files: 2 to 18 s of system time on a small VM's disk), and removing
them again most of what closing one costs. So a closed workspace's tree, less what git does
not track (ignored output, caches: cleaned as it closes), is moved (a rename, on
the temp dir's own filesystem) into a slot of `selfheal-trees-UID` in the temp dir, one slot
per repository, and the next workspace of that repository takes it back and brings it to its
own base. Nothing in a kept tree is trusted: the last agent and the last gate could have
changed any of it, and any process of the user's could have since. Before it is used:

- the new private git dir's index is read from the base alone, with no stat data, so git
  hashes every file of the tree again and compares it with the base (`update-index
  --refresh`), recording the stat data of each file that matches; `git clean -ffdx` first
  removes everything the base does not track, ignored or not, nested repositories too;
- `checkout-index -f -u` then writes again, from the index, the paths that differ in
  content, mode or type or are missing, and only those (`diff-files` lists them, a pass
  over stat data alone now: the refresh recorded them for each path that matches and none
  for the rest), replacing whatever is there, a link or a dir too (a link on the way to
  one is gone already: to `clean`, a file the base does not track); `git diff-files` on
  those paths must then find none that differs (the refresh vouched for the rest; each stat
  datum in the index was recorded in this run, by the refresh or by the write);
- a walk checks the tree holds exactly the base's paths and nothing else: every file a
  plain file of ours, writable, with one link (a hard link would let a write here change a
  file somewhere else), every link one the base tracks, every dir on the way to a tracked
  path, no dir a link. It reads only what each entry is, so it runs while git hashes the
  files; then each path git wrote is checked again (and the whole tree walked again if the
  first walk found anything amiss: the write may have mended it).

Anything else, or any error on the way, and the tree is removed and the base checked out
afresh, as if there were none. At most MAX_KEPT trees are kept, the least recently used go.
"""

from __future__ import annotations

import hashlib
import os
import stat
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bot.errors import GitError
from bot.forge.git import GitDir, execute, restore_differing, run_bytes
from bot.forge.owned_dirs import remove_tree

MAX_KEPT = 8
_GITLINK, _SYMLINK = b"160000", b"120000"
_NOT_FILES = frozenset({None, _GITLINK, _SYMLINK})  # index modes of no plain file (None: none)


def _trees_dir() -> Path:
    return Path(tempfile.gettempdir()) / f"selfheal-trees-{os.getuid()}"


def _root(create: bool) -> Path | None:
    """The dir of kept trees: ours alone (mode 0700, not a link), or None."""
    root = _trees_dir()
    if create:
        try:
            root.mkdir(mode=0o700)
        except FileExistsError:
            pass
        except OSError:
            return None
    try:
        info = root.lstat()
    except OSError:
        return None
    mine = info.st_uid == os.getuid() and not info.st_mode & 0o077
    return root if stat.S_ISDIR(info.st_mode) and mine else None


def slot_path(common_dir: Path) -> Path:
    """Where the tree of the repository whose git dir is `common_dir` is kept."""
    name = hashlib.sha256(os.fsencode(os.path.realpath(common_dir))).hexdigest()[:32]
    return _trees_dir() / name


def take(common_dir: Path, dest: Path) -> bool:
    """Move the tree kept for the repository at `common_dir` to `dest` (which must not
    exist); whether there was one."""
    root = _root(create=False)
    if root is None:
        return False
    try:
        (root / slot_path(common_dir).name).rename(dest)
    except OSError:
        return False
    try:
        info = dest.lstat()
    except OSError:
        return False
    if stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid():
        return True
    remove_tree(dest)
    return False


def keep(common_dir: Path, tree: Path) -> None:
    """Move `tree` into the repository's slot for the next workspace (or leave it, for the
    caller to remove, when there is no room or it cannot move); never raises."""
    root = _root(create=True)
    if root is None or tree.is_symlink() or not tree.is_dir():
        return
    slot = root / slot_path(common_dir).name
    try:
        others = sorted((p.lstat().st_mtime, p) for p in root.iterdir() if p.name != slot.name)
    except OSError:
        return
    for _, old in others[: max(len(others) - MAX_KEPT + 1, 0)]:
        remove_tree(old)
    remove_tree(slot)  # another run's, kept meanwhile: this one is newer
    try:
        tree.rename(slot)
        os.utime(slot)
    except OSError:
        return


def bring_to_base(git: GitDir, base_sha: str) -> bool:
    """Make the taken tree at `git.work_tree` exactly the base, checked as the module doc
    says, with a new index of the base; whether it is (if not, it must not be used)."""
    tree = git.work_tree
    assert tree is not None
    try:
        run_bytes(git, "read-tree", base_sha)  # an index of the base, with no stat data
        expected = _paths_and_modes(run_bytes(git, "ls-files", "-z", "--stage"))
        run_bytes(git, "clean", "-ffdxq", "--", ".")
        remove_tree(tree / ".git")  # git never lists a top-level .git: clean keeps it
        # The walk reads only what each entry is, git only what each file holds: the walk
        # runs while git hashes (each on a core of its own), then checks again the paths
        # git writes anew, if any.
        with ThreadPoolExecutor(max_workers=1) as pool:
            walked = pool.submit(_holds_exactly, tree, expected)
            # Hashes every file (the index has no stat data to vouch for one): 1 if any
            # differs. The last heal's fix is a few files: those alone are written again.
            differs = execute(git, ["update-index", "--refresh"])[0] != 0
            held = walked.result()
        written = restore_differing(git) if differs else []
    except (GitError, OSError):
        return False
    if written is None:
        return False
    # Exactly the base's entries before the write: the written ones are checked again. Else
    # (or if one of those is amiss) the whole walk again, after the write: it may have
    # mended what the first walk found.
    if held and _holds_paths(tree, expected, written):
        return True
    return _holds_exactly(tree, expected)


def _paths_and_modes(listing: bytes) -> dict[bytes, bytes]:
    """Each path of an index listing (`ls-files -z --stage`) and its mode."""
    expected: dict[bytes, bytes] = {}
    for line in listing.split(b"\0"):
        if line:
            meta, _, path = line.partition(b"\t")
            expected[path] = meta.partition(b" ")[0]
    return expected


def _entry_fits(info: os.stat_result, mode: bytes | None, uid: int) -> bool:
    """Whether an entry that is not a dir is what the index's `mode` says: a plain file of
    ours, writable, with one link (a write here changes no file anywhere else), or a link."""
    kind = stat.S_IFMT(info.st_mode)
    if kind == stat.S_IFREG:
        if mode in _NOT_FILES or info.st_nlink != 1 or info.st_uid != uid:
            return False
        return info.st_mode & 0o600 == 0o600
    return kind == stat.S_IFLNK and mode == _SYMLINK  # not a fifo, socket or device


def _dir_fits(info: os.stat_result, uid: int) -> bool:
    """Whether an entry is a dir of ours that we can read, write and enter."""
    return stat.S_ISDIR(info.st_mode) and info.st_uid == uid and info.st_mode & 0o700 == 0o700


def _holds_paths(tree: Path, expected: dict[bytes, bytes], paths: list[str]) -> bool:
    """Whether each of `paths` (just written by git into a tree that held exactly the
    expected entries) is again what the index says, and each dir on its way a dir of ours."""
    uid = os.getuid()
    root = os.fsencode(tree)
    try:
        for path in map(os.fsencode, paths):
            cut = path.rfind(b"/")
            while cut > 0:
                if not _dir_fits(os.lstat(root + b"/" + path[:cut]), uid):
                    return False
                cut = path.rfind(b"/", 0, cut)
            mode = expected.get(path)
            info = os.lstat(root + b"/" + path)
            if mode is None or stat.S_ISDIR(info.st_mode) or not _entry_fits(info, mode, uid):
                return False  # not a base entry, or not what the base says it is
    except OSError:
        return False
    return True


def _holds_exactly(tree: Path, expected: dict[bytes, bytes]) -> bool:
    """Whether `tree` holds the `expected` paths and nothing else, each of its type: a plain
    file of ours with one link, a link, or an empty dir (a submodule)."""
    # The dirs on the way to each path: a dir already there has its own on the way too.
    parents: set[bytes] = set()
    for path in expected:
        cut = path.rfind(b"/")
        while cut > 0 and path[:cut] not in parents:
            parents.add(path[:cut])
            cut = path.rfind(b"/", 0, cut)
    uid = os.getuid()
    seen = 0
    pending = [(os.fsencode(tree), b"")]
    try:
        while pending:
            where, prefix = pending.pop()
            with os.scandir(where) as entries:
                for entry in entries:
                    path = prefix + entry.name
                    info = entry.stat(follow_symlinks=False)
                    mode = expected.get(path)
                    if stat.S_ISDIR(info.st_mode):
                        if not _dir_fits(info, uid):
                            return False
                        if mode == _GITLINK:
                            with os.scandir(entry.path) as inside:
                                if next(inside, None) is not None:
                                    return False
                        elif path in parents:
                            pending.append((entry.path, path + b"/"))
                            continue
                        else:
                            return False
                    elif not _entry_fits(info, mode, uid):
                        return False  # a fifo, socket or device, or a link the index lacks
                    seen += 1
    except OSError:
        return False
    return seen == len(expected)
