"""The fix loop: gate -> flaky check -> attempts (fixers, agent, guards, verify) -> proposal.

Each stage takes the report so far and returns a new one; `Run` only holds what the stages
share (the workspace, the gate, the clock) and the latest report, so a crash or Ctrl-C
still leaves the report and the patch so far for the caller to write.
"""

from __future__ import annotations

import functools
import resource
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from bot import __version__
from bot.agent.base import Agent, AgentOutcome, AgentRequest
from bot.bytecode import RunCache, kept_bytecode
from bot.config import Config, GateStep
from bot.errors import ProposalError, SelfhealError
from bot.fix import proposal
from bot.fix.ci_log import ci_failure, failing_test_ids, last_failed_ids
from bot.fix.context import CHARS_PER_TOKEN, Brief, build_brief, repo_instructions
from bot.fix.fixers import run_fixers
from bot.fix.proposal import branch_name, commit_message, guard_diff
from bot.fix.pyfiles import RepoPython
from bot.fix.source import related_source
from bot.fix.suspects import suspect_tests
from bot.forge import git
from bot.forge.workspace import Workspace
from bot.gate.evidence import evidence_problems, failing_ids
from bot.gate.kinds import has_fixer, selects_tests
from bot.gate.runner import rerun_plan, run_gate
from bot.gate.steps import detection_notes, resolve_gate
from bot.guard.diff import parse_diff
from bot.proc import end_left_behind, scrubbed_env
from bot.report import (
    FIXER_CATEGORIES,
    UNFIXABLE_CATEGORIES,
    Attempt,
    Category,
    Failure,
    FileChange,
    GateRun,
    GuardVerdict,
    Issue,
    Report,
    Status,
    StepStatus,
    StopReason,
    now,
)
from bot.transcript import Transcript


@dataclass(frozen=True)
class Job:
    """What to do, where, with which agent."""

    mode: Literal["heal", "implement"]
    repo: Path
    config: Config
    agent: Agent
    report_dir: Path
    push: bool = True
    issue: Issue | None = None
    ci_log: str = ""  # the failed CI run's log excerpt, for the agent's context
    # pytest ids known to fail (`heal --tests`); else those the CI log names, if any.
    failing_tests: tuple[str, ...] = ()
    base: str | None = None  # the commit to work on (default: the repo's HEAD)
    local_branch: bool = True  # also write the proposal's branch in the user's repository
    # Told one line at each stage (gate red with N failures, attempt k, verifying, the end):
    # the sticky comment of a single-job Actions run follows the loop through it.
    progress: Callable[[str], None] | None = None


_SUSPECTS = "the test files of what the commit changed"
# A first failure of these does not stand for the run: the whole gate reproduces instead.
_NOT_ALONE = UNFIXABLE_CATEGORIES | {Category.TIMEOUT}


def signatures(failures: Sequence[Failure]) -> frozenset[str]:
    return frozenset(f.signature for f in failures)


def _fails_differently(quick: GateRun, before: Sequence[Failure]) -> bool:
    """The re-run's failures are not the ones it was to fix (not fewer of the same)."""
    return not signatures(quick.failures) <= signatures(before)


def _described(ws: Workspace) -> str:
    """The workspace in a sentence for the report."""
    if ws.mode == "adopt":
        where = "the Actions checkout, used in place (its .git moved out of the agent's reach)"
    else:
        why = f" (not used in place: {ws.adopt_refusal})" if ws.adopt_refusal else ""
        where = f"a copy of the checkout{why}"
        if ws.kept_tree:
            where += ", in the tree an earlier run left, every file checked against the base"
    if ws.carried:
        shown = ", ".join(ws.carried[:5]) + (" ..." if len(ws.carried) > 5 else "")
        where += f"; {len(ws.carried)} generated file(s) carried from it: {shown}"
    if ws.carried_skipped:
        where += f"; not carried: {', '.join(ws.carried_skipped[:3])}"
    return where


def as_reference(before: GateRun | None) -> GateRun | None:
    """The baseline as the evidence check reads it. A baseline of named tests only stands for
    the whole gate's red run: its failing tests must pass in the final full gate; its
    collected count (of the selected files alone) is not compared."""
    if before is None or not before.partial:
        return before
    steps = [
        s.model_copy(
            update={
                "selection": [],
                "evidence": s.evidence.model_copy(update={"collected": None})
                if s.evidence is not None
                else None,
            }
        )
        for s in before.steps
    ]
    return before.model_copy(update={"steps": steps, "partial": False})


