"""Checks for lab 06: a polling client with backoff, and an event reader that reattaches.

The learner writes `poll_with_backoff(get_status, *, first_s, factor, max_s, sleep)`
and `read_all_events(open_stream)`. Each is checked first against a scripted
fake (so the message can say exactly what went wrong), then against the real
web service on loopback, whose simulated edge cuts long event streams.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx2

from .. import clock
from . import CheckFailed, call_learner, expect, passed
from .progress import Help, LabProgress

__all__ = [
    "check_poll_with_backoff",
    "check_read_all_events",
    "hint",
    "report",
]

Event = tuple[str, str]
QUESTION = "Why does a research page show its progress?"


def check_poll_with_backoff(poll_with_backoff: Callable[..., tuple[str, int]]) -> None:
    """Polls until a terminal status, sleeping first_s, first_s*factor, ... capped at max_s."""
    script = iter(["queued"] + ["started"] * 6 + ["finished", "finished"])
    sleeps: list[float] = []
    got = call_learner(
        poll_with_backoff,
        lambda: next(script),
        first_s=1.0,
        factor=2.0,
        max_s=15.0,
        sleep=sleeps.append,
    )
    expect(
        isinstance(got, tuple) and len(got) == 2,
        f"poll_with_backoff should return (status, polls); it returned {got!r}.",
    )
    expect(
        got[0] == "finished",
        f"The job finished on the 8th poll but the function returned {got!r}: stop when "
        "get_status() returns 'finished', 'failed' or 'canceled'.",
    )
    expect(got[1] == 8, f"It took 8 polls to see 'finished'; the function reported {got[1]}.")
    expect(
        len(sleeps) == 7,
        f"Expected 7 sleeps between 8 polls, saw {len(sleeps)} ({sleeps}): sleep after a "
        "poll that says the job is still running, never after the last one.",
    )
    expect(
        sleeps == [1.0, 2.0, 4.0, 8.0, 15.0, 15.0, 15.0],
        f"The waits were {sleeps}; with first_s=1, factor=2, max_s=15 they should be "
        "[1, 2, 4, 8, 15, 15, 15]: each wait grows by `factor`, and none is longer than "
        "`max_s`, however long the job runs.",
    )
    for end in ("failed", "canceled"):
        script = iter(["queued", end])
        sleeps = []
        got = call_learner(
            poll_with_backoff,
            lambda s=script: next(s),
            first_s=0.5,
            factor=3.0,
            max_s=4.0,
            sleep=sleeps.append,
        )
        expect(
            got == (end, 2) and sleeps == [0.5],
            f"A job that ends '{end}' must stop the polling too; got {got!r} after "
            f"sleeping {sleeps}.",
        )
    _real_poll(poll_with_backoff)
    passed(
        "poll_with_backoff backs off, caps its wait and stops at the end - also on the "
        "real service."
    )


def _real_poll(poll_with_backoff: Callable[..., tuple[str, int]]) -> None:
    from ..web import create_app, serve_in_thread

    with serve_in_thread(create_app()) as web, httpx2.Client(base_url=web.url, timeout=30) as http:
        job_id = http.post("/jobs", json={"question": QUESTION}).json()["id"]
        got = call_learner(
            poll_with_backoff,
            lambda: http.get(f"/jobs/{job_id}").json()["status"],
            first_s=2.0,
            factor=1.5,
            max_s=10.0,
            sleep=clock.sleep,
        )
    expect(
        got[0] == "finished" and 2 <= got[1] <= 60,
        f"Against the real service the function returned {got!r}; expected ('finished', "
        "a few polls).",
    )


class _ScriptedStream:
    """Ten events; every connection is cut after three of them, like an edge would."""

    def __init__(self) -> None:
        self.events: list[Event] = [
            (f"{n}-0", json.dumps({"step": "finished" if n == 10 else "working"}))
            for n in range(1, 11)
        ]
        self.opened_with: list[str | None] = []

    def __call__(self, last_event_id: str | None) -> Iterator[Event]:
        self.opened_with.append(last_event_id)
        if len(self.opened_with) > 30:
            raise CheckFailed(
                "read_all_events opened more than 30 connections for 10 events: after a cut, "
                "reconnect with the id of the last event you received, and stop after the "
                "'finished' event."
            )
        return self._stream(last_event_id)

    def _stream(self, last_event_id: str | None) -> Iterator[Event]:
        ids = [e[0] for e in self.events]
        start = ids.index(last_event_id) + 1 if last_event_id in ids else 0
        for sent, event in enumerate(self.events[start:]):
            if sent == 3:
                raise ConnectionError("the edge cut the stream")
            yield event


def check_read_all_events(
    read_all_events: Callable[[Callable[[str | None], Iterator[Event]]], list[Event]],
) -> None:
    """Reads every event once, in order, reconnecting with the last id after each cut."""
    stream = _ScriptedStream()
    try:
        got = call_learner(read_all_events, stream)
    except ConnectionError:
        raise CheckFailed(
            "read_all_events let the ConnectionError escape: catch it and open the stream "
            "again with the id of the last event you received."
        ) from None
    expect(
        isinstance(got, list),
        f"read_all_events should return a list of (id, data); got {type(got).__name__}.",
    )
    ids = [e[0] for e in got]
    expect(
        len(ids) == len(set(ids)),
        f"Some events arrived twice ({ids}): reconnect with the *last* id you saw, not "
        "None, so the server resumes after it.",
    )
    expect(
        got == stream.events,
        f"Expected all 10 events in order, got ids {ids}. Keep reconnecting after a "
        "ConnectionError until the event whose step is 'finished'.",
    )
    expect(
        stream.opened_with[0] is None and stream.opened_with[1:] == ["3-0", "6-0", "9-0"],
        f"The stream was opened with {stream.opened_with}; expected [None, '3-0', '6-0', "
        "'9-0']: the first time with no id, then with the last id received.",
    )
    _real_events(read_all_events)
    passed(
        "read_all_events reattaches with Last-Event-ID and misses nothing - also through "
        "the real edge."
    )


def _real_events(
    read_all_events: Callable[[Callable[[str | None], Iterator[Event]]], list[Event]],
) -> None:
    from ..web import create_app, serve_in_thread

    with (
        serve_in_thread(create_app(edge_timeout_s=8.0)) as web,
        httpx2.Client(base_url=web.url, timeout=30) as http,
    ):
        job_id = http.post("/jobs", json={"question": QUESTION}).json()["id"]
        opened: list[str | None] = []

        def open_stream(last_event_id: str | None) -> Iterator[Event]:
            opened.append(last_event_id)
            if len(opened) > 50:
                raise CheckFailed("more than 50 connections: stop after the 'finished' event.")
            headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
            try:
                with http.stream("GET", f"/jobs/{job_id}/events", headers=headers) as response:
                    for event in httpx2.EventSource(response):
                        yield event.id, event.data
            except (httpx2.RemoteProtocolError, httpx2.ReadError) as exc:
                raise ConnectionError("the edge cut the stream") from exc

        got = call_learner(read_all_events, open_stream)
        everything = [(e.id, e.data) for e in _replay(http, job_id)]
    expect(len(opened) > 1, "The real stream was never cut: nothing to check (rerun the cell).")
    expect(
        got == everything,
        f"Against the real service: {len(got)} events read, {len(everything)} in the "
        "job's stream - some were lost or repeated across reconnections.",
    )


def _replay(http: httpx2.Client, job_id: str) -> list[Any]:
    with http.stream("GET", f"/jobs/{job_id}/events") as response:
        return list(httpx2.EventSource(response))


LAB = LabProgress(
    "lab06",
    {
        "poll_with_backoff": Help(
            hint="Count every poll; stop on a final status (finished, failed, canceled); between polls sleep the current delay, then grow it by the factor, never past the cap.",
            answer="delay, polls = first_s, 0\nwhile True:\n    status = get_status()\n    polls += 1\n    if status in ('finished', 'failed', 'canceled'):\n        return status, polls\n    sleep(delay)\n    delay = min(delay * factor, max_s)",
        ),
        "read_all_events": Help(
            hint="Remember the id of the last event you received; when the connection drops, open the stream again from that id, and stop at the job's final event.",
            answer="received, last_id = [], None\nwhile True:\n    try:\n        for event_id, data in open_stream(last_id):\n            received.append((event_id, data))\n            last_id = event_id\n            if json.loads(data).get('step') in ('finished', 'failed', 'canceled'):\n                return received\n        return received\n    except ConnectionError:\n        continue",
        ),
    },
)
check_poll_with_backoff = LAB.check(check_poll_with_backoff)
check_read_all_events = LAB.check(check_read_all_events)
hint = LAB.hint
report = LAB.report
