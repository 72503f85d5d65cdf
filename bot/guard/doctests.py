"""What a change does to the doctests of one file, example by example (pure).

Doctests are tests wherever they live, so the rules of `bot.guard.testcode` hold for them.
Weakening (refused in both modes): an example removed or no longer found, a new +SKIP or a
skip in an example's code, `__doc__`/`__test__` rebound so doctest finds less. Specification
changes (refused when healing unless allowed): an expected output or exception changed, an
example rewritten, a directive that loosens the comparison, an owner's decorators changed.
Examples are compared parsed, never as text, so reformatting a docstring changes nothing.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from bot.guard.docexamples import Doctests, Example, example_skips
from bot.guard.testcode import Findings, Mode

DEFAULT_GLOBS = ("test*.txt",)  # pytest's --doctest-glob default
_NOT_COLLECTED = frozenset({"setup.py", "__main__.py"})  # pytest's doctest plugin skips these
_STRICT = frozenset({"DONT_ACCEPT_TRUE_FOR_1", "DONT_ACCEPT_BLANKLINE"})  # on = stricter
Pair = tuple[str, Example, Example]  # (owner after, example before, example after)


def is_doctest_module(path: str) -> bool:
    """A Python module whose docstrings pytest --doctest-modules collects."""
    return path.endswith(".py") and PurePosixPath(path).name not in _NOT_COLLECTED


def is_doctest_text(path: str, globs: Iterable[str]) -> bool:
    """A text file a --doctest-glob pattern matches, matched as pytest's fnmatch_ex does."""
    for pattern in globs:
        if "/" not in pattern and fnmatch.fnmatch(PurePosixPath(path).name, pattern):
            return True
        if "/" in pattern and fnmatch.fnmatch("/" + path, "*/" + pattern.lstrip("/")):
            return True
    return False


def _cut(text: str, limit: int = 50) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _label(path: str, owner: str) -> str:
    return f"{path}::{owner}" if owner else path


def _loosened(old: dict[str, bool], new: dict[str, bool]) -> list[str]:
    """Directive changes that can let an example pass more easily (SKIP is weighed apart)."""
    found = []
    for name in sorted((set(old) | set(new)) - {"SKIP"}):
        was, now = old.get(name), new.get(name)
        if was == now:
            continue
        # Back to the default (None) loosens when the directive had made it stricter.
        strict_before = was is (name in _STRICT)
        if now is (name not in _STRICT) or (now is None and strict_before):
            turned = f"{'+' if now else '-'}{name}"
            found.append(turned if now is not None else f"drops {'+' if was else '-'}{name}")
    return found


def _skipping(doctests: Doctests, owner: str, example: Example) -> str | None:
    if example.options.get("SKIP"):
        return "+SKIP"
    return next(iter(example_skips(doctests, owner, example)), None)


@dataclass
class _Matched:
    """Examples matched by what they run: within their owner first, then anywhere in the file
    (a renamed or moved owner); what is left on each side was removed, rewritten or added."""

    old: Doctests
    new: Doctests
    pairs: list[Pair] = field(default_factory=list)
    lost: dict[str, list[Example]] = field(default_factory=dict)
    added: dict[str, list[Example]] = field(default_factory=dict)
    moved: list[tuple[str, str]] = field(default_factory=list)  # (owner before, owner after)


def _match(old: Doctests, new: Doctests) -> _Matched:
    found = _Matched(old, new)
    for owner in dict.fromkeys([*old.owners, *new.owners]):
        left = list(new.owners.get(owner, []))
        for example in old.owners.get(owner, []):
            i = next((i for i, e in enumerate(left) if e.key == example.key), None)
            if i is None:
                found.lost.setdefault(owner, []).append(example)
            else:
                found.pairs.append((owner, example, left.pop(i)))
        found.added[owner] = left
    for owner, examples in found.lost.items():
        for example in list(examples):
            for to, candidates in found.added.items():
                now = next((e for e in candidates if e.key == example.key), None)
                if now is not None:
                    examples.remove(example)
                    candidates.remove(now)
                    found.pairs.append((to, example, now))
                    found.moved.append((owner, to))
                    break
    return found