class Run:
    """One execution of the loop; `report` and `patch` are always the latest known."""

    def __init__(self, job: Job, transcript: Transcript) -> None:
        self.job = job
        self.transcript = transcript
        self.clock0 = time.monotonic()
        self.deadline = self.clock0 + job.config.budget.wall_seconds
        self.env = scrubbed_env(allow=job.config.env_allow)
        self.patch = ""
        # Set once the gate proved the fix green: `patch` is then that fix, whether or not
        # the proposal's rebuild of it succeeds.
        self.verified_patch = False
        # The red run so far is a guess's (the commit's test files, or the whole gate cut
        # at its first failure): tests it never ran may fail too.
        self.baseline_guessed = False
        self.report = Report(
            tool_version=__version__,
            mode=job.mode,
            status=Status.ERROR,
            repo=str(job.repo),
            base_sha="",
            started_at=now(),
            max_attempts=job.config.max_attempts,
            agent=job.agent.name,
            agent_note=job.agent.note,
            issue=job.issue,
        )

    # -- the pipeline -------------------------------------------------------------

    def execute(self) -> Report:
        """Run every stage; each may end the run by setting a final status."""
        with git.open_workspace(self.job.repo, self.job.base) as ws:
            self.ws = ws
            # The gate's and the agent's processes find no git repository from the work tree.
            self.env = ws.child_env(self.env)
            self._update(base_sha=ws.base_sha, base_ref=ws.base_ref, workspace=_described(ws))
            # Bytecode warm from the user's checkout and the last run, sealed before the agent.
            self.bytecode = RunCache(ws.private_dir("bytecode"), ws.path)
            self.bytecode.seed(kept_bytecode(), ws.repo, ws.tracked("*.py"))
            self.transcript.write({"event": "bytecode", "seeded": self.bytecode.seeded})
            try:
                steps = resolve_gate(self.job.config.gate, ws.path)
                if self.job.config.gate is None:
                    self._update(gate_detected=detection_notes(ws.path))
                for stage in (self.baseline, self.flaky_check, self.attempts, self.propose):
                    if not stage(steps):
                        break
            finally:
                self._end_left_behind("the end")
                if not self.verified_patch:
                    self.patch = self._safe_total_diff()
                self.bytecode.seal()  # a no-op once sealed; else no agent has run
                self.bytecode.keep(kept_bytecode())
        return self.finish()

    def baseline(self, steps: Sequence[GateStep]) -> bool:
        gate = (
            self._named_baseline(steps)
            or self._first_failure_baseline(steps)
            or self._gate(steps, "before")
        )
        self._update(gate_before=gate, failures=gate.failures)
        self._progress(f"gate {'green' if gate.green else 'red'}: {len(gate.failures)} failure(s)")
        if gate.green and self.job.mode == "heal" and self.job.ci_log:
            return self._not_reproduced()
        if gate.green and self.job.mode == "heal":
            self._end(Status.GREEN, StopReason.GREEN, "the gate is already green: nothing to heal")
            return False
        return True

    def _not_reproduced(self) -> bool:
        """CI failed on this commit, but the gate is green here: it checks something else.
        No agent, no proposal; say what CI ran and the gate that would cover it."""
        failed = ci_failure(self.job.ci_log)
        jobs = "; ".join(failed.jobs) or "its failed jobs"
        ran = "; ".join(f"`{c}`" for c in failed.commands) or "commands its log does not name"
        self._update(suggested_gate=failed.gate_yaml())
        self._end(
            Status.NOT_REPRODUCED,
            StopReason.NOTHING_TO_FIX,
            f"CI failed ({jobs}), but the gate is green on this commit: the gate does not run "
            f"what failed there. CI ran {ran}; add it to the gate in .github/selfheal.yml "
            "(the report suggests one)",
        )
        return False

    def _named_baseline(self, steps: Sequence[GateStep]) -> GateRun | None:
        """When the failing tests are known (`--tests`, the CI log names them, or pytest's
        last run in the checkout failed them), reproduce with those alone: the full gate
        then runs once, on the fix. None when that run does not show exactly them failing
        here (the whole gate reproduces instead)."""
        tests = [s.name for s in steps if selects_tests(s)]
        if self.job.mode != "heal" or len(tests) != 1:
            return None
        ids, source = list(self.job.failing_tests), "--tests"
        if not ids:
            ids, source = failing_test_ids(self.job.ci_log), "the CI log"
        if not ids:
            ids, source = last_failed_ids(self.ws.repo), "pytest's last run in the checkout"
        if not ids:
            read = RepoPython(self.ws.path).read  # never through a link that leaves the tree
            ids = suspect_tests(self.ws.base_changed_paths(), self.ws.tracked("*.py"), read)
            source = _SUSPECTS
        if not ids:
            return None
        self.transcript.write({"event": "known_failures", "source": source, "ids": ids})
        gate = self._gate(steps, "before", selection={tests[0]: ids})
        step = next(s for s in gate.steps if s.name == tests[0])
        outcomes = step.evidence.selected if step.evidence is not None else {}
        # A test id, or a test file (its tests as one: bot/fix/suspects.py).
        failed = {i for i, outcome in outcomes.items() if outcome in ("failed", "error")}
        named = [
            f.test_id is not None and (f.test_id in failed or f.test_id.split("::")[0] in failed)
            for f in step.failures
        ]
        if not failed or not all(named):
            return None  # passes here, not collected, or failures that name no test
        self.baseline_guessed = source == _SUSPECTS
        return gate

    def _first_failure_baseline(self, steps: Sequence[GateStep]) -> GateRun | None:
        """Nothing names the failing tests (or what did passes here): the whole gate, its
        test steps stopping at their first failing test. That failure is one the whole run has
        too (the same order, cut short), and the full gate runs once on the fix. A small suite
        runs whole (bot.gate.kinds.pytest). None when a run stopped at something no agent can
        fix alone (a failure without a test, a timeout, infra): the whole gate instead."""
        if self.job.mode != "heal":
            return None
        gate = self._gate(steps, "before", first_failure=True)
        cut = [s for s in gate.steps if s.evidence is not None and s.evidence.cut_short]
        if cut:
            self.transcript.write(
                {
                    "event": "known_failures",
                    "source": "first failure",
                    "steps": [s.name for s in cut],
                }
            )
        if any(f.test_id is None or f.category in _NOT_ALONE for s in cut for f in s.failures):
            return None
        self.baseline_guessed = bool(cut)
        return gate

    def flaky_check(self, steps: Sequence[GateStep], seen: Sequence[Failure] = ()) -> bool:
        """Re-run failing tests once on their own; those that pass are flaky, not broken.
        `seen`: flaky tests found in an earlier baseline of this run."""
        failures = self.report.failures
        tested = [f for f in failures if f.test_id and f.category is not Category.TIMEOUT]
        if not self.job.config.flaky_check or not tested or self.job.mode != "heal":
            if seen:
                self._update(flaky=list(seen))
            return True
        only, selection = rerun_plan(tested, steps)
        rerun = self._gate(steps, "flaky check", only=only, selection=selection)
        still = signatures(rerun.failures)
        still_ids = {f.test_id for f in rerun.failures}
        flaky = [
            f.model_copy(update={"category": Category.FLAKY})
            for f in tested
            if f.signature not in still and f.test_id not in still_ids
        ]
        flaky_sigs = signatures(flaky)
        to_fix = [f for f in failures if f.signature not in flaky_sigs]
        if flaky and not to_fix and self.baseline_guessed:
            # Only flaky tests, in a run that left tests out: the tests it never ran may fail.
            self.baseline_guessed = False
            gate = self._gate(steps, "before")
            if not gate.green:
                self._update(gate_before=gate, failures=gate.failures)
                return self.flaky_check(steps, flaky)
        flaky = [*seen, *(f for f in flaky if f.signature not in signatures(seen))]
        self._update(flaky=flaky, failures=to_fix)
        if flaky and not to_fix:
            self._end(
                Status.FLAKY,
                StopReason.NOTHING_TO_FIX,
                f"{len(flaky)} flaky test(s) passed on re-run; nothing to fix",
            )
            return False
        return True

    def attempts(self, steps: Sequence[GateStep]) -> bool:
        # What the gate compiled so far ran only the base's code: from here on, nothing the
        # agent (or code it wrote) puts in the bytecode cache is read.
        self.bytecode.seal()
        current = self.report.failures
        fixable = [f for f in current if f.category not in UNFIXABLE_CATEGORIES]
        if self.job.mode == "heal" and not fixable:
            kinds = ", ".join(sorted({f.category.value for f in current}))
            self._end(
                Status.GAVE_UP,
                StopReason.NOTHING_TO_FIX,
                f"only {kinds} failures: no code change can fix these",
            )
            return False
        previous: frozenset[str] | None = None
        for number in range(1, self.job.config.max_attempts + 1):
            if time.monotonic() >= self.deadline:
                return self._out_of_budget()
            if self._needs_agent(current):
                return False
            cap = self.job.config.max_attempts
            self._progress(f"attempt {number} of {cap}: {len(current)} failure(s) to fix")
            attempt = self._attempt(number, steps, current)
            self._update(attempts=[*self.report.attempts, attempt])
            if attempt.outcome == "green":
                return True
            if attempt.outcome == "budget" or time.monotonic() >= self.deadline:
                return self._out_of_budget(attempt.agent_budget_hit)
            if attempt.outcome in ("refused", "no_change"):
                continue
            if all(f.category in UNFIXABLE_CATEGORIES for f in attempt.remaining):
                kinds = ", ".join(sorted({f.category.value for f in attempt.remaining}))
                self._end(
                    Status.GAVE_UP,
                    StopReason.NOTHING_TO_FIX,
                    f"after attempt {number} only {kinds} failures are left: no code change "
                    "can fix these",
                )
                return False
            now_sigs = signatures(attempt.remaining)
            if previous is not None and now_sigs == previous:
                self._end(
                    Status.GAVE_UP,
                    StopReason.STUCK,
                    f"attempt {number} ended with the same failures as the attempt before it",
                )
                return False
            previous = now_sigs
            current = attempt.remaining
        last = self.report.attempts[-1]
        status = Status.REFUSED if last.refused else Status.GAVE_UP
        reason = StopReason.REFUSED if last.refused else StopReason.ATTEMPT_CAP
        left = len(last.remaining)
        self._end(
            status,
            reason,
            f"{self.job.config.max_attempts} attempt(s) used; {left} failure(s) left",
        )
        return False

    def _needs_agent(self, current: Sequence[Failure]) -> bool:
        """Without an agent only the fixers can act: stop, and say so, once none of what is
        left is theirs (rather than spending every attempt on no change)."""
        if self.job.agent.name != "none":
            return False
        if any(f.category in FIXER_CATEGORIES and f.fixable for f in current):
            return False
        left = [f for f in current if f.category not in UNFIXABLE_CATEGORIES]
        self._end(
            Status.GAVE_UP,
            StopReason.NEEDS_AGENT,
            f"{len(left)} failure(s) left need an agent, and none is configured: set "
            "ANTHROPIC_API_KEY (--agent claude), or use --agent command / --agent-preset",
        )
        return True

    def propose(self, steps: Sequence[GateStep]) -> bool:
        """Rebuild the verified patch as one commit on the base (the same path the Actions
        `propose` takes), write the branch, push it; any failure here is said, never hidden."""
        del steps
        verified = self.report.gate_after
        tree = verified.tree if verified is not None else None
        # The tree the last gate ran on, not the work tree now: a process the agent left
        # behind may have written there since, and that is neither proposed nor fix.patch.
        patch = self.ws.total_diff(tree)
        if not patch.strip():
            self._end(
                Status.GAVE_UP, StopReason.ATTEMPT_CAP, "the gate is green but nothing was changed"
            )
            return False
        self.patch, self.verified_patch = patch, True
        branch = branch_name(
            self.job.mode,
            self.job.config.branch_prefix,
            git.short_sha(self.ws.base_sha),
            self.job.issue,
        )
        try:
            built = proposal.build(
                self.ws,
                patch,
                mode=self.job.mode,
                config=self.job.config,
                message=commit_message(self.report),
                verified_tree=tree,
            )
        except ProposalError as exc:
            return self._not_proposed(str(exc))
        if built.commit is None:
            self._end(
                Status.REFUSED,
                StopReason.REFUSED,
                f"the whole fix failed the guards when re-checked: {built.refusal}",
            )
            return False
        delivered = proposal.deliver(
            self.ws,
            built.commit,
            branch,
            url=(self.job.config.push_url or self.ws.remote_url) if self.job.push else None,
            local=self.job.local_branch,
        )
        self._update(proposal=delivered)
        if delivered.push_error:
            return self._not_proposed(delivered.push_error)
        where = f"{branch} (local branch)"
        if delivered.pushed:
            where = f"{branch} on {delivered.remote}"
        elif not self.job.local_branch:
            where = f"{branch}, verified; the propose stage pushes it"
        # The headline already counts what was fixed: the detail says where it went.
        status = Status.PROPOSED if self.job.mode == "implement" else Status.HEALED
        self._end(status, StopReason.GREEN, f"proposed as {where}")
        return True

    def _not_proposed(self, why: str) -> bool:
        self._end(
            Status.NOT_PROPOSED,
            StopReason.NOT_PROPOSED,
            f"the gate is green on the fix, but it was not proposed: {why}; the fix is in fix.patch",
        )
        return False

    # -- one attempt --------------------------------------------------------------

    def _attempt(
        self, number: int, steps: Sequence[GateStep], current: Sequence[Failure]
    ) -> Attempt:
        started = time.monotonic()
        ws, config = self.ws, self.job.config
        ws.checkpoint()
        self.transcript.write({"event": "attempt", "attempt": number, "failures": len(current)})
        fixer_names: list[str] = []
        remaining = list(current)
        fixers = run_fixers(remaining, steps, ws.path, self.env, timeout=self._left())
        for run in fixers:
            fixer_names.append(run.name)
            self.transcript.write(
                {
                    "event": "fixer",
                    "attempt": number,
                    "name": run.name,
                    "exit_code": run.exit_code,
                    "output": run.output,
                }
            )
        if fixers:
            # Only what the agent still has to do goes into its prompt.
            lint_steps = {s.name for s in steps if has_fixer(s)}
            check = self._gate(steps, f"fixers {number}", only=lint_steps)
            remaining = [f for f in remaining if f.step not in lint_steps] + check.failures
        said, called = AgentOutcome(), False
        for_agent = [f for f in remaining if f.category not in UNFIXABLE_CATEGORIES]
        wants_agent = bool(for_agent) or self.job.mode == "implement"
        if wants_agent and self.job.agent.name != "none":
            fixer_names.append(self.job.agent.name)
            brief = self._prompt(for_agent, number)
            request = AgentRequest(
                mode=self.job.mode,
                workdir=ws.path,
                rules=brief.rules,
                task=brief.task,
                context=brief.context,
                failures=for_agent,
                attempt=number,
                scratch=self.job.report_dir,
                env=self.env,
                deadline=self.deadline,
                run_tests=self._test_runner(steps),
            )
            try:
                said, called = self.job.agent.attempt(request), True
            except SelfhealError as exc:
                # The service failed or refused us: keep what the agent did so far, then stop.
                for event in getattr(exc, "events", []):
                    self.transcript.write({**event, "attempt": number})
                raise
            for event in said.events:
                self.transcript.write({**event, "attempt": number})
        base = Attempt(
            number=number,
            fixers=fixer_names,
            agent=self.job.agent.name if called else None,
            agent_summary=said.summary,
            agent_exit_code=said.exit_code,
            agent_turns=said.turns,
            agent_tool_calls=said.tool_calls,
            agent_usage=said.usage,
            agent_cost_usd=said.cost_usd,
            agent_budget_hit=said.budget_hit,
        )
        run_wide_budget = said.stop_run
        diff = ws.attempt_diff()
        if not diff.strip():
            return base.model_copy(
                update={
                    "outcome": "budget" if run_wide_budget else "no_change",
                    "remaining": list(current),
                    "duration_s": time.monotonic() - started,
                }
            )
        changes = parse_diff(diff)
        verdicts = guard_diff(ws, diff, self.job.mode, config)
        self.transcript.write(
            {
                "event": "guards",
                "attempt": number,
                "verdicts": [v.model_dump(mode="json") for v in verdicts],
            }
        )
        file_changes = [
            FileChange(path=c.path, added=len(c.added), removed=len(c.removed)) for c in changes
        ]
        if not all(v.ok for v in verdicts):
            ws.rollback()
            return base.model_copy(
                update={
                    "changes": file_changes,
                    "guards": verdicts,
                    "refused": True,
                    "outcome": "refused",
                    "remaining": list(current),
                    "duration_s": time.monotonic() - started,
                }
            )
        verification = self._verify(steps, current, number)
        unproven = self._unproven(verification)
        if unproven is not None:
            ws.rollback()
            return base.model_copy(
                update={
                    "changes": file_changes,
                    "guards": [*verdicts, unproven],
                    "refused": True,
                    "verification": verification,
                    "outcome": "refused",
                    "remaining": list(current),
                    "duration_s": time.monotonic() - started,
                }
            )
        outcome: Literal["green", "failing", "budget"] = (
            "green" if verification.green and not verification.partial else "failing"
        )
        if outcome != "green" and (run_wide_budget or time.monotonic() >= self.deadline):
            outcome = "budget"
        if outcome == "green":
            self._update(gate_after=verification)
        return base.model_copy(
            update={
                "changes": file_changes,
                "guards": verdicts,
                "verification": verification,
                "remaining": verification.failures,
                "outcome": outcome,
                "duration_s": time.monotonic() - started,
            }
        )

    def _verify(
        self, steps: Sequence[GateStep], current: Sequence[Failure], number: int
    ) -> GateRun:
        """Re-run only what failed; when that passes, the full gate once, on a clean checkout
        of the commit that would be proposed (nothing the agent left outside it survives)."""
        self._progress(f"verifying attempt {number}")
        if self.job.mode == "heal" and current:
            only, selection = rerun_plan(current, steps)
            quick = self._gate(steps, f"verify {number}", only=only, selection=selection)
            if not quick.green and not (selection and _fails_differently(quick, current)):
                return quick
            # Green, or the selected tests failed alone in a new way: an order-dependent suite
            # (a test reading state an earlier test sets) judges only in a full run.
        tree = self._seal(number)
        before = as_reference(self.report.gate_before)
        watch = failing_ids(before) if before is not None else None
        full = self._gate(steps, f"gate {number}", watch=watch)
        return full.model_copy(update={"tree": tree})

    def _unproven(self, verification: GateRun) -> GuardVerdict | None:
        """A gate run after a change that does not show the fix: tests that ran before no
        longer give evidence (the change stopped them running), fewer tests collected than
        before, or a test that failed before not seen passing. Refused like a guard would,
        so the change is rolled back and the next attempt is told why."""
        before = as_reference(self.report.gate_before)
        if before is None:
            return None
        had_evidence = {s.name for s in before.steps if s.status is not StepStatus.UNVERIFIED}
        problems = [
            f"{s.name}: after this change the tests give no evidence of running ({s.note})"
            for s in verification.steps
            if s.status is StepStatus.UNVERIFIED and s.name in had_evidence
        ]
        if not problems and (verification.partial or not verification.green):
            return None
        problems += evidence_problems(before, verification) if not problems else []
        if not problems:
            return None
        shown = "; ".join(problems[:3]) + (
            f"; and {len(problems) - 3} more" if len(problems) > 3 else ""
        )
        return GuardVerdict(
            guard="evidence",
            ok=False,
            reason=f"{shown}. Fix the code under test; every test must still be collected and pass.",
        )

    def _seal(self, number: int) -> str:
        """Commit the work tree as it would be proposed, and make the work tree exactly that
        commit's bytes; returns its tree. The next attempt starts from there."""
        try:
            sha = self.ws.commit(self.job.config.git, f"selfheal: candidate {number}")
        except ProposalError:  # only ignored or untracked-by-rule files changed
            sha = self.ws.base_sha
        self.ws.reset_to(sha, staged=True)  # commit staged it, whether or not it committed
        return self.ws.tree_of(sha)

    def _prompt(self, failures: Sequence[Failure], number: int) -> Brief:
        # About a quarter of the context's budget: build_brief's share for the source.
        source_chars = self.job.config.digest_tokens // 4 * CHARS_PER_TOKEN
        return build_brief(
            self.job.config,
            mode=self.job.mode,
            failures=failures,
            attempts=self.report.attempts,
            instructions=repo_instructions(self.ws.path),
            issue=self.job.issue,
            attempt_number=number,
            related=related_source(self.ws.path, failures, source_chars),
            ci_log=self.job.ci_log,
            commit_change=self._commit_change,
        )

    @functools.cached_property
    def _commit_change(self) -> str:
        """The red commit's own change, read once (one Run, one base)."""
        return self.ws.base_change() if self.job.mode == "heal" else ""

    # -- helpers ------------------------------------------------------------------

    def _gate(
        self,
        steps: Sequence[GateStep],
        label: str,
        only: Collection[str] | None = None,
        selection: Mapping[str, Sequence[str]] | None = None,
        watch: Mapping[str, Sequence[str]] | None = None,
        *,
        first_failure: bool = False,
    ) -> GateRun:
        self._end_left_behind(label)  # nothing the agent started runs beside a gate
        before = self.ws.untracked()
        self.bytecode.prune()  # only what was there before the agent ran (see bot.bytecode)
        gate = run_gate(
            steps,
            self.ws.path,
            label=label,
            env=self.bytecode.env(self.env),
            deadline=self.deadline,
            only=only,
            selection=selection,
            watch=watch,
            first_failure=first_failure,
        )
        # What the run itself wrote (pyparsing's tests write diagrams into the checkout) is
        # the gate's output, not the fix: never proposed, and removed before verification.
        products = self.ws.untracked() - before
        if products:
            self.ws.leave_out(products)
            self.transcript.write(
                {"event": "gate_products", "label": label, "paths": sorted(products)}
            )
        self.transcript.write(
            {
                "event": "gate",
                "label": label,
                "green": gate.green,
                "steps": {s.name: s.status.value for s in gate.steps},
                "failures": [f.signature for f in gate.failures],
                "duration_s": round(gate.duration_s, 3),
            }
        )
        # Labels repeat (the agent's run_tests): time spent under one label adds up.
        key = f"gate: {label}"
        spent = self.report.timings.get(key, 0.0) + gate.duration_s
        self._update(timings={**self.report.timings, key: round(spent, 3)})
        if gate.needs_gpu:
            self._update(needs_gpu=True)  # a step that requires a GPU could not run here
        return gate

    def _left(self) -> float:
        return max(self.deadline - time.monotonic(), 1.0)

    def _out_of_budget(self, hit: str | None = None) -> bool:
        if hit is None:
            hit = f"wall_seconds={self.job.config.budget.wall_seconds:g}"
        self._end(
            Status.GAVE_UP,
            StopReason.BUDGET,
            f"budget {hit} reached; the fix so far is in fix.patch",
        )
        return False

    def _test_runner(self, steps: Sequence[GateStep]) -> Callable[[Sequence[str]], str]:
        """The agent's run_tests: the gate's own pytest steps, on given ids or whole."""
        tests = {s.name for s in steps if selects_tests(s)}

        def run(ids: Sequence[str]) -> str:
            if not tests:
                return "this gate has no pytest step; the full gate runs after your attempt"
            selection = {name: list(ids) for name in tests} if ids else None
            gate = self._gate(steps, "agent run_tests", only=tests, selection=selection)
            # The note says what the output cannot: an id that was not collected, no evidence.
            parts = [
                f"{s.name}: {s.status.value}{f' ({s.note})' if s.note else ''}\n{s.output}"
                for s in gate.steps
            ]
            return "\n\n".join(parts)

        return run

    def _end_left_behind(self, when: str) -> None:
        """End what an agent or a step left running (a daemon in a session of its own, its
        tag removed): it could write into the work tree while a gate runs or after."""
        ended = end_left_behind()
        if ended:
            self.transcript.write({"event": "left_behind", "before": when, "ended": len(ended)})

    def _safe_total_diff(self) -> str:
        try:
            return self.ws.total_diff()
        except Exception:  # noqa: BLE001 - the patch is best effort while unwinding a failure
            return self.patch

    def _update(self, **fields: object) -> None:
        self.report = self.report.model_copy(update=fields)

    def _end(self, status: Status, reason: StopReason, detail: str) -> None:
        self._update(status=status, stop_reason=reason, detail=detail)
        self._progress(f"{status.value}: {detail}")

    def _progress(self, line: str) -> None:
        if self.job.progress is not None:
            self.job.progress(line)

    def finish(self) -> Report:
        """Stamp the end time and totals; safe to call after a failure."""
        totals = getattr(self.job.agent, "totals", None)
        if totals is not None:
            self._update(
                agent_totals=totals.as_dict(), model=getattr(self.job.agent, "model", None)
            )
        self._update(
            finished_at=now(),
            timings={**self.report.timings, "total": round(time.monotonic() - self.clock0, 3)},
            peak_rss_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        )
        return self.report
