"""Inbox: the notifications a user received (emails, webhooks), newest first.

It shows a `jobs.Inbox` (Redis) and refreshes itself, so an email sent by a worker
- a thread here or an `rq worker` process elsewhere - appears without re-running a
cell. Pick a message to read it; it is then marked read in Redis.
"""

from __future__ import annotations

import html
import time

import ipywidgets as widgets

from ..jobs.inbox import Inbox as InboxStore
from ..jobs.inbox import Message
from ._refresh import Refresher, SelfRefreshing
from ._static import LiveForm

__all__ = ["Inbox"]

ICONS = {"email": "\N{ENVELOPE}", "webhook": "\N{LINK SYMBOL}", "callback": "\N{BELL}"}


def _label(message: Message, *, when: bool = True) -> str:
    mark = "" if message.read else "\N{BLACK CIRCLE} "
    icon = ICONS.get(message.channel, "")
    at = time.strftime(" (%H:%M:%S)", time.localtime(message.received_at)) if when else ""
    return f"{mark}{icon} {message.subject} — {message.to}{at}"


class Inbox(SelfRefreshing, LiveForm, widgets.VBox):
    """A live inbox: a list of messages and the one being read.

    Its saved form (`LiveForm`) lists the messages as Redis has them when the form is
    made, without the times they arrived (wall-clock times differ on every run).
    """

    static_name = "Inbox"

    def __init__(
        self,
        inbox: InboxStore | None = None,
        *,
        to: str | None = None,
        interval: float = 0.5,
        autostart: bool = True,
    ) -> None:
        self.store = inbox if inbox is not None else InboxStore()
        self.to = to
        self.header = widgets.HTML()
        self.messages_list = widgets.Select(options=[], rows=6, layout=widgets.Layout(width="100%"))
        self.reader = widgets.HTML()
        self.messages: list[Message] = []
        self.failing = False
        """True while the latest refresh could not read Redis."""
        self._updating = False
        super().__init__([self.header, self.messages_list, self.reader])
        self.add_class("soq-inbox")  # a stable hook for the browser tests
        self.messages_list.observe(self._on_select, names="value")
        self._refresher = Refresher(self.refresh, interval, name="soq-inbox")
        self.refresh()
        if autostart:
            self.start()

    def refresh(self) -> list[Message]:
        """Read the inbox from Redis and update the widget; returns the messages."""
        try:
            messages = self.store.list(to=self.to)
        except Exception as exc:  # shown, not raised: this runs on a background thread
            self.header.value = f"<i>cannot read the inbox: {html.escape(str(exc))}</i>"
            self.failing = True
            return self.messages
        self.failing = False
        messages.reverse()  # newest first
        unread = sum(not m.read for m in messages)
        self.header.value = (
            f"<b>Inbox</b>{' for ' + html.escape(self.to) if self.to else ''}: "
            f"{len(messages)} message{'s' if len(messages) != 1 else ''}, {unread} unread"
        )
        options = [(_label(m), m.id) for m in messages]
        if list(self.messages_list.options) != options:
            selected = self.messages_list.value
            self._updating = True  # changing options is not the user picking a message
            try:
                self.messages_list.options = options
                if selected in {m.id for m in messages}:
                    self.messages_list.value = selected
            finally:
                self._updating = False
        self.messages = messages
        return messages

    def read(self, message_id: str) -> Message:
        """Show one message and mark it read (what selecting it in the list does)."""
        message = self.store.read(message_id)
        self.reader.value = (
            f"<div><b>{html.escape(message.subject)}</b><br>"
            f"<small>from {html.escape(message.sender)} to {html.escape(message.to)} · "
            f"via {html.escape(message.channel)}</small>"
            f"<pre style='white-space: pre-wrap'>{html.escape(message.body)}</pre></div>"
        )
        self.refresh()
        return message

    def _on_select(self, change: dict[str, object]) -> None:
        if self._updating:
            return
        value = change.get("new")
        if isinstance(value, str) and value:
            try:
                self.read(value)
            except KeyError:
                self.reader.value = "<i>this message is gone</i>"

    def _static_messages(self) -> list[Message]:
        if self.failing:  # as JobBoard.static_views: no Redis round trip after every cell
            return self.messages
        try:
            messages = self.store.list(to=self.to)
        except Exception:  # the form falls back to what the widget shows
            return self.messages
        messages.reverse()
        return messages

    def _static_header(self, messages: list[Message]) -> str:
        unread = sum(not m.read for m in messages)
        return (
            f"Inbox{' for ' + self.to if self.to else ''}: "
            f"{len(messages)} message{'s' if len(messages) != 1 else ''}, {unread} unread"
        )

    def static_text(self) -> str:
        messages = self._static_messages()
        lines = [self._static_header(messages)]
        lines += [f"  {_label(m, when=False)} (via {m.channel})" for m in messages]
        return "\n".join(lines)

    def static_html(self) -> str:
        messages = self._static_messages()
        items = "".join(
            f"<li>{html.escape(_label(m, when=False))} <small>(via {html.escape(m.channel)})"
            "</small></li>"
            for m in messages
        )
        header = f"<b>{html.escape(self._static_header(messages))}</b>"
        return header + (f"<ul>{items}</ul>" if items else "") + self.reader.value

    def __repr__(self) -> str:
        return f"Inbox({self.store.name!r})"
