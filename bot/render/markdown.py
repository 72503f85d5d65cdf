"""The execution report as GitHub-flavoured Markdown: report.md, the PR comment, the step summary.

Pure. Every string that came from the project or the agent goes through bot.render.text,
so it cannot break a table, a fence or a <details>, nor mention anyone.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.render import gate_detail
from bot.render.gate_detail import seconds as _seconds
from bot.render.mermaid import attempts_flowchart
from bot.render.text import (
    cap_text,
    failure_where,
    fence,
    html_text,
    md_code,
    md_text,
    md_url,
    plural,
)
from bot.report import (
    Attempt,
    Category,
    Failure,
    GateRun,
    Report,
    Status,
    StepResult,
    StepStatus,
    StopReason,
)

EXAMPLES_PER_CATEGORY = 3
IDS_PER_CELL = 3
MESSAGE_CAP = 120

# Steps whose output is not worth a log: a step that needs a GPU runner never ran.
_QUIET = (StepStatus.PASSED, StepStatus.SKIPPED, StepStatus.NEEDS_GPU)

_STOP_PHRASE = {
    StopReason.ATTEMPT_CAP: "reached the attempt cap",
    StopReason.STUCK: "stuck: the same failures came back",
    StopReason.BUDGET: "the time budget ran out",
    StopReason.NOTHING_TO_FIX: "nothing left that a code change can fix",
    StopReason.INTERRUPTED: "interrupted",
    StopReason.CRASHED: "the run crashed",
    StopReason.REFUSED: "a guard refused the change",
    StopReason.NEEDS_AGENT: "what is left needs an agent, and none is configured",
    StopReason.NOT_PROPOSED: "the fix could not be proposed",
}


def _fixers(attempts: Sequence[Attempt]) -> list[str]:
    seen: dict[str, None] = {}
    for attempt in attempts:
        seen.update(dict.fromkeys(attempt.fixers))
    return list(seen)


def _to_fix(report: Report) -> list[Failure]:
    """What the loop set out to fix; a run that stopped before recording it has the gate's."""
    if report.failures or report.gate_before is None:
        return list(report.failures)
    flaky = {f.signature for f in report.flaky}
    return [f for f in report.gate_before.failures if f.signature not in flaky]


def _still_failing(report: Report) -> int:
    if report.gate_after is not None:
        return len(report.gate_after.failures)
    if report.attempts:
        return len(report.attempts[-1].remaining)
    return len(_to_fix(report))


def _first_refusal(report: Report) -> str:
    for attempt in reversed(report.attempts):
        for verdict in attempt.guards:
            if not verdict.ok:
                return f"{md_text(verdict.guard, 60)}: {md_text(verdict.reason, 200)}"
    return ""


def _sentence(report: Report) -> str:
    tries = plural(len(report.attempts), "attempt")
    fixers = ", ".join(md_text(f, 60) for f in _fixers(report.attempts))
    by = f" ({fixers})" if fixers else ""
    status = report.status
    if status is Status.GREEN:
        return "the gate passed; nothing to do."
    if status is Status.HEALED:
        return f"{plural(len(report.failures), 'failure')} fixed in {tries}{by}; gate green."
    if status is Status.PROPOSED:
        what = (
            f"issue #{report.issue.number}"
            if report.issue and report.issue.number
            else "the change"
        )
        return f"{what} implemented in {tries}{by}; gate green."
    if status is Status.FLAKY:
        tests = plural(len(report.flaky), "test")
        return f"{tests} failed, then passed on a rerun; nothing was handed to a fixer."
    if status is Status.GAVE_UP:
        reason = _STOP_PHRASE.get(report.stop_reason, "") if report.stop_reason else ""
        if report.stop_reason is StopReason.ATTEMPT_CAP and report.max_attempts:
            reason += f" ({report.max_attempts})"
        left = plural(_still_failing(report), "failure")
        return f"stopped after {tries}{', ' + reason if reason else ''}; {left} still failing."
    if status is Status.REFUSED:
        refusal = _first_refusal(report)
        return f"a guard refused the change ({refusal})." if refusal else "refused."
    if status is Status.NOT_PROPOSED:
        return "the gate is green on the fix, but it could not be proposed; it is in fix.patch."
    if status is Status.NOT_REPRODUCED:
        return "the gate is green on this commit: the CI failure did not reproduce here."
    if status is Status.INTERRUPTED:
        return "interrupted by a signal; the fix so far is in fix.patch."
    return "the run stopped on an internal error."


