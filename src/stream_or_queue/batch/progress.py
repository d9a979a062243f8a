"""A progress bar for long work that is quiet where no one is looking.

In a notebook it is an `ipywidgets.IntProgress` (already a course dependency, so
no tqdm); in tests, workers and benchmarks it only counts. Updates are
throttled to about one per percent, so 10,000 items send ~100 widget messages,
not 10,000. The bar is a `widgets.ProgressBar`: a saved notebook shows its last
count as text (see `widgets/_static.py`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["Progress"]


def _in_kernel() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython comes with ipykernel
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


class Progress:
    """Counts work done out of `total`; shows a bar when `show` (default: in a kernel).

    `on_update(value, total)` is called at the same throttled pace as the bar, e.g.
    to copy progress into an RQ job's meta for a web page to read.
    """

    def __init__(
        self,
        total: int,
        label: str = "",
        *,
        show: bool | None = None,
        on_update: Callable[[int, int], None] | None = None,
    ) -> None:
        if total < 0:
            raise ValueError("total must be >= 0")
        self.total = total
        self.label = label
        self.value = 0
        self._shown = 0
        self._step = max(1, total // 100)
        self.widget: Any = None
        self.on_update = on_update
        if show if show is not None else _in_kernel():
            from IPython.display import display

            from ..widgets.progress import ProgressBar

            self.widget = ProgressBar(
                value=0,
                min=0,
                max=max(total, 1),
                description=label,
                style={"description_width": "initial"},
            )
            display(self.widget)

    def set(self, value: int) -> None:
        """Move to an absolute count (e.g. a batch's ended requests)."""
        self.value = max(0, min(self.total, value))
        if self.value != self._shown and (
            abs(self.value - self._shown) >= self._step or self.value == self.total
        ):
            self._push()

    def _push(self) -> None:
        self._shown = self.value
        if self.widget is not None:
            self.widget.value = self.value
        if self.on_update is not None:
            self.on_update(self.value, self.total)

    def advance(self, count: int = 1) -> None:
        self.set(self.value + count)

    def grow(self, extra: int) -> None:
        """More work joined (e.g. a retry round): the bar's end moves out."""
        self.total += extra
        self._step = max(1, self.total // 100)
        if self.widget is not None:
            self.widget.max = max(self.total, 1)

    def close(self) -> None:
        """Show the final count and mark the bar finished."""
        self._push()
        if self.widget is not None:
            self.widget.bar_style = "success" if self.value >= self.total else "warning"

    def __str__(self) -> str:
        label = f"{self.label}: " if self.label else ""
        return f"{label}{self.value:,}/{self.total:,}"
