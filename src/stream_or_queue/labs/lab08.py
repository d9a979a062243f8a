"""Checks for lab 08: step memoization by hand, then a three-step pipeline on DBOS.

First the learner writes `Memo`, the mechanism inside every durable engine;
`check_memo` kills it with SIGKILL inside a step and reruns it from the top.

Then the learner writes `resumable_pipeline(document)`, a DBOS workflow: `extract`
the text, have the model `summarize` it, `publish` the summary - each a DBOS step,
so a crashed run resumes where it stopped. The checks run it for real: a child
process launches DBOS on a fresh SQLite file and starts the workflow; the check
kills that process with SIGKILL (in the middle of the summary, or while `publish`
waits for the channel's acknowledgement); a second process launches DBOS on the
same file as the same executor, and DBOS recovers the workflow there. What really
ran is read from a log the step functions write, what DBOS recorded from DBOS.

The workflow is defined in the notebook, so the processes are forks of the kernel
(they inherit it, decorators included) rather than fresh interpreters; each runs
DBOS on a thread of its own, away from the kernel's event loop.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import secrets
import signal
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import clock, config
from . import CheckFailed, call_learner, expect, passed

__all__ = [
    "DOCUMENT",
    "EXTRACT_S",
    "PUBLISH_ACK_S",
    "SUMMARIZE_S",
    "check_finishes",
    "check_memo",
    "check_publishes_once",
    "check_resumes_after_a_crash",
    "extract",
    "publish",
    "summarize",
]

EXTRACT_S = 10.0
SUMMARIZE_S = 60.0
"""Simulated seconds: the summary is the slow step (0.6 real s), where a check kills."""
PUBLISH_ACK_S = 30.0
"""Simulated seconds `publish` waits for the channel's acknowledgement after sending:
a kill there leaves a message sent that DBOS has not recorded as sent."""

DOCUMENT = """Quarterly support report.
Tickets rose 12% in March, mostly password resets after the login change.
Median first response fell from 4 hours to 2 hours once the night shift started.
Customers asked for an export button more than for any other feature.
Refund requests stayed flat at 1.5% of orders."""

_folder: Path | None = None  # the running check's scratch folder (inherited by its forks)


def _log(name: str) -> None:
    """Note that a step's body started (what really ran, whatever DBOS recorded)."""
    if _folder is not None:
        _log_step(_folder / "ran.txt", name)


def extract(document: str) -> str:
    """Step 1: the document's text, one line per sentence (quick)."""
    _log("extract")
    clock.sleep(EXTRACT_S)
    return "\n".join(line.strip() for line in document.strip().splitlines() if line.strip())


def summarize(text: str) -> str:
    """Step 2: the model summarizes the text (slow, and it costs tokens)."""
    from .. import client

    _log("summarize")
    clock.sleep(SUMMARIZE_S)  # a busy model: this is where a check kills the process
    reply = client().messages.create(
        model=config.FAST_MODEL,
        max_tokens=120,
        messages=[{"role": "user", "content": f"Summarize this report in two sentences:\n{text}"}],
    )
    return "".join(block.text for block in reply.content if block.type == "text")


def publish(key: str, summary: str) -> dict[str, Any]:
    """Step 3: send the summary to the team channel (a side effect: once per workflow!).

    `key` is the idempotency key: the channel keeps one message per key. Then it
    waits for the channel's acknowledgement, the moment a check kills the process.
    """
    _log("publish")
    channel = _folder / "channel.json" if _folder is not None else None
    delivered = False
    if channel is not None:
        sent: dict[str, str] = json.loads(channel.read_text()) if channel.exists() else {}
        delivered = key not in sent
        if delivered:
            channel.write_text(json.dumps({**sent, key: summary}))
    clock.sleep(PUBLISH_ACK_S)
    return {"key": key, "delivered": delivered}


# --- the checks ----------------------------------------------------------------------------


@dataclass
class _Run:
    """One check's workflow: its id, its SQLite record, and what each process reported."""

    folder: Path
    workflow_id: str

    @property
    def url(self) -> str:
        return f"sqlite:///{self.folder / 'dbos.sqlite'}"

    def ran(self) -> dict[str, int]:
        log = self.folder / "ran.txt"
        names = log.read_text().split() if log.exists() else []
        return {name: names.count(name) for name in ("extract", "summarize", "publish")}

    def messages(self) -> int:
        channel = self.folder / "channel.json"
        return len(json.loads(channel.read_text())) if channel.exists() else 0

    def report(self) -> dict[str, Any]:
        out = self.folder / "report.json"
        return dict(json.loads(out.read_text())) if out.exists() else {}


