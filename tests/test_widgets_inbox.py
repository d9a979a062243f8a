"""Inbox widget, driven headless: lists messages newest first, reads them, refreshes itself."""

from __future__ import annotations

import re

from jobs_support import Backend
from support import wait_until

from stream_or_queue import jobs
from stream_or_queue.jobs import Inbox as InboxStore
from stream_or_queue.jobs import MailCatcher, Message, tasks
from stream_or_queue.widgets import Inbox


def test_lists_newest_first_and_counts_unread(backend: Backend) -> None:
    store = InboxStore("w")
    store.append(Message(subject="first", to="ana@example.com"))
    store.append(Message(subject="<script>x</script>", to="ana@example.com"))
    widget = Inbox(store, autostart=False)
    assert [m.subject for m in widget.messages] == ["<script>x</script>", "first"]
    assert widget.header.value == "<b>Inbox</b>: 2 messages, 2 unread"
    labels = [label for label, _ in widget.messages_list.options]
    assert labels[0].startswith("\N{BLACK CIRCLE} \N{ENVELOPE} <script>")  # a Select shows text
    assert widget.messages_list.value is None  # new mail does not open itself
    assert repr(widget) == "Inbox('w')"


def test_selecting_a_message_reads_it(backend: Backend) -> None:
    store = InboxStore("w")
    store.append(Message(subject="Ready", body="<b>done</b> & dusted", to="ana@example.com"))
    store.append(Message(subject="Other", to="ana@example.com"))
    widget = Inbox(store, autostart=False)
    target = widget.messages[1].id
    widget.messages_list.value = target
    assert "&lt;b&gt;done&lt;/b&gt; &amp; dusted" in widget.reader.value  # escaped
    assert widget.header.value.endswith("1 unread")
    assert widget.messages_list.value == target
    assert [m.read for m in store.list()] == [True, False]


def test_filter_by_recipient(backend: Backend) -> None:
    store = InboxStore("w")
    store.append(Message(subject="a", to="ana@example.com"))
    store.append(Message(subject="b", to="bo@example.com"))
    widget = Inbox(store, to="bo@example.com", autostart=False)
    assert [m.subject for m in widget.messages] == ["b"]
    assert "for bo@example.com" in widget.header.value


def test_an_email_from_a_job_appears_on_its_own(backend: Backend, no_leaked_threads: None) -> None:
    store = InboxStore()
    widget = Inbox(store, interval=0.05)
    with MailCatcher(store):
        job = jobs.get_queue().enqueue(
            tasks.add,
            1,
            1,
            meta={"notify_email": "ana@example.com"},
            **jobs.notification_callbacks(),
        )
        with jobs.start_workers(1, kind="thread"):
            jobs.wait(job)
        wait_until(lambda: len(widget.messages) == 1, what="the widget to show the email")
    widget.stop()
    assert not widget.running
    assert widget.messages[0].subject == "Ready: add" and widget.messages[0].job_id == job.id


def test_the_inbox_has_a_css_hook(backend: Backend) -> None:
    assert "soq-inbox" in Inbox(InboxStore("w"), autostart=False)._dom_classes


def test_the_saved_form_lists_the_messages_without_wall_clock_times(backend: Backend) -> None:
    from stream_or_queue.widgets._static import MARK

    store = InboxStore("w")
    store.append(Message(subject="first", to="ana@example.com"))
    widget = Inbox(store, autostart=False)
    store.append(Message(subject="<i>second</i>", to="bo@example.com", channel="webhook"))
    widget.read(widget.messages[0].id)
    text, page = widget.static_forms()
    assert text.splitlines() == [
        f"Inbox ({MARK})",
        "Inbox: 2 messages, 1 unread",  # read from Redis, not from the last refresh
        "  \N{BLACK CIRCLE} \N{LINK SYMBOL} <i>second</i> — bo@example.com (via webhook)",
        "  \N{ENVELOPE} first — ana@example.com (via email)",
    ]
    assert "&lt;i&gt;second&lt;/i&gt;" in page and "<i>second</i>" not in page
    assert "<b>first</b>" in page  # the message being read, as the reader shows it
    assert not re.search(r"\d\d:\d\d:\d\d", text + page)
