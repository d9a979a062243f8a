"""Background jobs on RQ: the connection, workers, job functions, progress, notifications.

The default Redis is an in-process fakeredis server; set REDIS_URL to use a real
Redis and real `rq worker` processes. The same code runs on both.

- connection: `get_redis()`, `get_queue()`, `reset_fake_redis()`
- workers: `start_workers(n)` (threads on fakeredis, `rq worker` processes on a real
  Redis), `ThreadWorker`, `ProcessWorker`; `stop()` is warm, `kill()` a crash;
  `recover(queue)` puts the jobs of dead workers back to work; `Supervisor` (and
  `python -m stream_or_queue.jobs --workers N --url URL QUEUE...`) keeps N
  `rq worker` processes running through Redis restarts and killed workers
- jobs: `enqueue_report(...)` (checked arguments), `fetch(id)` (`JobNotFound`),
  `wait(job)`, `describe(job)`, `list_jobs()`; job functions in `jobs.tasks`
- progress: `report_progress(percent, step, message)` from inside any job;
  `JobSchedule` keeps a job's own simulated clock (its waits plus the simulator's
  schedule for each model call), so durations and `progress_timeline` are exact
- notifications: `notification_callbacks()` (RQ callbacks that email once),
  `MailCatcher` (SMTP on 127.0.0.1 into the Redis `Inbox`), `WebhookReceiver`
"""

from __future__ import annotations

import logging

from .api import TERMINAL_STATUSES, JobView, describe, enqueue_report, fetch, list_jobs, wait
from .connection import DEFAULT_QUEUE, fake_server, get_queue, get_redis, is_fake, reset_fake_redis
from .errors import InvalidJobArguments, JobNotFound
from .hooks import WebhookReceiver
from .inbox import Inbox, Message
from .liveness import live_workers
from .mail import MailCatcher, send_email
from .notify import notification_callbacks, notify_failure, notify_once, notify_success
from .pool import Workers, start_workers, stop_all_workers
from .process import CourseWorker, ProcessWorker
from .progress import (
    Progress,
    get_progress,
    progress_history,
    progress_timeline,
    report_progress,
)
from .recovery import Recovery, recover
from .schedule import JobSchedule
from .supervisor import Supervisor
from .worker import ThreadSafeSimpleWorker, ThreadWorker, WorkerKilled

# A library logs; the application decides where it goes (no stray stderr in notebooks).
logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = [
    "DEFAULT_QUEUE",
    "TERMINAL_STATUSES",
    "CourseWorker",
    "Inbox",
    "InvalidJobArguments",
    "JobNotFound",
    "JobSchedule",
    "JobView",
    "MailCatcher",
    "Message",
    "ProcessWorker",
    "Progress",
    "Recovery",
    "Supervisor",
    "ThreadSafeSimpleWorker",
    "ThreadWorker",
    "WebhookReceiver",
    "WorkerKilled",
    "Workers",
    "describe",
    "enqueue_report",
    "fake_server",
    "fetch",
    "get_progress",
    "get_queue",
    "get_redis",
    "is_fake",
    "list_jobs",
    "live_workers",
    "notification_callbacks",
    "notify_failure",
    "notify_once",
    "notify_success",
    "progress_history",
    "progress_timeline",
    "recover",
    "report_progress",
    "reset_fake_redis",
    "send_email",
    "start_workers",
    "stop_all_workers",
    "wait",
]