def status_line(report: Report) -> str:
    """The first line: a marker word and one sentence, plus the report's own detail."""
    word = report.status.value.replace("_", " ")
    line = f"**selfheal: {word}** - {_sentence(report)}"
    if report.detail:
        line += " " + md_text(report.detail, 300)
    return line


def _meta(report: Report) -> list[str]:
    parts = [f"mode {report.mode}", f"repo {md_code(report.repo)}"]
    base = md_code(report.base_sha[:12])
    ref = f"{md_code(report.base_ref)} at " if report.base_ref else ""
    parts.append(f"base {ref}{base}")
    parts.append(f"agent {md_code(report.agent)}")
    if report.finished_at is not None:
        parts.append(_seconds((report.finished_at - report.started_at).total_seconds()))
    parts.append(f"selfheal {md_text(report.tool_version)}")
    lines = [" · ".join(parts)]
    if report.issue is not None:
        number = f"#{report.issue.number}" if report.issue.number else "(no number)"
        link = f" {md_code(report.issue.url)}" if report.issue.url else ""
        lines += ["", f"Issue {number}{link}: {md_text(report.issue.title, 200)}"]
    return lines


def _step_cell(step: StepResult | None) -> str:
    if step is None:
        return "not run"
    if step.status is StepStatus.NEEDS_GPU:
        return f"**{gate_detail.status_word(step.status)}**"
    parts = [f"**{step.status.value}**", _seconds(step.duration_s)]
    if step.tests_run is not None:
        parts.append(plural(step.tests_run, "test"))
    if step.failures:
        parts.append(plural(len(step.failures), "failure"))
    return ", ".join(parts)


def _gate_table(report: Report) -> list[str]:
    before, after = report.gate_before, report.gate_after
    if before is None and after is None:
        return ["The gate did not run."]
    names: dict[str, None] = {}
    for gate in (before, after):
        names.update(dict.fromkeys(s.name for s in gate.steps) if gate else {})
    rows = ["| step | before | after |", "|---|---|---|"]
    for name in names:
        b = next((s for s in before.steps if s.name == name), None) if before else None
        a = next((s for s in after.steps if s.name == name), None) if after else None
        rows.append(f"| {md_code(name, table=True)} | {_step_cell(b)} | {_step_cell(a)} |")
    return rows


def _example(failure: Failure) -> str:
    where = md_code(failure_where(failure), table=True, limit=160)
    rule = f" {md_code(failure.rule, table=True, limit=40)}" if failure.rule else ""
    return f"{where}{rule} {md_text(failure.message, MESSAGE_CAP)}".rstrip()


def _failures(report: Report) -> list[str]:
    failures = _to_fix(report)
    lines: list[str] = []
    if failures:
        lines += ["| category | count | examples |", "|---|---|---|"]
        for category in Category:
            group = [f for f in failures if f.category is category]
            if not group:
                continue
            examples = "; ".join(_example(f) for f in group[:EXAMPLES_PER_CATEGORY])
            if len(group) > EXAMPLES_PER_CATEGORY:
                examples += f"; and {len(group) - EXAMPLES_PER_CATEGORY} more"
            lines.append(f"| {category.value} | {len(group)} | {examples} |")
    elif not report.flaky:
        lines.append("No failures.")
    if report.flaky:
        if lines:
            lines.append("")
        lines.append(
            f"Flaky ({plural(len(report.flaky), 'test')} failed, then passed on a rerun;"
            " not handed to a fixer):"
        )
        lines += [f"- {md_code(failure_where(f), limit=200)}" for f in report.flaky]
    return lines


def _ids(failures: Sequence[Failure], table: bool = True) -> str:
    ids = [md_code(failure_where(f), table=table, limit=120) for f in failures[:IDS_PER_CELL]]
    shown = ", ".join(ids)
    more = f", and {len(failures) - IDS_PER_CELL} more" if len(failures) > IDS_PER_CELL else ""
    return f"{len(failures)}: {shown}{more}"


