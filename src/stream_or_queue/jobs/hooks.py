"""A webhook receiver on 127.0.0.1 for RQ's built-in `Webhook`.

RQ 3.0 can POST a small JSON document (job id, function, status, times, and the
traceback on failure) to a URL when a job finishes or fails:
`queue.enqueue(f, webhooks=[Webhook(url, "finished", method="POST")])`. This
receiver is such a URL: it checks a shared secret header, then files each call in
the Redis `Inbox` as a "webhook" message, at most once per (job, status).

RQ logs and swallows a failed webhook call (an unreachable endpoint cannot fail
the job), so a webhook is a best-effort signal; the callback + email path in
`jobs.notify` is the one that is retried and deduplicated end to end.
"""

from __future__ import annotations

import hmac
import json
import secrets
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any, Literal

from rq import Webhook

from .inbox import Inbox, Message

__all__ = ["TOKEN_HEADER", "WebhookReceiver"]

TOKEN_HEADER = "X-Webhook-Token"
PATH = "/hooks/rq"
MAX_BODY_BYTES = 64 * 1024


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # keep stderr quiet
        pass

    def _reply(self, status: HTTPStatus) -> None:
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_POST(self) -> None:
        if self.path != PATH:
            self._reply(HTTPStatus.NOT_FOUND)
            return
        token = self.headers.get(TOKEN_HEADER, "")
        if not hmac.compare_digest(token.encode(), self.server.token.encode()):
            self._reply(HTTPStatus.FORBIDDEN)
            return
        length = int(self.headers.get("Content-Length") or 0)
        if not 0 < length <= MAX_BODY_BYTES:
            self._reply(HTTPStatus.REQUEST_ENTITY_TOO_LARGE if length else HTTPStatus.BAD_REQUEST)
            return
        try:
            payload = json.loads(self.rfile.read(length))
            job_id, status = str(payload["job_id"]), str(payload["status"])
        except (ValueError, KeyError, TypeError):
            self._reply(HTTPStatus.BAD_REQUEST)
            return
        func = str(payload.get("func_name") or "job")
        body = f"Job {job_id} ({func}) {status}."
        if payload.get("exc_info"):
            body += "\n\n" + str(payload["exc_info"]).strip().splitlines()[-1]
        self.server.inbox.append(
            Message(
                subject=f"Job {status}: {func.rpartition('.')[2]}",
                body=body,
                to="webhook",
                sender="rq",
                channel="webhook",
                job_id=job_id,
                idempotency_key=f"webhook|{job_id}|{status}",
            )
        )
        self.server.received += 1
        self._reply(HTTPStatus.NO_CONTENT)


class _Server(HTTPServer):
    def __init__(self, inbox: Inbox, token: str) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.inbox = inbox
        self.token = token
        self.received = 0


class WebhookReceiver:
    """HTTP endpoint on 127.0.0.1 that files RQ webhook calls into an `Inbox`.

    `webhook("finished")` builds the `rq.Webhook` to pass to `enqueue(webhooks=[...])`.
    """

    def __init__(self, inbox: Inbox | None = None) -> None:
        self.inbox = inbox if inbox is not None else Inbox()
        self.token = secrets.token_urlsafe(24)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the webhook receiver is not running: call start() first")
        return f"http://127.0.0.1:{self._server.server_address[1]}{PATH}"

    @property
    def received(self) -> int:
        return self._server.received if self._server is not None else 0

    def webhook(self, job_status: Literal["finished", "failed"] = "finished") -> Webhook:
        """An RQ `Webhook` that POSTs to this receiver when a job reaches `job_status`."""
        return Webhook(
            self.url, job_status, method="POST", headers={TOKEN_HEADER: self.token}, timeout=5
        )

    def start(self) -> WebhookReceiver:
        if self._server is not None:
            return self
        self._server = _Server(self.inbox, self.token)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.2},
            name="soq-webhook-receiver",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join(5)

    def __enter__(self) -> WebhookReceiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
