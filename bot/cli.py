"""`selfheal`: parse the command line and dispatch; one handler maps errors to exit codes."""

from __future__ import annotations

import argparse
import atexit
import contextlib
import gc
import os
import sys
import threading
from collections.abc import Callable, Sequence

from bot import __version__
from bot.errors import EXIT_INTERNAL, EXIT_INTERRUPTED, SelfhealError

EPILOG = """exit codes: 0 done (healed, proposed, or nothing to do), 1 could not heal (gave up,
refused by a guard), 2 bad input or configuration, 3 internal error, 130/143/129
interrupted by SIGINT/SIGTERM/SIGHUP.
Configuration: defaults < .github/selfheal.yml (or --config) < SELFHEAL_* variables < flags."""


class _HelpFormatter(argparse.HelpFormatter):
    """Wraps like argparse does, but never inside a word like --no-auto-commits."""

    def _split_lines(self, text: str, width: int) -> list[str]:
        import textwrap

        return textwrap.wrap(" ".join(text.split()), width, break_on_hyphens=False)


def _repo_options(parser: argparse.ArgumentParser, repo_help: str) -> None:
    parser.add_argument("--repo", metavar="PATH", help=repo_help)
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="configuration file (default: .github/selfheal.yml in the repo)",
    )


_LOOP_REPORT_HELP = (
    "where report.json, report.md, fix.patch and transcript.jsonl go (default: .selfheal/ in "
    "the repo)"
)
_GATE_REPORT_HELP = "write report.json and report.md there (default: no files, only the output)"


def _common(parser: argparse.ArgumentParser, report_help: str = _LOOP_REPORT_HELP) -> None:
    _repo_options(parser, "the git checkout to work on (default: the current directory)")
    parser.add_argument("--report-dir", metavar="DIR", help=report_help)
    parser.add_argument(
        "--json",
        action="store_true",
        help="print the report as JSON on stdout (the summary goes to stderr)",
    )


def _loop_options(parser: argparse.ArgumentParser) -> None:
    from bot.agent.presets import PRESETS, preset_names

    _common(parser)
    parser.add_argument(
        "--max-attempts", type=int, metavar="N", help="attempts before giving up (default 3)"
    )
    parser.add_argument(
        "--agent",
        choices=["auto", "none", "command", "claude"],
        help="who fixes what ruff cannot: claude (the Messages API; needs ANTHROPIC_API_KEY), "
        "command (any CLI agent), none (ruff's fixers only); default auto: claude when "
        "ANTHROPIC_API_KEY is set, else none",
    )
    parser.add_argument(
        "--model", metavar="ID", help="Claude model id (default: the current Sonnet model)"
    )
    parser.add_argument(
        "--agent-command",
        metavar="'CMD {prompt_file}'",
        help="the command agent to run in the worktree; {prompt_file} becomes the prompt's path, else the prompt is on stdin",
    )
    parser.add_argument(
        "--agent-preset",
        metavar="NAME",
        choices=preset_names(),
        help="run a popular CLI agent as the command agent (implies --agent command; not with "
        "--agent-command); its API key is passed to it alone, never to the gate. "
        + " ".join(f"{n}: `{PRESETS[n].command}`." for n in preset_names()),
    )
    parser.add_argument(
        "--no-push",
        action="store_true",
        help="create the branch locally but do not push it to origin",
    )


_LOOP_OUTPUTS = (
    "status, pr-url, branch, attempts, report-path, needs-gpu, job, reason, cost-usd, "
    "input-tokens, output-tokens"
)


def actions_epilog(outputs: str) -> str:
    """The shared epilog, with the GITHUB_OUTPUT names this stage really writes."""
    return (
        EPILOG
        + f"""
Reads GITHUB_EVENT_NAME, GITHUB_EVENT_PATH, GITHUB_REPOSITORY, GITHUB_API_URL and GITHUB_TOKEN;
writes GITHUB_OUTPUT ({outputs}) and GITHUB_STEP_SUMMARY when set. An event it does not act on,
or a refusal (no write permission, fork, bot, closed, selfheal:off, max_runs), ends with exit 0
and the reason."""
    )


ACTIONS_EPILOG = actions_epilog(_LOOP_OUTPUTS)


def _event_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--event-name", metavar="NAME", help="the event's name (default: $GITHUB_EVENT_NAME)"
    )
    parser.add_argument(
        "--event-path",
        metavar="FILE",
        help="the event's JSON payload (default: $GITHUB_EVENT_PATH)",
    )


def _actions_options(parser: argparse.ArgumentParser, *, loop: bool = True) -> None:
    """The options of the Actions stages; only those that run the fix loop (run, work) take
    the loop's options (attempts, agent, model)."""
    _repo_options(
        parser, "the checkout to work on (default: $GITHUB_WORKSPACE, else the current directory)"
    )
    _event_options(parser)
    parser.add_argument(
        "--mode",
        choices=["auto", "heal", "implement"],
        default="auto",
        help="act only on events that ask for this job (default auto: whatever the event asks)",
    )
    parser.add_argument(
        "--bundle",
        metavar="DIR",
        help="the proposal bundle and report directory (default: $RUNNER_TEMP/selfheal-bundle, "
        "else .selfheal/ in the repo)",
    )
    if not loop:
        return
    parser.add_argument("--max-attempts", type=int, metavar="N", help="attempts before giving up")
    parser.add_argument(
        "--agent", choices=["auto", "none", "command", "claude"], help="who fixes (see heal --help)"
    )
    parser.add_argument("--model", metavar="ID", help="the Claude model")


