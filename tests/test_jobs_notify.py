"""Notify when done: the Redis inbox, real SMTP to the mail catcher, RQ callbacks and webhooks."""

from __future__ import annotations

import json
import smtplib
import urllib.error
import urllib.request
from typing import Any

import pytest
from jobs_support import Backend
from support import wait_until

from stream_or_queue import config, jobs
from stream_or_queue.jobs import Inbox, MailCatcher, Message, WebhookReceiver, tasks
from stream_or_queue.jobs.mail import ADDRESS_KEY, check_address, send_email, smtp_address

# --- the inbox ---------------------------------------------------------------------------


def test_inbox_append_list_read(backend: Backend) -> None:
    inbox = Inbox("test")
    first = Message(subject="one", to="ana@example.com", job_id="j1")
    assert inbox.append(first)
    assert inbox.append(Message(subject="two", to="bo@example.com"))
    assert [m.subject for m in inbox.list()] == ["one", "two"]
    assert [m.subject for m in inbox.list(to="bo@example.com")] == ["two"]
    assert [m.subject for m in inbox.list(job_id="j1")] == ["one"]
    assert inbox.unread_count() == 2 and len(inbox) == 2
    opened = inbox.read(first.id)
    assert opened.read and opened.subject == "one"
    assert [m.subject for m in inbox.list(unread_only=True)] == ["two"]
    with pytest.raises(KeyError, match="no message with id"):
        inbox.read("nope")
    assert Inbox("other").list() == []  # inboxes do not mix
    inbox.clear()
    assert inbox.list() == []


def test_inbox_keeps_one_message_per_idempotency_key(backend: Backend) -> None:
    inbox = Inbox("test")
    assert inbox.append(Message(subject="ready", idempotency_key="job|1|finished"))
    assert not inbox.append(Message(subject="ready again", idempotency_key="job|1|finished"))
    assert [m.subject for m in inbox.list()] == ["ready"]
    assert inbox.duplicates_dropped == 1


def test_inbox_refuses_bad_input(backend: Backend) -> None:
    inbox = Inbox("test")
    with pytest.raises(ValueError, match="subject"):
        inbox.append(Message(subject=""))
    with pytest.raises(TypeError):
        inbox.append({"subject": "x"})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="inbox name"):
        Inbox("bad name!")
    assert inbox.list() == []


