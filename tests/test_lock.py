"""One lock, used everywhere: requirements.lock is what `make`, CI and Binder install.

pyproject.toml keeps ranges (the library installs into other environments); the lock
pins every direct and transitive package, with hashes, for the Python the course runs
on. These tests fail when the lock, pyproject.toml, the Makefile, Binder's files or the
running environment drift apart.
"""

from __future__ import annotations

import importlib.metadata as metadata
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version
from services_support import REQUIRE_SERVICES

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements.lock"


@dataclass(frozen=True)
class Pin:
    name: str
    version: str
    marker: Marker | None
    hashes: int

    def applies(self) -> bool:
        return self.marker is None or self.marker.evaluate()


def _pins(text: str) -> dict[str, Pin]:
    """Parse a `uv pip compile --generate-hashes` file: one entry per package."""
    pins: dict[str, Pin] = {}
    entries = re.split(r"\n(?=[A-Za-z0-9])", text)
    for entry in entries:
        if not entry.strip() or entry.lstrip().startswith("#"):
            continue
        head = entry.split("\\", 1)[0].strip()
        requirement = Requirement(head)
        (spec,) = list(requirement.specifier)
        assert spec.operator == "==", f"not an exact pin: {head}"
        name = canonicalize_name(requirement.name)
        pins[name] = Pin(name, spec.version, requirement.marker, entry.count("--hash=sha256:"))
    return pins


@pytest.fixture(scope="module")
def lock_text() -> str:
    return LOCK.read_text()


@pytest.fixture(scope="module")
def pins(lock_text: str) -> dict[str, Pin]:
    return _pins(lock_text)


def _declared() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    specs = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        specs += extra
    return [Requirement(s) for s in specs]


def _lock_command() -> str:
    match = re.search(r"^LOCK_COMPILE\s*:=\s*(.+)$", (ROOT / "Makefile").read_text(), re.M)
    assert match, "the Makefile defines LOCK_COMPILE, the one command that writes the lock"
    return match.group(1).replace("$(LOCK)", LOCK.name).strip()


def test_every_declared_dependency_is_pinned_within_its_range(pins: dict[str, Pin]) -> None:
    for requirement in _declared():
        pin = pins.get(canonicalize_name(requirement.name))
        assert pin is not None, f"{requirement} is declared but not in the lock: run `make lock`"
        assert requirement.specifier.contains(pin.version, prereleases=True), (
            f"the lock pins {pin.name}=={pin.version}, outside pyproject's {requirement}"
        )


def test_every_pin_is_exact_and_hashed(pins: dict[str, Pin]) -> None:
    assert len(pins) > 100, "the lock holds the whole closure, not just the direct dependencies"
    assert all(pin.hashes >= 1 for pin in pins.values()), [p.name for p in pins.values()]


def test_the_lock_was_written_by_the_makefile_command(lock_text: str) -> None:
    header = re.search(r"^#\s+uv (pip compile .+)$", lock_text, re.M)
    assert header, "the lock's header names the command that wrote it"
    assert shlex.split(header.group(1)) == shlex.split(_lock_command())
    assert "--python-version 3.11" in header.group(1)


def test_this_environment_is_exactly_the_lock(pins: dict[str, Pin]) -> None:
    """What the tests run on is what the lock says (no stray upgrade, no missing package)."""
    drift: dict[str, tuple[str, str | None]] = {}
    for pin in pins.values():
        if not pin.applies():
            continue
        try:
            installed = metadata.version(pin.name)
        except metadata.PackageNotFoundError:
            drift[pin.name] = (pin.version, None)
            continue
        if Version(installed) != Version(pin.version):
            drift[pin.name] = (pin.version, installed)
    assert not drift, f"(locked, installed) differ: {drift}; run `make` to sync the venv"


def test_the_makefile_installs_only_the_lock() -> None:
    makefile = (ROOT / "Makefile").read_text()
    recipe = re.search(r"^\$\(STAMP\):([^\n]*)\n((?:\t[^\n]*\n?)*)", makefile, re.M)
    assert recipe, "the Makefile has the install (stamp) target"
    prerequisites, commands = recipe.groups()
    assert "$(LOCK)" in prerequisites, "a new lock refreshes the venv"
    assert "pip sync" in commands and "--require-hashes $(LOCK)" in commands
    assert "--no-deps -e ." in commands, "the project itself adds no unlocked package"
    assert not re.search(r"pip install[^\n]*'\.\[", commands), "no unlocked install of extras"
    for target in ("lock", "upgrade"):
        assert re.search(rf"^{target}:", makefile, re.M), f"`make {target}`"
    upgrade = re.search(r"^upgrade:[^\n]*\n((?:\t[^\n]*\n?)*)", makefile, re.M)
    assert upgrade and "--upgrade" in upgrade.group(1) and "test-fast" in upgrade.group(1)


def test_binder_installs_exactly_the_lock_then_the_course(pins: dict[str, Pin]) -> None:
    environment = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda = [d for d in environment["dependencies"] if isinstance(d, str)]
    pip = [d["pip"] for d in environment["dependencies"] if isinstance(d, dict)]
    assert pip == [["--require-hashes", f"-r {LOCK.name}"]], "Binder's pip step is the lock"
    for package in conda:  # python, pip and redis-server: every conda package pinned
        assert re.fullmatch(r"[a-z0-9-]+=\d+(\.\d+){1,2}", package), f"unpinned: {package}"
    python = next(p for p in conda if p.startswith("python="))
    assert python.split("=")[1].startswith("3.11."), "the Python the lock was resolved for"
    assert any(p.startswith("redis-server=") for p in conda), "the real-Redis path on Binder"
    post_build = ROOT / "postBuild"
    assert post_build.stat().st_mode & 0o111, "repo2docker runs postBuild only if executable"
    assert "pip install --no-deps" in post_build.read_text() and " -e ." in post_build.read_text()
    assert not (ROOT / "binder").exists(), "a binder/ folder would make repo2docker ignore these"


@pytest.mark.slow
def test_the_lock_is_fresh(tmp_path: Path, lock_text: str) -> None:
    """Re-resolving pyproject.toml with the lock's pins as preferences changes nothing.

    Fails when pyproject.toml was edited without `make lock`. Needs PyPI (CI has it).
    """
    uv = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
    if uv is None:
        pytest.fail("uv is in the lock; the venv must have it")
    candidate = tmp_path / LOCK.name
    candidate.write_text(lock_text)  # uv keeps an output file's pins where it can
    command = shlex.split(_lock_command())
    command[command.index("-o") + 1] = str(candidate)
    command[command.index("pyproject.toml")] = str(ROOT / "pyproject.toml")
    result = subprocess.run(
        [uv, *command, "--quiet"], capture_output=True, text=True, timeout=300, cwd=ROOT
    )
    if result.returncode != 0 and "network" in result.stderr.lower() and not REQUIRE_SERVICES:
        pytest.skip("no package index reachable")
    assert result.returncode == 0, result.stderr[-2000:]
    before = {p.name: p.version for p in _pins(lock_text).values()}
    after = {p.name: p.version for p in _pins(candidate.read_text()).values()}
    assert after == before, "pyproject.toml and the lock disagree: run `make lock` and commit it"
