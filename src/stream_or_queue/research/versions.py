"""Which research assistant a durable run plays: v2 (the agent loop) or v3 (batch where it can).

Both versions run as the same DBOS workflow (`research.durable`); this module
only picks the version (from the caller, else `$STREAM_OR_QUEUE_RESEARCH_VERSION`) and runs it
with the caller's step runner, so every model turn and tool call is a step.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import anthropic

from .. import config
from . import agent
from .agent import StepRunner
from .batched import run_research_v3
from .result import ProgressCallback, ResearchResult

__all__ = ["VERSION_ENV", "Version", "check_version", "default_version", "run_version"]

Version = Literal["v2", "v3"]

VERSION_ENV = "STREAM_OR_QUEUE_RESEARCH_VERSION"
"""Which version a run plays when none is given: v2 (default) or v3."""


def default_version() -> Version:
    """`$STREAM_OR_QUEUE_RESEARCH_VERSION`, else v2; anything else is a clear error, not a
    silent v2."""
    value = (config.env(VERSION_ENV) or "v2").strip().lower()
    if value not in ("v2", "v3"):
        raise ValueError(f"{VERSION_ENV} must be v2 or v3, got {value!r}")
    return "v3" if value == "v3" else "v2"


def check_version(version: object) -> Version:
    """`version` as a `Version`, or ValueError before any work starts."""
    if version not in ("v2", "v3"):
        raise ValueError(f"version must be 'v2' or 'v3', got {version!r}")
    return "v3" if version == "v3" else "v2"


def run_version(
    question: str,
    version: Version,
    *,
    client: anthropic.Anthropic | None = None,
    progress: ProgressCallback | None = None,
    steps: StepRunner | None = None,
    digests: Mapping[str, str] | None = None,
) -> ResearchResult:
    """Run one question as v2 (the agent loop, live) or v3 (batch where it can wait)."""
    if check_version(version) == "v3":
        return run_research_v3(
            question, client=client, progress=progress, steps=steps, digests=digests
        )
    return agent.run_research(question, client=client, progress=progress, steps=steps)
