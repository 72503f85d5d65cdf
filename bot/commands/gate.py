"""`selfheal gate`: run the gate once where the repo is, print the failure digest, exit 0/1."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from bot.commands.common import repo_root
from bot.gate.head_start import HeadStart


def gate(args: argparse.Namespace) -> int:
    repo = repo_root(args.repo)
    # The last run's steps start now, before the configuration is read and checked (pydantic
    # is most of the time to the first step); each is used only if it is exactly a step the
    # configuration gives, else ended (bot.gate.head_start).
    command = {k: v for k, v in vars(args).items() if k != "func"}
    since = time.time()  # every step's bytecode is written from here on
    head = HeadStart.begin(command, repo, Path(args.config) if args.config else None)
    try:
        return _gate(args, repo, head, since)
    finally:
        head.stop()


def _gate(args: argparse.Namespace, repo: Path, head: HeadStart, since: float) -> int:
    from bot import __version__
    from bot.bytecode import bytecode_env, drop_racy, user_cache_dir
    from bot.commands.common import check_gate_programs, config_from_args
    from bot.fix.digest import failure_digest
    from bot.gate.evidence import gate_sentence
    from bot.gate.runner import run_gate
    from bot.gate.steps import detection_notes, resolve_gate
    from bot.proc import scrubbed_env
    from bot.progress import commands_paused, loop_progress, on_actions
    from bot.render.console import summary_lines, terminal_text
    from bot.report import Report, Status, now

    if head.started:  # the steps run already: what their reading needs is built meanwhile
        from bot.report import build_models

        build_models()
    config = config_from_args(args, repo)
    check_gate_programs(config, repo)
    report_dir = None
    if args.report_dir:  # checked before the gate runs, made only once there is a report
        from bot.artifacts import report_dir_for

        report_dir = report_dir_for(repo, Path(args.report_dir))
    steps = resolve_gate(config.gate, repo)
    started, clock = now(), time.monotonic()
    # Bytecode in the user's own cache, outside the checkout and warm from run to run.
    env = bytecode_env(scrubbed_env(allow=config.env_allow), user_cache_dir() / "gate", repo)
    # Each step's end on stderr; under Actions its output too, on stdout unless that is JSON.
    try:
        with loop_progress(out=sys.stderr if args.json else None).shown():
            result = run_gate(steps, repo, label="gate", env=env, head_start=head)
    finally:  # the cache outlives the run: no pyc in it may serve a later same-second edit
        drop_racy(env, repo, since)
    head.remember()
    report = Report(
        tool_version=__version__,
        mode="gate",
        status=Status.GREEN if result.green else Status.GAVE_UP,
        detail=gate_sentence(result),  # an unverified step says why, plainly
        repo=str(repo),
        base_sha="",
        started_at=started,
        finished_at=now(),
        gate_before=result,
        failures=result.failures,
        timings={"total": round(time.monotonic() - clock, 3)},
        gate_detected=detection_notes(repo) if config.gate is None else [],
    )
    if report_dir is not None:
        from bot.artifacts import write_artifacts  # Markdown rendering only when asked

        report = write_artifacts(report_dir, report, None)
    if args.json:
        print(report.model_dump_json(indent=2))
    else:
        with commands_paused(on_actions()):  # the digest quotes the project's output
            print("\n".join(summary_lines(report)))
            if result.failures:
                print()
                print(terminal_text(failure_digest(result.failures, config.digest_tokens)))
    return 0 if result.green else 1
