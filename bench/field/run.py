"""Field trials: selfheal on real projects, zero configuration, measured.

    python bench/field/run.py [--quick] [--project NAME ...] [--per-operator N] [--no-mutations]
                              [--operator OP ...] [--resume | --table] [--agent claude|PRESET]

For each project of corpus.toml at its release: the zero-config `selfheal gate` against the
project's own test command (and its own lint, at its pinned ruff, where it configures ruff);
then mutation red builds (each checked red by the project's own command first) healed by an
oracle agent (expect healed in one attempt, a prompt naming the failing test and the file),
a no-op agent (expect gave up) and a cheating agent that skips the test (expect refused).
Prints one table and writes it to bench/field/RESULTS.md.

With --agent, the same red builds (less formatting, which ruff format heals) are healed once
each by a real agent, `selfheal heal --agent claude` or `--agent-preset NAME`, instead of the
three command agents, and the table ends with that agent's block: heal rate, attempts, tokens
and cost per heal (written to RESULTS-<agent>.md). Without the agent's key: one line, exit 2.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import corpus
import mutations
import real_agent
import store
import trial

HERE = Path(__file__).resolve().parent
QUICK = ("six", "iniconfig", "parse", "text-unidecode", "semver")


def _pct(n: int, d: int) -> str:
    return f"{100 * n / d:.0f}% ({n}/{d})" if d else "n/a"


def table(
    verdicts: dict[str, trial.Verdict],
    reds: list[trial.RedBuild],
    projects: dict[str, corpus.Project],
    elapsed: float,
) -> str:
    lines = ["## Zero-config gate vs the project's own commands", ""]
    lines += ["| project | version | own tests | own lint | selfheal gate | agree | tools | note |"]
    lines += ["|---|---|---|---|---|---|---|---|"]

    def shown(value: bool | None) -> str:
        return "-" if value is None else ("green" if value else "red")

    false_red = 0
    for name, v in verdicts.items():
        p = projects[name]
        gate = (
            "green"
            if v.gate_exit == 0
            else f"red ({', '.join(f'{k}: {s}' for k, s in v.gate.items())})"
        )
        note = p.known or v.note  # the reason written down, else what was measured
        if not v.agree and v.gate_exit != 0:
            false_red += 1
        tools = "; ".join(v.tools) or "-"
        agree = "yes" if v.agree else ("known" if p.known else "NO")
        row = f"| {name} | {p.version} | {shown(v.own_tests)} | {shown(v.own_lint)} | {gate} "
        lines.append(row + f"| {agree} | {tools} | {note} |")
    lines += ["", "## Mutation red builds", ""]
    lines += [
        "| operator | red builds | healed (oracle, 1 attempt) | gave up (no-op) | refused (cheat) | prompt named test and file | outcome correct |"
    ]
    lines += ["|---|---|---|---|---|---|---|"]
    # A red build whose failing test the release does not pass either is no fail-to-pass
    # instance (SWE-smith's check): listed below, left out of the rates.
    invalid = [r for r in reds if r.not_fail_to_pass]
    reds = [r for r in reds if not r.not_fail_to_pass]
    by_op: dict[str, list[trial.RedBuild]] = defaultdict(list)
    for red in reds:
        by_op[red.operator].append(red)
    for op in mutations.OPERATORS:
        rs = by_op.get(op, [])
        if not rs:
            continue
        healed = sum(r.correct.get("oracle", False) for r in rs)
        gave_up = sum(r.outcomes.get("noop") == "gave_up" for r in rs)
        refused = sum(r.outcomes.get("cheat") == "refused" for r in rs)
        prompted = [r for r in rs if r.prompt_file is not None]
        named = sum(bool(r.prompt_test and r.prompt_file) for r in prompted)
        correct = sum(all(r.correct.values()) for r in rs)
        extra = " (fixer)" if op == "formatting" else ""
        lines.append(
            f"| {op}{extra} | {len(rs)} | {healed} | {gave_up} | {refused} "
            f"| {_pct(named, len(prompted))} | {_pct(correct, len(rs))} |"
        )
    prompted = [r for r in reds if r.prompt_file is not None]
    named = sum(bool(r.prompt_test and r.prompt_file) for r in prompted)
    correct = sum(all(r.correct.values()) for r in reds)
    lines += ["", "## Overall", ""]
    lines.append(
        f"- projects: {len(verdicts)}; red builds: {len(reds)}; time: {elapsed / 60:.1f} min"
    )
    explained = sum(
        1 for n, v in verdicts.items() if not v.agree and v.gate_exit != 0 and projects[n].known
    )
    lines.append(
        f"- false red (gate red, own green): {_pct(false_red - explained, len(verdicts))} "
        f"unexplained, {explained} written down as the project's own (see its note)"
    )
    own_red = sum(1 for v in verdicts.values() if v.own_tests is False or v.own_lint is False)
    lines.append(f"- releases red by their own commands (not mutated): {own_red}")
    disagree = sum(not v.agree for v in verdicts.values())
    lines.append(f"- zero-config disagreements: {_pct(disagree, len(verdicts))}")
    lines.append(f"- outcome correct (all three agents): {_pct(correct, len(reds))}")
    lines.append(
        f"- oracle prompt named the failing test and the mutated file: {_pct(named, len(prompted))}"
    )
    if invalid:
        lines.append(f"- not fail-to-pass on this machine (left out): {len(invalid)}, listed below")
    wrong = [r for r in reds if not all(r.correct.values())]
    if wrong:
        lines += ["", "## Red builds with an unexpected outcome", ""]
        for r in wrong:
            lines.append(
                f"- {r.project} {r.operator} {r.path} {r.what}: {r.outcomes} attempts {r.attempts}"
            )
    if invalid:
        lines += ["", "## Red builds that are not fail-to-pass here", ""]
        for r in invalid:
            ids = ", ".join(r.not_fail_to_pass)
            lines.append(
                f"- {r.project} {r.operator} {r.path} {r.what}: the release itself does not "
                f"pass {ids} (skipped there), so no heal can show it passing"
            )
    return "\n".join(lines) + "\n"


def _keep_measured(project: corpus.Project, measured: list[trial.RedBuild]) -> None:
    """A run of some operators measures the very red builds a whole run picks: each result
    replaces the stored one of the same red build; new ones join the unfinished list (never
    the project's whole result, which only a run of every operator writes)."""
    stored = store.read(project)
    fresh = {trial.red_build_key(r): r for r in measured}
    if stored.get("reds") is not None:
        whole = [trial.RedBuild(**r) for r in stored["reds"]]
        store.write(project, reds=[fresh.get(trial.red_build_key(r), r) for r in whole])
    if stored.get("reds") is None or stored.get("partial") is not None:
        partial = [trial.RedBuild(**r) for r in stored.get("partial", [])]
        keys = {trial.red_build_key(r) for r in partial}
        kept = [fresh.get(trial.red_build_key(r), r) for r in partial]
        kept += [r for key, r in fresh.items() if key not in keys]
        store.write(project, partial=kept)


def _red_builds(
    project: corpus.Project, verdict: trial.Verdict, args: argparse.Namespace, resume: bool
) -> list[trial.RedBuild]:
    """The project's red builds healed by the three command agents, stored as they finish."""
    saved = not args.operator
    earlier = (
        [trial.RedBuild(**r) for r in store.read(project).get("partial", [])] if resume else []
    )
    t0 = time.monotonic()
    done = trial.mutate_project(
        project,
        verdict,
        args.per_operator,
        tuple(args.operator),
        earlier,
        (lambda partial: store.write(project, partial=partial)) if saved else None,
    )
    if saved:
        store.write(project, reds=done, partial=None)
    else:
        _keep_measured(project, done)
    ok = sum(all(r.correct.values()) for r in done)
    spent = time.monotonic() - t0
    print(f"{project.name}: red builds={len(done)} correct={ok} ({spent:.0f}s)", flush=True)
    return done


def _agent_heals(
    project: corpus.Project, verdict: trial.Verdict, args: argparse.Namespace, resume: bool
) -> list[real_agent.AgentHeal]:
    """The project's red builds healed once each by the real agent, stored as they finish."""
    agent, saved = args.agent, not args.operator
    stored = store.read(project, agent) if resume else {}
    if stored.get("heals") is not None:
        return [real_agent.AgentHeal(**h) for h in stored["heals"]]
    earlier = [real_agent.AgentHeal(**h) for h in stored.get("partial", [])]
    t0 = time.monotonic()
    done = real_agent.mutate_project(
        project,
        verdict,
        agent,
        args.per_operator,
        tuple(args.operator),
        earlier,
        (lambda partial: store.write(project, agent, partial=partial)) if saved else None,
    )
    if saved:
        store.write(project, agent, heals=done, partial=None)
    won = sum(h.status == "healed" for h in done)
    spent = time.monotonic() - t0
    print(f"{project.name}: {agent} healed {won}/{len(done)} ({spent:.0f}s)", flush=True)
    return done


NOTES = "<!-- Written by hand from here on: run.py keeps it when it writes the table. -->"


def _notes(out: Path) -> str:
    """What a person wrote below the table (why each unexpected outcome is what it is)."""
    kept = out.read_text(encoding="utf-8") if out.is_file() else ""
    return "\n" + kept[kept.index(NOTES) :] if NOTES in kept else ""


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"only {', '.join(QUICK)}")
    parser.add_argument("--project", action="append", default=[], help="only this (repeatable)")
    parser.add_argument("--per-operator", type=int, default=1, help="red builds per operator")
    parser.add_argument(
        "--operator",
        action="append",
        default=[],
        choices=mutations.OPERATORS,
        help="only this operator (repeatable); its red builds replace the same ones stored, "
        "and never make a project's whole result",
    )
    parser.add_argument("--no-mutations", action="store_true", help="zero-config comparison only")
    parser.add_argument(
        "--resume", action="store_true", help="reuse results stored by an earlier run"
    )
    parser.add_argument(
        "--table", action="store_true", help="only the table of the stored results (runs nothing)"
    )
    parser.add_argument(
        "--agent",
        choices=real_agent.CHOICES,
        help="heal each red build once with this real agent (claude, or a CLI agent preset) "
        "instead of the oracle, no-op and cheating agents; needs its API key",
    )
    parser.add_argument("--out", type=Path, help="where the table goes (default: RESULTS.md)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    if args.agent and not args.table:
        problem = real_agent.missing(args.agent, os.environ)
        if problem is not None:
            print(f"error: {problem}", file=sys.stderr)
            return 2
    projects = {p.name: p for p in corpus.load()}
    unknown = [n for n in args.project if n not in projects]
    if unknown:
        print(f"error: not in corpus.toml: {', '.join(unknown)}", file=sys.stderr)
        return 2
    names = args.project or (list(QUICK) if args.quick else list(projects))
    reuse = args.resume or args.table
    # A run of some operators only is not a project's whole result: shown, and kept red build
    # by red build (see _keep_measured).
    whole = not args.operator
    started = time.monotonic()
    verdicts: dict[str, trial.Verdict] = {}
    reds: dict[str, list[trial.RedBuild]] = {}
    heals: dict[str, list[real_agent.AgentHeal]] = {}
    unfinished: list[str] = []
    # Every project's zero-config verdict first: it is cheap, and it decides the mutations.
    for name in names:
        stored = store.read(projects[name]) if reuse else {}
        if "verdict" in stored:
            verdicts[name] = trial.Verdict(**stored["verdict"])
            if stored.get("reds") is not None:
                reds[name] = [trial.RedBuild(**r) for r in stored["reds"]]
            elif args.table and stored.get("partial"):
                unfinished.append(name)  # a run cut short: what it measured is shown
                reds[name] = [trial.RedBuild(**r) for r in stored["partial"]]
            continue
        if args.table:
            continue
        try:
            verdicts[name] = trial.zero_config_project(projects[name])
        except Exception as exc:  # noqa: BLE001  (a project that cannot be set up is a row)
            verdicts[name] = trial.Verdict(note=f"set-up failed: {exc}")
        # The red builds stored beside it stay: an --agent run must not wipe the oracle's.
        store.write(projects[name], verdict=verdicts[name])
        print(f"{name}: zero-config agree={verdicts[name].agree}", flush=True)
    # Quickest suites first: a run cut short has measured the most red builds.
    names = [n for n in names if n in verdicts]
    order = sorted(names, key=lambda n: verdicts[n].own_s)
    for name in [] if args.no_mutations or args.table else order:
        if args.agent:
            heals[name] = _agent_heals(projects[name], verdicts[name], args, reuse and whole)
        elif not (name in reds and whole):
            reds[name] = _red_builds(projects[name], verdicts[name], args, reuse and whole)
    if args.table and args.agent:
        for name in names:
            kept = store.read(projects[name], args.agent).get("heals")
            if kept is not None:
                heals[name] = [real_agent.AgentHeal(**h) for h in kept]
    every = [r for name in names for r in reds.get(name, [])]
    text = table(verdicts, every, projects, time.monotonic() - started)
    if unfinished:
        text += (
            f"\nRed builds of a run not finished (`--resume` goes on): {', '.join(unfinished)}\n"
        )
    if args.agent:
        text += "\n" + real_agent.block(args.agent, [h for n in names for h in heals.get(n, [])])
    print(text)
    out = args.out or (HERE / (f"RESULTS-{args.agent}.md" if args.agent else "RESULTS.md"))
    if args.out or not (args.project or args.operator):
        how = " --quick" if args.quick else (" --resume" if reuse else "")
        how += f" --agent {args.agent}" if args.agent else ""
        header = f"# Field trials: results\n\nMade by `python bench/field/run.py{how}`.\n\n"
        out.write_text(header + text + _notes(out), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
