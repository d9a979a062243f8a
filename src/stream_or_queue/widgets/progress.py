"""ProgressBar: ipywidgets' IntProgress whose saved form is its count, not its starting value."""

from __future__ import annotations

import html

import ipywidgets as widgets

from ._static import LiveForm, bar

__all__ = ["ProgressBar"]

_STYLE_WORD = {"success": "done", "warning": "stopped short", "danger": "failed"}


class ProgressBar(LiveForm, widgets.IntProgress):
    """An `IntProgress` that a saved notebook shows as `label: ██████ 9,992/9,992 (100%)`."""

    static_name = "ProgressBar"

    def _line(self) -> str:
        span = self.max - self.min
        fraction = (self.value - self.min) / span if span > 0 else 1.0
        label = f"{self.description}: " if self.description else ""
        word = _STYLE_WORD.get(self.bar_style, "")
        count = f"{self.value - self.min:,}/{span:,} ({fraction:.0%}){' ' + word if word else ''}"
        return f"{label}{bar(fraction)} {count}"

    def static_text(self) -> str:
        return self._line()

    def static_html(self) -> str:
        return f"<code>{html.escape(self._line())}</code>"
