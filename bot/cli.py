"""`selfheal`: parse the command line and dispatch; one handler maps errors to exit codes."""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Callable, Sequence

from bot import __version__
from bot.agent.presets import PRESETS, preset_names
from bot.errors import EXIT_INTERNAL, EXIT_INTERRUPTED, SelfhealError

EPILOG = """exit codes: 0 done (healed, proposed, or nothing to do), 1 could not heal (gave up,
refused by a guard), 2 bad input or configuration, 3 internal error, 130 interrupted.
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


def _common(parser: argparse.ArgumentParser) -> None:
    _repo_options(parser, "the git checkout to work on (default: the current directory)")
    parser.add_argument(
        "--report-dir",
        metavar="DIR",
        help="where report.json, report.md, fix.patch and transcript.jsonl go (default: .selfheal/ in the repo)",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print the report as JSON on stdout (the summary goes to stderr)",
    )


def _loop_options(parser: argparse.ArgumentParser) -> None:
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


def _lazy(module: str, name: str) -> Callable[[argparse.Namespace], int]:
    """Import a subcommand only when it runs, so `selfheal gate` pays for nothing else."""

    def run(args: argparse.Namespace) -> int:
        from importlib import import_module

        func: Callable[[argparse.Namespace], int] = getattr(
            import_module(f"bot.commands.{module}"), name
        )
        return func(args)

    return run


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="selfheal",
        description="Reproduce a failing gate (ruff, pytest, any command), repair it in a bounded loop, "
        "prove it green, and propose the fix as a branch with a report. Never merges.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"selfheal {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser(
        "heal",
        help="heal the failing gate of a local checkout",
        epilog=EPILOG,
        formatter_class=_HelpFormatter,
    )
    _loop_options(p)
    p.set_defaults(func=_lazy("loop", "heal"))

    p = sub.add_parser(
        "implement",
        help="implement an issue described in a file, behind the gate",
        epilog=EPILOG,
        formatter_class=_HelpFormatter,
    )
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

    p = sub.add_parser(
        "gate", help="run the gate once, print the failure digest, exit 0 (green) or 1"
    )
    _common(p)
    p.set_defaults(func=_lazy("gate", "gate"))

    p = sub.add_parser(
        "run",
        help="the GitHub Actions entry point: read the event and decide the job (--dry-run only)",
        epilog=EPILOG,
        formatter_class=_HelpFormatter,
    )
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="print the decision (job: implement, heal or skip, and why) as JSON, from the event "
        "payload and the configuration alone, with no network call",
    )
    p.add_argument(
        "--event-name", metavar="NAME", help="the event's name (default: $GITHUB_EVENT_NAME)"
    )
    p.add_argument(
        "--event-path",
        metavar="FILE",
        help="the event's JSON payload (default: $GITHUB_EVENT_PATH)",
    )
    _repo_options(p, "the checkout whose configuration applies (default: the current directory)")
    p.set_defaults(func=_lazy("run", "run"))

    p = sub.add_parser("report", help="render a stored report.json again (Markdown on stdout)")
    p.add_argument("report_json", metavar="REPORT_JSON")
    p.add_argument(
        "--json", action="store_true", help="print the validated JSON instead of Markdown"
    )
    p.set_defaults(func=_lazy("show", "show"))

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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except SelfhealError as exc:
        print(f"selfheal: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("selfheal: interrupted; the working tree is as it was", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception:  # noqa: BLE001 - the one place that turns a crash into exit code 3
        traceback.print_exc()
        print(
            "selfheal: internal error (a bug in selfheal); the report directory has what was done",
            file=sys.stderr,
        )
        return EXIT_INTERNAL
