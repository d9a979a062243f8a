"""ipywidgets for the course: chat box, job board, inbox, quiz, decision guide, progress bar.

Each widget lives in its own module and is imported on first use, so that the
library can be imported where ipywidgets is not wanted (workers, the web app).
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "ChatBox": "chatbox",
    "JobBoard": "jobboard",
    "Inbox": "inbox",
    "Quiz": "quiz",
    "DecisionGuide": "decision",
    "ProgressBar": "progress",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        module = importlib.import_module(f".{_WHERE[name]}", __name__)
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
