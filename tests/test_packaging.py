"""The project's promises about setup: one dependency list, two commands, CI runs them.

pyproject.toml is the single source of dependencies; environment.yml (Binder)
mirrors it exactly; `make lab` and `make test` create the .venv; the README's
quick start is those two commands; `.ci/run` runs `make test`.
"""

from __future__ import annotations

import ast
import importlib.metadata as metadata
import re
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

import stream_or_queue

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def pyproject() -> dict[str, Any]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


@pytest.fixture(scope="module")
def environment() -> dict[str, Any]:
    loaded = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert isinstance(loaded, dict)
    return loaded


def _pip_section(environment: dict[str, Any]) -> list[str]:
    sections = [d["pip"] for d in environment["dependencies"] if isinstance(d, dict) and "pip" in d]
    assert len(sections) == 1, "environment.yml has one pip: list"
    return [str(item) for item in sections[0]]


def _name(spec: str) -> str:
    return canonicalize_name(Requirement(spec).name)


def test_python_is_at_least_3_11(pyproject: dict[str, Any], environment: dict[str, Any]) -> None:
    requires = SpecifierSet(pyproject["project"]["requires-python"])
    assert Version("3.11") in requires and Version("3.10") not in requires
    conda_python = [
        d for d in environment["dependencies"] if isinstance(d, str) and re.match(r"python\b", d)
    ]
    assert len(conda_python) == 1
    version = re.sub(r"^python\s*=", "", conda_python[0])
    assert Version(version) >= Version("3.11") and version.count(".") == 2, "pinned exactly"
    assert "conda-forge" in environment["channels"]
    assert sys.version_info >= (3, 11)


def test_the_course_is_built_on_the_promised_packages(pyproject: dict[str, Any]) -> None:
    runtime = {_name(s): Requirement(s) for s in pyproject["project"]["dependencies"]}
    extras = pyproject["project"]["optional-dependencies"]
    test = {_name(s) for s in extras["test"]}
    dev = {_name(s) for s in extras["dev"]}
    for package in ("jupyterlab", "ipywidgets", "anthropic", "rq", "fakeredis", "dbos", "jupytext"):
        assert package in runtime, package
    assert "lua" in runtime["fakeredis"].extras, "RQ's RateLimit runs Lua"
    assert {"nbval", "pytest"} <= test
    assert {"ruff", "mypy"} <= dev
    assert "nest-asyncio" not in runtime, "archived; top-level await in notebooks needs none"


def test_installed_versions_satisfy_the_declared_specs(pyproject: dict[str, Any]) -> None:
    for spec in pyproject["project"]["dependencies"]:
        requirement = Requirement(spec)
        installed = metadata.version(requirement.name)
        assert requirement.specifier.contains(installed, prereleases=True), (spec, installed)


def test_version_agrees(pyproject: dict[str, Any]) -> None:
    assert pyproject["project"]["version"] == stream_or_queue.__version__


USED_WITHOUT_IMPORT = {
    "jupyterlab": "the app `make lab` starts",
    "ipykernel": "the notebooks' kernel",
    "jinja2": "FastAPI's Jinja2Templates imports it for the web pages",
    "pytest-timeout": "a pytest plugin (the `timeout` setting)",
    "pytest-xdist": "a pytest plugin (`make test` runs `-n`)",
    "nbval": "a pytest plugin (`--nbval`)",
    "ruff": "a linter run by `make lint`",
    "mypy": "a type checker run by `make lint`",
    "uv": "the lock and install tool of the Makefile",
    "jupyter-server-proxy": "a Jupyter server extension: Binder's links to the course's page",
}
"""Declared distributions that are run or loaded by name, never imported by our code."""


def _imported_distributions(*roots: str) -> dict[str, str]:
    """Every third-party distribution imported under `roots`: name -> one importing file."""
    providers = metadata.packages_distributions()
    found: dict[str, str] = {}
    paths = [p for root in roots for p in sorted((ROOT / root).glob("**/*.py"))]
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            else:
                continue
            for module in modules:
                top = module.split(".")[0]
                for dist in providers.get(top, []):
                    if canonicalize_name(dist) != "stream-or-queue":  # the course itself
                        found.setdefault(canonicalize_name(dist), str(path.relative_to(ROOT)))
    return found


