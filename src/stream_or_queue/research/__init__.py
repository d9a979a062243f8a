"""The research assistant: the course's worked example, from chat box to durable job.

A question goes through an agent loop on the SDK's tool use (search, read a
document, take notes over a bundled corpus), 5-8 tool calls and about a minute or
two of simulated time, and comes back as four paragraphs citing `[doc-N]`.

- `run_research` / `arun_research`: the loop itself (v1 streams it, v2 runs it in a job).
- `research.durable`: v2/v3 as a DBOS workflow, every turn and tool call a step.
- v1, v2 and v3 are measured side by side by `stream_or_queue.research.compare`.
"""

from __future__ import annotations

from .agent import (
    NoCheckpoints,
    ResearchError,
    agather,
    arun_research,
    check_question,
    gather,
    run_research,
)
from .corpus import CORPUS, Document, UnknownDocument, document, search
from .questions import QUESTIONS, questions
from .result import (
    CallUsage,
    ProgressCallback,
    ProgressEvent,
    ResearchResult,
    ResearchTrace,
    Source,
    cited_ids,
)
from .tools import TOOLS, Toolbox, ToolOutcome

__all__ = [
    "CORPUS",
    "QUESTIONS",
    "TOOLS",
    "CallUsage",
    "Document",
    "NoCheckpoints",
    "ProgressCallback",
    "ProgressEvent",
    "ResearchError",
    "ResearchResult",
    "ResearchTrace",
    "Source",
    "ToolOutcome",
    "Toolbox",
    "UnknownDocument",
    "agather",
    "arun_research",
    "check_question",
    "cited_ids",
    "document",
    "gather",
    "questions",
    "run_research",
    "search",
]
