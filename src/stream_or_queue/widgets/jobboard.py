"""JobBoard: every job on a queue, with its status and a progress bar, kept up to date.

The board reads what any dashboard would read - RQ's queue and registries and
each job's `meta["progress"]` in Redis (`jobs.list_jobs`) - so it shows jobs run by
a thread in this kernel or by `rq worker` processes on other machines alike.

    board = JobBoard()   # starts refreshing itself in the background
    board                # display it
    ...
    board.stop()         # or board.refresh() by hand (tests do)
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence

import ipywidgets as widgets
import redis

from ..jobs.api import JobView, list_jobs
from ..jobs.connection import DEFAULT_QUEUE
from ._refresh import Refresher, SelfRefreshing
from ._static import LiveForm, bar

__all__ = ["JobBoard"]

BAR_STYLE = {
    "finished": "success",
    "failed": "danger",
    "stopped": "warning",
    "canceled": "warning",
    "started": "info",
}
STATUS_ORDER = ("queued", "scheduled", "deferred", "started", "finished", "failed")


class _Row:
    def __init__(self) -> None:
        self.label = widgets.HTML(layout=widgets.Layout(width="34%"))
        self.bar = widgets.FloatProgress(min=0.0, max=100.0, layout=widgets.Layout(width="30%"))
        self.status = widgets.HTML(layout=widgets.Layout(width="36%"))
        self.box = widgets.HBox([self.label, self.bar, self.status])

    def update(self, view: JobView) -> None:
        short = html.escape(view.id[:8])
        self.label.value = f"<b>{html.escape(view.title)}</b> <code>{short}</code>"
        self.bar.value = view.percent
        self.bar.bar_style = BAR_STYLE.get(view.status, "")
        self.status.value = html.escape(_status(view))


def _status(view: JobView) -> str:
    """The status column: the status, and the error of a failed job or the step of a running one."""
    detail = ""
    if view.status == "failed" and view.error:
        detail = view.error
    elif view.progress is not None and view.status == "started":
        detail = view.progress.message or view.progress.step
    return f"{view.status} · {detail[:80]}" if detail else view.status


class JobBoard(SelfRefreshing, LiveForm, widgets.VBox):
    """A live list of jobs: title, id, progress bar, status (and the error if it failed).

    Its saved form (`LiveForm`) is the same table as text and HTML, without the
    random job ids, read afresh from Redis when the form is made.
    """

    static_name = "JobBoard"

    def __init__(
        self,
        queues: Sequence[str] = (DEFAULT_QUEUE,),
        *,
        connection: redis.Redis | None = None,
        interval: float = 0.25,
        limit: int = 20,
        autostart: bool = True,
    ) -> None:
        self.queue_names = [queues] if isinstance(queues, str) else list(queues)
        self.connection = connection
        self.limit = limit
        self.summary = widgets.HTML()
        self.rows = widgets.VBox()
        self._rows: dict[str, _Row] = {}
        self.views: list[JobView] = []
        self.failing = False
        """True while the latest refresh could not read Redis."""
        super().__init__([self.summary, self.rows])
        self.add_class("soq-jobboard")  # a stable hook for browser tests and custom CSS
        self._refresher = Refresher(self.refresh, interval, name="soq-jobboard")
        self.refresh()
        if autostart:
            self.start()

    def refresh(self) -> list[JobView]:
        """Read the jobs from Redis and update the widgets; returns what it read."""
        try:
            views = list_jobs(self.queue_names, connection=self.connection, limit=self.limit)
        except Exception as exc:  # shown, not raised: this runs on a background thread
            self.summary.value = f"<i>cannot read the queue: {html.escape(str(exc))}</i>"
            self.failing = True
            return self.views
        self.failing = False
        seen = set()
        for view in views:
            row = self._rows.get(view.id)
            if row is None:
                row = self._rows[view.id] = _Row()
            row.update(view)
            seen.add(view.id)
        for job_id in set(self._rows) - seen:
            del self._rows[job_id]
        order = [self._rows[v.id].box for v in views]
        if list(self.rows.children) != order:
            self.rows.children = order
        self.views = views
        self.summary.value = self._summary(views)
        return views

    @staticmethod
    def _summary(views: list[JobView]) -> str:
        if not views:
            return "<b>Jobs</b>: none yet"
        counts: dict[str, int] = {}
        for view in views:
            counts[view.status] = counts.get(view.status, 0) + 1
        ordered = sorted(counts, key=lambda s: STATUS_ORDER.index(s) if s in STATUS_ORDER else 99)
        parts = " · ".join(f"{counts[s]} {html.escape(s)}" for s in ordered)
        return f"<b>Jobs</b>: {parts}"

    def counts(self) -> dict[str, int]:
        """Jobs per status as of the last refresh."""
        out: dict[str, int] = {}
        for view in self.views:
            out[view.status] = out.get(view.status, 0) + 1
        return out

    def static_views(self) -> list[JobView]:
        """The jobs as Redis has them now (the last refresh's if Redis cannot be read; while
        refreshes fail, Redis is not tried again here: a form is made after every cell)."""
        if self.failing:
            return self.views
        try:
            return list_jobs(self.queue_names, connection=self.connection, limit=self.limit)
        except Exception:  # the form falls back to what the widget shows
            return self.views

    def static_text(self) -> str:
        views = self.static_views()
        summary = re.sub(r"<[^>]+>", "", self._summary(views))
        width = max((len(v.title) for v in views), default=0)
        rows = [
            f"  {v.title:<{width}}  {bar(v.percent / 100)} {v.percent:5.1f}%  {_status(v)}"
            for v in views
        ]
        return "\n".join([summary, *rows])

    def static_html(self) -> str:
        views = self.static_views()
        rows = "".join(
            f"<tr><td><b>{html.escape(v.title)}</b></td>"
            f"<td><code>{bar(v.percent / 100)}</code> {v.percent:.1f}%</td>"
            f"<td>{html.escape(_status(v))}</td></tr>"
            for v in views
        )
        table = f"<table>{rows}</table>" if rows else ""
        return f"<div>{self._summary(views)}</div>{table}"

    def __repr__(self) -> str:
        return f"JobBoard(queues={self.queue_names!r})"
