"""The package users install holds every module of the checkout.

The action installs selfheal from the checkout (not editable), so a subpackage missing from
pyproject.toml's list is missing on every runner while the suite, which runs the checkout,
passes. The install test in test_action_yml.py runs a heal from a real install (it needs the
package registry); this one checks the list itself, offline.
"""

from __future__ import annotations

from pathlib import Path

from bot import toml

ROOT = Path(__file__).resolve().parent.parent
SETUPTOOLS = toml.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]


def test_every_package_under_bot_is_installed() -> None:
    found = {".".join(i.parent.relative_to(ROOT).parts) for i in ROOT.glob("bot/**/__init__.py")}
    assert {"bot", "bot.gate.kinds"} <= found  # nested packages too
    listed = set(SETUPTOOLS["packages"])
    assert sorted(found - listed) == []


def test_every_listed_package_is_a_directory() -> None:
    mapped = SETUPTOOLS["package-dir"]  # bot._fixtures: the demo's files, data only
    for package in SETUPTOOLS["packages"]:
        top = next((p for p in mapped if package == p or package.startswith(p + ".")), None)
        if top is None:
            where = ROOT.joinpath(*package.split("."))
            assert (where / "__init__.py").is_file(), package
        else:
            where = ROOT / mapped[top] / Path(*package.split(".")[top.count(".") + 1 :])
        assert where.is_dir(), package


def test_no_module_of_bot_lies_outside_a_package() -> None:
    # A directory of modules without __init__.py is a namespace package, which the check
    # above would not see.
    for module in ROOT.glob("bot/**/*.py"):
        assert (module.parent / "__init__.py").is_file(), module
