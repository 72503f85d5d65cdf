"""plan_review: a fixers' patch (from real git) -> suggestions on the pull request's lines,
the rest as a patch; the suggestions, applied, give exactly the fixed file."""

from __future__ import annotations

from pathlib import Path

from bot.github.suggestions import (
    MAX_BODY_CHARS,
    commentable_lines,
    plan_review,
    review_body,
    split_patch,
)
from tests.conftest import git

BASE = "".join(f"line {n}\n" for n in range(1, 41))


def _repo(tmp_path: Path, files: dict[str, str]) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir(exist_ok=True)
    git(repo, "init", "-q")
    for name, text in files.items():
        (repo / name).write_text(text, encoding="utf-8")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "x")
    return repo


def _diff(repo: Path, files: dict[str, str]) -> str:
    """The change `files` make to the repository's HEAD, as a unified diff (then undone)."""
    for name, text in files.items():
        (repo / name).write_text(text, encoding="utf-8")
    diff = git(repo, "diff")
    git(repo, "checkout", "-q", "--", ".")
    return diff


def _pull_patch(diff: str) -> str:
    return diff[diff.index("@@") :]


def _apply(text: str, comments: list[dict[str, object]]) -> str:
    """The file after accepting every suggestion (bottom up, as line numbers shift)."""
    lines = text.splitlines(keepends=True)
    for c in sorted(comments, key=lambda c: -int(str(c["line"]))):
        body = str(c["body"])
        fence = body.split("suggestion\n", 1)[0]
        new = body.split("suggestion\n", 1)[1].removesuffix(fence)
        start = int(str(c.get("start_line", c["line"])))
        lines[start - 1 : int(str(c["line"]))] = [new] if new else []
    return "".join(lines)


def test_changes_inside_the_diff_are_suggestions_and_the_rest_a_patch(tmp_path: Path) -> None:
    repo = _repo(tmp_path, {"a.py": BASE, "b.py": "x = 1\n"})
    # The pull request changed lines 20-22 of a.py, not b.py.
    head = BASE.replace("line 20\nline 21\nline 22\n", "LINE 20\nline  21\nLINE 22\n")
    pull = _pull_patch(_diff(repo, {"a.py": head}))
    (repo / "a.py").write_text(head, encoding="utf-8")
    git(repo, "commit", "-qam", "pr")
    # The fixers: line 21 (inside), line 2 (outside), an insertion after 22, and b.py.
    fixed = head.replace("line  21\n", "line 21\n").replace("line 2\n", "line two\n")
    fixed = fixed.replace("LINE 22\n", "LINE 22\nadded\n")
    fix = _diff(repo, {"a.py": fixed, "b.py": "x = 2\n"})

    review = plan_review(fix, {"a.py": pull})

    assert review.hunks == 3
    comments = [c.as_json() for c in review.comments]
    assert all(c["side"] == "RIGHT" and c["path"] == "a.py" for c in comments)
    assert len(comments) == 1  # 21 and the insertion after 22 are one hunk
    assert _apply(head, comments).splitlines()[19:23] == ["LINE 20", "line 21", "LINE 22", "added"]
    assert "-line 2\n+line two" in review.leftover and "-x = 1\n+x = 2" in review.leftover
    assert "line  21" not in review.leftover  # a suggested hunk is not repeated
    # The leftover patch applies to the head as it is.
    (repo / "left.patch").write_text(review.leftover, encoding="utf-8")
    git(repo, "apply", "--check", "left.patch")


def test_the_cap_sends_the_rest_to_the_patch(tmp_path: Path) -> None:
    text = "".join(f"v{n} = {n}\n\n\n\n\n\n\n\n" for n in range(10))
    repo = _repo(tmp_path, {"a.py": "\n"})
    pull = _pull_patch(_diff(repo, {"a.py": text}))
    (repo / "a.py").write_text(text, encoding="utf-8")
    git(repo, "commit", "-qam", "pr")
    fix = _diff(repo, {"a.py": text.replace(" = ", "=")})
    review = plan_review(fix, {"a.py": pull}, cap=4)
    assert review.hunks == 10 and len(review.comments) == 4
    assert review.leftover.count("\n@@ ") == 6


def test_hostile_patches_are_listed_not_interpreted() -> None:
    patch = (
        "diff --git a/x.py b/y.py\n--- a/x.py\n+++ b/y.py\n@@ -1 +1 @@\n-a\n+b\n"
        "diff --git a/z.py b/z.py\n--- a/z.py\n+++ b/z.py\n@@ -1 +1 @@\n-a\n+```\n"
        "\\ No newline at end of file\n"
    )
    review = plan_review(patch, {"y.py": "@@ -1 +1 @@\n+a\n", "z.py": "@@ -1 +1 @@\n+a\n"})
    assert review.comments == () and review.hunks == 2  # a rename, a "no newline" marker
    body = review_body(review, "ruff format")
    assert "````diff" in body  # the fence outgrows the backticks inside
    assert [f.path for f in split_patch(patch)] == [None, "z.py"]


def test_a_suggestion_fence_outgrows_backticks_in_the_code() -> None:
    patch = "diff --git a/a.md b/a.md\n--- a/a.md\n+++ b/a.md\n@@ -1 +1 @@\n-x\n+```y```\n"
    (comment,) = plan_review(patch, {"a.md": "@@ -0,0 +1 @@\n+x\n"}).comments
    assert comment.body == "````suggestion\n```y```\n````"


def test_commentable_lines_are_the_head_side_of_the_hunks() -> None:
    patch = "@@ -1,3 +1,4 @@\n a\n-b\n+c\n+d\n e\n@@ -10 +11 @@\n-x\n+y\n"
    assert commentable_lines(patch) == {1, 2, 3, 4, 11}
    assert commentable_lines(None) == frozenset()


def test_the_body_stays_under_the_limit() -> None:
    big = "diff --git a/a b/a\n--- a/a\n+++ b/a\n@@ -1 +1 @@\n-a\n+" + "b" * 100_000 + "\n"
    body = review_body(plan_review(big, {}), "ruff format")
    assert len(body) < MAX_BODY_CHARS and "cut here" in body