def test_inbox_keeps_the_newest_messages(backend: Backend, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(config, "INBOX_MAX_MESSAGES", 3)
    inbox = Inbox("test")
    for i in range(5):
        inbox.append(Message(subject=f"m{i}"))
    assert [m.subject for m in inbox.list()] == ["m2", "m3", "m4"]


# --- email over SMTP -----------------------------------------------------------------------


def test_email_goes_over_smtp_into_the_inbox(backend: Backend, no_leaked_threads: None) -> None:
    inbox = Inbox("test")
    with MailCatcher(inbox) as catcher:
        assert catcher.url.startswith("smtp://127.0.0.1:")
        send_email("ana@example.com", "Hello", "Body line\n", job_id="j1", idempotency_key="k1")
        send_email("ana@example.com", "Hello again", "x", idempotency_key="k1")  # same key
        wait_until(lambda: catcher.received == 2, what="two SMTP deliveries")
    [message] = inbox.list()
    assert (message.subject, message.body, message.to, message.channel, message.job_id) == (
        "Hello",
        "Body line",
        "ana@example.com",
        "email",
        "j1",
    )
    assert "jobs@stream-or-queue.invalid" in message.sender
    assert not catcher.running
    assert backend.connection.get(ADDRESS_KEY) is None  # unpublished on stop


def test_mail_catcher_start_is_idempotent(backend: Backend, no_leaked_threads: None) -> None:
    catcher = MailCatcher(Inbox("test")).start()
    port = catcher.port
    assert catcher.start().port == port
    catcher.stop()
    catcher.stop()
    with pytest.raises(RuntimeError, match="not running"):
        _ = catcher.port


def test_sending_without_a_mail_server_is_a_clear_error(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("STREAM_OR_QUEUE_SMTP_URL", raising=False)
    with pytest.raises(RuntimeError, match="no SMTP server known"):
        send_email("ana@example.com", "s", "b")
    monkeypatch.setenv("STREAM_OR_QUEUE_SMTP_URL", "http://127.0.0.1:25")
    with pytest.raises(ValueError, match="smtp://host:port"):
        smtp_address()
    monkeypatch.setenv("STREAM_OR_QUEUE_SMTP_URL", "smtp://127.0.0.1:2525")
    assert smtp_address() == ("127.0.0.1", 2525)


@pytest.mark.parametrize(
    "address",
    [
        "",
        "ana",
        "ana@",
        "@example.com",
        "ana@example",
        "a b@example.com",
        "ana@example.com\r\nBcc: eve@example.com",
        "a@b@example.com",
        7,
    ],
)
def test_bad_addresses_are_refused(address: object) -> None:
    with pytest.raises(ValueError, match="email address"):
        check_address(address)


def test_header_injection_is_refused(backend: Backend) -> None:
    with pytest.raises(ValueError, match="line breaks"):
        send_email("ana@example.com", "hi\nBcc: eve@example.com", "b", smtp_url="smtp://h:1")


def test_the_catcher_listens_on_loopback_only(backend: Backend, no_leaked_threads: None) -> None:
    with MailCatcher(Inbox("test")) as catcher, smtplib.SMTP("127.0.0.1", catcher.port) as smtp:
        assert smtp.noop()[0] == 250
        assert catcher._controller is not None
        assert catcher._controller.hostname == "127.0.0.1"


# --- callbacks: notify once ---------------------------------------------------------------


def _run() -> jobs.Workers:
    """One in-process worker (fast on both backends; rq worker processes are tested too)."""
    return jobs.start_workers(1, kind="thread")


def test_a_finished_job_emails_its_user_exactly_once(
    backend: Backend, no_leaked_threads: None
) -> None:
    inbox = Inbox()
    with MailCatcher(inbox):
        job = jobs.get_queue().enqueue(
            tasks.add,
            2,
            3,
            meta={"notify_email": "ana@example.com", "title": "sum"},
            **jobs.notification_callbacks(),
        )
        with jobs.start_workers(1):
            jobs.wait(job)
        wait_until(lambda: len(inbox.list(job_id=job.id)) == 1, what="the email")
        # the callback runs again (a retry after a crash, a redelivery): no second email
        jobs.notify_success(job, backend.connection, job.return_value())
        jobs.notify_success(job, backend.connection, job.return_value())
    [message] = inbox.list(job_id=job.id)
    assert message.subject == "Ready: sum" and message.to == "ana@example.com"
    assert f"/jobs/{job.id}" in message.body and "5" in message.body
    assert jobs.fetch(job.id).meta["notification"]["status"] == "sent"


def test_a_failed_job_emails_its_user_once_too(backend: Backend, no_leaked_threads: None) -> None:
    inbox = Inbox()
    with MailCatcher(inbox):
        job = jobs.get_queue().enqueue(
            tasks.always_fails,
            "disk full",
            meta={"notify_email": "ana@example.com"},
            **jobs.notification_callbacks(),
        )
        with _run():
            jobs.wait(job)
        wait_until(lambda: len(inbox.list(job_id=job.id)) == 1, what="the email")
    [message] = inbox.list(job_id=job.id)
    assert message.subject == "Failed: always fails"
    assert "RuntimeError: disk full" in message.body and "can be retried" in message.body
    assert job.get_status(refresh=True) == "failed"


def test_no_address_no_email(backend: Backend, no_leaked_threads: None) -> None:
    inbox = Inbox()
    with MailCatcher(inbox):
        job = jobs.get_queue().enqueue(tasks.add, 1, 1, **jobs.notification_callbacks())
        with _run():
            jobs.wait(job)
    assert inbox.list() == [] and job.get_status() == "finished"


def test_a_failed_send_keeps_the_result_and_can_be_retried(
    backend: Backend, monkeypatch: pytest.MonkeyPatch, no_leaked_threads: None
) -> None:
    monkeypatch.delenv("STREAM_OR_QUEUE_SMTP_URL", raising=False)
    job = jobs.get_queue().enqueue(
        tasks.add, 1, 2, meta={"notify_email": "ana@example.com"}, **jobs.notification_callbacks()
    )
    with _run():  # no mail catcher running: the email cannot go out
        jobs.wait(job)
    assert job.get_status() == "finished" and job.return_value() == 3  # the work is kept
    note = jobs.fetch(job.id).meta["notification"]
    assert note["status"] == "not sent" and "no SMTP server known" in note["error"]
    inbox = Inbox()
    with MailCatcher(inbox):  # the claim was released: a later attempt sends it
        jobs.notify_success(jobs.fetch(job.id), backend.connection, 3)
        wait_until(lambda: len(inbox.list(job_id=job.id)) == 1, what="the retried email")


def test_notify_once_claims_then_marks_sent(backend: Backend) -> None:
    calls: list[int] = []
    assert jobs.notify_once(backend.connection, "k", lambda: calls.append(1))
    assert not jobs.notify_once(backend.connection, "k", lambda: calls.append(2))
    assert calls == [1]
    assert backend.connection.get("soq:notified:k") == b"sent"
    assert 0 < backend.connection.ttl("soq:notified:k") <= config.NOTIFY_SENT_TTL_S

    def boom() -> None:
        raise OSError("smtp down")

    with pytest.raises(OSError):
        jobs.notify_once(backend.connection, "k2", boom)
    assert backend.connection.get("soq:notified:k2") is None  # released for a retry
    with pytest.raises(ValueError):
        jobs.notify_once(backend.connection, "", lambda: None)


def test_enqueue_report_notifies_by_email(backend: Backend, no_leaked_threads: None) -> None:
    inbox = Inbox()
    with MailCatcher(inbox):
        job = jobs.enqueue_report("heat pumps", sections=["Summary"], notify_email="a@example.com")
        with _run():
            jobs.wait(job, timeout=60)
        wait_until(lambda: len(inbox.list()) == 1, what="the email")
    [message] = inbox.list()
    assert message.subject == "Ready: report on heat pumps"
    assert "Report: heat pumps" in message.body and "1 section, " in message.body


# --- RQ webhooks ------------------------------------------------------------------------------


def _post(url: str, body: dict[str, Any], token: str | None) -> int:
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["X-Webhook-Token"] = token
    request = urllib.request.Request(url, json.dumps(body).encode(), headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        exc.close()
        return int(exc.code)


def test_rq_webhooks_land_in_the_inbox_once(backend: Backend, no_leaked_threads: None) -> None:
    inbox = Inbox()
    with WebhookReceiver(inbox) as receiver:
        done = jobs.get_queue().enqueue(tasks.add, 1, 1, webhooks=[receiver.webhook("finished")])
        failed = jobs.get_queue().enqueue(tasks.always_fails, webhooks=[receiver.webhook("failed")])
        with _run():
            jobs.wait(done)
            jobs.wait(failed)
        wait_until(lambda: receiver.received == 2, what="two webhook calls")
        payload = {"job_id": done.id, "status": "finished", "func_name": "x.add"}
        assert _post(receiver.url, payload, receiver.token) == 204  # a redelivery
    by_job = {m.job_id: m for m in inbox.list()}
    assert len(inbox.list()) == 2
    assert by_job[done.id].subject == "Job finished: add"
    assert by_job[failed.id].subject == "Job failed: always_fails"
    assert "RuntimeError" in by_job[failed.id].body


def test_webhook_receiver_refuses_bad_requests(backend: Backend, no_leaked_threads: None) -> None:
    inbox = Inbox()
    with WebhookReceiver(inbox) as receiver:
        body = {"job_id": "j", "status": "finished"}
        assert _post(receiver.url, body, None) == 403
        assert _post(receiver.url, body, "wrong") == 403
        assert _post(receiver.url.replace("/hooks/rq", "/other"), body, receiver.token) == 404
        assert _post(receiver.url, {"no": "id"}, receiver.token) == 400
    assert inbox.list() == []