def _lazy(module: str, name: str) -> Callable[[argparse.Namespace], int]:
    """Import a subcommand only when it runs, so `selfheal gate` pays for nothing else."""

    def run(args: argparse.Namespace) -> int:
        from importlib import import_module

        func: Callable[[argparse.Namespace], int] = getattr(
            import_module(f"bot.commands.{module}"), name
        )
        return func(args)

    return run


def _command(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    help: str,
    epilog: str = EPILOG,
) -> argparse.ArgumentParser:
    """A subcommand with the shared epilog and a help formatter that wraps like argparse."""
    return sub.add_parser(name, help=help, epilog=epilog, formatter_class=_HelpFormatter)


_SubParsers = argparse._SubParsersAction  # what `add_subparsers` returns


def _heal(sub: _SubParsers[argparse.ArgumentParser]) -> None:
    p = _command(sub, "heal", "heal the failing gate of a local checkout")
    _loop_options(p)
    p.add_argument(
        "--tests",
        nargs="+",
        metavar="ID",
        help="the pytest node ids known to fail (e.g. from the CI log): reproduce with these "
        "alone, then run the whole gate once on the fix; if they don't fail here, the whole "
        "gate reproduces. Without it: those the failed CI run's log names (on GitHub), else "
        "those pytest's last run in the checkout failed (.pytest_cache), else the test files "
        "of what the commit changed (a guess, taken only if they fail)",
    )
    p.set_defaults(func=_lazy("loop", "heal"))


def _implement(sub: _SubParsers[argparse.ArgumentParser]) -> None:
    p = _command(sub, "implement", "implement an issue described in a file, behind the gate")
    _loop_options(p)
    p.add_argument(
        "--issue-file",
        required=True,
        metavar="FILE",
        help="the issue: JSON (number, title, body) or Markdown ('# title' then body)",
    )
    p.add_argument(
        "--issue-number",
        type=int,
        metavar="N",
        help="issue number for the branch name and 'Fixes #N'",
    )
    p.set_defaults(func=_lazy("loop", "implement"))


def _gate(sub: _SubParsers[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "gate", help="run the gate once, print the failure digest, exit 0 (green) or 1"
    )
    _common(p, _GATE_REPORT_HELP)
    p.set_defaults(func=_lazy("gate", "gate"))


def _run(sub: _SubParsers[argparse.ArgumentParser]) -> None:
    p = _command(
        sub,
        "run",
        "the GitHub Actions entry point: read the event, decide the job, heal or implement "
        "it, and propose the result (work, then propose, in one process)",
        epilog=ACTIONS_EPILOG,
    )
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="only print the decision (job: implement, heal or skip, and why) as JSON, from the "
        "event payload and the configuration alone, with no network call",
    )
    _actions_options(p)
    p.set_defaults(func=_lazy("run", "run"))


_STAGES = {
    "ack": "Actions, before the work: decide, check access, put an eyes reaction on the "
    "comment or issue and a 'working on it' sticky comment with the run's link; runs no "
    "project code",
    "work": "Actions, stage 1 of 2: decide and run the loop without a write token; write a "
    "proposal bundle (patch, report, meta) for `selfheal propose`",
    "propose": "Actions, stage 2 of 2: re-decide, re-check the bundle's patch against the "
    "guards, push it and open or update the pull request; runs no project code",
    "stopped": "Actions, when the work or propose job died before its report: replace the "
    "'working on it' comment with a line saying selfheal stopped, and why; runs no "
    "project code",
}
_STAGE_OUTPUTS = {
    "ack": "job, sha, status, comment-id",
    "work": _LOOP_OUTPUTS,
    "propose": _LOOP_OUTPUTS,
    "stopped": "status",
}


def _stage(stage: str) -> Callable[[_SubParsers[argparse.ArgumentParser]], None]:
    def add(sub: _SubParsers[argparse.ArgumentParser]) -> None:
        p = _command(sub, stage, _STAGES[stage], epilog=actions_epilog(_STAGE_OUTPUTS[stage]))
        _actions_options(p, loop=stage == "work")
        if stage == "stopped":
            p.add_argument(
                "--why",
                required=True,
                help="what stopped the run, for the comment (e.g. 'the work job failed')",
            )
        p.set_defaults(func=_lazy("run", stage))

    return add


def _route(sub: _SubParsers[argparse.ArgumentParser]) -> None:
    p = _command(
        sub,
        "route",
        "for a failed workflow run: which runner the heal job needs (JSON for runs-on: a "
        "self-hosted GPU runner when a failed job ran on one, else ubuntu-latest)",
        epilog=actions_epilog("runs-on, gpu, job"),
    )
    _repo_options(p, "the checkout whose configuration applies (default: $GITHUB_WORKSPACE)")
    _event_options(p)
    p.add_argument(
        "--jobs-file",
        metavar="FILE",
        help="a recorded 'list jobs for a workflow run' API response to read instead of the API",
    )
    p.set_defaults(func=_lazy("route", "route"))


