"""The research assistant on DBOS: steps recorded, progress streamed, one notification."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from dbos import DBOS
from durable_support import sqlite_url, wait_for

from stream_or_queue.durable import engine
from stream_or_queue.jobs import Inbox, get_redis
from stream_or_queue.research import ProgressEvent
from stream_or_queue.research import durable as research
from stream_or_queue.simulator import Simulator


@pytest.fixture
def dbos_here(tmp_path: Path, simulator: Simulator, fake_redis: redis.Redis) -> Iterator[Path]:
    engine.launch(sqlite_url(tmp_path), executor_id="here")
    yield tmp_path
    engine.shutdown()


def test_a_question_runs_as_steps_streams_progress_and_notifies_once(dbos_here: Path) -> None:
    question = "How do durable workflows survive a crash?"
    first = research.start_research(question, workflow_id="q-1")
    result = first.get_result()
    again = research.start_research(question, workflow_id="q-1").get_result()
    assert again == result
    assert result["permalink"] == "/r/q-1" and result["sources"]
    events = list(research.progress_events("q-1"))
    assert events[0]["step"] == "searching" and events[-1]["step"] == "done"
    names = [s["function_name"] for s in DBOS.list_workflow_steps("q-1")]
    assert "turn-0" in names and any(n.startswith("tool-") for n in names)
    assert names.count("research.notify") == 1
    messages = Inbox("research", connection=get_redis()).list()
    assert [m.job_id for m in messages] == ["q-1"]


def test_the_web_job_hook_forwards_progress_and_returns_json(dbos_here: Path) -> None:
    seen: list[ProgressEvent] = []
    data = research.run_research("What is a dead letter queue?", progress=seen.append)
    assert data["answer"] if "answer" in data else data["text"]
    assert [e["step"] for e in seen][-1] == "done"
    assert all(0 <= float(e["percent"]) <= 100 for e in seen)


_SCRIPT = textwrap.dedent(
    """
    import json, sys
    from stream_or_queue.research import ProgressEvent
    from stream_or_queue.research import durable as research
    from stream_or_queue.durable import engine

    ran = open(sys.argv[2], "a")
    original = research.DBOSSteps.step
    def logged(self, name, fn, *args, **kwargs):
        def body(*a, **k):
            ran.write(name + "\\n"); ran.flush()
            return fn(*a, **k)
        return original(self, name, body, *args, **kwargs)
    research.DBOSSteps.step = logged

    engine.launch(sys.argv[1], executor_id="worker-1")
    handle = research.start_research("Why checkpoint an agent?", workflow_id="q-kill")
    print(json.dumps(handle.get_result()["permalink"]), flush=True)
    engine.shutdown()
    """
)


@pytest.mark.slow
@pytest.mark.serial  # a real process killed at a step: its waits are on the wall clock
def test_a_research_process_killed_mid_question_resumes_without_repaying_steps(
    tmp_path: Path,
) -> None:
    url, ran = sqlite_url(tmp_path), tmp_path / "ran.txt"
    script = tmp_path / "run.py"
    script.write_text(_SCRIPT)
    env = {**os.environ, "STREAM_OR_QUEUE_TIME_SCALE": "0.05"}
    first = subprocess.Popen([sys.executable, script, url, ran], env=env)
    try:
        wait_for(lambda: ran.exists() and len(ran.read_text().split()) >= 3, "three steps")
    finally:
        first.kill()
        first.wait()
    client = engine.client(url)
    try:
        recorded = {s["function_name"] for s in client.list_workflow_steps("q-kill")}
    finally:
        client.destroy()
    before = ran.read_text().split()
    done = subprocess.run(
        [sys.executable, script, url, ran], env=env, check=True, capture_output=True, text=True
    )
    assert json.loads(done.stdout.strip().splitlines()[-1]) == "/r/q-kill"
    after = ran.read_text().split()[len(before) :]
    assert recorded & {n for n in before if n.startswith(("turn-", "tool-"))}
    assert not (recorded & set(after))  # no recorded (finished) step ran again


@pytest.mark.slow
@pytest.mark.serial  # real worker processes, one killed mid-question
def test_a_queued_question_whose_worker_is_killed_is_taken_over_with_no_step_twice(
    tmp_path: Path,
) -> None:
    from stream_or_queue.durable.worker import WorkerProcess, take_over

    url = sqlite_url(tmp_path)
    imports = ["stream_or_queue.research.durable"]
    doomed = WorkerProcess("doomed", url, imports=imports).start()
    client = engine.client(url)
    survivor: WorkerProcess | None = None
    try:
        handle = research.enqueue_workflow(
            client, "Why checkpoint an agent?", inbox=None, time_scale=0.05
        )
        workflow_id = handle.get_workflow_id()

        def steps() -> list[str]:
            rows = client.list_workflow_steps(workflow_id)
            return [r["function_name"] for r in rows if not r["function_name"].startswith("DBOS.")]

        wait_for(lambda: len(steps()) >= 2, "two recorded steps")
        doomed.kill()
        before = steps()
        survivor = WorkerProcess("survivor", url, imports=imports).start(wait=False)
        assert take_over(client, ["doomed"]) == [workflow_id]
        survivor.wait_ready()
        result: dict[str, Any] = client.retrieve_workflow(workflow_id).get_result()
        after = steps()
    finally:
        doomed.kill()
        if survivor is not None:
            survivor.kill()
        client.destroy()
    assert result["permalink"] == f"/r/{workflow_id}" and result["sources"]
    assert after[: len(before)] == before and len(after) > len(before)
    assert len(after) == len(set(after)) and "research.notify" not in after  # inbox=None