def _attempts(report: Report) -> list[str]:
    if not report.attempts:
        return ["No fix attempts were made."]
    head = ["#", "fixers", "files changed", "+/-", "duration", "outcome", "still failing"]
    rows = [f"| {' | '.join(head)} | guard refusals |", "|---" * (len(head) + 1) + "|"]
    for a in report.attempts:
        fixers = ", ".join(md_text(f, 60) for f in a.fixers) or "none"
        files = ", ".join(md_code(c.path, table=True, limit=120) for c in a.changes[:IDS_PER_CELL])
        if len(a.changes) > IDS_PER_CELL:
            files += f", and {len(a.changes) - IDS_PER_CELL} more"
        files = f"{len(a.changes)}: {files}" if a.changes else "none"
        still = _ids(a.remaining) if a.remaining else ("none" if a.outcome == "green" else "-")
        refusals = "; ".join(
            f"{md_text(v.guard, 60)}: {md_text(v.reason, MESSAGE_CAP)}"
            for v in a.guards
            if not v.ok
        )
        rows.append(
            f"| {a.number} | {fixers} | {files} | +{a.added} / -{a.removed}"
            f" | {_seconds(a.duration_s)} | {a.outcome} | {still} | {refusals or 'none'} |"
        )
    for a in report.attempts:
        if a.agent_summary.strip():
            title = html_text(f"Attempt {a.number}: what {a.agent or 'the agent'} said", 120)
            rows += ["", *_details(title, cap_text(a.agent_summary, 4000))]
    return rows


def _usd(value: float | None) -> str:
    return "unknown (no price for this model)" if value is None else f"${value:.4f}"


def _tokens(usage: dict[str, int]) -> str:
    parts = [
        ("in", usage.get("input_tokens", 0)),
        ("out", usage.get("output_tokens", 0)),
        ("cache write", usage.get("cache_creation_input_tokens", 0)),
        ("cache read", usage.get("cache_read_input_tokens", 0)),
    ]
    return ", ".join(f"{n:,} {label}" for label, n in parts)


def _agent(report: Report) -> list[str]:
    """Turns, tool calls, tokens and cost per attempt and for the run (model agents only)."""
    used = [a for a in report.attempts if a.agent_turns]
    if not used and not report.agent_totals:
        return []
    rows = [
        "| # | turns | tool calls | tokens | cost | budget hit |",
        "|---|---|---|---|---|---|",
    ]
    for a in used:
        calls = ", ".join(
            f"{md_text(name, 40)} {n}" for name, n in sorted(a.agent_tool_calls.items())
        )
        rows.append(
            f"| {a.number} | {a.agent_turns} | {calls or 'none'} | {_tokens(a.agent_usage)}"
            f" | {_usd(a.agent_cost_usd)} | {md_text(a.agent_budget_hit or 'none', 60)} |"
        )
    totals = report.agent_totals
    cost = totals.get("cost_usd")
    line = (
        f"Run total ({md_code(report.model or report.agent)}): {totals.get('turns', 0)} turns, "
        f"{_tokens(totals.get('usage', {}))}; cost {_usd(cost)}."
    )
    fixed = len(report.failures) if report.status.value in ("healed", "proposed") else 0
    if fixed and cost is not None:
        line += f" Cost per healed failure: {_usd(cost / fixed)}."
    return [*rows, "", line]


def _guards(report: Report) -> list[str]:
    checked = [(a.number, v) for a in report.attempts for v in a.guards]
    refused = [(n, v) for n, v in checked if not v.ok]
    if not checked:
        return ["No diff was checked by the guards."]
    if not refused:
        over = plural(len({n for n, _ in checked}), "attempt")
        return [f"All guards passed ({plural(len(checked), 'check')} over {over})."]
    lines = []
    for number, v in refused:
        where = f" ({md_code(v.file, limit=200)})" if v.file else ""
        reason = md_text(v.reason, 300) or "no reason given"
        lines.append(f"- Attempt {number}: **{md_text(v.guard, 60)}** refused: {reason}{where}")
    return lines


def _test_changes(report: Report) -> list[str]:
    """What the kept attempts changed in test code that the guards let through (they list it
    for a reviewer, e.g. a new test, or a spec change a maintainer allowed)."""
    kept = [a for a in report.attempts if a.outcome not in ("refused", "no_change")]
    return [
        f"- Attempt {a.number}, **{md_text(v.guard, 60)}**: {md_text(v.reason, 600)}"
        for a in kept
        for v in a.guards
        if v.ok and v.reason and v.guard.startswith("test") and not v.reason.startswith("not ")
    ]


def _proposal(report: Report) -> list[str]:
    p = report.proposal
    if p is None:
        return ["Nothing proposed."]
    line = f"Branch {md_code(p.branch)}, commit {md_code(p.commit[:12])}"
    if p.pr_url and md_url(p.pr_url) and p.pr_number is not None:
        into = f" into {md_code(p.base)}" if p.base else ""
        line = f"Pull request [#{p.pr_number}]({md_url(p.pr_url)}){into}. " + line
    if p.pushed:
        return [line + (f", pushed to {md_code(p.remote)}." if p.remote else ", pushed.")]
    error = f": {md_text(p.push_error, 300)}" if p.push_error else ""
    return [line + f", not pushed{error}."]


