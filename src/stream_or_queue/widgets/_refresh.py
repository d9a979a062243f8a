"""A background refresher shared by the widgets that watch Redis (JobBoard, Inbox).

A daemon thread calls `refresh()` every `interval` real seconds until `stop()`;
`stop()` wakes it at once and joins it, so no thread outlives its widget. Errors
in a refresh are shown by the widget and never kill the thread.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Self

__all__ = ["Refresher", "SelfRefreshing"]


class Refresher:
    def __init__(self, refresh: Callable[[], object], interval: float, name: str) -> None:
        if not 0.05 <= interval <= 60:
            raise ValueError(f"interval must be 0.05-60 s, got {interval!r}")
        self._refresh = refresh
        self.interval = interval
        self.name = name
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self.running:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._refresh()
            self._stop.wait(self.interval)

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
            if thread.is_alive():
                raise TimeoutError(f"{self.name} did not stop within {timeout} s")


class SelfRefreshing:
    """`running`, `start()`, `stop()` and `close()` for a widget that keeps a `Refresher`.

    Mixed in before the ipywidgets base class; the widget sets `self._refresher`
    and defines `refresh()`.
    """

    _refresher: Refresher

    def refresh(self) -> Any:
        raise NotImplementedError

    @property
    def running(self) -> bool:
        """True while the widget refreshes itself."""
        return self._refresher.running

    def start(self) -> Self:
        self._refresher.start()
        return self

    def stop(self) -> None:
        """Stop refreshing (one last refresh first, so the widget shows the final state)."""
        self._refresher.stop()
        self.refresh()

    def close(self) -> None:
        refresher = getattr(self, "_refresher", None)  # absent if __init__ failed early
        if refresher is not None:
            refresher.stop()
        super().close()  # type: ignore[misc]
