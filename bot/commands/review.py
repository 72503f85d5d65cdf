"""The Actions stages for a fork's red pull request: `work` runs the deterministic fixers on
the fork's code (no secret, no agent, no API call) and leaves their patch in the bundle;
`propose` posts it as one review with suggestions. Nothing is ever pushed to a fork.
"""

from __future__ import annotations

from bot.errors import BadInput
from bot.forge import git
from bot.github.bundle import BundleMeta, read_review_bundle, write_meta
from bot.github.context import Context, github_client
from bot.github.fork_review import fixers_patch, post_review
from bot.github.trigger import Refused, resolve
from bot.render.text import md_text
from bot.secrets import secret


def _say(ctx: Context, outputs: dict[str, str], line: str) -> int:
    print(f"selfheal: {line}")
    ctx.runner.set_outputs({"job": "review", "needs-gpu": "false", **outputs})
    ctx.runner.summary(f"**selfheal: fork review** - {md_text(line, 1000)}\n")
    return 0


def _skip(ctx: Context, reason: str) -> int:
    return _say(ctx, {"job": "skip", "status": "skipped", "reason": reason}, reason)


def _work(ctx: Context) -> int:
    """The fixers on the commit that failed; the patch goes into the bundle. No API call:
    this job's token, if any, is not needed, and the payload names the commit."""
    sha = ctx.decision.head_sha
    assert sha is not None
    if secret("ANTHROPIC_API_KEY"):
        return _skip(
            ctx,
            "a fork's code runs only in a job without the API key, and this job has "
            "ANTHROPIC_API_KEY: use the reusable workflow (its fixers job has no secret)",
        )
    git.ensure_commit(ctx.repo, sha)
    patch, runs = fixers_patch(ctx.repo, sha, ctx.config)
    for run in runs:
        print(f"selfheal: {run.name}: exit {run.exit_code}")
    ctx.bundle.mkdir(parents=True, exist_ok=True)
    (ctx.bundle / "fix.patch").write_text(patch, encoding="utf-8")
    meta = BundleMeta(job="review", repository=ctx.decision.repository or "", sha=sha, into="")
    write_meta(ctx.bundle, meta)
    status = "fixed" if patch.strip() else "nothing_to_suggest"
    ran = ", ".join(r.name for r in runs) or "no fixer (the gate has no ruff step)"
    return _say(ctx, {"status": status, "reason": ctx.decision.reason}, f"{ran}: {status}")


def _propose(ctx: Context) -> int:
    """Re-decide from the event (write token), check the bundle is for the same commit, and
    post the review; the bundle's patch is only ever shown, never applied or pushed."""
    github = github_client(ctx.config, ctx.decision)
    try:
        target = resolve(github, ctx.decision, ctx.config, checkout_sha="")
    except Refused as refusal:
        return _skip(ctx, refusal.reason)
    meta, patch = read_review_bundle(ctx.bundle)
    if (meta.job, meta.sha) != ("review", target.sha):
        raise BadInput(
            f"the bundle in {ctx.bundle} is for {meta.job} of {meta.sha[:12]}, but this event "
            f"asks to review {target.sha[:12]}: refused (was the bundle from another run?)"
        )
    done = post_review(github, target, patch)
    said = (
        f"review on pull request #{target.thread}: {done.suggestions} suggestion(s), "
        f"{done.leftover_hunks} change(s) as a patch in its body {done.url}".rstrip()
        if done.status == "suggested"
        else "the fixers changed nothing: no review"
    )
    return _say(ctx, {"status": done.status, "review-url": done.url}, said)


def review_stage(ctx: Context, stage: str) -> int:
    """One stage of a fork review. `run` (one job holding the write token and the key) and
    `ack` do nothing for a fork: its code must only run in a job without them."""
    if stage == "work":
        return _work(ctx)
    if stage == "propose":
        return _propose(ctx)
    if stage == "ack":  # no comment: the review is the answer; but is there a pull request?
        github = github_client(ctx.config, ctx.decision)
        try:
            target = resolve(github, ctx.decision, ctx.config, checkout_sha="")
        except Refused as refusal:
            return _skip(ctx, refusal.reason)
        outputs = {"status": "acknowledged", "sha": target.sha, "reason": ctx.decision.reason}
        return _say(ctx, outputs, ctx.decision.reason)
    return _skip(
        ctx,
        "a fork's pull request is reviewed only by the reusable workflow's separate jobs: its "
        "code never runs in a job that holds the write token or the API key",
    )
