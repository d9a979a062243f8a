"""DBOS configured in one place, and the faults of its system database."""

from __future__ import annotations

import logging
import os
import sqlite3
from pathlib import Path

import pytest
from dbos import DBOS
from durable_support import sqlite_url

from stream_or_queue import config
from stream_or_queue.durable import engine
from stream_or_queue.durable.history import most_at_once, run_spans
from stream_or_queue.durable.pipeline import enqueue_pipeline, start_pipeline


def test_sqlite_in_the_working_directory_unless_a_database_url_is_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(config.DURABLE_DATABASE_URL_ENV, raising=False)
    monkeypatch.delenv(config.DURABLE_SQLITE_DIR_ENV, raising=False)
    cfg = engine.engine_config()
    assert cfg["system_database_url"] == f"sqlite:///{config.DURABLE_SQLITE_FILE}"
    assert cfg["application_version"] == config.DURABLE_APP_VERSION
    assert cfg["notification_listener_polling_interval_sec"] == config.DURABLE_POLL_S
    monkeypatch.setenv(config.DURABLE_DATABASE_URL_ENV, "postgresql://u:p@db:5432/x")
    assert engine.engine_config()["system_database_url"] == "postgresql://u:p@db:5432/x"
    assert engine.engine_config(executor_id="w9")["executor_id"] == "w9"
    monkeypatch.delenv(config.DURABLE_DATABASE_URL_ENV)
    monkeypatch.setenv(config.DURABLE_SQLITE_DIR_ENV, "records")
    assert engine.engine_config()["system_database_url"] == (
        f"sqlite:///records/{config.DURABLE_SQLITE_FILE}"
    )


def test_redact_hides_the_password() -> None:
    assert engine.redact("postgresql://u:s3cret@h:5432/d") == "postgresql://u:***@h:5432/d"
    assert engine.redact("sqlite:///x.sqlite") == "sqlite:///x.sqlite"


def test_postgres_unreachable_at_start_is_a_clear_error() -> None:
    with pytest.raises(engine.EngineUnavailable, match="cannot reach") as error:
        engine.launch("postgresql://postgres:secret@127.0.0.1:1/dbos", executor_id="nobody")
    assert "secret" not in str(error.value)
    assert config.DURABLE_DATABASE_URL_ENV in str(error.value)


def test_a_deleted_record_is_reported_and_never_silently_replaced(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    engine.launch(url, executor_id="a")
    try:
        start_pipeline("kept", "x", 0.01, "").get_result()
        engine.check_record()
        os.remove(tmp_path / "dbos.sqlite")
        with pytest.raises(engine.EngineUnavailable, match="deleted while this process ran"):
            engine.check_record()
    finally:
        engine.shutdown()
    with pytest.raises(engine.EngineUnavailable, match="missing"):
        engine.launch(url, executor_id="a", must_exist=True)
    assert not (tmp_path / "dbos.sqlite").exists()  # no fresh, empty record was made


@pytest.mark.slow
def test_a_locked_record_is_a_clear_error_and_keeps_finished_work(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    engine.launch(url, executor_id="a")
    start_pipeline("kept", "x", 0.01, "").get_result()
    engine.shutdown()
    holder = sqlite3.connect(tmp_path / "dbos.sqlite", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # another program holds the file (DBOS waits 30 s)
    try:
        with pytest.raises(engine.EngineUnavailable, match="holds a lock"):
            engine.launch(url, executor_id="a", must_exist=True)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    engine.launch(url, executor_id="a", must_exist=True)
    try:
        assert DBOS.retrieve_workflow("kept").get_result() == {
            "item": "x",
            "results": ["fetch(x)", "analyse(x)", "write(x)"],
        }
    finally:
        engine.shutdown()


def test_a_cancel_on_purpose_is_not_logged_as_an_error() -> None:
    """A user's cancel is reported by the job; DBOS's own error record of it is dropped."""
    from dbos._error import DBOSAwaitedWorkflowCancelledError

    cancelled = DBOSAwaitedWorkflowCancelledError("wf")
    keep = engine._CancelledByRequest()

    def record(message: str, error: BaseException | None = None) -> logging.LogRecord:
        exc_info = (type(error), error, None) if error is not None else None
        return logging.LogRecord("dbos", logging.ERROR, __file__, 1, message, None, exc_info)

    assert not keep.filter(record("Exception encountered in background workflow:", cancelled))
    assert not keep.filter(record("Workflow wf is no longer owned by this execution."))
    assert keep.filter(record("Exception encountered in background workflow:", ValueError("x")))


def test_a_queue_with_impossible_limits_is_a_clear_error_before_dbos_is_asked() -> None:
    # No DBOS launched and no client: the check comes first, so nothing can be stored.
    for limiter in ({"limit": 0, "period": 1.0}, {"limit": 2, "period": 0}, {"limit": 2}):
        with pytest.raises(ValueError, match="limiter must be"):
            engine.register_queue("bad", limiter=limiter)
    with pytest.raises(ValueError, match="worker_concurrency must be at least 1"):
        engine.register_queue("bad", worker_concurrency=0)


@pytest.mark.slow
def test_a_client_declares_a_queue_that_a_running_engine_then_serves(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    engine.launch(url, executor_id="server")
    client = engine.client(url)
    try:
        queue = engine.register_queue(
            "capped", worker_concurrency=2, limiter={"limit": 9, "period": 60}, client=client
        )
        assert (queue.worker_concurrency, queue.limiter) == (2, {"limit": 9, "period": 60.0})
        ids = [f"c{i}" for i in range(5)]
        for i, workflow_id in enumerate(ids):
            enqueue_pipeline(client, workflow_id, f"x{i}", 0.05, "", queue_name="capped")
        assert [client.retrieve_workflow(i).get_result()["item"] for i in ids] == [
            f"x{i}" for i in range(5)
        ]
        assert most_at_once(run_spans(client, ids).values()) <= 2
        statuses = client.list_workflows(workflow_ids=ids)
        assert {(s.queue_name, s.executor_id) for s in statuses} == {("capped", "server")}
        # Declared again with other settings: the record is updated, not duplicated.
        engine.register_queue("capped", worker_concurrency=1, client=client)
        (stored,) = [q for q in client.list_queues() if q.name == "capped"]
        assert (stored.worker_concurrency, stored.limiter) == (1, None)
    finally:
        client.destroy()
        engine.shutdown()
