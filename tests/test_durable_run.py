"""DurableRun outside RQ: memoized steps, once-only side effects, checkpoints, the audit trail."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from stream_or_queue.durable import (
    AuditTrail,
    CheckpointCorrupted,
    CheckpointStore,
    DurableRun,
    Outbox,
    audit_trail,
    run_keys,
    spans,
    summarize,
)


class Counter:
    """A step function that counts its calls."""

    def __init__(self) -> None:
        self.calls: dict[str, int] = {}

    def __call__(self, name: str, value: Any = None) -> Any:
        self.calls[name] = self.calls.get(name, 0) + 1
        return {"name": name, "value": value}


class Crash(Exception):
    pass


def test_a_second_attempt_skips_finished_steps(fake_redis: Any) -> None:
    work = Counter()
    first = DurableRun("job-1", fake_redis)
    first.step("a", work, "a", 1)
    first.step("b", work, "b", 2)
    with pytest.raises(Crash):
        first.step("c", lambda: (_ for _ in ()).throw(Crash("died")))

    second = DurableRun("job-1", fake_redis)
    assert second.attempt == 2
    assert second.step("a", work, "a", 1) == {"name": "a", "value": 1}
    assert second.step("b", work, "b", 2) == {"name": "b", "value": 2}
    assert second.step("c", work, "c", 3) == {"name": "c", "value": 3}
    assert work.calls == {"a": 1, "b": 1, "c": 1}
    assert second.completed_steps() == ["a", "b", "c"]

    summary = summarize(audit_trail("job-1", fake_redis))
    assert summary.attempts == 2
    assert summary.steps_skipped == 2
    assert summary.finished_steps_reexecuted == 0
    assert summary.failed_steps == 1


def test_results_are_json_round_tripped_on_the_first_run_too(fake_redis: Any) -> None:
    run = DurableRun("job-json", fake_redis)
    assert run.step("pair", lambda: (1, 2)) == [1, 2]
    assert DurableRun("job-json", fake_redis).step("pair", lambda: (9, 9)) == [1, 2]


def test_a_result_that_is_not_json_is_a_clear_error_and_not_checkpointed(fake_redis: Any) -> None:
    run = DurableRun("job-set", fake_redis)
    with pytest.raises(TypeError, match=r"step 'bad' returned set.*plain data"):
        run.step("bad", lambda: {1, 2})
    assert run.completed_steps() == []
    assert audit_trail("job-set", fake_redis)[-1].outcome == "failed"


def test_step_names_must_be_unique_within_a_run(fake_redis: Any) -> None:
    run = DurableRun("job-dup", fake_redis)
    run.step("fetch", lambda: 1)
    with pytest.raises(ValueError, match="unique within a run"):
        run.step("fetch", lambda: 2)
    with pytest.raises(ValueError, match="non-empty string"):
        run.step("", lambda: 3)


@pytest.mark.parametrize("job_id", ["", "a:b", 7])
def test_bad_job_ids_are_refused(fake_redis: Any, job_id: Any) -> None:
    with pytest.raises(ValueError, match="job id"):
        DurableRun(job_id, fake_redis)


@pytest.mark.parametrize(
    "garbage",
    [
        '{"v": 1, "step": "garbled',  # truncated
        '{"v": 1, "step": "a", "sha256": "00", "result": 5}',  # checksum
        '{"v": 1, "step": "b", "sha256": "00", "result": 5}',  # other step
        "[1, 2]",  # not an envelope
    ],
)
def test_a_corrupted_checkpoint_is_reported_and_the_step_runs_again(
    fake_redis: Any, garbage: str, caplog: pytest.LogCaptureFixture
) -> None:
    work = Counter()
    DurableRun("job-c", fake_redis).step("a", work, "a", 1)
    store = CheckpointStore("job-c", fake_redis)
    store.corrupt("a", garbage)
    with pytest.raises(CheckpointCorrupted, match="step 'a' of job 'job-c' is corrupted"):
        store.get("a")

    with caplog.at_level(logging.WARNING, logger="stream_or_queue.durable.run"):
        assert DurableRun("job-c", fake_redis).step("a", work, "a", 1) == {"name": "a", "value": 1}
    assert work.calls == {"a": 2}
    assert "corrupted" in caplog.text
    corrupt = [e for e in audit_trail("job-c", fake_redis) if e.outcome == "corrupt"]
    assert len(corrupt) == 1 and "will run again" in corrupt[0].error
    # repaired: a third attempt trusts it again
    assert store.get("a") == (True, {"name": "a", "value": 1})
    summary = summarize(audit_trail("job-c", fake_redis))
    assert summary.corrupt_checkpoints == 1 and summary.finished_steps_reexecuted == 0


def test_first_checkpoint_wins(fake_redis: Any) -> None:
    store = CheckpointStore("job-w", fake_redis)
    assert store.put("s", {"by": "first"}) == {"by": "first"}
    assert store.put("s", {"by": "late"}) == {"by": "first"}


def test_once_runs_a_side_effect_once_per_job_under_retries(fake_redis: Any) -> None:
    outbox = Outbox("t", fake_redis)
    for attempt in range(1, 4):
        run = DurableRun("job-n", fake_redis)
        assert run.attempt == attempt
        delivered = run.once("notify", outbox.send, run.key("notify"), {"text": "done"})
        assert delivered is True  # the recorded result of the first, real delivery
    assert outbox.count() == 1
    assert outbox.duplicates_dropped == 0
    outcomes = [e.outcome for e in audit_trail("job-n", fake_redis) if e.kind == "once"]
    assert outcomes == ["started", "done", "skipped", "skipped"]


def test_once_interrupted_midway_runs_again_with_the_same_key(fake_redis: Any) -> None:
    outbox = Outbox("t2", fake_redis)
    run = DurableRun("job-u", fake_redis)

    def send_then_die(key: str) -> None:
        outbox.send(key, {"text": "hi"})
        raise SystemExit  # the process dies after the receiver got it, before it is recorded

    with pytest.raises(SystemExit):
        run.once("notify", send_then_die, run.key("notify"))
    retry = DurableRun("job-u", fake_redis)
    assert retry.once("notify", outbox.send, retry.key("notify"), {"text": "hi"}) is False
    assert outbox.count() == 1 and outbox.duplicates_dropped == 1
    uncertain = [e for e in audit_trail("job-u", fake_redis) if e.outcome == "uncertain"]
    assert len(uncertain) == 1 and "job-u:notify" in uncertain[0].error


def test_a_failing_side_effect_may_be_retried(fake_redis: Any) -> None:
    run = DurableRun("job-f", fake_redis)
    with pytest.raises(ConnectionError):
        run.once("notify", lambda: (_ for _ in ()).throw(ConnectionError("smtp down")))
    assert DurableRun("job-f", fake_redis).once("notify", lambda: "sent") == "sent"


def test_the_audit_trail_records_the_run_and_why_it_gave_up(fake_redis: Any) -> None:
    with pytest.raises(Crash), DurableRun("job-a", fake_redis, retries_left=2) as run:
        run.step("a", lambda: 1)
        run.step("b", lambda: (_ for _ in ()).throw(Crash("upstream 503")))
    with pytest.raises(Crash), DurableRun("job-a", fake_redis, retries_left=0) as run:
        run.step("a", lambda: 1)
        run.step("b", lambda: (_ for _ in ()).throw(Crash("upstream 503")))
    events = AuditTrail("job-a", fake_redis).read()
    runs = [(e.attempt, e.outcome) for e in events if e.kind == "run"]
    assert runs == [(1, "started"), (1, "failed"), (2, "started"), (2, "gave-up")]
    failed = next(e for e in events if e.kind == "run" and e.outcome == "failed")
    assert "RQ will retry: 2 retries left" in failed.error
    assert "FailedJobRegistry" in events[-1].error and "upstream 503" in events[-1].error
    for event in events:
        assert event.end is None or event.end >= event.start


def test_spans_pair_starts_and_ends_and_mark_crashes(fake_redis: Any) -> None:
    trail = AuditTrail("job-s", fake_redis)
    trail.append("step", "a", 1, "started", start=10.0)
    trail.append("step", "a", 1, "done", start=10.0, end=12.0)
    trail.append("step", "b", 1, "started", start=12.0)  # the worker dies here
    trail.append("run", "", 2, "started", start=20.0)
    trail.append("step", "a", 2, "skipped", start=20.1, end=20.1)
    trail.append("step", "b", 2, "started", start=20.2)
    trail.append("step", "b", 2, "done", start=20.2, end=23.0)
    result = [(s.name, s.attempt, s.start, s.end, s.outcome) for s in spans(trail.read())]
    assert result == [
        ("a", 1, 10.0, 12.0, "done"),
        ("b", 1, 12.0, 20.0, "crashed"),
        ("a", 2, 20.1, 20.1, "skipped"),
        ("b", 2, 20.2, 23.0, "done"),
    ]
    assert summarize(trail.read()).interrupted_steps == 1


def test_async_twins(fake_redis: Any) -> None:
    calls: list[str] = []

    async def fetch(x: int) -> int:
        calls.append("fetch")
        await asyncio.sleep(0)
        return x * 2

    async def main(attempt: int) -> tuple[int, str]:
        run = DurableRun("job-async", fake_redis)
        assert run.attempt == attempt
        value: int = await run.astep("fetch", fetch, 21)
        note = await run.aonce("notify", lambda: "sent")
        return value, note

    assert asyncio.run(main(1)) == (42, "sent")
    assert asyncio.run(main(2)) == (42, "sent")
    assert calls == ["fetch"]


def test_run_keys_share_one_prefix_and_expire(fake_redis: Any) -> None:
    run = DurableRun("job-k", fake_redis)
    run.step("a", lambda: 1)
    run.once("b", lambda: 2)
    for key in run_keys("job-k"):
        assert fake_redis.exists(key), key
        assert 0 < fake_redis.ttl(key) <= 7 * 24 * 3600


def test_current_outside_a_job_says_what_to_do() -> None:
    with pytest.raises(RuntimeError, match="only inside an RQ job"):
        DurableRun.current()