def _compare_pair(path: str, pair: Pair, found: Findings) -> bool:
    """One example kept: skipped now, loosened, or expecting something else? True if changed."""
    owner, was, now = pair
    label, source = _label(path, owner), _cut(now.source)
    before = len(found.weakening) + len(found.spec)
    if now.options.get("SKIP") and not was.options.get("SKIP"):
        found.weakening.append(f"{label}: marks the example `{source}` +SKIP")
    if loose := _loosened(was.options, now.options):
        found.spec.append(f"{label}: loosens the example `{source}` ({' '.join(loose)})")
    if now.exc_msg is not None and was.exc_msg is not None and now.exc_msg != was.exc_msg:
        found.spec.append(f"{label}: changes the exception `{source}` is expected to raise")
    elif now.want != was.want:
        found.spec.append(f"{label}: changes the expected output of `{source}`")
    return len(found.weakening) + len(found.spec) > before or now.options != was.options


def _compare_owner(
    path: str, owner: str, matched: _Matched, found: Findings, *, exempt: bool
) -> bool:
    """The examples of one owner that match none after: removed, or rewritten as new ones; and
    new examples that skip themselves. True if anything changed."""
    label = _label(path, owner)
    lost, added = matched.lost.get(owner, []), matched.added.get(owner, [])
    if lost and len(lost) == len(matched.old.owners[owner]) and not added:
        found.weakening.append(
            f"{label}: its {len(lost)} doctest example(s) are gone or no longer found by doctest"
        )
    else:
        for was, now in zip(lost, added, strict=False):
            found.spec.append(
                f"{label}: rewrites the example `{_cut(was.source, 40)}` "
                f"as `{_cut(now.source, 40)}`"
            )
        for was in lost[len(added) :]:
            found.weakening.append(f"{label}: removes the example `{_cut(was.source)}`")
    for now in added:
        if not exempt and (how := _skipping(matched.new, owner, now)) is not None:
            found.weakening.append(f"{label}: adds the example `{_cut(now.source)}` ({how})")
    return bool(lost or added)


def compare_doctests(
    path: str, before: Doctests | None, after: Doctests | None, mode: Mode
) -> Findings:
    """What the change from `before` to `after` (None: absent) does to the doctests in `path`."""
    found = Findings()
    old, new = before or Doctests(), after or Doctests()
    if not (old.count or new.count):
        return found
    matched = _match(old, new)
    changed: dict[str, None] = {}
    for pair in matched.pairs:
        if _compare_pair(path, pair, found):
            changed[pair[0]] = None
    for owner in dict.fromkeys([*old.owners, *new.owners]):
        # Implementing may add documented code whose new examples skip (a platform, a network).
        exempt = mode == "implement" and owner not in old.owners
        if _compare_owner(path, owner, matched, found, exempt=exempt):
            changed[owner] = None
        decorators = old.decorators.get(owner), new.decorators.get(owner)
        if old.owners.get(owner) and None not in decorators and decorators[0] != decorators[1]:
            found.spec.append(
                f"{_label(path, owner)}: changes its decorators, which decide whether "
                "doctest finds its examples"
            )
    for was, to in dict.fromkeys(matched.moved):
        if was != to:
            found.listed.append(f"{_label(path, to)}: takes doctest examples from {was or path}")
    if old.count:
        for text in new.hiders - old.hiders:
            found.weakening.append(f"{path}: `{_cut(text)}` can hide or replace its doctests")
    for key in old.entries - new.entries:
        found.weakening.append(f"{path}: removes the doctest {key}")
    if not (mode == "implement" and before is None):
        for name in new.module_skips - old.module_skips:
            found.weakening.append(
                f"{path}: adds a skip or exit run on import ({name}), which skips its doctests"
            )
    for owner in changed:
        verb = "changes" if owner in old.owners else "adds"
        found.listed.append(f"{_label(path, owner)}: {verb} doctest examples")
    return found
