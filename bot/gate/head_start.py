"""`selfheal gate`'s steps started before the configuration is read, then checked against it.

Reading and validating the configuration (pydantic) and building the steps takes longer than
a small project's lint. So `selfheal gate` keeps, in the user's own cache (where its bytecode
already is, see bot.bytecode), what its last run with the same command line in the same
place started: each step's argv, cwd and environment, and the files of that run's scratch
dir they read (selfheal's pytest plugin). The next run starts those processes at once, then
reads the configuration as always and prepares the steps from it in a scratch dir of its
own. A process started ahead is taken for a step only when the step is exactly it: the whole
list of steps started at once, each argv, cwd and environment variable, and each scratch file
byte for byte (paths in the two scratch dirs read alike). Otherwise every process started
ahead is ended (its whole process group) and the steps start as they always did; the run
remembers the steps it did start for the next one.

Nothing in a record is trusted, as nothing in the cache is: any process of the user's could
have written it. Checked before anything starts: the record is a file of ours in a dir of
ours open to no one else, well formed and small, and the top of the repository and the
configuration file look as they did (a changed configuration starts nothing stale). A record
holds no value of the environment selfheal was given: a variable the step inherits is named,
and its value taken from the environment now. A record that names a secret-looking variable
(bot.secrets) starts nothing, and none is written for a configuration that lets one through
(`env_allow`). So a process started ahead sees no secret, and selfheal is already
non-dumpable when it starts (bot.signals.guarded_process): whatever wrote a bad record could
already run code as this user without secrets, and the result is never its doing.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import stat
import sys
import tempfile
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import NamedTuple

from bot import __version__
from bot.bytecode import forget, user_cache_dir
from bot.proc import Started, abandon, start
from bot.secrets import is_secret_name, secret_values

FORMAT = 1
SCRATCH = "\0scratch\0"  # the scratch dir's path in a record: no argv or variable holds NUL
MAX_RECORD_BYTES = 1 << 20
MAX_LAUNCHES = 32
MAX_FILES = 64
MAX_RECORDS = 64  # the least recently written go first


def records_dir_path() -> Path:
    """Where the records are (checked by `_records_dir`)."""
    return user_cache_dir() / "gate" / "head-start"


# NamedTuples, not dataclasses: see bot.proc.ProcessResult.
class Launch(NamedTuple):
    """A process as `bot.proc` starts it: the same three start the same process."""

    argv: tuple[str, ...]
    cwd: str
    env: tuple[tuple[str, str], ...]  # sorted

    @classmethod
    def of(cls, argv: Sequence[str], cwd: Path, env: Mapping[str, str]) -> Launch:
        return cls(tuple(str(a) for a in argv), str(cwd), tuple(sorted(env.items())))

    def written(self, scratch: Path) -> Launch:
        """The same with the scratch dir's path written as SCRATCH (and back, `read`)."""
        return self._replaced(str(scratch), SCRATCH)

    def read(self, scratch: Path) -> Launch:
        return self._replaced(SCRATCH, str(scratch))

    def _replaced(self, old: str, new: str) -> Launch:
        return Launch(
            tuple(a.replace(old, new) for a in self.argv),
            self.cwd,
            tuple((k, v.replace(old, new)) for k, v in self.env),
        )


class _Plan(NamedTuple):
    """What a record says to start: launches (scratch as SCRATCH) and the scratch files."""

    launches: tuple[Launch, ...]
    files: tuple[tuple[str, bytes], ...]  # sorted by path