def _declared(pyproject: dict[str, Any], *, extras: bool) -> set[str]:
    """The runtime dependencies, and with `extras` the test and dev ones too."""
    specs = list(pyproject["project"]["dependencies"])
    if extras:
        specs += [
            s for group in pyproject["project"]["optional-dependencies"].values() for s in group
        ]
    return {_name(s) for s in specs}


@pytest.mark.parametrize(
    ("roots", "extras"),
    [(("src",), False), (("tests", "scripts", "notebooks", "solutions"), True)],
    ids=["library-runtime-only", "tests-scripts-lessons"],
)
def test_what_is_imported_is_declared_directly(
    pyproject: dict[str, Any], roots: tuple[str, ...], extras: bool
) -> None:
    """Each imported distribution is declared itself, not a lucky transitive (the library:
    in the runtime dependencies, so an install without extras has it)."""
    declared = _declared(pyproject, extras=extras)
    imported = _imported_distributions(*roots)
    undeclared = {d: where for d, where in imported.items() if d not in declared}
    assert not undeclared, f"imported but not declared: {undeclared}"


def test_every_declared_dependency_is_used(pyproject: dict[str, Any]) -> None:
    declared = _declared(pyproject, extras=True)
    imported = _imported_distributions("src", "tests", "scripts", "notebooks", "solutions")
    unused = declared - set(imported) - set(USED_WITHOUT_IMPORT)
    assert not unused, f"declared but never imported (or list why in USED_WITHOUT_IMPORT): {unused}"
    assert not set(USED_WITHOUT_IMPORT) - declared, "USED_WITHOUT_IMPORT lists an undeclared name"


# --- the two commands -----------------------------------------------------------------------------


def _makefile() -> str:
    return (ROOT / "Makefile").read_text()


def _recipe(makefile: str, target: str) -> tuple[str, str]:
    """(prerequisites, recipe) of a make target."""
    match = re.search(rf"^{re.escape(target)}:([^\n]*)\n((?:\t[^\n]*\n?)*)", makefile, re.M)
    assert match, f"no `{target}` target"
    return match.group(1), match.group(2)


def test_make_lab_and_make_test_create_the_venv() -> None:
    makefile = _makefile()
    assert re.search(r"^VENV\s*\?=\s*\.venv\s*$", makefile, re.M)
    stamp_deps, stamp_recipe = _recipe(makefile, "$(STAMP)")
    assert "$(LOCK)" in stamp_deps, "a changed lock refreshes the venv"
    assert "-m venv $(VENV)" in stamp_recipe
    assert "pip sync" in stamp_recipe and "--no-deps -e ." in stamp_recipe
    lab_deps, lab_recipe = _recipe(makefile, "lab")
    test_deps, test_recipe = _recipe(makefile, "test")
    assert "$(STAMP)" in lab_deps and "$(STAMP)" in test_deps
    assert "jupyter lab" in lab_recipe and "--ip=127.0.0.1" in lab_recipe
    assert "-m pytest tests" in test_recipe, "make test runs the library tests"
    nbval = re.search(r"^NBVAL\s*:?=(.*)$", makefile, re.M)
    assert nbval and "--nbval" in nbval.group(1) and "nbval_sanitize.cfg" in nbval.group(1)
    assert "notebooks solutions $(NBVAL)" in test_recipe, "...then every notebook through nbval"
    # outcomes are computed on simulated time: no core-count arithmetic is left to pass on
    assert "CORES" not in makefile
    assert re.search(r"^\.PHONY:.*\blab\b.*\btest\b", makefile, re.M)


def test_readme_quick_start_is_exactly_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    section = re.search(r"^## Quick start\n(.*?)(?=^## |\Z)", readme, re.M | re.S)
    assert section, "README has a Quick start section"
    blocks = re.findall(r"```[a-z]*\n(.*?)```", section.group(1), re.S)
    assert len(blocks) == 1
    commands = [line.split("#")[0].strip() for line in blocks[0].splitlines()]
    assert [c for c in commands if c] == ["make lab", "make test"]


def test_ci_runs_make_test() -> None:
    run = ROOT / ".ci" / "run"
    text = run.read_text()
    assert text.startswith("#!/usr/bin/env bash")
    assert run.stat().st_mode & 0o111, ".ci/run is executable"
    assert "set -euo pipefail" in text
    assert re.search(r"^make test\s*$", text, re.M)
