"""The RQ and fakeredis internals `jobs.compat` relies on, checked on the installed versions.

Each test names one member the course uses that its package does not promise to
keep. When an upgrade moves it, the failure is here, saying which, rather than a
worker that hangs or spins somewhere in a lesson.
"""

from __future__ import annotations

import inspect
import threading
from importlib.metadata import version

import fakeredis
import redis
import redis.asyncio
import rq.utils
from packaging.version import Version
from rq import Queue, SimpleWorker
from rq.scheduler import RQScheduler
from rq.worker import BaseWorker

from stream_or_queue.jobs import compat


def _fake() -> fakeredis.FakeRedis:
    return fakeredis.FakeRedis(server=fakeredis.FakeServer())


def test_the_checked_majors_are_installed() -> None:
    """A new major of either is a new contract: re-check this file, then move the bound."""
    assert Version(version("rq")).major == 3
    assert Version(version("fakeredis")).major == 2


def test_rq_reads_the_server_version_where_the_course_marks_it() -> None:
    client = _fake()
    assert compat.marked_redis_version(client) is None
    compat.mark_redis_version(client, (7, 2, 0))
    assert rq.utils.get_version(client) == (7, 2, 0)  # no INFO asked (fakeredis has none)
    assert compat.marked_redis_version(client) == (7, 2, 0)


def test_a_stop_request_ends_rqs_worker_loop() -> None:
    client = _fake()
    worker = SimpleWorker([Queue("compat", connection=client)], connection=client)
    assert compat.stop_requested(worker) is False
    compat.request_stop(worker)
    assert compat.stop_requested(worker) is True
    # RQ's own loop sees the flag before it dequeues: work() returns without a job.
    worker._install_signal_handlers = lambda: None  # type: ignore[method-assign]  # not main thread-safe
    finished = threading.Event()

    def run() -> None:
        worker.work(burst=False, logging_level="ERROR")
        finished.set()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(30)
    assert finished.is_set(), "RQ's worker loop no longer stops on _stop_requested"


def test_the_members_the_thread_worker_overrides_still_exist() -> None:
    """Overriding a method RQ renamed would silently do nothing."""
    assert callable(BaseWorker._install_signal_handlers)
    assert "_install_signal_handlers" in inspect.getsource(BaseWorker.work)
    assert isinstance(inspect.getattr_static(BaseWorker, "dequeue_timeout"), property)
    assert list(inspect.signature(BaseWorker.heartbeat).parameters) == [
        "self",
        "timeout",
        "pipeline",
    ]
    assert list(inspect.signature(Queue.lmove).parameters) == ["connection", "queue_key", "timeout"]
    assert isinstance(inspect.getattr_static(Queue, "lmove"), classmethod)
    client = _fake()
    worker = SimpleWorker([Queue("compat", connection=client)], connection=client)
    assert callable(compat.command_listener_error_handler(worker))


def test_the_scheduler_uses_the_connection_it_is_given() -> None:
    client = _fake()
    scheduler = RQScheduler([Queue("compat", connection=client)], connection=client)
    compat.share_connection(scheduler, client)
    assert scheduler.connection is client


def test_fakeredis_tells_a_watcher_of_each_write() -> None:
    client = _fake()
    writes: list[int] = []
    with compat.watch_key(client, "compat:list", lambda: writes.append(1)) as watched:
        assert watched
        client.rpush("compat:list", b"x")
        client.set("compat:other", b"y")  # another key: no call
        assert len(writes) == 1
    client.rpush("compat:list", b"z")  # after the block: unregistered
    assert len(writes) == 1


def test_a_real_redis_client_is_not_watched() -> None:
    # Nothing is sent: the client is never connected.
    real = redis.Redis(host="127.0.0.1", port=1)
    with compat.watch_key(real, "compat:list", lambda: None) as watched:
        assert not watched


def test_fakeredis_builds_the_async_pool_class_it_is_given() -> None:
    """`web.state.async_redis` needs a waiting pool on fakeredis too."""
    client = fakeredis.FakeAsyncRedis(
        server=fakeredis.FakeServer(),
        connection_pool_class=redis.asyncio.BlockingConnectionPool,
        max_connections=3,
    )
    assert isinstance(client.connection_pool, redis.asyncio.BlockingConnectionPool)
    assert client.connection_pool.max_connections == 3