def _timings(report: Report) -> list[str]:
    """One place for time: each gate run by step (when there are several), then the rest."""
    lines = gate_detail.step_times(report)
    timings = report.timings
    if lines:  # the gate runs are in the table: what is left is the rest of the run
        timings = {k: v for k, v in timings.items() if not k.startswith("gate: ")}
    if timings:
        lines += [""] if lines else []
        lines += ["| stage | time |", "|---|---|"]
        lines += [f"| {md_text(k, 60)} | {_seconds(v)} |" for k, v in timings.items()]
    if report.peak_rss_mb is not None:
        lines += ["", f"Peak memory (RSS): {report.peak_rss_mb:.1f} MB."]
    if report.isolation:
        lines += ["", f"Isolation: {md_text(report.isolation, 200)}."]
    if report.workspace:
        lines += ["", f"Workspace: {md_text(report.workspace, 400)}."]
    if report.artifacts:
        lines += ["", "Artifacts:"]
        lines += [f"- {md_text(k, 60)}: {md_code(v)}" for k, v in report.artifacts.items()]
    return lines or ["No timings recorded."]


def _details(summary: str, text: str) -> list[str]:
    # The blank lines matter: they end the HTML block so the fence is parsed as Markdown.
    return [f"<details><summary>{summary}</summary>", "", fence(text), "", "</details>"]


def _failing_logs(gate: GateRun | None, label: str, log_cap: int) -> list[str]:
    lines: list[str] = []
    for step in gate.steps if gate else []:
        if step.status in _QUIET:
            continue
        text = cap_text(step.output.replace("\r\n", "\n"), log_cap) or "(no output)"
        summary = html_text(f"{step.name}: {step.status.value} ({label})", 200)
        lines += [*_details(summary, text), ""]
    return lines


def _logs(report: Report, log_cap: int) -> list[str]:
    lines = _failing_logs(report.gate_before, "gate before", log_cap)
    for a in report.attempts:
        lines += _failing_logs(a.verification, f"attempt {a.number} check", log_cap)
    lines += _failing_logs(report.gate_after, "gate after", log_cap)
    return lines[:-1] if lines else ["No failing step output."]


LOG_CAP_FLOOR = 500


def _document(report: Report, log_cap: int | None) -> str:
    note = [f"> Note: {md_text(report.agent_note, 300)}"] if report.agent_note else []
    logs = _logs(report, log_cap) if log_cap is not None else ["Logs left out to keep this short."]
    if gpu_note := gate_detail.needs_gpu_note(report):
        note += ["", *gpu_note] if note else gpu_note
    optional = [
        ("Evidence", gate_detail.evidence(report)),
        ("GPU", gate_detail.gpus(report)),
        ("Metrics", gate_detail.metrics(report)),
    ]
    suggested = (
        [("A gate that would run what CI ran", [fence(report.suggested_gate, "yaml")])]
        if report.suggested_gate
        else []
    )
    sections: list[tuple[str, list[str]]] = [
        *suggested,
        *([("Changes to tests: review these", tests)] if (tests := _test_changes(report)) else []),
        ("Gate", _gate_table(report)),
        *[(title, body) for title, body in optional if body],
        ("Failures", _failures(report)),
        ("Attempts", _attempts(report)),
        *([("Agent", agent)] if (agent := _agent(report)) else []),
        ("Guards", _guards(report)),
        ("Proposal", _proposal(report)),
        ("Timings", _timings(report)),
        ("Flow", [fence(attempts_flowchart(report), "mermaid")]),
        ("Logs", logs),
    ]
    out = [status_line(report), *(["", *note] if note else []), "", *_meta(report)]
    for title, body in sections:
        out += ["", f"### {title}", "", *body]
    return "\n".join(out) + "\n"


def render_markdown(report: Report, *, log_cap: int = 20_000, max_chars: int | None = None) -> str:
    """The whole execution report; each failing step's log is capped at `log_cap` characters.

    With `max_chars` (GitHub refuses comments over 65,536), logs shrink, then go, to fit.
    """
    text = _document(report, log_cap)
    cap = log_cap
    while max_chars is not None and len(text) > max_chars and cap > LOG_CAP_FLOOR:
        cap = max(cap // 2, LOG_CAP_FLOOR)
        text = _document(report, cap)
    if max_chars is not None and len(text) > max_chars:
        text = _document(report, None)
    return text
