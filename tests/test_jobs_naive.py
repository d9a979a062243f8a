"""The home-made queue: a list and a thread; killing its process loses what was pending."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

from stream_or_queue.jobs.naive import NaiveQueue, main


def test_it_works_through_its_list_in_order() -> None:
    seen: list[int] = []
    queue = NaiveQueue(on_done=seen.append)
    for value in range(5):
        queue.submit(lambda v: v, value)
    queue.start().thread.join(timeout=10)
    assert seen == [1, 2, 3, 4, 5] and queue.done == 5 and not queue.pending


@pytest.mark.slow
def test_a_killed_process_loses_every_job_it_had_not_finished() -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "stream_or_queue.jobs.naive",
            "--jobs",
            "20",
            "--seconds",
            "5",
            "--time-scale",
            "0.01",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    try:
        assert proc.stdout.readline().strip() == "submitted 20"
        for expected in range(1, 3):
            assert proc.stdout.readline().strip() == f"done {expected}"
        proc.send_signal(signal.SIGKILL)
        rest = proc.stdout.read()
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
        proc.stdout.close()
    finished = 2 + rest.count("done")
    assert proc.returncode == -signal.SIGKILL
    assert finished < 20  # nothing outside the process remembers the other jobs


def test_bad_arguments_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--jobs", "-1"])
    assert "must be >= 0" in capsys.readouterr().err


def test_the_program_runs_to_the_end(capsys: pytest.CaptureFixture[str]) -> None:
    main(["--jobs", "3", "--seconds", "0.5", "--time-scale", "0.01"])
    assert capsys.readouterr().out.split("\n")[:4] == ["submitted 3", "done 1", "done 2", "done 3"]
