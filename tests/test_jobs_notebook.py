"""Notebook 05 and its lab solution on a real Redis, with real `rq worker` processes.

The committed outputs come from the default run (fakeredis, threads; nbval checks
them). Here the same notebooks run with REDIS_URL pointing at the test Redis, so
`start_workers` launches `rq worker` processes and every job - reports, callbacks
sending email, the crash demo - runs in forked work horses. Outputs are not
compared (ids, timings and the simulator's per-process texts differ); the run must
simply finish without an error and leave no worker process behind.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
import redis

pytestmark = pytest.mark.serial  # measures on the wall clock: runs alone (Makefile)

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = [
    ROOT / "notebooks" / "05_background_jobs.ipynb",
    ROOT / "notebooks" / "05x_background_jobs_going_further.ipynb",
    ROOT / "solutions" / "05_background_jobs.ipynb",
]


def _rq_worker_processes(url: str) -> list[int]:
    """Live `rq worker` processes pointed at `url` (Linux /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().rpartition(")")[2].split()[0]
        except OSError:
            continue
        if b"rq.cli" in cmdline and url.encode() in cmdline and state != "Z":
            found.append(int(entry.name))
    return found


@pytest.mark.real_redis
@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.stem[:3]}")
def test_notebook_runs_on_a_real_redis_with_rq_worker_processes(
    path: Path, real_redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nbclient import NotebookClient

    connection = redis.Redis.from_url(real_redis_url)
    connection.flushdb()
    for name in ("STREAM_OR_QUEUE_MODE", "ANTHROPIC_BASE_URL", "STREAM_OR_QUEUE_TIME_SCALE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("REDIS_URL", real_redis_url)
    nb = nbformat.read(path, as_version=4)
    try:
        NotebookClient(
            nb,
            timeout=180,
            kernel_name="python3",
            resources={"metadata": {"path": str(path.parent)}},
            store_widget_state=False,
        ).execute()
        text = "".join(out.get("text", "") for cell in nb.cells for out in cell.get("outputs", []))
        assert "queue: real Redis (REDIS_URL)" in text
        if path.stem.startswith("05x"):
            assert "at most 2 of 6 jobs at once" in text and "finished on attempt 3" in text
        elif path.parent.name == "notebooks":
            assert "RQ:          submitted 20, finished 20, lost 0" in text
        else:
            assert "3 of 3 checks pass" in text  # the lab's self-check table, at its end
        assert _rq_worker_processes(real_redis_url) == []
    finally:
        connection.flushdb()
        connection.close()
