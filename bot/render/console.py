"""The few lines a person sees in the terminal at the end of a run (pure)."""

from __future__ import annotations

from collections import Counter

from bot.render.gate_detail import status_word
from bot.report import GateRun, Report, Status


def _gate_line(gate: GateRun) -> str:
    parts = []
    for step in gate.steps:
        count = f" ({len(step.failures)})" if step.failures else ""
        parts.append(f"{step.name} {status_word(step.status)}{count}")
    return ", ".join(parts) or "no steps"


def summary_lines(report: Report) -> list[str]:
    """Status, gate before/after, one line per attempt, where the branch and report are."""
    word = report.status.value
    if report.mode == "gate":  # one gate run: it is green or it is red, nothing gave up
        word = "green" if report.status is Status.GREEN else "red"
    lines = [f"selfheal {report.mode}: {word} - {report.detail}".rstrip(" -")]
    if report.gate_detected:
        lines.append("  gate (none configured, detected): " + "; ".join(report.gate_detected))
    if report.agent_note:
        lines.append(f"  note: {report.agent_note}")
    if report.gate_before is not None:
        label = "gate" if report.mode == "gate" else "gate before"
        lines.append(f"  {label}: {_gate_line(report.gate_before)}")
    if report.flaky:
        lines.append(
            f"  flaky (passed on re-run, not fixed): {', '.join(f.test_id or f.message for f in report.flaky)}"
        )
    if report.failures and report.mode != "gate":
        counts = Counter(f.category.value for f in report.failures)
        lines.append("  failures: " + ", ".join(f"{n} {c}" for c, n in sorted(counts.items())))
    for attempt in report.attempts:
        changed = f"+{attempt.added} -{attempt.removed} in {len(attempt.changes)} file(s)"
        lines.append(
            f"  attempt {attempt.number}: {', '.join(attempt.fixers) or 'no fixer'} -> {attempt.outcome} ({changed})"
        )
        lines.extend(f"    refused by {v.guard}: {v.reason}" for v in attempt.guards if not v.ok)
    if report.gate_after is not None:
        lines.append(f"  gate after: {_gate_line(report.gate_after)}")
    if report.needs_gpu:
        lines.append("  needs a GPU runner: a step that requires a GPU could not run here")
    if report.proposal is not None:
        where = f"pushed to {report.proposal.remote}" if report.proposal.pushed else "local only"
        if report.proposal.push_error:
            where = f"push failed: {report.proposal.push_error}"
        lines.append(
            f"  branch: {report.proposal.branch} at {report.proposal.commit[:12]} ({where})"
        )
        if report.proposal.replaced:
            lines.append(
                f"  note: the local branch {report.proposal.branch} was moved from "
                f"{report.proposal.replaced[:12]} (an earlier run's proposal)"
            )
    if "fix.patch" in report.artifacts and _fix_left_behind(report):
        lines.append(f"  fix.patch: {report.artifacts['fix.patch']} (apply with git apply)")
    if "report.md" in report.artifacts:
        lines.append(f"  report: {report.artifacts['report.md']}")
    return lines


def _fix_left_behind(report: Report) -> bool:
    """A change exists that was not proposed: the patch file is the only place it is."""
    proposed = report.proposal is not None and report.proposal.pushed
    changed = any(a.changes for a in report.attempts)
    return changed and not proposed and report.status is not Status.GREEN


def terminal_text(markdown: str) -> str:
    """Markdown selfheal wrote (the failure digest) as plain text for a terminal: headings
    without their #s, no code fences, no backticks around names."""
    lines = []
    for line in markdown.splitlines():
        if line.startswith("```"):
            continue
        heading = line.lstrip("#")
        plain = heading.strip() if heading != line and heading.startswith(" ") else line
        lines.append(plain.replace("`", "") if plain is not line or line.startswith("- ") else line)
    return "\n".join(lines)