def _in_process(run: _Run, workflow: Callable[..., Any], recover: bool) -> None:
    """A fork's body: launch DBOS on `run`'s record, start (or recover) the workflow, report."""
    from dbos import DBOS, SetWorkflowID

    from ..durable import engine

    report: dict[str, Any] = {}

    def body() -> None:
        try:
            engine.launch(run.url, executor_id="lab08")  # recovers this executor's workflows
            logging.getLogger("dbos").setLevel(logging.CRITICAL)  # the check reports errors
            if recover:
                handle: Any = DBOS.retrieve_workflow(run.workflow_id)
            else:
                with SetWorkflowID(run.workflow_id):
                    handle = DBOS.start_workflow(workflow, DOCUMENT)
            report["result"] = handle.get_result()
            steps = DBOS.list_workflow_steps(run.workflow_id)
            report["steps"] = [str(step["function_name"]) for step in steps]
        except NotImplementedError:
            report["error"] = "NotImplementedError"
        except BaseException as exc:
            report["error"] = f"{type(exc).__name__}: {exc}".splitlines()[0]

    thread = threading.Thread(target=body)  # no event loop on this thread: DBOS's sync API
    thread.start()
    thread.join()
    (run.folder / "report.json").write_text(json.dumps(report, default=str))
    os._exit(0)  # skip the kernel's exit handlers inherited by the fork


def _process(run: _Run, workflow: Callable[..., Any], *, recover: bool = False) -> Any:
    process = multiprocessing.get_context("fork").Process(
        target=_in_process, args=(run, workflow, recover), daemon=True
    )
    process.start()
    return process


def _wait_for(process: Any, run: _Run, step: str, count: int = 1) -> None:
    deadline = time.monotonic() + 60
    while run.ran().get(step, 0) < count:
        if not process.is_alive() or time.monotonic() > deadline:
            process.kill()
            process.join()
            _raise_learner_error(run.report())
            raise CheckFailed(
                f"`{step}` never started: {run.report().get('error') or 'the workflow ended'}. "
                f"Call extract, then summarize, then publish, each through DBOS.run_step."
            )
        time.sleep(0.005)


def _raise_learner_error(report: dict[str, Any]) -> None:
    if report.get("error") == "NotImplementedError":
        raise CheckFailed(
            "`resumable_pipeline` still raises NotImplementedError: replace the lines "
            "`# YOUR CODE HERE` / `raise NotImplementedError()` with your solution."
        )


def _finish(process: Any, run: _Run, *, timeout_s: float = 120.0) -> dict[str, Any]:
    process.join(timeout_s)
    if process.is_alive():
        process.kill()
        process.join()
        raise CheckFailed("the workflow did not finish within two minutes")
    report = run.report()
    _raise_learner_error(report)
    expect("error" not in report, f"The workflow failed with: {report.get('error')}")
    return report


def _kill(process: Any) -> None:
    os.kill(process.pid or 0, signal.SIGKILL)  # kill -9: no cleanup, no goodbye
    process.join()


def _new_run(tmp: str) -> _Run:
    global _folder
    _folder = Path(tmp)
    return _Run(_folder, f"lab08-{secrets.token_hex(6)}")


def _crash_and_recover(run: _Run, workflow: Callable[..., Any], step: str) -> None:
    """Run the workflow in a process, SIGKILL it once `step` has started, recover it in another."""
    global _folder
    try:
        first = _process(run, workflow)
        _wait_for(first, run, step)
        _kill(first)
        _finish(_process(run, workflow, recover=True), run)
    finally:
        _folder = None


def check_finishes(workflow: Callable[..., Any]) -> None:
    """Without crashes: every step runs once, as a DBOS step, and the summary comes back."""
    global _folder
    with tempfile.TemporaryDirectory() as tmp:
        run = _new_run(tmp)
        try:
            report = _finish(_process(run, workflow), run)
        finally:
            _folder = None
        result = report.get("result")
        expect(
            isinstance(result, dict)
            and isinstance(result.get("summary"), str)
            and result["summary"].strip(),
            "resumable_pipeline should return a dict with a non-empty 'summary' string (and "
            f"the 'receipt' from publish); it returned {result!r}.",
        )
        runs = run.ran()
        expect(
            runs == {"extract": 1, "summarize": 1, "publish": 1},
            f"Each step should run exactly once in a run without crashes; they ran {runs}. "
            "Call extract, then summarize, then publish - each once.",
        )
        steps = report.get("steps", [])
        expect(
            len(steps) >= 3,
            f"The steps ran, but DBOS recorded {len(steps)} steps, so a crash would start "
            'over. Run each through DBOS: `text = DBOS.run_step({"name": "extract"}, '
            "extract, document)`, the same for summarize and publish.",
        )
    passed(f"the workflow finishes and DBOS recorded its steps ({', '.join(steps)}).")