def _report(sub: _SubParsers[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("report", help="render a stored report.json again (Markdown on stdout)")
    p.add_argument("report_json", metavar="REPORT_JSON")
    p.add_argument(
        "--json", action="store_true", help="print the validated JSON instead of Markdown"
    )
    p.set_defaults(func=_lazy("show", "show"))


def _demo(sub: _SubParsers[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "demo", help="copy a bundled broken repo to a temp dir and heal it end to end"
    )
    p.add_argument(
        "--dir", metavar="DIR", help="where to put the demo repo (default: a new temp dir)"
    )
    p.add_argument("--json", action="store_true", help="print the report as JSON on stdout")
    p.add_argument(
        "--live",
        action="store_true",
        help="use the real Messages API (needs ANTHROPIC_API_KEY) instead of the scripted replay",
    )
    p.set_defaults(func=_lazy("demo", "demo"))


# Each subcommand, in the order `selfheal --help` lists them.
COMMANDS: dict[str, Callable[[_SubParsers[argparse.ArgumentParser]], None]] = {
    "heal": _heal,
    "implement": _implement,
    "gate": _gate,
    "run": _run,
    **{stage: _stage(stage) for stage in _STAGES},
    "route": _route,
    "report": _report,
    "demo": _demo,
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The command line's parser. With `command`, a subcommand's name, only that subcommand
    is built: a run of `selfheal gate` builds none of the others' options (a tenth of its
    time to the first step, measured); any other command line builds them all."""
    parser = argparse.ArgumentParser(
        prog="selfheal",
        description="Reproduce a failing gate (ruff, pytest, any command), repair it in a bounded loop, "
        "prove it green, and propose the fix as a branch with a report. Never merges.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"selfheal {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, add in COMMANDS.items():
        if command is None or command == name:
            add(sub)
    return parser


def entry() -> None:
    """The `selfheal` command and `python -m bot`: `main`, then exit with its code.

    What is still alive is frozen out of the cyclic collector first: on the way out the
    interpreter would walk every object again (44 ms of a 0.5 s `selfheal gate`, measured;
    9 ms frozen). Then it ends without the interpreter's teardown of every module one by one
    (6 ms more, measured from the atexit handlers to the parent seeing the exit: 10 -> 4 ms).
    What that teardown does that anyone could see happens first, as the interpreter does
    it: threading's shutdown (every thread that is not a daemon joined, executors stopped),
    the atexit handlers, stdout and stderr flushed (output that cannot be written is said on
    stderr, and a run that succeeded exits 120, as Python's own exit would; Ctrl-C meanwhile
    exits 130 with a line, not a traceback). Every file selfheal writes is written in a
    `with` before this. Not in `main`, which tests call in-process."""
    code = main()
    shutdown = getattr(threading, "_shutdown", None)
    run_exitfuncs = getattr(atexit, "_run_exitfuncs", None)
    if shutdown is None or run_exitfuncs is None:  # not CPython 3.10-3.13's: exit as usual
        gc.freeze()
        raise SystemExit(code)
    try:
        gc.freeze()
        shutdown()
        run_exitfuncs()
    except KeyboardInterrupt:  # Ctrl-C while a thread is joined: what was done is written
        print("selfheal: interrupted while exiting", file=sys.stderr)
        code = EXIT_INTERRUPTED
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError) as exc:
            if stream is sys.stdout:
                with contextlib.suppress(OSError, ValueError):
                    print(f"selfheal: the output could not be written: {exc}", file=sys.stderr)
                code = code or 120
    os._exit(code)


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    named = argv[0] if argv and argv[0] in COMMANDS else None
    args = build_parser(named).parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    from bot.signals import Interrupted, guarded_process

    try:
        with guarded_process():
            return func(args)
    except SelfhealError as exc:
        print(f"selfheal: {_one_line(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except Interrupted as exc:
        from bot.reaper import end_descendants

        end_descendants()  # whatever left our sessions and escaped its tag: we exit now
        print(
            f"selfheal: {exc}; every process it started is ended and the working tree is as it was",
            file=sys.stderr,
        )
        return exc.exit_code
    except KeyboardInterrupt:
        print("selfheal: interrupted; the working tree is as it was", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `selfheal ... | head`: the reader left; exit as if by SIGPIPE
        sys.stderr.close()
        return 128 + 13
    except Exception:  # noqa: BLE001 - the one place that turns a crash into exit code 3
        import traceback  # only on a crash: not a cost of every start

        traceback.print_exc()
        print(
            "selfheal: internal error (a bug in selfheal); the report directory has what was done",
            file=sys.stderr,
        )
        return EXIT_INTERNAL


def _one_line(message: str) -> str:
    """A known error is one line on the console, however many its message has."""
    return " ".join(part.strip() for part in message.splitlines() if part.strip())
