"""decide: GitHub's example payloads and hostile variants of them -> implement, heal or skip."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from bot.errors import BadInput
from bot.github.access import KILL_SWITCH_LABEL
from bot.github.comment_command import command_args
from bot.github.decision import Decision
from bot.github.events import decide
from bot.github.refs import branch_name_problem

EVENTS = Path(__file__).resolve().parents[2] / "fixtures" / "events"
PR_SHA = "ec26c3e57ca3a959ca5aad62de7213c562f8c821"


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EVENTS / f"{name}.json").read_text(encoding="utf-8"))
    return data


def run(event: str, payload: object, **rules: Any) -> Decision:
    rules = {"trigger_label": "selfheal", "branch_prefix": "selfheal/", **rules}
    return decide(event, payload, **rules)


def skipped(decision: Decision, *words: str) -> None:
    """The decision is a skip whose one-line reason says each of `words`."""
    assert decision.job == "skip", decision
    assert "\n" not in decision.reason and decision.reason
    for word in words:
        assert word in decision.reason, decision.reason


def labeled(**issue: Any) -> dict[str, Any]:
    payload = load("issues-labeled")
    payload["issue"].update(issue)
    return payload


def comment(body: Any, *, pr: bool = False, **issue: Any) -> dict[str, Any]:
    payload = load("issue-comment-created-pr" if pr else "issue-comment-created")
    payload["comment"]["body"] = body
    payload["issue"].update(issue)
    return payload


def failed_run(**run_fields: Any) -> dict[str, Any]:
    payload = load("workflow-run-completed-failure")
    payload["workflow_run"].update(run_fields)
    return payload


def dispatch(inputs: Any, ref: str = "refs/heads/master") -> dict[str, Any]:
    payload = load("workflow-dispatch-heal")
    payload["inputs"] = inputs
    payload["ref"] = ref
    return payload


def as_bot(user: dict[str, Any], login: str) -> None:
    user.update(login=login, type="Bot")


# --- the example payloads -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "name", "expected"),
    [
        (
            "issues",
            "issues-labeled",
            {"job": "implement", "issue": 1, "repository": "Codertocat/Hello-World"},
        ),
        (
            "issue_comment",
            "issue-comment-created",
            {
                "job": "implement",
                "issue": 1,
                "repository": "Codertocat/Hello-World",
                "command_args": "fix the spelling, keep the wording",
                "comment_id": 492700400,
            },
        ),
        (
            "issue_comment",
            "issue-comment-created-pr",
            {
                "job": "heal",
                "pull_request": 2,
                "repository": "Codertocat/Hello-World",
                "comment_id": 492700400,
            },
        ),
        (
            "workflow_run",
            "workflow-run-completed-failure",
            {
                "job": "heal",
                "pull_request": 2,
                "head_branch": "changes",
                "head_sha": PR_SHA,
                "repository": "octo-org/octo-repo",
                "run_id": 289782451,
            },
        ),
        (
            "workflow_dispatch",
            "workflow-dispatch-implement",
            {"job": "implement", "issue": 1, "repository": "octo-org/octo-repo"},
        ),
        (
            "workflow_dispatch",
            "workflow-dispatch-heal",
            {"job": "heal", "head_branch": "master", "repository": "octo-org/octo-repo"},
        ),
    ],
)
def test_each_example_payload(event: str, name: str, expected: dict[str, Any]) -> None:
    decision = run(event, load(name))
    blank = {
        "issue": None,
        "pull_request": None,
        "head_branch": None,
        "head_sha": None,
        "actor": "Codertocat",
        "command_args": "",
        "run_id": None,
        "other_actors": (),
        "comment_id": None,
        "head_repository": None,
    }
    got = asdict(decision)
    assert got.pop("reason")
    assert got == {**blank, **expected}
    assert "\n" not in decision.reason


def test_reasons_say_what_and_which() -> None:
    assert run("issues", load("issues-labeled")).reason == (
        "issue #1 was labeled 'selfheal': implement it"
    )
    heal = run("issue_comment", load("issue-comment-created-pr")).reason
    assert heal.startswith("/selfheal on pull request #2: heal its head branch")
    assert "fork" in heal  # says that fork-ness is not known from the payload
    assert "ec26c3e57ca3" in run("workflow_run", load("workflow-run-completed-failure")).reason


def test_events_selfheal_does_not_act_on() -> None:
    for event in ("push", "pull_request", "pull_request_target", "", "ISSUES"):
        skipped(run(event, load("issues-labeled")), "does not act on", repr(event))
    skipped(run("issues\nlabeled", load("issues-labeled")), "'issues\\nlabeled'")


# --- issues ---------------------------------------------------------------------------------


def test_another_label_is_not_the_trigger() -> None:
    payload = load("issues-labeled")
    payload["label"]["name"] = "bug"
    decision = run("issues", payload)
    skipped(decision, "'bug'", "not the trigger label 'selfheal'")
    assert decision.issue == 1


def test_the_trigger_label_is_configurable_and_case_insensitive() -> None:
    payload = load("issues-labeled")
    payload["label"]["name"] = "Fix-Me"
    assert run("issues", payload, trigger_label="fix-me").job == "implement"
    skipped(run("issues", payload), "not the trigger label")


@pytest.mark.parametrize("action", ["opened", "unlabeled", "edited", "closed"])
def test_other_issue_actions_are_skipped(action: str) -> None:
    payload = load("issues-labeled")
    payload["action"] = action
    skipped(run("issues", payload), repr(action), "labeled")


def test_a_closed_issue_is_skipped() -> None:
    decision = run("issues", labeled(state="closed"))
    skipped(decision, "issue #1 is 'closed'")
    assert decision.issue == 1


def test_a_locked_issue_is_skipped() -> None:
    skipped(run("issues", labeled(locked=True, active_lock_reason="too heated")), "locked")


@pytest.mark.parametrize("name", [KILL_SWITCH_LABEL, "Selfheal:OFF"])
def test_the_kill_switch_label_stops_an_issue(name: str) -> None:
    payload = load("issues-labeled")
    payload["issue"]["labels"].append({"id": 7, "name": name, "color": "000000"})
    skipped(run("issues", payload), "issue #1 has the selfheal:off label")


def test_an_issue_that_is_a_pull_request_is_not_implemented() -> None:
    payload = labeled(pull_request={"url": "https://api.github.com/repos/o/r/pulls/1"})
    skipped(run("issues", payload), "is a pull request")


# --- who triggered it -----------------------------------------------------------------------


def test_a_bot_sender_is_skipped() -> None:
    payload = load("issues-labeled")
    as_bot(payload["sender"], "some-app[bot]")
    decision = run("issues", payload)
    skipped(decision, "sender some-app[bot] is a bot", "allowed_bots")
    assert decision.actor == "some-app[bot]"


@pytest.mark.parametrize("listed", ["dependabot[bot]", "Dependabot[bot]", "dependabot"])
def test_a_bot_in_allowed_bots_may_trigger(listed: str) -> None:
    payload = load("issues-labeled")
    as_bot(payload["sender"], "dependabot[bot]")
    decision = run("issues", payload, allowed_bots=[listed])
    assert (decision.job, decision.actor) == ("implement", "dependabot[bot]")


def test_allowing_one_bot_does_not_allow_another() -> None:
    payload = load("issue-comment-created")
    as_bot(payload["sender"], "selfheal[bot]")
    skipped(run("issue_comment", payload, allowed_bots=["dependabot[bot]"]), "selfheal[bot]")


def test_a_sender_that_is_not_a_github_login_is_skipped() -> None:
    payload = load("issues-labeled")
    payload["sender"]["login"] = "x" * 100_000
    decision = run("issues", payload)
    skipped(decision, "is not a GitHub login")
    assert decision.actor is None
    assert len(decision.reason) < 300


# --- issue_comment --------------------------------------------------------------------------


def test_a_comment_on_a_pull_request_heals_it() -> None:
    decision = run("issue_comment", comment("/selfheal  the flaky test too\n", pr=True))
    assert (decision.job, decision.pull_request, decision.issue) == ("heal", 2, None)
    assert decision.command_args == "the flaky test too"
    assert decision.head_branch is None  # only the API knows it


@pytest.mark.parametrize(
    "body",
    [
        "Looks good to me.",
        "",
        "please /selfheal this",
        "> /selfheal",
        ">/selfheal fix it",
        "> > /selfheal",
        "    /selfheal (an indented code block)",
        "\t/selfheal",
        "/selfheals",
        "/selfheal-now",
        "/SELFHEAL",
        "`/selfheal`",
        "```\n/selfheal\n```",
        "~~~~ text\n/selfheal\n~~~\n~~~~",
        "before\u2028/selfheal",  # GitHub shows this on one line
    ],
)
def test_comments_without_the_command_at_the_start_of_a_line(body: str) -> None:
    decision = run("issue_comment", comment(body))
    skipped(decision, "issue #1 has no line starting with /selfheal")
    assert decision.issue == 1


@pytest.mark.parametrize(
    ("body", "args"),
    [
        ("/selfheal", ""),
        ("/selfheal   ", ""),
        ("   /selfheal go", "go"),
        ("Thanks!\r\n/selfheal add tests\r\nmore", "add tests"),
        ("old\r/selfheal cr only", "cr only"),
        ("> quoted\n/selfheal real one\n/selfheal second", "real one"),
        ("```\n/selfheal in code\n```\n/selfheal after the fence", "after the fence"),
        ("```py\n```not-a-close\n/selfheal still code\n```\n/selfheal out", "out"),
    ],
)
def test_the_command_on_its_own_line(body: str, args: str) -> None:
    assert command_args(body) == args
    decision = run("issue_comment", comment(body))
    assert (decision.job, decision.issue, decision.command_args) == ("implement", 1, args)


def test_an_edited_comment_is_not_a_command() -> None:
    payload = comment("/selfheal")
    payload["action"] = "edited"
    skipped(run("issue_comment", payload), "'edited'", "only new comments")


def test_a_command_on_a_closed_pull_request_is_skipped() -> None:
    decision = run("issue_comment", comment("/selfheal", pr=True, state="closed"))
    skipped(decision, "pull request #2 is 'closed'")
    assert decision.pull_request == 2


def test_a_command_on_a_locked_issue_is_skipped() -> None:
    skipped(run("issue_comment", comment("/selfheal", locked=True)), "issue #1 is locked")


def test_the_kill_switch_label_stops_a_pull_request() -> None:
    payload = comment("/selfheal", pr=True)
    payload["issue"]["labels"] = [{"name": "selfheal:off"}]
    skipped(run("issue_comment", payload), "pull request #2 has the selfheal:off label")


def test_a_comment_longer_than_github_allows_is_skipped() -> None:
    skipped(run("issue_comment", comment("/selfheal\n" + "x" * 70_000)), "longer than GitHub")


def test_a_null_comment_body_has_no_command() -> None:
    skipped(run("issue_comment", comment(None)), "no line starting with /selfheal")


# --- workflow_run ---------------------------------------------------------------------------


@pytest.mark.parametrize("conclusion", ["success", "cancelled", "skipped", "timed_out", None])
def test_a_run_that_did_not_fail_is_not_healed(conclusion: str | None) -> None:
    decision = run("workflow_run", failed_run(conclusion=conclusion))
    skipped(decision, "conclusion is", "nothing to heal")


def test_a_run_that_is_not_completed_is_skipped() -> None:
    payload = failed_run(status="in_progress")
    payload["action"] = "requested"
    skipped(run("workflow_run", payload), "'requested'", "completes")


def test_a_run_for_a_fork_is_reviewed_with_the_fixers_only() -> None:
    payload = failed_run()
    payload["workflow_run"]["head_repository"]["full_name"] = "mallory/octo-repo"
    decision = run("workflow_run", payload)
    assert decision.job == "review" and decision.head_repository == "mallory/octo-repo"
    assert decision.head_sha == payload["workflow_run"]["head_sha"]
    assert "fork 'mallory/octo-repo'" in decision.reason and "never healed" in decision.reason


def test_a_fork_whose_name_is_not_a_repository_name_is_skipped() -> None:
    payload = failed_run()
    payload["workflow_run"]["head_repository"]["full_name"] = "mallory/x\n::error::"
    skipped(run("workflow_run", payload), "fork", "mallory/x\\n")


def test_a_fork_run_by_a_bot_is_skipped() -> None:
    payload = failed_run()
    payload["workflow_run"]["head_repository"]["full_name"] = "mallory/octo-repo"
    payload["workflow_run"]["actor"]["type"] = "Bot"
    skipped(run("workflow_run", payload), "no bot loops")


def test_a_run_whose_head_repository_is_gone_is_skipped() -> None:
    skipped(run("workflow_run", failed_run(head_repository=None)), "head_repository is null")


def test_selfheal_own_branches_are_not_healed() -> None:
    decision = run("workflow_run", failed_run(head_branch="selfheal/heal-3484a3fb"))
    skipped(decision, "'selfheal/heal-3484a3fb'", "selfheal's own", "loop")


def test_the_branch_prefix_is_the_configured_one() -> None:
    payload = failed_run(head_branch="bots/fix-1")
    skipped(run("workflow_run", payload, branch_prefix="bots/"), "selfheal's own")
    assert run("workflow_run", payload).job == "heal"
    assert run("workflow_run", failed_run(), branch_prefix="").job == "heal"


@pytest.mark.parametrize(
    ("role", "person"),
    [
        ("author", {"name": "selfheal[bot]", "email": "selfheal[bot]@users.noreply.github.com"}),
        (
            "author",
            {"name": "Renovate", "email": "29139614+renovate[bot]@users.noreply.github.com"},
        ),
        ("committer", {"name": "dependabot[bot]", "email": "support@github.com"}),
    ],
)
def test_commits_by_bots_are_not_healed(role: str, person: dict[str, str]) -> None:
    payload = failed_run()
    payload["workflow_run"]["head_commit"][role] = person
    skipped(run("workflow_run", payload), f"commit's {role}", "is a bot")


def test_commits_by_an_allowed_bot_are_healed() -> None:
    payload = failed_run()
    payload["workflow_run"]["head_commit"]["author"] = {
        "name": "dependabot[bot]",
        "email": "49699333+dependabot[bot]@users.noreply.github.com",
    }
    as_bot(payload["sender"], "dependabot[bot]")
    as_bot(payload["workflow_run"]["actor"], "dependabot[bot]")
    skipped(run("workflow_run", payload), "dependabot[bot] is a bot")
    assert run("workflow_run", payload, allowed_bots=["dependabot[bot]"]).job == "heal"


def test_a_run_started_by_a_bot_is_skipped() -> None:
    payload = failed_run()
    as_bot(payload["workflow_run"]["triggering_actor"], "github-actions[bot]")
    skipped(run("workflow_run", payload), "workflow_run.triggering_actor github-actions[bot]")


def test_a_run_without_pull_requests_heals_the_branch_alone() -> None:
    decision = run("workflow_run", failed_run(pull_requests=[]))
    assert (decision.job, decision.pull_request, decision.head_branch) == ("heal", None, "changes")
    garbage = run("workflow_run", failed_run(pull_requests=[{"number": True}, "x"]))
    assert (garbage.job, garbage.pull_request) == ("heal", None)


def test_an_uppercase_sha_is_normalised() -> None:
    assert run("workflow_run", failed_run(head_sha=PR_SHA.upper())).head_sha == PR_SHA


@pytest.mark.parametrize(
    "sha", ["", "ec26c3e", PR_SHA + "0", "g" * 40, " " + PR_SHA[1:], 1234, None, [PR_SHA]]
)
def test_an_invalid_sha_is_skipped(sha: object) -> None:
    skipped(run("workflow_run", failed_run(head_sha=sha)), "workflow_run.head_sha")


@pytest.mark.parametrize(
    ("branch", "says"),
    [
        ("../../x", "'..'"),
        ("-x", "starts with '-'"),
        ("--upload-pack=evil", "starts with '-'"),
        ("a..b", "'..'"),
        ("x.lock", "'.lock'"),
        ("a/.hidden", "starting with '.'"),
        ("", "is empty"),
        ("a b", "' '"),
        ("a\nb", "'\\n'"),
        ("ref@{1}", "'@{'"),
        ("x" * 256, "longer than 255 bytes"),
        (None, "is null, not a branch name"),
        (42, "is a number, not a branch name"),
    ],
)
def test_an_invalid_head_branch_is_skipped(branch: object, says: str) -> None:
    decision = run("workflow_run", failed_run(head_branch=branch))
    skipped(decision, says)
    assert decision.head_branch is None
    assert len(decision.reason) < 300


# --- workflow_dispatch ----------------------------------------------------------------------


def test_dispatch_implement_and_heal() -> None:
    implement = run("workflow_dispatch", load("workflow-dispatch-implement"))
    assert (implement.job, implement.issue) == ("implement", 1)
    heal = run("workflow_dispatch", load("workflow-dispatch-heal"))
    assert (heal.job, heal.head_branch, heal.head_sha) == ("heal", "master", None)


@pytest.mark.parametrize(
    ("inputs", "issue"),
    [({"issue": "42"}, 42), ({"job": "implement", "issue": 7}, 7), ({"issue": " 9 "}, 9)],
)
def test_dispatch_with_an_issue_implements_it(inputs: dict[str, Any], issue: int) -> None:
    decision = run("workflow_dispatch", dispatch(inputs))
    assert (decision.job, decision.issue) == ("implement", issue)


def test_dispatch_heal_with_a_branch_input() -> None:
    decision = run("workflow_dispatch", dispatch({"job": "heal", "branch": "feature/x"}))
    assert (decision.job, decision.head_branch) == ("heal", "feature/x")
    skipped(
        run("workflow_dispatch", dispatch({"job": "heal", "branch": "selfheal/issue-3"})),
        "selfheal's own",
    )
    skipped(run("workflow_dispatch", dispatch({"job": "heal", "branch": "-x"})), "'-'")


def test_dispatch_heal_on_a_tag_is_skipped() -> None:
    skipped(
        run("workflow_dispatch", dispatch({"job": "heal"}, ref="refs/tags/v1.0")),
        "'refs/tags/v1.0'",
        "not a branch",
    )


@pytest.mark.parametrize("inputs", [None, {}, {"job": ""}, {"issue": ""}, {"other": "x"}])
def test_dispatch_without_selfheal_inputs_does_nothing(inputs: object) -> None:
    skipped(run("workflow_dispatch", dispatch(inputs)), "nothing to do")


@pytest.mark.parametrize(
    ("inputs", "says"),
    [
        ({"job": "deploy"}, "'deploy', not implement or heal"),
        ({"job": "implement"}, "not an issue number"),
        ({"issue": "abc"}, "not an issue number"),
        ({"issue": "0"}, "not an issue number"),
        ({"issue": "-1"}, "not an issue number"),
        ({"issue": "1e3"}, "not an issue number"),
        ({"issue": "\u0663"}, "not an issue number"),  # Arabic-Indic three: isdigit, not ASCII
        ({"issue": "9" * 5000}, "not an issue number"),
        ({"job": True}, "input job is a boolean"),
        ({"issue": ["1"]}, "input issue is an array"),
        (["job", "heal"], "inputs is an array"),
    ],
)
def test_dispatch_with_bad_inputs_is_skipped(inputs: object, says: str) -> None:
    skipped(run("workflow_dispatch", dispatch(inputs)), says)


# --- garbage --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "says"),
    [
        ([], "is an array, not an object"),
        (None, "is null"),
        ("{}", "is a string"),
        (3, "is a number"),
        (True, "is a boolean"),
    ],
)
def test_a_payload_that_is_not_an_object_is_bad_input(payload: object, says: str) -> None:
    for event in ("issues", "issue_comment", "workflow_run", "workflow_dispatch", "push"):
        with pytest.raises(BadInput, match=f"the event payload {says}.*not a GitHub webhook"):
            run(event, payload)


@pytest.mark.parametrize(
    ("change", "says"),
    [
        (lambda p: p.pop("repository"), "repository is null"),
        (lambda p: p.update(repository=None), "repository is null"),
        (lambda p: p.update(repository="octo/repo"), "repository is a string"),
        (lambda p: p.pop("sender"), "sender is null"),
    ],
)
def test_a_payload_without_repository_or_sender_is_bad_input(change: Any, says: str) -> None:
    payload = load("issues-labeled")
    change(payload)
    with pytest.raises(BadInput, match=says):
        run("issues", payload)


@pytest.mark.parametrize(
    ("change", "says"),
    [
        (lambda p: p["repository"].update(full_name="a/b/c"), "is not owner/name"),
        (lambda p: p["repository"].update(full_name="owner/.."), "is not owner/name"),
        (lambda p: p["sender"].update(type=None), "sender.type is null"),
        (lambda p: p.pop("issue"), "no issue"),
        (lambda p: p.update(issue=[]), "issue is an array"),
        (lambda p: p["issue"].update(number=None), "issue.number is not an issue"),
        (lambda p: p["issue"].update(number="1"), "issue.number is not an issue"),
        (lambda p: p["issue"].update(number=True), "issue.number is not an issue"),
        (lambda p: p["issue"].update(number=0), "issue.number is not an issue"),
        (lambda p: p["issue"].update(number=2**40), "issue.number is not an issue"),
        (lambda p: p["issue"].update(number=1.0), "issue.number is not an issue"),
        (lambda p: p["issue"].update(state=None), "issue.state is null"),
        (lambda p: p["issue"].update(locked="false"), "issue.locked is a string"),
        (lambda p: p["issue"].update(labels=None), "issue.labels is null"),
        (lambda p: p["issue"].update(labels=[{"id": 1}]), "an entry without a name"),
        (lambda p: p["issue"].update(labels=["selfheal"]), "an entry without a name"),
        (lambda p: p.update(label=None), "label is null"),
        (lambda p: p["label"].update(name=["selfheal"]), "label.name is an array"),
        (lambda p: p.update(action=None), "action is null"),
    ],
)
def test_missing_or_mistyped_fields_are_skipped_with_the_path(change: Any, says: str) -> None:
    payload = load("issues-labeled")
    change(payload)
    skipped(run("issues", payload), says)


def test_huge_strings_keep_the_reason_short() -> None:
    payload = load("issues-labeled")
    payload["label"]["name"] = "x" * 5_000_000
    decision = run("issues", payload)
    skipped(decision, "not the trigger label")
    assert len(decision.reason) < 300
    payload = failed_run(conclusion="y" * 5_000_000)
    assert len(run("workflow_run", payload).reason) < 300


def _paths(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield path
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*path, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _paths(value, (*path, i))


HOSTILE: list[Any] = [None, True, 0, -1, 2**80, 1.5, "", "x" * 100_000, "\ud800", [], {}, [{}]]


@pytest.mark.parametrize(
    ("event", "name"),
    [
        ("issues", "issues-labeled"),
        ("issue_comment", "issue-comment-created"),
        ("issue_comment", "issue-comment-created-pr"),
        ("workflow_run", "workflow-run-completed-failure"),
        ("workflow_dispatch", "workflow-dispatch-implement"),
        ("workflow_dispatch", "workflow-dispatch-heal"),
    ],
)
def test_every_field_replaced_by_garbage_never_raises(event: str, name: str) -> None:
    """Each field, in turn, becomes each hostile value: always a Decision, never an exception
    (but BadInput, saying so, when repository or sender stops being an object)."""
    original = load(name)
    tried = 0
    for path in _paths(original):
        if not path:
            continue
        for value in HOSTILE:
            payload = copy.deepcopy(original)
            parent = payload
            for key in path[:-1]:
                parent = parent[key]
            parent[path[-1]] = value
            if (
                len(path) == 1
                and path[0] in ("repository", "sender")
                and not isinstance(value, dict)
            ):
                with pytest.raises(BadInput, match="not a GitHub webhook payload"):
                    run(event, payload)
                continue
            decision = run(event, payload)
            tried += 1
            assert decision.job in ("implement", "heal", "skip")
            assert decision.reason and "\n" not in decision.reason
            assert len(decision.reason) < 400, decision.reason
            json.dumps(asdict(decision))  # always printable as JSON
            if decision.head_branch is not None:
                assert branch_name_problem(decision.head_branch) is None
    assert tried > 100


def test_the_trigger_phrase_is_configurable() -> None:
    payload = comment("/fixit please\n")
    decision = run("issue_comment", payload, trigger_phrase="/fixit")
    assert (decision.job, decision.command_args) == ("implement", "please")
    assert decision.reason.startswith("/fixit on issue #1")
    skipped(run("issue_comment", comment("/selfheal\n"), trigger_phrase="/fixit"), "/fixit")
    skipped(run("issue_comment", payload), "no line starting with /selfheal")
