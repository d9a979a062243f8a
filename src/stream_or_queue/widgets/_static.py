"""What a reader of a saved notebook sees of a live widget: its last state, as text and HTML.

A widget is live only while its kernel runs. GitHub and nbviewer show a saved
notebook without a kernel, and without widget state they fall back to the text
form next to the widget view - by default ipywidgets' repr, which shows the state
at display time (`IntProgress(value=0, ...)`, an empty board).

The course's widgets mix in `LiveForm`: each output carries a text/plain and a
text/html form of the widget's state, and the output gets an IPython display id.
After every cell (IPython's `post_run_cell` event) a widget whose form changed
re-publishes it under that id (`update_display_data`). Every executor that keeps
outputs applies the update to the output where the widget was shown - nbclient
(`scripts/build_course.py --execute`), nbconvert, JupyterLab itself when a learner
saves - so the saved notebook shows the widget as the run left it: the board's
final table, the bar at 100%, the whole conversation. Live frontends keep the widget
view (the update carries the same model id).

nbval ignores `update_display_data`: it compares the form at display time with the
saved, later form. Every form therefore starts with `MARK` (text) or `HTML_MARK`
(HTML), and `tests/nbval_sanitize.cfg` reduces a marked form to its widget's name.
Why this and not saved widget state: see docs/ARCHITECTURE.md.
"""

from __future__ import annotations

import html
import secrets
import weakref
from typing import Any

__all__ = [
    "HTML_MARK",
    "MARK",
    "LiveForm",
    "bar",
    "form_bundle",
    "refresh_forms",
    "shown",
]

MARK = "live widget, as the notebook left it"
"""The end of the first line of every text form (nbval's sanitizer keys on it)."""
HTML_MARK = '<div class="soq-static" data-widget="{name}">'
"""The start of every HTML form."""
BAR_WIDTH = 20

_shown: weakref.WeakValueDictionary[str, LiveForm] = weakref.WeakValueDictionary()
_published: dict[str, tuple[str, str]] = {}
_hooked: set[int] = set()


def bar(fraction: float, width: int = BAR_WIDTH) -> str:
    """A progress bar in text (`██████░░░░`): renders wherever text does, GitHub included."""
    fraction = min(1.0, max(0.0, fraction))
    full = round(fraction * width)
    return "\N{FULL BLOCK}" * full + "\N{LIGHT SHADE}" * (width - full)


class LiveForm:
    """Mixed in before an ipywidgets class: text/HTML forms in every output, kept current.

    Subclasses define `static_name`, `static_text()` and `static_html()` (the body;
    this class adds the header).
    """

    static_name = "Widget"
    _soq_display_id: str | None = None

    def static_text(self) -> str:
        raise NotImplementedError

    def static_html(self) -> str:
        raise NotImplementedError

    def static_forms(self) -> tuple[str, str]:
        """(text, html): the widget's state now, as a reader without a kernel sees it."""
        text = f"{self.static_name} ({MARK})\n{self.static_text()}"
        page = f"{HTML_MARK.format(name=html.escape(self.static_name))}{self.static_html()}</div>"
        return text, page

    @property
    def display_id(self) -> str:
        if self._soq_display_id is None:
            self._soq_display_id = f"soq-{secrets.token_hex(8)}"
        return self._soq_display_id

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        bundle = super()._repr_mimebundle_(**kwargs)  # type: ignore[misc]
        if isinstance(bundle, dict):
            bundle["text/plain"], bundle["text/html"] = self.static_forms()
        return bundle

    def _ipython_display_(self) -> None:
        """Display with a display id, so later cells can bring the saved form up to date."""
        from IPython import get_ipython
        from IPython.display import display

        bundle = form_bundle(self)
        if bundle is None:  # closed
            return
        shell = get_ipython()
        if shell is None:
            display(bundle, raw=True)
            return
        display(bundle, raw=True, display_id=self.display_id)
        _shown[self.display_id] = self
        _published[self.display_id] = (bundle["text/plain"], bundle["text/html"])
        if id(shell) not in _hooked:
            shell.events.register("post_run_cell", refresh_forms)
            _hooked.add(id(shell))


def form_bundle(widget: LiveForm) -> dict[str, Any] | None:
    """The widget's output (widget view + forms), or None once it is closed."""
    make = getattr(widget, "_repr_mimebundle_", None)  # ipywidgets sets it to None on close
    if make is None:
        return None
    bundle = make()
    return bundle if isinstance(bundle, dict) else None


def shown() -> list[LiveForm]:
    """The widgets displayed in this kernel that are still alive."""
    return list(_shown.values())


def refresh_forms(*_: object) -> int:
    """Re-publish the forms that changed since they were last shown; returns how many.

    Runs after every cell. It never raises: a widget that cannot describe itself keeps
    its previous form rather than break the learner's cell.
    """
    from IPython.display import update_display

    updated = 0
    for display_id, widget in list(_shown.items()):
        try:
            bundle = form_bundle(widget)
            if bundle is None:
                del _shown[display_id]
                _published.pop(display_id, None)
                continue
            forms = (bundle["text/plain"], bundle["text/html"])
            if _published.get(display_id) == forms:
                continue
            update_display(bundle, raw=True, display_id=display_id)
            _published[display_id] = forms
            updated += 1
        except Exception:  # see the docstring: never break a cell
            continue
    return updated
