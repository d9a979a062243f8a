"""The instructor guide and the architecture notes keep up with the course."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _lessons() -> list[str]:
    module = sys.modules.get("build_course")
    if module is None:  # one module object for every test file (dataclasses need it registered)
        script = ROOT / "scripts" / "build_course.py"
        spec = importlib.util.spec_from_file_location("build_course", script)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules["build_course"] = module
        spec.loader.exec_module(module)
    return [lesson.slug for lesson in module.LESSONS]


def test_instructor_guide_times_every_lesson() -> None:
    guide = (ROOT / "docs" / "instructor.md").read_text()
    timed = set(re.findall(r"^\| (\d\d[a-z]?) ", guide, flags=re.M))
    numbers = {slug.split("_")[0] for slug in _lessons()}
    assert numbers <= timed, f"lessons missing from the timing table: {sorted(numbers - timed)}"


def test_instructor_guide_has_both_agendas_and_the_live_setups() -> None:
    guide = (ROOT / "docs" / "instructor.md").read_text()
    for heading in (
        "## A 3-hour workshop",
        "## A full day",
        "## Common learner mistakes",
        "## Running with a real key",
        "## Running with a real Redis",
    ):
        assert heading in guide


def test_architecture_names_every_notebook() -> None:
    notes = (ROOT / "docs" / "ARCHITECTURE.md").read_text()
    for slug in _lessons():
        assert slug in notes, f"{slug} is missing from docs/ARCHITECTURE.md"
