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
  --refresh`); where any differs in content, mode or type, `read-tree -u --reset` writes
  those and `git diff-files` must then find none; `git clean -ffdx` first removes everything
  the base does not track, ignored or not, nested repositories too;
- a walk then checks the tree holds exactly the base's paths and nothing else: every file a
  plain file of ours, writable, with one link (a hard link would let a write here change a
  file somewhere else), every link one the base tracks, every dir on the way to a tracked
  path, no dir a link.

Anything else, or any error on the way, and the tree is removed and the base checked out
afresh, as if there were none. At most MAX_KEPT trees are kept, the least recently used go.
"""

from __future__ import annotations

import hashlib
import os
import stat
import tempfile
from pathlib import Path

from bot.errors import GitError
from bot.forge.git import GitDir, execute, run_bytes
from bot.forge.owned_dirs import remove_tree

MAX_KEPT = 8
_GITLINK, _SYMLINK = "160000", "120000"


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
        run_bytes(git, "clean", "-ffdxq", "--", ".")
        remove_tree(tree / ".git")  # git never lists a top-level .git: clean keeps it
        # Hashes every file (the index has no stat data to vouch for one): 1 if any differs.
        if execute(git, ["update-index", "--refresh"])[0] != 0:
            run_bytes(git, "read-tree", "-u", "--reset", base_sha)
            if execute(git, ["diff-files", "--quiet"])[0] != 0:
                return False
        listing = run_bytes(git, "ls-files", "-z", "--stage")
    except (GitError, OSError):
        return False
    return _holds_exactly(tree, listing)


def _holds_exactly(tree: Path, listing: bytes) -> bool:
    """Whether `tree` holds the index's paths (`ls-files -z --stage`) and nothing else, each
    of its type: a plain file of ours with one link, a link, or an empty dir (a submodule)."""
    expected: dict[bytes, str] = {}
    for line in listing.split(b"\0"):
        if line:
            meta, _, path = line.partition(b"\t")
            expected[path] = meta.split(b" ", 1)[0].decode("ascii", "replace")
    parents = {b"/".join(p.split(b"/")[:i]) for p in expected for i in range(1, p.count(b"/") + 1)}
    seen = 0
    pending = [(os.fsencode(tree), b"")]
    try:
        while pending:
            where, rel = pending.pop()
            with os.scandir(where) as entries:
                for entry in entries:
                    path = rel + b"/" + entry.name if rel else entry.name
                    kind = _kind(entry.stat(follow_symlinks=False), expected.get(path))
                    if kind == "dir" and path in parents:
                        pending.append((entry.path, path))
                        continue
                    if kind == "submodule":
                        with os.scandir(entry.path) as inside:
                            if next(inside, None) is not None:
                                return False
                    elif kind != "tracked":
                        return False
                    seen += 1
    except OSError:
        return False
    return seen == len(expected)


def _kind(info: os.stat_result, mode: str | None) -> str:
    """What an entry is, against the index's mode for its path (None: not in the index):
    "tracked" (a file or link as the index has it), "dir", "submodule", or "wrong"."""
    ours = info.st_uid == os.getuid()
    if stat.S_ISDIR(info.st_mode):
        if not ours or info.st_mode & 0o700 != 0o700:
            return "wrong"
        return "submodule" if mode == _GITLINK else "dir"
    if stat.S_ISLNK(info.st_mode):
        return "tracked" if mode == _SYMLINK else "wrong"
    file = stat.S_ISREG(info.st_mode) and mode not in (None, _SYMLINK, _GITLINK)
    # One link: a write here changes no file anywhere else. Ours and writable.
    if file and info.st_nlink == 1 and ours and info.st_mode & 0o600 == 0o600:
        return "tracked"
    return "wrong"  # a fifo, socket or device, or a file the index does not have
