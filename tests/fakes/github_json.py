"""The JSON shapes the fake GitHub answers with: repos, users, issues, pulls, comments, labels,
check runs, workflow runs and jobs, field for field as GitHub's REST API renders them.

Plain functions over the fake's state dicts (see ``github_api``); the caller resolves the state a
shape needs (the base branch's SHA, a comment's issue, the head repository) and passes it in.
``Roots`` carries the two roots every URL hangs off.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from typing import Any, NamedTuple
from urllib.parse import quote

# The legacy `permission` field folds the newer roles into the old three (plus none).
LEGACY_PERMISSION = {
    "admin": "admin",
    "maintain": "write",
    "write": "write",
    "triage": "read",
    "read": "read",
    "none": "none",
}
_ROLE_RANK = {"none": 0, "read": 1, "triage": 2, "write": 3, "maintain": 4, "admin": 5}
_WORKFLOW_ID = 161335

State = Mapping[str, Any]


class Roots(NamedTuple):
    api: str  # the fake's base URL: where `url` fields point
    html: str  # the web root: where `html_url` fields point


def node_id(prefix: str, number: int) -> str:
    return f"{prefix}_kwDO{number:010X}"


def head_label(pull: State) -> str:
    """The ``owner:branch`` form GitHub uses for a PR head (and filters ``head=`` by)."""
    return f"{pull['head_repo'].split('/')[0]}:{pull['head']}"


def author_association(repo: State, login: str) -> str:
    if login.lower() == repo["full_name"].split("/")[0].lower():
        return "OWNER"
    return "COLLABORATOR" if login.lower() in repo["roles"] else "NONE"


def user_json(roots: Roots, login: str, user_type: str | None = None) -> dict[str, Any]:
    user_id = zlib.crc32(login.lower().encode()) % 90_000_000 + 1_000_000
    kind = user_type or ("Bot" if login.endswith("[bot]") else "User")
    return {
        "login": login,
        "id": user_id,
        "node_id": node_id("U" if kind == "User" else "BOT", user_id),
        "avatar_url": f"https://avatars.githubusercontent.test/u/{user_id}?v=4",
        "url": f"{roots.api}/users/{quote(login)}",
        "html_url": f"{roots.html}/{quote(login)}",
        "type": kind,
        "site_admin": False,
    }


def team_json(slug: str) -> dict[str, Any]:
    return {"id": zlib.crc32(slug.encode()), "slug": slug, "name": slug}


def permission_json(roots: Roots, login: str, role: str) -> dict[str, Any]:
    """The body of ``GET /repos/{o}/{r}/collaborators/{login}/permission`` for ``role``."""
    rank = _ROLE_RANK[role]
    flags = {
        "admin": rank >= 5,
        "maintain": rank >= 4,
        "push": rank >= 3,
        "triage": rank >= 2,
        "pull": rank >= 1,
    }
    user = user_json(roots, login) | {"permissions": flags, "role_name": role}
    return {"permission": LEGACY_PERMISSION[role], "role_name": role, "user": user}


def repo_json(roots: Roots, repo: State) -> dict[str, Any]:
    full = repo["full_name"]
    owner, name = full.split("/")
    api = f"{roots.api}/repos/{full}"
    return {
        "id": repo["id"],
        "node_id": node_id("R", repo["id"]),
        "name": name,
        "full_name": full,
        "private": repo["private"],
        "visibility": "private" if repo["private"] else "public",
        "owner": user_json(roots, owner),
        "html_url": f"{roots.html}/{full}",
        "description": None,
        "fork": repo.get("fork", False),
        "url": api,
        "issues_url": f"{api}/issues{{/number}}",
        "pulls_url": f"{api}/pulls{{/number}}",
        "clone_url": f"{roots.html}/{full}.git",
        "default_branch": repo["default_branch"],
        "archived": False,
        "disabled": False,
        "has_issues": True,
        "created_at": repo["created_at"],
        "updated_at": repo["created_at"],
        "pushed_at": repo["created_at"],
    }


def label_json(roots: Roots, repo: State, name: str) -> dict[str, Any]:
    label = repo["labels"][name]
    return {
        "id": label["id"],
        "node_id": node_id("LA", label["id"]),
        "url": f"{roots.api}/repos/{repo['full_name']}/labels/{quote(name)}",
        "name": name,
        "color": label["color"],
        "default": False,
        "description": None,
    }


def issue_json(roots: Roots, repo: State, issue: State, *, comments: int) -> dict[str, Any]:
    """An issue, or a PR seen through the issues API; ``comments`` is its comment count."""
    api = f"{roots.api}/repos/{repo['full_name']}/issues/{issue['number']}"
    kind = "pull" if issue["pull"] else "issues"
    data = {
        "url": api,
        "repository_url": f"{roots.api}/repos/{repo['full_name']}",
        "labels_url": f"{api}/labels{{/name}}",
        "comments_url": f"{api}/comments",
        "html_url": f"{roots.html}/{repo['full_name']}/{kind}/{issue['number']}",
        "id": issue["id"],
        "node_id": node_id("PR" if issue["pull"] else "I", issue["id"]),
        "number": issue["number"],
        "title": issue["title"],
        "user": user_json(roots, issue["user"]),
        "labels": [label_json(roots, repo, name) for name in issue["labels"]],
        "state": issue["state"],
        "state_reason": "completed" if issue["state"] == "closed" else None,
        "locked": issue["locked"],
        "active_lock_reason": "resolved" if issue["locked"] else None,
        "assignee": None,
        "assignees": [],
        "milestone": None,
        "comments": comments,
        "created_at": issue["created_at"],
        "updated_at": issue["updated_at"],
        "closed_at": issue["closed_at"],
        "author_association": author_association(repo, issue["user"]),
        "body": issue["body"],
    }
    if issue["pull"]:
        pulls = f"{roots.api}/repos/{repo['full_name']}/pulls/{issue['number']}"
        html = data["html_url"]
        data["pull_request"] = {"url": pulls, "html_url": html, "diff_url": f"{html}.diff"}
        data["pull_request"] |= {"patch_url": f"{html}.patch", "merged_at": None}
        data["draft"] = issue["pull"]["draft"]
    return data


def pull_json(
    roots: Roots,
    repo: State,
    issue: State,
    *,
    head_repo: State,
    base_sha: str,
    comments: int,
) -> dict[str, Any]:
    """A PR through the pulls API; ``head_repo`` is the repository its head branch lives in."""
    pull, full, number = issue["pull"], repo["full_name"], issue["number"]
    api = f"{roots.api}/repos/{full}/pulls/{number}"
    html = f"{roots.html}/{full}/pull/{number}"
    return {
        "url": api,
        "id": issue["id"],
        "node_id": node_id("PR", issue["id"]),
        "html_url": html,
        "diff_url": f"{html}.diff",
        "patch_url": f"{html}.patch",
        "issue_url": f"{roots.api}/repos/{full}/issues/{number}",
        "comments_url": f"{roots.api}/repos/{full}/issues/{number}/comments",
        "review_comments_url": f"{api}/comments",
        "commits_url": f"{api}/commits",
        "statuses_url": f"{roots.api}/repos/{full}/statuses/{pull['head_sha']}",
        "number": number,
        "state": issue["state"],
        "locked": issue["locked"],
        "title": issue["title"],
        "user": user_json(roots, issue["user"]),
        "body": issue["body"],
        "labels": [label_json(roots, repo, name) for name in issue["labels"]],
        "milestone": None,
        "created_at": issue["created_at"],
        "updated_at": issue["updated_at"],
        "closed_at": issue["closed_at"],
        "merged_at": None,
        "merge_commit_sha": None,
        "assignee": None,
        "assignees": [],
        "requested_reviewers": [user_json(roots, login) for login in pull["requested_reviewers"]],
        "requested_teams": [team_json(slug) for slug in pull["requested_teams"]],
        "head": {
            "label": head_label(pull),
            "ref": pull["head"],
            "sha": pull["head_sha"],
            "user": user_json(roots, pull["head_repo"].split("/")[0]),
            "repo": repo_json(roots, head_repo),
        },
        "base": {
            "label": f"{full.split('/')[0]}:{pull['base']}",
            "ref": pull["base"],
            "sha": base_sha,
            "user": user_json(roots, full.split("/")[0]),
            "repo": repo_json(roots, repo),
        },
        "author_association": author_association(repo, issue["user"]),
        "draft": pull["draft"],
        "merged": False,
        "mergeable": None,
        "mergeable_state": "unknown",
        "maintainer_can_modify": pull["maintainer_can_modify"],
        "comments": comments,
        "review_comments": 0,
        "commits": 1,
        "additions": 0,
        "deletions": 0,
        "changed_files": 0,
    }


def comment_json(roots: Roots, repo: State, issue: State, comment: State) -> dict[str, Any]:
    """An issue comment; ``issue`` is the issue or PR it was made on."""
    kind = "pull" if issue["pull"] else "issues"
    full, number = comment["repo"], comment["number"]
    return {
        "url": f"{roots.api}/repos/{full}/issues/comments/{comment['id']}",
        "html_url": f"{roots.html}/{full}/{kind}/{number}#issuecomment-{comment['id']}",
        "issue_url": f"{roots.api}/repos/{full}/issues/{number}",
        "id": comment["id"],
        "node_id": node_id("IC", comment["id"]),
        "user": user_json(roots, comment["user"], comment["user_type"]),
        "created_at": comment["created_at"],
        "updated_at": comment["updated_at"],
        "author_association": author_association(repo, comment["user"]),
        "body": comment["body"],
    }


def reaction_json(roots: Roots, reaction: State) -> dict[str, Any]:
    return {
        "id": reaction["id"],
        "node_id": node_id("REA", reaction["id"]),
        "user": user_json(roots, reaction["user"], "Bot"),
        "content": reaction["content"],
        "created_at": reaction["created_at"],
    }


def check_run_json(roots: Roots, run: State) -> dict[str, Any]:
    api = f"{roots.api}/repos/{run['repo']}/check-runs/{run['id']}"
    html = f"{roots.html}/{run['repo']}/runs/{run['id']}"
    return {
        "id": run["id"],
        "node_id": node_id("CR", run["id"]),
        "head_sha": run["head_sha"],
        "external_id": run["external_id"],
        "url": api,
        "html_url": html,
        "details_url": run["details_url"] or html,
        "status": run["status"],
        "conclusion": run["conclusion"],
        "started_at": run["started_at"],
        "completed_at": run["completed_at"],
        "name": run["name"],
        "output": run["output"]
        | {"annotations_count": len(run["annotations"]), "annotations_url": f"{api}/annotations"},
        "check_suite": {"id": run["id"] + 1},
        "app": {
            "id": 1,
            "slug": "selfheal",
            "name": "selfheal",
            "owner": user_json(roots, "selfheal"),
        },
        "pull_requests": [],
    }


def run_json(roots: Roots, run: State, *, repo: State, head_repo: State) -> dict[str, Any]:
    """A workflow run of ``repo``, triggered from a branch of ``head_repo``."""
    full = run["repo"]
    api = f"{roots.api}/repos/{full}/actions/runs/{run['id']}"
    return {
        "id": run["id"],
        "name": run["name"],
        "node_id": node_id("WFR", run["id"]),
        "head_branch": run["head_branch"],
        "head_sha": run["head_sha"],
        "path": ".github/workflows/ci.yml",
        "display_title": run["name"],
        "run_number": run["run_number"],
        "run_attempt": 1,
        "event": run["event"],
        "status": "completed",
        "conclusion": run["conclusion"],
        "workflow_id": _WORKFLOW_ID,
        "url": api,
        "html_url": f"{roots.html}/{full}/actions/runs/{run['id']}",
        "jobs_url": f"{api}/jobs",
        "logs_url": f"{api}/logs",
        "check_suite_url": f"{roots.api}/repos/{full}/check-suites/{run['id'] + 1}",
        "workflow_url": f"{roots.api}/repos/{full}/actions/workflows/{_WORKFLOW_ID}",
        "pull_requests": [],
        "created_at": run["created_at"],
        "updated_at": run["created_at"],
        "run_started_at": run["created_at"],
        "actor": user_json(roots, run["actor"]),
        "triggering_actor": user_json(roots, run["triggering_actor"]),
        "repository": repo_json(roots, repo),
        "head_repository": repo_json(roots, head_repo),
    }


def job_json(roots: Roots, job: State, run: State) -> dict[str, Any]:
    """A job of workflow ``run``; the seeded ``job`` may set name, steps, labels, runner_name."""
    full = run["repo"]
    api = f"{roots.api}/repos/{full}/actions/jobs/{job['id']}"
    timing = {"started_at": run["created_at"], "completed_at": run["created_at"]}
    steps = [
        {"status": "completed", **timing, "number": n} | dict(step)
        for n, step in enumerate(job.get("steps", ()), start=1)
    ]
    return {
        "id": job["id"],
        "run_id": run["id"],
        "run_url": f"{roots.api}/repos/{full}/actions/runs/{run['id']}",
        "run_attempt": 1,
        "node_id": node_id("CR", job["id"]),
        "head_sha": run["head_sha"],
        "head_branch": run["head_branch"],
        "url": api,
        "html_url": f"{roots.html}/{full}/actions/runs/{run['id']}/job/{job['id']}",
        "status": "completed",
        "conclusion": job["conclusion"],
        "created_at": run["created_at"],
        "started_at": run["created_at"],
        "completed_at": run["created_at"],
        "name": job.get("name", "build"),
        "steps": steps,
        "check_run_url": f"{roots.api}/repos/{full}/check-runs/{job['id']}",
        "labels": list(job.get("labels", ["ubuntu-latest"])),
        "runner_id": 1,
        "runner_name": job.get("runner_name", "GitHub Actions 1"),
        "runner_group_id": 1,
        "runner_group_name": "GitHub Actions",
        "workflow_name": run["name"],
    }
