"""JobBoard, driven headless: rows, progress bars, statuses, self-refresh, clean stop."""

from __future__ import annotations

import pytest
from jobs_support import Backend
from support import wait_until

from stream_or_queue import jobs
from stream_or_queue.jobs import tasks
from stream_or_queue.widgets import JobBoard


def _statuses(board: JobBoard) -> list[str]:
    return [row.children[2].value.split(" · ")[0] for row in board.rows.children]


def test_an_empty_board(backend: Backend) -> None:
    board = JobBoard(autostart=False)
    assert board.rows.children == () and "none yet" in board.summary.value
    assert repr(board) == "JobBoard(queues=['default'])"
    assert not board.running


def test_rows_follow_the_jobs_through_their_lifecycle(backend: Backend) -> None:
    board = JobBoard(autostart=False)
    queue = jobs.get_queue()
    done = queue.enqueue(tasks.add, 1, 2, meta={"title": "a <b>sum</b>"})
    bad = queue.enqueue(tasks.always_fails, "boom")
    board.refresh()
    assert _statuses(board) == ["queued", "queued"]
    assert "2 queued" in board.summary.value
    label = board.rows.children[0].children[0].value
    assert "a &lt;b&gt;sum&lt;/b&gt;" in label and "<b>sum</b>" not in label  # escaped
    with jobs.start_workers(1, kind="thread"):
        jobs.wait(done)
        jobs.wait(bad)
    views = board.refresh()
    assert [v.id for v in views] == [done.id, bad.id]
    assert _statuses(board) == ["finished", "failed"]
    bars = [row.children[1] for row in board.rows.children]
    assert [b.value for b in bars] == [100.0, 0.0]
    assert [b.bar_style for b in bars] == ["success", "danger"]
    assert "RuntimeError: boom" in board.rows.children[1].children[2].value
    assert board.counts() == {"finished": 1, "failed": 1}
    assert board.summary.value == "<b>Jobs</b>: 1 finished · 1 failed"


@pytest.mark.slow
def test_the_board_refreshes_itself_and_shows_progress(
    backend: Backend, no_leaked_threads: None
) -> None:
    board = JobBoard(interval=0.05)
    assert board.running
    job = jobs.get_queue().enqueue(tasks.sleep_for, 300.0)  # 3 s real
    with jobs.start_workers(1, kind="thread"):
        wait_until(
            lambda: board.views and 0 < board.rows.children[0].children[1].value < 100,
            what="the board to show a progress bar between 0 and 100 on its own",
        )
        assert _statuses(board) == ["started"]
        jobs.wait(job)
        wait_until(lambda: _statuses(board) == ["finished"], what="the board to show 'finished'")
    board.stop()
    assert not board.running
    board.stop()  # twice is fine


def test_a_redis_error_is_shown_not_raised(backend: Backend) -> None:
    board = JobBoard(autostart=False)

    class Broken:
        def __getattr__(self, name: str) -> object:
            raise ConnectionError("redis is down")

    board.connection = Broken()
    board.refresh()
    assert "cannot read the queue" in board.summary.value and "redis is down" in board.summary.value


def test_close_stops_the_refresher(backend: Backend, no_leaked_threads: None) -> None:
    board = JobBoard(interval=0.05)
    board.close()
    assert not board.running


def test_the_board_has_a_css_hook_for_the_browser_test(backend: Backend) -> None:
    assert "soq-jobboard" in JobBoard(autostart=False)._dom_classes


def test_the_saved_form_is_the_final_table_without_random_ids(backend: Backend) -> None:
    from stream_or_queue.widgets._static import MARK, bar

    board = JobBoard(autostart=False)
    queue = jobs.get_queue()
    done = queue.enqueue(tasks.add, 1, 2, meta={"title": "a <b>sum</b>"})
    bad = queue.enqueue(tasks.always_fails, "boom")
    assert board.static_text().splitlines()[0] == "Jobs: 2 queued"  # read afresh, no refresh()
    with jobs.start_workers(1, kind="thread"):
        jobs.wait(done)
        jobs.wait(bad)
    text, page = board.static_forms()
    assert text.splitlines() == [
        f"JobBoard ({MARK})",
        "Jobs: 1 finished · 1 failed",
        f"  a <b>sum</b>  {bar(1.0)} 100.0%  finished",
        f"  always fails  {bar(0.0)}   0.0%  failed · RuntimeError: boom",
    ]
    assert done.id[:8] not in text + page and bad.id[:8] not in text + page
    assert "a &lt;b&gt;sum&lt;/b&gt;" in page and "<b>sum</b>" not in page
    assert page.count("<tr>") == 2


def test_the_saved_form_falls_back_to_the_last_refresh(backend: Backend) -> None:
    board = JobBoard(autostart=False)
    jobs.get_queue().enqueue(tasks.add, 1, 2, meta={"title": "kept"})
    board.refresh()

    asked: list[str] = []

    class Broken:
        def __getattr__(self, name: str) -> object:
            asked.append(name)
            raise ConnectionError("redis is down")

    board.connection = Broken()
    assert "kept" in board.static_text() and "1 queued" in board.static_text()
    board.refresh()  # fails: the form stops asking Redis until a refresh succeeds again
    before = len(asked)
    assert board.failing and "kept" in board.static_text() and len(asked) == before
