"""The fix loop as a Mermaid flowchart: gate before, flaky check, each attempt, the result."""

from __future__ import annotations

import re
from itertools import pairwise

from bot.report import Attempt, Report, Status, StepStatus, StopReason

LABEL_CAP = 70

# Only characters that cannot end a quoted label, open a shape, or form Mermaid's
# "#35;" entity codes or markdown strings; everything else becomes a space.
_UNSAFE = re.compile(r"[^\w .,:/+=@'%-]")

_RED_STEPS = (StepStatus.FAILED, StepStatus.TIMEOUT, StepStatus.ERROR)

_RESULT = {
    Status.GREEN: "green, nothing to do",
    Status.HEALED: "healed",
    Status.PROPOSED: "proposed",
    Status.FLAKY: "flaky, nothing to fix",
    Status.GAVE_UP: "gave up",
    Status.REFUSED: "refused by a guard",
    Status.NOT_PROPOSED: "fixed, not proposed",
    Status.NOT_REPRODUCED: "not reproduced",
    Status.INTERRUPTED: "interrupted",
    Status.ERROR: "error",
}

_STOP = {
    StopReason.ATTEMPT_CAP: "attempt cap",
    StopReason.STUCK: "stuck",
    StopReason.BUDGET: "budget spent",
    StopReason.NOTHING_TO_FIX: "nothing a fixer can fix",
    StopReason.INTERRUPTED: "interrupted",
    StopReason.CRASHED: "crashed",
}


def label(text: str) -> str:
    """`text` as a quoted Mermaid label: no quotes, brackets or markup, one line, capped."""
    clean = " ".join(_UNSAFE.sub(" ", text).split())
    if len(clean) > LABEL_CAP:
        clean = clean[: LABEL_CAP - 3].rstrip() + "..."
    return f'"{clean}"'


def _attempt_outcome(attempt: Attempt) -> str:
    if attempt.refused or attempt.outcome == "refused":
        guards = sorted({v.guard for v in attempt.guards if not v.ok})
        return "refused by " + ", ".join(guards) if guards else "refused"
    if attempt.outcome == "failing":
        return f"{len(attempt.remaining)} still failing"
    if attempt.outcome == "no_change":
        return "no change"
    if attempt.outcome == "budget":
        return "budget spent"
    return "green"


def _gate_before(report: Report) -> str:
    gate = report.gate_before
    if gate is None:
        return "gate not run"
    if gate.green:
        return "gate before: green"
    failing = len(gate.failures) or sum(1 for s in gate.steps if s.status in _RED_STEPS)
    return f"gate before: {failing} failing"


def _result(report: Report) -> str:
    text = _RESULT[report.status]
    if report.status is Status.GAVE_UP and report.stop_reason in _STOP:
        text += ": " + _STOP[report.stop_reason]
    return text


def attempts_flowchart(report: Report) -> str:
    """`flowchart TD` text of the run; refused attempts drawn as such. Labels are sanitized."""
    lines = ["flowchart TD", f"  before[{label(_gate_before(report))}]"]
    chain = ["before"]
    classes: dict[str, list[str]] = {"ok": [], "bad": [], "refused": []}
    if report.gate_before is not None:
        classes["ok" if report.gate_before.green else "bad"].append("before")
    if report.flaky:
        lines.append(f"  flaky{{{label(f'flaky check: {len(report.flaky)} flaky')}}}")
        chain.append("flaky")
    for attempt in report.attempts:
        node = f"a{attempt.number}"
        fixers = ", ".join(attempt.fixers) or "no fixer"
        text = f"attempt {attempt.number}: {fixers} - {_attempt_outcome(attempt)}"
        lines.append(f"  {node}[{label(text)}]")
        chain.append(node)
        if attempt.refused or attempt.outcome == "refused":
            classes["refused"].append(node)
        elif attempt.outcome == "green":
            classes["ok"].append(node)
    lines.append(f"  result([{label(_result(report))}])")
    chain.append("result")
    good = report.status in (Status.GREEN, Status.HEALED, Status.PROPOSED)
    classes["ok" if good else "bad"].append("result")
    lines.extend(f"  {a} --> {b}" for a, b in pairwise(chain))
    lines += [
        "  classDef ok fill:#dafbe1,stroke:#1a7f37",
        "  classDef bad fill:#ffebe9,stroke:#cf222e",
        "  classDef refused fill:#fff8c5,stroke:#9a6700,stroke-dasharray:4 3",
    ]
    lines.extend(f"  class {','.join(ids)} {name}" for name, ids in classes.items() if ids)
    return "\n".join(lines) + "\n"
