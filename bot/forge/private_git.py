"""selfheal's private git dirs: bare, in a temp dir of their own, borrowing the user's objects.

`objects/info/alternates` lets a private git dir read every object of the user's repository
without copying one, and git never writes into an alternate: new blobs, trees and commits land
in the private dir only. Reads of the user's repository for a workspace happen here, once.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from pathlib import Path

from bot.errors import BadInput
from bot.forge.git import FULL_SHA, GitDir, UserRepo, execute, locate, run
from bot.forge.git_parse import dirty_message
from bot.forge.owned_dirs import make_owned_dir, remove_tree


def init_private(home: Path, user: UserRepo) -> Path:
    """A bare git dir `home`/git whose object store reads `user`'s objects as an alternate."""
    object_format = run(user.where, "rev-parse", "--show-object-format").strip()
    git_dir = home / "git"
    run(
        home,
        "init",
        "--quiet",
        "--bare",
        "--template=",
        f"--object-format={object_format}",
        str(git_dir),
    )
    (git_dir / "objects" / "info").mkdir(parents=True, exist_ok=True)
    (git_dir / "objects" / "info" / "alternates").write_text(
        f"{user.common_dir / 'objects'}\n", encoding="utf-8"
    )
    # A shallow clone (actions/checkout's default): history ends where the user's does.
    shallow = user.common_dir / "shallow"
    if shallow.is_file():
        shutil.copyfile(shallow, git_dir / "shallow")
    # The user's repo fetches the proposed commit from here by its sha.
    run(GitDir(git_dir), "config", "uploadpack.allowAnySHA1InWant", "true")
    # The index of a large tree is written many times a heal (every snapshot, reset and
    # write-tree: 4 MB at 50,000 files); split, each write is only what changed since.
    run(GitDir(git_dir), "config", "core.splitIndex", "true")
    return git_dir


@contextlib.contextmanager
def private_git_dir(user: UserRepo) -> Iterator[GitDir]:
    """A throwaway private git dir borrowing `user`'s objects, removed on exit."""
    home = make_owned_dir("selfheal-git-")
    try:
        yield GitDir(init_private(home, user))
    finally:
        remove_tree(home)


def read_user_repo(repo: Path, base: str | None) -> tuple[UserRepo, str]:
    """The user's checkout and the commit to heal (HEAD, or `base`), refusing a checkout with
    uncommitted changes to tracked files."""
    user = locate(repo)
    status, out, _ = execute(user.where, ["rev-parse", "--verify", "--quiet", "HEAD^{commit}"])
    if status != 0:
        raise BadInput(f"{user.top} has no commits yet: commit the code selfheal should heal")
    base_sha = out.decode().strip()
    if base is not None:
        status, out, _ = execute(
            user.where, ["rev-parse", "--verify", "--quiet", f"{base}^{{commit}}"]
        )
        if status != 0 or not FULL_SHA.fullmatch(base):
            raise BadInput(f"commit {base!r} is not in {user.top}")
        base_sha = out.decode().strip()
    porcelain = run(user.where, "status", "--porcelain=v1", "-z", "--untracked-files=no")
    message = dirty_message(user.top, porcelain)
    if message:
        raise BadInput(message)
    return user, base_sha