class HeadStart:
    """One `selfheal gate` run's head start: `begin`, then `take` (or `stop`) and `remember`."""

    def __init__(self, record: Path | None, inputs: str) -> None:
        self._record, self._inputs = record, inputs
        self.scratch: Path | None = None  # the started processes' scratch dir
        self._plan: _Plan | None = None
        self.started: list[Started] = []
        self._seen: _Plan | None = None  # what this run's steps were, for the next run
        self.taken = False

    @classmethod
    def begin(cls, command: Mapping[str, object], repo: Path, config: Path | None) -> HeadStart:
        """Start what the last run of `command` (the parsed command line) in this place
        started, if its record holds; never raises."""
        try:
            key = json.dumps(
                [FORMAT, __version__, sys.executable, str(Path.cwd()), str(repo), dict(command)],
                sort_keys=True,
                default=str,
            )
            # A name from the key; the record holds the whole key too, so two keys that
            # share a name only replace each other's record.
            raw = key.encode()
            name = f"{zlib.crc32(raw):08x}{zlib.adler32(raw):08x}.json"
            head = cls(records_dir_path() / name, f"{key}\n{_inputs(repo, config)}")
        except (OSError, ValueError):
            return cls(None, "")
        head._start()
        return head

    def _start(self) -> None:
        if self._record is None or _records_dir(create=False) is None:
            return
        plan = _read_record(self._record, self._inputs)
        if plan is None:
            return
        self._plan = plan
        try:
            self.scratch = Path(tempfile.mkdtemp(prefix="selfheal-gate-"))
            for name, data in plan.files:
                path = self.scratch / name
                path.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
                with os.fdopen(fd, "wb") as out:
                    out.write(data)
        except OSError:
            self.stop()
            return
        for launch in plan.launches:
            real = launch.read(self.scratch)
            began = start(real.argv, Path(real.cwd), dict(real.env))
            if began is None:
                self.stop()
                return
            self.started.append(began)

    def take(self, launches: Sequence[Launch], scratch: Path) -> Path | None:
        """The validated run's steps, prepared in `scratch`, in the order they start: the
        head start's scratch dir when its processes are exactly these (use it, and
        `started`, in that order), else None (every one of them is ended)."""
        files = _files_of(scratch)
        self._seen = (
            _Plan(tuple(launch.written(scratch) for launch in launches), files)
            if files is not None
            else None
        )
        if self.started and self._plan is not None and self._seen == self._plan:
            return self.scratch
        self.stop()
        return None

    def adopt(self, launches: Sequence[Launch]) -> list[Started] | None:
        """The processes started ahead, one for each of `launches` (the steps prepared
        again in `take`'s dir) when each is exactly it; else None, and they are ended."""
        plan, scratch = self._plan, self.scratch
        expected = [] if plan is None or scratch is None else plan.launches
        if self.started and scratch and list(launches) == [x.read(scratch) for x in expected]:
            self.taken = True
            return self.started
        self.stop()
        return None

    def stop(self) -> None:
        """End every process started ahead that is still running (none a step took, once
        the gate is done), and their scratch dir."""
        for began in self.started:
            if began.proc.poll() is None:
                abandon(began)
        if not self.taken:
            self.started = []
        if self.scratch is not None:
            shutil.rmtree(self.scratch, ignore_errors=True)
            for launch in self._plan.launches if self._plan is not None else ():
                forget(dict(launch.env), self.scratch)  # what its processes compiled there
            self.scratch = None

    def remember(self) -> None:
        """Keep what this run's steps were for the next run of the same command here, unless
        they were what was started ahead (the record holds) or one sees a secret."""
        if self.taken or self._seen is None or self._record is None:
            return
        written = _record_text(self._seen, self._inputs)
        if written is None:
            return
        with contextlib.suppress(OSError):
            folder = _records_dir(create=True)
            if folder is None or folder != self._record.parent:
                return
            fd, tmp = tempfile.mkstemp(dir=folder, prefix=".record-")
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(written)
            Path(tmp).replace(self._record)
            _evict(folder)


def _records_dir(*, create: bool) -> Path | None:
    """The dir of records: ours, a real dir, open to no one else; None when it is not."""
    folder = records_dir_path()
    if create:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        info = folder.lstat()
    except OSError:
        return None
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        return None
    return folder


def _inputs(repo: Path, config: Path | None) -> str:
    """What the steps are read from: the configuration file, and each file at
    the top of the repository (pyproject.toml, setup.cfg, ruff.toml, ...) and which dirs are
    there (src/, tests/): not a dir's times, which change as anything in it comes and goes."""
    seen = [_stat_line(str(config or repo / ".github" / "selfheal.yml"), None)]
    with os.scandir(repo) as entries:
        seen += [_stat_line(entry.name, entry) for entry in entries]
    return json.dumps(sorted(seen))