def check_resumes_after_a_crash(workflow: Callable[..., Any]) -> None:
    """Kill the process during `summarize`; a restarted process must resume, not start over."""
    with tempfile.TemporaryDirectory() as tmp:
        run = _new_run(tmp)
        _crash_and_recover(run, workflow, "summarize")  # killed mid-summary
        runs = run.ran()
        expect(
            runs.get("extract") == 1,
            f"extract ran {runs.get('extract')} times: after the crash the restarted process "
            "ran it again. A step that finished before the crash must come from DBOS's record - "
            'call it through `DBOS.run_step({"name": "extract"}, extract, document)`.',
        )
        expect(
            runs.get("summarize") == 2,
            f"summarize ran {runs.get('summarize')} times; it was cut short by the crash, so "
            "it must run once more (2 in all) - its first run never returned a result to store.",
        )
        expect(run.messages() == 1, "The summary should be published exactly once.")
    passed(
        "killed with SIGKILL during the summary, the workflow resumed in a new process: "
        "extract ran once, summarize twice (the interrupted step), publish once."
    )


def check_publishes_once(workflow: Callable[..., Any]) -> None:
    """Kill the process after `publish` sent, before DBOS recorded it: still one message."""
    with tempfile.TemporaryDirectory() as tmp:
        run = _new_run(tmp)
        # killed once the message is out, before DBOS has recorded the step
        _crash_and_recover(run, workflow, "publish")
        runs, published = run.ran(), run.messages()
        if published != 1:
            raise CheckFailed(
                f"publish ran {runs.get('publish')} times (killed after sending, before DBOS "
                f"recorded it: a step is at-least-once) and the team got {published} messages. "
                "Give the channel a key that is the same on every run of this workflow: "
                "`DBOS.workflow_id`."
            )
        expect(
            runs.get("extract") == 1 and runs.get("summarize") == 1,
            f"after the crash the steps ran {runs}: extract and summarize had finished, so "
            "they must come from DBOS's record (run them through DBOS.run_step).",
        )
    passed(
        "killed right after sending, the workflow resumed: publish ran again (at-least-once) "
        "and the channel kept one message, thanks to the workflow id as its key."
    )


def _log_step(log: Path, name: str) -> None:
    with log.open("a") as out:  # one short line per step: the parent reads what ran
        out.write(name + "\n")


def _first_run(memo_class: Callable[[Path], Any], path: Path, log: Path) -> None:
    """The workflow's first run, in a child process that is killed inside step two."""

    def body(name: str) -> str:
        _log_step(log, name)
        return name.upper()

    def long(name: str) -> str:
        _log_step(log, name)
        time.sleep(60)  # killed long before this ends
        return name.upper()

    memo = memo_class(path)
    memo.step("one", body, "one")
    memo.step("two", long, "two")


def check_memo(memo_class: Callable[[Path], Any]) -> None:
    """The learner's step memoization, killed with SIGKILL in the middle of a workflow.

    The workflow's first run is a real child process: step one finishes, and the
    process is killed (`kill -9`) while step two runs. A new instance on the same
    file - what a restarted process builds - then runs the workflow from the top.
    Only the interrupted step may run again.
    """
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        dry = call_learner(memo_class, folder / "dry.json")  # learner errors show here
        expect(
            call_learner(dry.step, "one", str.upper, "one") == "ONE",
            "step() must return what the step returns",
        )
        path, log = folder / "run.json", folder / "ran.txt"
        child = multiprocessing.get_context("fork").Process(
            target=_first_run, args=(memo_class, path, log), daemon=True
        )
        child.start()
        deadline = time.monotonic() + 30
        while "two" not in (log.read_text().split() if log.exists() else []):
            if not child.is_alive() or time.monotonic() > deadline:
                child.kill()
                child.join()
                raise CheckFailed(
                    "the first run stopped before step two started: run "
                    "Memo(path).step('one', fn, 'one') and then step 'two' yourself to see why"
                )
            time.sleep(0.01)
        os.kill(child.pid or 0, signal.SIGKILL)  # kill -9 inside step two
        child.join()
        expect(
            path.exists(),
            "nothing was written to the file: a restarted process would "
            "find no record of step 'one' (write the record after each step)",
        )
        expect(
            "two" not in json.loads(path.read_text() or "{}"),
            "the record claims step 'two' finished, but its body never returned",
        )

        def body(name: str) -> str:
            _log_step(log, name)
            return name.upper()

        again = call_learner(memo_class, path)
        results = [again.step(n, body, n) for n in ("one", "two", "three")]
        expect(results == ["ONE", "TWO", "THREE"], f"the rerun returned {results}")
        ran = log.read_text().split()
        expect(
            ran.count("one") == 1,
            "step 'one' had finished, yet it ran again after the "
            "crash: a new instance must read the record from the file",
        )
        expect(
            ran.count("two") == 2 and ran.count("three") == 1,
            f"expected 'two' to run again (it was cut short) and 'three' once; ran {ran}",
        )
    passed(
        "killed with SIGKILL inside step two, rerun from the top: step one came from the "
        "record, only the interrupted step ran again"
    )
