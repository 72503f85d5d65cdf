"""The workspace the fix loop works in: a work tree with no `.git`, and a private git dir elsewhere.

The private git dir borrows the user's objects read-only through `objects/info/alternates`
(git never writes into an alternate) and lives in a temp dir of its own, not inside the work
tree, so nothing the agent runs there finds a repository, let alone the user's. Everything
selfheal reads from the user's repository it reads once, as the workspace opens; the only
write to it is `publish_branch`, one branch. (On GitHub Actions the disposable checkout itself
is the work tree, its .git parked out of reach for the run: see bot.forge.adopt.)
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Mapping
from pathlib import Path, PurePosixPath
from types import TracebackType

from bot.config import GitIdentity
from bot.errors import BadInput, GitError, ProposalError
from bot.forge import carried, kept_trees
from bot.forge.git import (
    FULL_SHA,
    GitDir,
    UserRepo,
    check_branch,
    command_lines,
    execute,
    forget_work_tree,
    identity_env,
    restore_differing,
    run,
    run_bytes,
    short_sha,
)
from bot.forge.git_parse import (
    DIFF_OPTIONS,
    NUMSTAT_OPTIONS,
    empty_repos,
    never_staged,
    parse_numstat,
)
from bot.forge.owned_dirs import remove_tree, unpark
from bot.forge.push import push_commit
from bot.report import FileChange

CANDIDATE_REF = "refs/selfheal/candidate"
# Variables that would point a child's git somewhere else than the directory it runs in.
_LOCATION_VARS = frozenset(
    {
        "GIT_DIR",
        "GIT_WORK_TREE",
        "GIT_INDEX_FILE",
        "GIT_OBJECT_DIRECTORY",
        "GIT_ALTERNATE_OBJECT_DIRECTORIES",
        "GIT_COMMON_DIR",
        "GIT_NAMESPACE",
        "GIT_CEILING_DIRECTORIES",
        "GIT_DISCOVERY_ACROSS_FILESYSTEM",
        "GIT_CONFIG",
        "GIT_CONFIG_PARAMETERS",
        "GIT_CONFIG_COUNT",
    }
)


class Workspace:
    """A checkout of base_sha in a temp dir, with its git dir in another (see the module doc).

    `mode` is "copy" (a new work tree) or "adopt" (a disposable Actions checkout is the work
    tree, its .git moved away for the run: see bot.forge.adopt). `carried` names the
    generated, git-ignored files taken from the user's checkout (see bot.forge.carried)."""

    def __init__(
        self,
        user: UserRepo,
        work_home: Path,
        git_home: Path,
        base_sha: str,
        work_tree: Path | None = None,
    ) -> None:
        self.repo = user.top
        self.path = work_tree or work_home / (user.top.name or "repo")
        self.mode = "adopt" if work_tree is not None else "copy"
        self.adopt_refusal = ""
        self.kept_tree = False  # a copy whose tree an earlier workspace left (bot.forge.kept_trees)
        self.carried: tuple[str, ...] = ()
        self.carried_skipped: tuple[str, ...] = ()
        self.base_sha = base_sha
        self.base_ref: str | None = None
        self.remote_url: str | None = None
        self._user = user
        self._work_home = work_home
        self._git_home = git_home
        self._git = GitDir(git_home / "git", self.path)
        self._checkpoint = ""
        self._closed = False
        self._snapshot_of_generated = carried.Carried()
        self._kept: tuple[str, ...] = ()  # ignored dirs an adopted checkout keeps

    def __enter__(self) -> Workspace:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- what the agent and the gate get ----------------------------------------------

    def child_env(self, env: Mapping[str, str]) -> dict[str, str]:
        """`env` for the agent and gate processes: a `git` they run in the work tree finds no
        repository (the search stops at the work tree's parent) and no variable moves it."""
        out = {
            name: value
            for name, value in env.items()
            if name not in _LOCATION_VARS
            and not name.startswith(("GIT_CONFIG_KEY_", "GIT_CONFIG_VALUE_"))
        }
        out["GIT_CEILING_DIRECTORIES"] = str(self._work_home)
        return out

    # -- snapshots and diffs ----------------------------------------------------------

    def _snapshot(self) -> str:
        """Stage everything (tracked and untracked, not ignored) in the work tree but the
        gate's litter (`never_staged`); the tree."""
        args = ["add", "--all", "--", "."]
        status, _, err = execute(self._git, args)
        # An empty nested repository (an agent's `git init`) has nothing to stage; git
        # refuses the whole add for it, so it is left out and the rest goes in.
        skipped = empty_repos(err) if status != 0 else []
        if skipped:
            run(self._git, *args, *(f":(exclude,literal){path}" for path in skipped))
        elif status != 0:
            run(self._git, *args)  # again, for git's own words in the error
        self._unstage_litter()
        return run(self._git, "write-tree").strip()

    def _unstage_litter(self) -> None:
        """Put the index entries of the gate's litter back as HEAD has them. Read from what
        the index changed, not matched against every path (exclude pathspecs on the add cost
        as much as the add itself), and from the index, so no ignore rule can let one in."""
        out = run_bytes(
            self._git, "diff-index", "--cached", "--name-only", "-z", "--no-renames", "HEAD"
        )
        litter = [p for p in map(os.fsdecode, out.split(b"\0")) if p and never_staged(p)]
        for paths in command_lines(litter):
            literal = {"GIT_LITERAL_PATHSPECS": "1"}  # a name is itself, never a pattern
            run(self._git, "reset", "-q", "--no-refresh", "HEAD", "--", *paths, extra_env=literal)

    def _diff(self, old: str, new: str) -> str:
        return run(self._git, "diff", *DIFF_OPTIONS, old, new, "--")

    def checkpoint(self) -> None:
        """Record the work tree's current state as the point `rollback` returns to."""
        # A tree object, not a commit: nothing to sign, no identity, and no ref to leave behind.
        self._checkpoint = self._snapshot()

    def checkpoint_at(self, tree: str) -> None:
        """Record `tree`, which the work tree is known to hold, as the point of `rollback`."""
        self._checkpoint = tree

    def attempt_diff(self) -> str:
        """Unified diff from the last checkpoint to now (binary-safe, renames detected)."""
        return self._diff(self._checkpoint, self._snapshot())

    def rollback(self) -> None:
        """Restore the work tree exactly to the last checkpoint: new files go, deleted ones return."""
        self._snapshot()  # every current file in the index, so read-tree removes what is new
        run(self._git, "read-tree", "-u", "--reset", self._checkpoint)
        # Whatever is still untracked (a .gitignore the attempt changed, nested repos) goes too.
        self._clean("-ffdq")
        remove_tree(self.path / ".git")  # git never lists a top-level .git, so clean keeps it
        self._put_generated()

    def _clean(self, flags: str) -> None:
        patterns = carried.exclude_lines(self._kept).splitlines()
        kept = [arg for pattern in patterns for arg in ("-e", pattern)]
        run(self._git, "clean", flags, *kept, "--", ".")

    def _put_generated(self) -> None:
        """The user's generated files as they were when the workspace opened."""
        store = self._git_home / "carried"
        carried.put(store, self.path, self._snapshot_of_generated)

    def total_diff(self, tree: str | None = None) -> str:
        """Unified diff from base_sha to the work tree now, the whole fix so far; or to
        `tree` (one of this workspace's trees, e.g. what a gate ran on)."""
        return self._diff(self.base_sha, tree or self._snapshot())

    def changed_files(self) -> list[FileChange]:
        """Lines added and removed per path in `total_diff` (binary files count 0)."""
        tree = self._snapshot()
        return parse_numstat(run(self._git, "diff", *NUMSTAT_OPTIONS, self.base_sha, tree, "--"))

    def untracked(self) -> frozenset[str]:
        """Files in the work tree that git does not track and no ignore rule covers."""
        out = run(self._git, "ls-files", "-z", "--others", "--exclude-standard", "--", ".")
        return frozenset(path for path in out.split("\0") if path)

    def tracked(self, pattern: str) -> list[str]:
        """The index's files matching the pathspec `pattern` (e.g. `*.py`): the base's, until
        the first checkpoint."""
        out = run(self._git, "ls-files", "-z", "--", pattern)
        return [path for path in out.split("\0") if path]

    def private_dir(self, name: str) -> Path:
        """A dir of selfheal's own beside the private git dir (mode 0700, outside the work
        tree, removed on close)."""
        path = self._git_home / name
        path.mkdir(mode=0o700, exist_ok=True)
        return path

    def leave_out(self, paths: Iterable[str]) -> None:
        """Never stage `paths` (files a gate run wrote, not the fix): no diff, commit or
        proposal holds them, and a reset removes them as it removes ignored files."""
        # A name with a line break cannot be one exclude line (it would become two patterns).
        lines = carried.exclude_lines(sorted(p for p in paths if not set(p) & {"\n", "\r"}))
        if not lines:
            return
        exclude = self._git.path / "info" / "exclude"
        exclude.parent.mkdir(parents=True, exist_ok=True)
        with exclude.open("a", encoding="utf-8") as handle:
            handle.write(lines)

    def base_change(self) -> str:
        """What base_sha changed against its first parent, as a unified diff ("" for a root
        commit or a shallow clone without the parent): the red commit's own change, which
        names the file that broke even when no traceback enters it."""
        parent = self._base_parent()
        return "" if parent is None else self._diff(parent, self.base_sha)

    def base_changed_paths(self) -> list[str]:
        """The paths base_sha changed against its first parent (a rename as both its paths;
        none for a root commit or a shallow clone without the parent)."""
        parent = self._base_parent()
        if parent is None:
            return []
        out = run(self._git, "diff", "--name-only", "-z", "--no-renames", parent, self.base_sha)
        return [path for path in out.split("\0") if path]

    def _base_parent(self) -> str | None:
        status, _, _ = execute(self._git, ["rev-parse", "--verify", "-q", f"{self.base_sha}^1"])
        return f"{self.base_sha}^1" if status == 0 else None

    def base_file(self, path: str) -> bytes | None:
        """The bytes of `path` (relative to the top) at base_sha; None when it is not a file there."""
        found = self.file_in(self.base_sha, path)
        return None if found is None else found[2]

    def tree_with(self, patch: str) -> str:
        """The tree of base_sha with the unified diff `patch` (from `total_diff`) applied, built
        in an index of its own: the work tree is neither read nor written, so this costs the
        same in 500 files as in 50,000. ProposalError if it does not apply."""
        if not patch.strip():
            raise ProposalError("the patch is empty")
        path = self._git_home / "selfheal-apply.patch"
        index = {"GIT_INDEX_FILE": str(self._git_home / "selfheal-apply.index")}
        path.write_text(patch, encoding="utf-8")
        try:
            run(self._git, "read-tree", self.base_sha, extra_env=index)
            apply = ["apply", "--cached", "--whitespace=nowarn", "--", str(path)]
            run(self._git, *apply, extra_env=index)
            return run(self._git, "write-tree", extra_env=index).strip()
        except GitError as exc:
            raise ProposalError(
                f"the patch does not apply to {short_sha(self.base_sha)}: {exc}"
            ) from exc
        finally:
            path.unlink(missing_ok=True)
            Path(index["GIT_INDEX_FILE"]).unlink(missing_ok=True)

    def file_in(
        self, tree: str, path: str, limit: int | None = None
    ) -> tuple[str, int, bytes | None] | None:
        """`path` (relative to the top) in `tree` (a tree or commit of this workspace) as (git
        mode, size, bytes); the bytes are None past `limit` bytes or for what is not a blob
        (a link is one: its target). None when absent."""
        rel = PurePosixPath(path)
        if not path or rel.is_absolute() or ".." in rel.parts or "\0" in path:
            return None
        name = rel.as_posix()
        literal = {"GIT_LITERAL_PATHSPECS": "1"}
        out = run_bytes(
            self._git, "ls-tree", "--full-tree", "-l", "-z", tree, "--", name, extra_env=literal
        )
        meta, _, listed = out.rstrip(b"\0").partition(b"\t")
        if not meta or os.fsdecode(listed) != name:
            return None
        mode, kind, sha, size = meta.decode("ascii").split()
        if kind != "blob":
            return mode, 0, None
        length = int(size)
        fits = limit is None or length <= limit
        return mode, length, run_bytes(self._git, "cat-file", "blob", sha) if fits else None

    # -- the proposal -----------------------------------------------------------------

    def commit(
        self, identity: GitIdentity, message: str, *, staged: bool = False, tree: str | None = None
    ) -> str:
        """Write the whole fix as one commit on base_sha in the private git dir; its sha.

        `tree`: commit that tree (one `tree_with` built) rather than the work tree. `staged`:
        the caller staged the work tree just now (`total_diff`) and nothing has run since, so
        the tree it checked is the one committed, without a second walk of every file."""
        if tree is None:
            tree = run(self._git, "write-tree").strip() if staged else self._snapshot()
        if tree == run(self._git, "rev-parse", f"{self.base_sha}^{{tree}}").strip():
            raise ProposalError("nothing to propose: the fix changes no file")
        sha = run(
            self._git,
            "commit-tree",
            tree,
            "-p",
            self.base_sha,
            "-m",
            message,
            extra_env=identity_env(identity),
        ).strip()
        # A ref, so the commit outlives any gc until the workspace goes.
        run(self._git, "update-ref", CANDIDATE_REF, sha)
        return sha

    def tree_of(self, sha: str) -> str:
        """The tree object of commit `sha` (what a verified gate run saw)."""
        self._check_sha(sha)
        return run(self._git, "rev-parse", f"{sha}^{{tree}}").strip()

    def reset_to(self, sha: str, *, staged: bool = False) -> None:
        """Make the work tree exactly commit `sha`: nothing untracked, ignored, compiled or
        nested survives (the final gate runs on this). `staged`: as for `commit` (the index
        already holds every file)."""
        self._check_sha(sha)
        if not (staged and self._index_holds(sha) and self._restored()):
            # Every file in the index, so read-tree rewrites what differs even where its stat
            # looks unchanged. Should the agent have made the tree unstageable, the stat
            # check and clean below still get there.
            if not staged:
                with contextlib.suppress(GitError):
                    self._snapshot()
            run(self._git, "read-tree", "-u", "--reset", sha)
        # -x: ignored files and bytecode too; -ff: nested repositories too.
        self._clean("-ffdxq")
        remove_tree(self.path / ".git")
        # Only the user's generated files come back, as the user has them: whatever the
        # agent wrote into them (or any other ignored file) is gone.
        self._put_generated()
        run(self._git, "update-ref", "--no-deref", "HEAD", sha)

    def _index_holds(self, sha: str) -> bool:
        """Whether the index is exactly commit `sha`'s tree (as after `commit` staged it)."""
        tree = run(self._git, "rev-parse", f"{sha}^{{tree}}").strip()
        return run(self._git, "write-tree").strip() == tree

    def _restored(self) -> bool:
        """The work tree's files made the index's again where they differ (the litter the
        snapshot put back as HEAD has it, a write since); whether that worked."""
        try:
            return restore_differing(self._git) is not None
        except GitError:
            return False

    def publish_branch(self, sha: str, branch: str) -> str | None:
        """Point refs/heads/<branch> of the user's repository at `sha`, copying the commit's
        objects there; the commit it moved the branch from, None for a new or unmoved one."""
        self._check_sha(sha)
        user = self._user
        check_branch(user, branch)
        ref = f"refs/heads/{branch}"
        status, old, _ = execute(user.where, ["rev-parse", "--verify", "--quiet", ref])
        before = old.decode().strip() if status == 0 else None
        # The user's repo fetches from ours: hooks off (forced config), no tags, no FETCH_HEAD.
        run(
            user.where,
            "-c",
            "protocol.file.allow=always",
            "fetch",
            "--quiet",
            "--no-tags",
            "--no-write-fetch-head",
            "--no-recurse-submodules",
            str(self._git.path),
            f"+{sha}:{ref}",
        )
        now = run(user.where, "rev-parse", "--verify", ref).strip()
        if now != sha:
            raise GitError(f"branch {branch} is at {short_sha(now)}, not {short_sha(sha)}")
        return before if before not in (None, sha) else None

    def push(
        self,
        sha: str,
        branch: str,
        url: str,
        *,
        token: str | None = None,
        token_host: str | None = None,
    ) -> None:
        """Force-push exactly `sha` to refs/heads/<branch> at `url`; the token goes only over
        https to `token_host`. ProposalError with git's (redacted) words when it fails."""
        self._check_sha(sha)
        push_commit(GitDir(self._git.path), sha, branch, url, token=token, token_host=token_host)

    def _check_sha(self, sha: str) -> None:
        if not FULL_SHA.fullmatch(sha):
            raise BadInput(f"{sha!r} is not a full commit SHA")
        status, _, _ = execute(self._git, ["cat-file", "-e", f"{sha}^{{commit}}"])
        if status != 0:
            raise BadInput(f"commit {short_sha(sha)} is not in the workspace")

    def close(self) -> None:
        """Keep the work tree for the next workspace of the repository (copy mode) and remove
        the rest and the private git dir; idempotent, never raises."""
        if self._closed:
            return
        self._closed = True
        forget_work_tree(self.path)
        if self.mode == "adopt":
            # The checkout as it was (the base, its generated files), then its .git back.
            with contextlib.suppress(GitError, OSError, BadInput):
                self.reset_to(self.base_sha)
            remove_tree(self.path / ".git")  # never the user's (that is parked): the agent's
            if not unpark(self._git_home):
                return  # its .git could not go back: the dir holding it must stay
        else:
            # The tree stays for the next workspace of this repository, which checks it
            # (bot.forge.kept_trees); the rest goes. Whatever the agent and the gate left
            # that git does not track (ignored output, caches) goes now, not at the next run.
            with contextlib.suppress(GitError, OSError, BadInput):
                self._clean("-ffdxq")
            remove_tree(self.path / ".git")  # an agent's: git never lists a top-level .git
            with contextlib.suppress(OSError):
                self._work_home.chmod(0o700)
            kept_trees.keep(self._user.common_dir, self.path)
            remove_tree(self._work_home)
        remove_tree(self._git_home)


def open_workspace(repo: Path, base: str | None = None) -> Workspace:
    """See `bot.forge.workspace_open.open_workspace`: a copy, or an adopted Actions checkout."""
    from bot.forge.workspace_open import open_workspace as _open

    return _open(repo, base)