def _stat_line(name: str, entry: os.DirEntry[str] | None) -> list[object]:
    try:
        info = entry.stat(follow_symlinks=False) if entry is not None else Path(name).stat()
    except OSError:
        return [name, "absent"]
    if stat.S_ISDIR(info.st_mode):
        return [name, "dir"]
    return [name, info.st_mode, info.st_size, info.st_mtime_ns, info.st_ino]


def _files_of(scratch: Path) -> tuple[tuple[str, bytes], ...] | None:
    """Every file under `scratch` with its bytes; None when it holds anything but plain
    files and dirs, or too much."""
    files: list[tuple[str, bytes]] = []
    for root, dirs, names in os.walk(scratch):
        for name in dirs + names:
            path = Path(root, name)
            mode = path.lstat().st_mode
            if stat.S_ISDIR(mode):
                continue
            if not stat.S_ISREG(mode) or len(files) >= MAX_FILES:
                return None
            files.append((path.relative_to(scratch).as_posix(), path.read_bytes()))
    if sum(len(data) for _, data in files) > MAX_RECORD_BYTES // 2:
        return None
    return tuple(sorted(files))


def _record_text(plan: _Plan, inputs: str) -> str | None:
    """The record of `plan`: variables whose value is the environment's by name only. None
    when a variable is secret-looking, a value holds a secret, or a file is not text."""
    secrets = secret_values()
    launches = []
    for launch in plan.launches:
        inherit, own = [], {}
        for name, value in launch.env:
            if is_secret_name(name) or any(s in value for s in secrets):
                return None
            if os.environ.get(name) == value:
                inherit.append(name)
            else:
                own[name] = value
        if any(s in arg for arg in launch.argv for s in secrets):
            return None
        launches.append(
            {"argv": list(launch.argv), "cwd": launch.cwd, "inherit": inherit, "set": own}
        )
    try:
        files = {name: data.decode("utf-8") for name, data in plan.files}
    except UnicodeDecodeError:
        return None
    record = {"format": FORMAT, "inputs": inputs, "launches": launches, "files": files}
    return json.dumps(record, indent=1)


def _read_record(path: Path, inputs: str) -> _Plan | None:
    """The plan a record holds, if it is ours, well formed, for these inputs and sees no
    secret; else None."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode) or info.st_uid != os.getuid():
            return None
        raw = handle.read(MAX_RECORD_BYTES + 1)
    if len(raw) > MAX_RECORD_BYTES:
        return None
    try:
        record = json.loads(raw)
        return _plan_of(record, inputs)
    except (ValueError, TypeError, KeyError, AttributeError):
        return None


def _plan_of(record: dict[str, object], inputs: str) -> _Plan | None:
    if record["format"] != FORMAT or record["inputs"] != inputs:
        return None
    raw_launches, raw_files = record["launches"], record["files"]
    if not isinstance(raw_launches, list) or not isinstance(raw_files, dict):
        return None
    if not 0 < len(raw_launches) <= MAX_LAUNCHES or len(raw_files) > MAX_FILES:
        return None
    launches = []
    for item in raw_launches:
        argv, cwd, inherit, own = item["argv"], item["cwd"], item["inherit"], item["set"]
        if not (_strings(argv) and argv and isinstance(cwd, str) and _strings(inherit)):
            return None
        if not isinstance(own, dict) or not _strings(list(own.values())):
            return None
        env = {name: os.environ[name] for name in inherit if name in os.environ}
        if len(env) < len(inherit):
            return None  # the environment is not what it was: the check would fail anyway
        env.update(own)
        if any(is_secret_name(str(name)) for name in env) or not Path(cwd).is_dir():
            return None
        launches.append(Launch(tuple(argv), cwd, tuple(sorted(env.items()))))
    files = []
    for name, text in raw_files.items():
        rel = PurePosixPath(name)
        if not isinstance(text, str) or rel.is_absolute() or ".." in rel.parts or "\0" in name:
            return None
        if not rel.parts or rel.as_posix() != name:
            return None
        files.append((name, text.encode("utf-8")))
    return _Plan(tuple(launches), tuple(sorted(files)))


def _strings(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _evict(folder: Path) -> None:
    records = sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime_ns)
    for old in records[:-MAX_RECORDS]:
        old.unlink(missing_ok=True)
