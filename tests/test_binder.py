"""Binder launches from environment.yml + postBuild: check what can be checked offline.

conda-forge is not reachable here, so the conda half cannot be solved in a test;
the pip half is the lock (tests/test_lock.py), resolved here against the index as
Binder's pip will resolve it.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent


def _environment() -> dict[str, Any]:
    return dict(yaml.safe_load((ROOT / "environment.yml").read_text()))


def _pip_section() -> list[str]:
    for entry in _environment()["dependencies"]:
        if isinstance(entry, dict) and "pip" in entry:
            return list(entry["pip"])
    raise AssertionError("environment.yml has no pip section")


def test_python_version_matches_requires_python() -> None:
    conda = [d for d in _environment()["dependencies"] if isinstance(d, str)]
    python = next(d for d in conda if d.startswith("python="))
    minimum = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert minimum == ">=3.11"
    assert re.fullmatch(r"python=3\.11\.\d+", python), python


def test_binder_installs_the_project_itself() -> None:
    post_build = (ROOT / "postBuild").read_text()
    assert re.search(r"^python -m pip install --no-deps .*-e \.$", post_build, re.M)


def test_binder_gets_a_real_redis_server_for_the_real_queue_path() -> None:
    conda = [d for d in _environment()["dependencies"] if isinstance(d, str)]
    assert any(d.startswith("redis-server=") for d in conda)


def test_badge_opens_the_welcome_notebook() -> None:
    readme = (ROOT / "README.md").read_text()
    match = re.search(r"https://mybinder\.org/v2/[^)\s]+", readme)
    assert match, "README needs a Binder badge"
    assert "urlpath=lab/tree/notebooks/00_welcome.ipynb" in match.group(0).replace("%2F", "/")
    assert (ROOT / "notebooks" / "00_welcome.ipynb").exists()


@pytest.mark.slow
def test_binder_pip_requirements_resolve() -> None:
    """The pip step Binder runs resolves (a dry run against the package index)."""
    assert _pip_section() == ["--require-hashes", "-r requirements.lock"]
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--dry-run",
            "--quiet",
            "--ignore-installed",
            "--require-hashes",
            "-r",
            str(ROOT / "requirements.lock"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
