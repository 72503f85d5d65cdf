"""The field corpus: each project's sdist fetched once (pinned, hash-checked), unpacked into a
git repo with a bare origin, and given its own venv with pytest and what its tests need.

    python bench/field/corpus.py [NAME ...]     # set up (cached: a second run is instant)

Everything lives under $SELFHEAL_FIELD_CACHE (default ~/.cache/selfheal-field), never in
the repository: sdists/ (the downloads), work/NAME/{repo,origin.git,venv}.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bot import toml  # after the path to selfheal is set

HERE = Path(__file__).resolve().parent
MANIFEST = HERE / "corpus.toml"
PYTHON = os.environ.get("SELFHEAL_FIELD_PYTHON", sys.executable)
_BASE_DEPS = ("pytest",)
GIT_ENV = {
    "GIT_AUTHOR_NAME": "field",
    "GIT_AUTHOR_EMAIL": "field@example.com",
    "GIT_COMMITTER_NAME": "field",
    "GIT_COMMITTER_EMAIL": "field@example.com",
    "GIT_CONFIG_NOSYSTEM": "1",
}


@dataclass(frozen=True)
class Project:
    name: str
    version: str
    sdist: str
    sha256: str
    deps: tuple[str, ...]
    features: str
    mutate: tuple[str, ...]
    own: str
    known: str = ""
    install: bool = True


@dataclass(frozen=True)
class Site:
    """One project set up: its repo, the bare origin, the venv."""

    project: Project
    root: Path
    setup_s: float = 0.0
    problems: list[str] = field(default_factory=list)

    @property
    def repo(self) -> Path:
        return self.root / "repo"

    @property
    def venv_bin(self) -> Path:
        return self.root / "venv" / "bin"


def cache_dir() -> Path:
    chosen = os.environ.get("SELFHEAL_FIELD_CACHE")
    return Path(chosen) if chosen else Path.home() / ".cache" / "selfheal-field"


def load(manifest: Path = MANIFEST) -> list[Project]:
    data = toml.loads(manifest.read_text(encoding="utf-8"))
    own = data.get("defaults", {}).get("own", "python -m pytest -q")
    return [
        Project(
            name=p["name"],
            version=p["version"],
            sdist=p["sdist"],
            sha256=p["sha256"],
            deps=tuple(p.get("deps", ())),
            features=p.get("features", ""),
            mutate=tuple(p.get("mutate", ())),
            own=p.get("own", own),
            known=p.get("known", ""),
            install=p.get("install", True),
        )
        for p in data["project"]
    ]


def _run(
    argv: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 900
) -> str:
    done = subprocess.run(
        argv,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **GIT_ENV, **(env or {})},
        check=False,
    )
    if done.returncode != 0:
        tail = (done.stdout + done.stderr).strip().splitlines()[-3:]
        raise RuntimeError(f"{' '.join(argv[:4])}... exited {done.returncode}: {' | '.join(tail)}")
    return done.stdout


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fetch(project: Project, cache: Path) -> Path:
    """The sdist, downloaded once with pip and checked against the manifest's hash."""
    sdists = cache / "sdists"
    sdists.mkdir(parents=True, exist_ok=True)
    path = sdists / project.sdist
    if not path.is_file():
        download = ["download", "--quiet", "--no-deps", "--no-binary", project.name]
        _run(
            [
                PYTHON,
                "-m",
                "pip",
                *download,
                "-d",
                str(sdists),
                f"{project.name}=={project.version}",
            ],
            sdists,
        )
    if not path.is_file():
        raise RuntimeError(f"pip did not download {project.sdist}")
    if _sha256(path) != project.sha256:
        raise RuntimeError(f"{project.sdist}: sha256 differs from the manifest")
    return path


@contextlib.contextmanager
def holding(project: Project, cache: Path | None = None) -> Iterator[None]:
    """The project's work dir to ourselves: a benchmark and the test slice may share it."""
    root = (cache or cache_dir()) / "work"
    root.mkdir(parents=True, exist_ok=True)
    with (root / f"{project.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def cached(project: Project, cache: Path | None = None) -> bool:
    """The project's sdist is in the cache (nothing to download)."""
    return ((cache or cache_dir()) / "sdists" / project.sdist).is_file()


# Bumped when the way a repo is made changes: repos are made again, venvs are kept.
LAYOUT = "3"


def setup(project: Project, cache: Path | None = None) -> Site:
    """The project unpacked, committed (with an origin), and its venv ready; cached by stamps."""
    cache = cache or cache_dir()
    root = cache / "work" / project.name
    stamp = root / "ready"
    wanted = f"{project.sha256} {LAYOUT}"
    venv_stamp = root / "venv-ready"
    wanted_venv = f"{project.sha256} {sorted(project.deps)}"
    if stamp.is_file() and stamp.read_text() == wanted:
        if not (venv_stamp.is_file() and venv_stamp.read_text() == wanted_venv):
            _venv(project, root)  # the deps list changed: pip adds what is missing
            _run(["git", "checkout", "--", "."], root / "repo")
            venv_stamp.write_text(wanted_venv)
        _clean(root / "repo")
        return Site(project, root)
    sdist = fetch(project, cache)
    root.mkdir(parents=True, exist_ok=True)
    for made in ("repo", "origin.git", "unpacked"):
        shutil.rmtree(root / made, ignore_errors=True)
    with tarfile.open(sdist) as tar:
        tar.extractall(root / "unpacked", filter="data")
    (top,) = list((root / "unpacked").iterdir())
    top.rename(root / "repo")
    (root / "unpacked").rmdir()
    repo = root / "repo"
    # The release is what the sdist ships, generated files (_version.py) included, so a
    # clean checkout of it imports as the project's CI's does after its install step.
    ignore = repo / ".gitignore"
    kept = ignore.read_text() if ignore.is_file() else ""
    # What every real checkout ignores and an sdist does not ship a .gitignore for.
    extra = "*.egg-info/\n__pycache__/\n.pytest_cache/\n.hypothesis/\n.selfheal/\n"
    extra += ".coverage\n.coverage.*\nhtmlcov/\n.ruff_cache/\n"
    ignore.write_text(kept + ("\n" if kept and not kept.endswith("\n") else "") + extra)
    _run(["git", "init", "-q", "-b", "main"], repo)
    _run(["git", "add", "-A", "--force", "--", ".", ":!*.egg-info", ":!**/__pycache__"], repo)
    _run(["git", "commit", "-q", "-m", f"{project.name} {project.version}"], repo)
    _run(["git", "tag", "release"], repo)
    _run(["git", "init", "-q", "--bare", str(root / "origin.git")], root)
    _run(["git", "remote", "add", "origin", str(root / "origin.git")], repo)
    _run(["git", "push", "-q", "origin", "main", "--tags"], repo)
    if not (venv_stamp.is_file() and venv_stamp.read_text() == wanted_venv):
        _venv(project, root)  # pip leaves what is already there: a changed deps list is quick
        venv_stamp.write_text(wanted_venv)
    else:
        _editable(project, root)
    # An install step may rewrite shipped files (a version file): the release stays as shipped.
    _run(["git", "checkout", "--", "."], repo)
    stamp.write_text(wanted)
    return Site(project, root)


def _clean(repo: Path) -> None:
    """The release checked out and nothing else: a run cut short may have left a red build."""
    _run(["git", "checkout", "-q", "-f", "main"], repo)
    _run(["git", "clean", "-q", "-f", "-d"], repo)
    listed = _run(["git", "for-each-ref", "--format=%(refname:short)", "refs/heads/"], repo)
    for branch in listed.split():
        if branch != "main":
            _run(["git", "branch", "-q", "-D", branch], repo)


def _venv(project: Project, root: Path) -> None:
    venv = root / "venv"
    if not (venv / "bin" / "python").is_file():
        _run([PYTHON, "-m", "venv", str(venv)], root)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    _run([*pip, *_BASE_DEPS, *project.deps], root)
    _editable(project, root)


def _editable(project: Project, root: Path) -> None:
    if not project.install:
        return
    repo = root / "repo"
    pip = [str(root / "venv" / "bin" / "python"), "-m", "pip", "install", "--quiet", "--no-deps"]
    # Editable, as a developer's checkout is: the project's own test command sees edits.
    _run([*pip, "-e", str(repo)], repo, env={"SETUPTOOLS_SCM_PRETEND_VERSION": project.version})


def own_env(site: Site) -> dict[str, str]:
    """The environment the project's own commands (and the gate) run with: its venv first."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHON"))}
    env["PATH"] = f"{site.venv_bin}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(site.venv_bin.parent)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def main(argv: list[str]) -> int:
    projects = [p for p in load() if not argv or p.name in argv]
    failed = 0
    for project in projects:
        try:
            site = setup(project)
            print(f"ready  {project.name} {project.version}  {site.repo}", flush=True)
        except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
            failed += 1
            print(f"FAILED {project.name} {project.version}: {exc}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
