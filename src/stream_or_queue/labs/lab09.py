"""Capstone lab checks: the research assistant v2, built by the learner on DBOS.

The learner writes `research_v2.py` next to the lab notebook (a worker process must
import it, so it is a module, not a cell) with:

- `research(question)`: a DBOS workflow (async) whose model turns, tool calls and
  writing are steps, which streams progress events under `PROGRESS` and notifies the
  user once, through `send_notification`, with a link to the permalink;
- `submit(question) -> workflow id`: refuse a bad question, start the workflow
  under a new unguessable id, return at once;
- `events(workflow_id, offset=0)`: the progress events from `offset` on (an async
  iterator a client reads, and reattaches to after a cut);
- `permalink(workflow_id) -> str` and `answer(workflow_id)`: the stored answer
  (None while it runs, LookupError for an id that names nothing).

The checks call that code for real: one question end to end in this process; a
worker process (`python -m stream_or_queue.labs.lab09`) that runs the learner's
workflow and is killed with SIGKILL mid-research, then DBOS recovery; the same kill
right after the notification left; and the 60 s edge in front of `submit` and of the
event stream. Notifications go to a file (`send_notification`), so that a process
that dies cannot take the evidence with it, and are counted per idempotency key, as
a mail provider with an idempotency key delivers them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import importlib
import json
import logging
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest.mock
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import ModuleType
from typing import IO, Any, TypeVar

from .. import clock, config
from ..research import QUESTIONS
from . import CheckFailed, expect, passed
from .lab05 import load_job_module as _load
from .progress import Help, LabProgress

__all__ = [
    "EXECUTOR",
    "MODULE",
    "OUTBOX_ENV",
    "PROGRESS",
    "check_crash",
    "check_edge",
    "check_job",
    "check_notifies_once",
    "hint",
    "load_module",
    "main",
    "report",
    "send_notification",
    "sent",
    "stop_engine",
]

T = TypeVar("T")
MODULE = "research_v2"
PROGRESS = "progress"
"""The stream key of the progress events (what `events` reads)."""
OUTBOX_ENV = "STREAM_OR_QUEUE_LAB09_OUTBOX"
SLOW_SEND_ENV = "STREAM_OR_QUEUE_LAB09_SLOW_SEND"
EXECUTOR = "capstone-worker"
"""The killed worker's executor id: a process launching with it recovers its workflows."""
EDGE_S = config.DEFAULT_EDGE_TIMEOUT_S
TIME_SCALE = config.DEFAULT_TIME_SCALE
WAIT_REAL_S = 90.0
READY = "capstone worker started"

_HELP = {
    "job": Help(
        hint="The workflow is an `async def` decorated with `@DBOS.workflow()`. The agent, "
        "`arun_research(question, progress=..., steps=...)`, calls `await steps.astep(name, "
        "fn)` for every model turn and tool call, and `progress(event)` (it may be async) "
        "for every event.",
        answer="class DBOSSteps:\n"
        "    async def astep(self, name, fn, *args, **kwargs):\n"
        '        return await DBOS.run_step_async({"name": name}, fn, *args, **kwargs)\n\n'
        "@DBOS.workflow()\nasync def research(question):\n"
        "    async def progress(event):\n"
        "        await DBOS.write_stream_async(PROGRESS, dict(event))\n"
        "    result = await arun_research(question, progress=progress, steps=DBOSSteps())\n"
        "    await notify(DBOS.workflow_id, question)      # a @DBOS.step()\n"
        "    await DBOS.close_stream_async(PROGRESS)\n"
        "    return result.as_dict()\n\n"
        "async def submit(question):\n"
        "    question = check_question(question)\n"
        "    workflow_id = secrets.token_urlsafe(16)\n"
        "    with SetWorkflowID(workflow_id):\n"
        "        await DBOS.start_workflow_async(research, question)\n"
        "    return workflow_id",
    ),
    "crash": Help(
        hint="After a crash DBOS runs the workflow again from the top; only what went "
        "through `DBOS.run_step_async` (or a `@DBOS.step()`) comes back from the record "
        "instead of running again. Is every model turn and tool call a step?",
        answer="Pass `steps=DBOSSteps()` to `arun_research`, where `DBOSSteps.astep` is\n"
        '`return await DBOS.run_step_async({"name": name}, fn, *args, **kwargs)`.',
    ),
    "notifies_once": Help(
        hint="A step killed after its side effect but before DBOS recorded it runs again "
        "(steps are at-least-once). The provider keeps one message per idempotency key: "
        "what key is the same on every run of the same workflow?",
        answer="@DBOS.step()\nasync def notify(workflow_id, question):\n"
        "    send_notification(\n"
        '        subject="Your answer is ready",\n'
        '        body=f"{question}\\nRead it here: {permalink(workflow_id)}",\n'
        "        idempotency_key=workflow_id,   # stable across runs, unlike a random key\n"
        "    )",
    ),
    "edge": Help(
        hint="`submit` only starts the work (`DBOS.start_workflow_async`) and returns the "
        "id; `events` reads the stream from `offset`, so a client cut by the edge "
        "reattaches where it stopped.",
        answer="async def events(workflow_id, offset=0):\n"
        "    async for event in DBOS.read_stream_async(workflow_id, PROGRESS, offset=offset):\n"
        "        yield event",
    ),
}
_lab = LabProgress("lab09", _HELP)
hint = _lab.hint
report = _lab.report


# --- the notification provider -------------------------------------------------------------


def _outbox() -> Path:
    return Path(config.env(OUTBOX_ENV) or Path(tempfile.gettempdir()) / "capstone-outbox")


def send_notification(*, subject: str, body: str, idempotency_key: str, to: str = "you") -> None:
    """Send one notification through the (file-backed) provider.

    Like a real mail API, the provider keeps one message per `idempotency_key`: a
    second send with the same key is recorded as an attempt but not delivered again.
    """
    if not isinstance(idempotency_key, str) or not idempotency_key:
        raise ValueError("send_notification needs a non-empty idempotency_key string")
    line = json.dumps({"to": to, "subject": subject, "body": body, "key": idempotency_key})
    fd = os.open(_outbox(), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, (line + "\n").encode())  # one write under O_APPEND: lines never interleave
    finally:
        os.close(fd)
    if config.env(SLOW_SEND_ENV):
        time.sleep(WAIT_REAL_S)  # the provider is slow to answer: the check kills us here


def sent(mentioning: str, outbox: Path | None = None) -> tuple[int, int]:
    """(send attempts, messages delivered) whose body mentions `mentioning`."""
    path = outbox or _outbox()
    rows = [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []
    mine = [r for r in rows if mentioning in r["body"]]
    return len(mine), len({r["key"] for r in mine})


# --- the learner's module ---------------------------------------------------------------------


def load_module(name: str = MODULE) -> ModuleType:
    """Import (or re-import, after an edit) `research_v2.py` written next to the notebook."""
    dbos_log = logging.getLogger("dbos")
    level = dbos_log.level
    dbos_log.setLevel(logging.ERROR)  # a re-import registers the same names again, on purpose
    try:
        module = _load(name)
    finally:
        dbos_log.setLevel(level)
    for function in ("research", "submit", "events", "permalink", "answer"):
        expect(
            callable(getattr(module, function, None)),
            f"{name}.py has no function `{function}`: keep the names of the spec.",
        )
    return module


async def _call(function: Callable[..., Awaitable[Any]], *args: Any) -> Any:
    """Await the learner's async function; 'not done yet' becomes a helpful failure."""
    name = getattr(function, "__name__", "your function")
    try:
        result = function(*args)
        if not hasattr(result, "__await__"):
            raise CheckFailed(f"`{name}` must be `async def` (the notebook awaits it).")
        return await result
    except NotImplementedError:
        raise CheckFailed(
            f"`{name}` still raises NotImplementedError: replace `raise NotImplementedError()` "
            "with your code."
        ) from None


async def _events(module: ModuleType, workflow_id: str, offset: int = 0) -> AsyncIterator[Any]:
    try:
        stream = module.events(workflow_id, offset)
        if hasattr(stream, "__await__"):  # `async def` without a `yield`: the stub
            await stream
    except NotImplementedError:
        raise CheckFailed("`events` still raises NotImplementedError.") from None
    expect(
        hasattr(stream, "__aiter__"),
        "`events` must be an async generator (`async def` with `async for ... yield`).",
    )
    try:
        async for event in stream:
            yield event
    except NotImplementedError:
        raise CheckFailed("`events` still raises NotImplementedError.") from None


async def _read_all(module: ModuleType, workflow_id: str, offset: int = 0) -> list[Any]:
    async def collect() -> list[Any]:
        return [e async for e in _events(module, workflow_id, offset)]

    try:
        return await asyncio.wait_for(collect(), WAIT_REAL_S)
    except TimeoutError:
        raise CheckFailed(
            "`events` never ended: close the stream when the answer is ready "
            "(`await DBOS.close_stream_async(PROGRESS)`), or read it with "
            "`DBOS.read_stream_async`, which also ends when the workflow does."
        ) from None


# --- the engine, in this kernel and in a worker process -----------------------------------


@contextlib.contextmanager
def _workdir() -> Iterator[tuple[str, Path]]:
    folder = Path(tempfile.mkdtemp(prefix="capstone-"))
    outbox = folder / "outbox.jsonl"
    with unittest.mock.patch.dict(os.environ, {OUTBOX_ENV: str(outbox)}):  # restored after
        try:
            yield f"sqlite:///{folder / 'dbos.sqlite'}", outbox
        finally:
            _close_clients()


_POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="lab09")


async def _blocking(fn: Callable[..., T], *args: Any) -> T:
    """Run blocking work off the event loop on the lab's own threads.

    Not `asyncio.to_thread`: DBOS makes its own pool the loop's default executor and
    shuts that pool down with the engine.
    """
    return await asyncio.get_running_loop().run_in_executor(_POOL, functools.partial(fn, *args))


async def _launch(url: str, executor_id: str | None = None) -> None:
    from ..durable import engine

    await _blocking(functools.partial(engine.launch, url, executor_id=executor_id))


async def stop_engine() -> None:
    """Shut DBOS down in this kernel (the checks start and stop it themselves)."""
    await _shutdown()


async def _shutdown() -> None:
    from ..durable import engine

    await _blocking(engine.shutdown)
    # DBOS left its (now shut down) pool as the loop's default executor: give the
    # notebook's loop a working one back, or its next `asyncio.to_thread` fails.
    asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor())


_CLIENTS: dict[str, Any] = {}


def _client(url: str) -> Any:
    """One `DBOSClient` per record for a whole check: the crash checks poll it often."""
    from ..durable import engine

    if url not in _CLIENTS:
        _CLIENTS[url] = engine.client(url)
    return _CLIENTS[url]


def _close_clients() -> None:
    while _CLIENTS:
        _CLIENTS.popitem()[1].destroy()


def _record(url: str, workflow_id: str) -> tuple[str, list[str]]:
    """(status, step names) of a workflow, read from the record by a client."""
    client = _client(url)
    found = client.list_workflows(workflow_ids=[workflow_id], load_input=False)
    status = str(found[0].status) if found else "MISSING"
    names = [str(s["function_name"]) for s in client.list_workflow_steps(workflow_id)]
    return status, names


def _work_steps(names: list[str]) -> list[str]:
    return [n for n in names if not n.startswith("DBOS.")]


def _error(url: str, workflow_id: str) -> str | None:
    """The error a workflow ended with, if it failed (read from the record)."""
    found = _client(url).list_workflows(workflow_ids=[workflow_id], load_input=False)
    if not found or str(found[0].status) != "ERROR":
        return None
    error = found[0].error
    return f"{type(error).__name__}: {error}" if error is not None else "an error"


async def _result(module: ModuleType, url: str, workflow_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + WAIT_REAL_S
    while time.monotonic() < deadline:
        failure = await _blocking(_error, url, workflow_id)
        if failure is not None:
            raise CheckFailed(f"the workflow failed: {failure}")
        data = await _call(module.answer, workflow_id)
        if data is not None:
            expect(
                isinstance(data, dict),
                f"`answer` returned {type(data).__name__}: return the workflow's result, "
                "`result.as_dict()`.",
            )
            return dict(data)
        await asyncio.sleep(0.05)
    raise CheckFailed(f"no answer within {WAIT_REAL_S:.0f} real s: does `research` return?")


class _Worker:
    """`python -m stream_or_queue.labs.lab09`: the learner's module in its own process."""

    def __init__(self, module: ModuleType, url: str, question: str, *, slow_send: bool) -> None:
        env = dict(os.environ)
        if slow_send:
            env[SLOW_SEND_ENV] = "1"
        folder = str(Path(module.__file__ or ".").resolve().parent)
        command = [sys.executable, "-m", "stream_or_queue.labs.lab09"]
        command += ["--dir", folder, "--module", module.__name__, "--url", url]
        self.proc = subprocess.Popen(
            [*command, "--question", question],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        self.lines: list[str] = []
        self.workflow_id: str | None = None
        self._ready = threading.Event()
        self._reader = threading.Thread(target=self._drain, args=(self.proc.stdout,), daemon=True)
        self._reader.start()

    def _drain(self, stream: IO[str] | None) -> None:
        for line in stream or ():
            self.lines.append(line.rstrip())
            if line.startswith(READY):
                self.workflow_id = line.split()[-1]
                self._ready.set()
        self._ready.set()

    async def started(self) -> str:
        await _blocking(self._ready.wait, WAIT_REAL_S * 2)
        if self.workflow_id is None:
            self.kill()
            if any("NotImplementedError" in line for line in self.lines[-3:]):
                raise CheckFailed(
                    "the worker process ran your `submit`, which still raises "
                    "NotImplementedError: write it first (check_job tests it in this kernel)."
                )
            tail = "\n".join(self.lines[-8:])
            raise CheckFailed(f"the worker process could not run your module:\n{tail}")
        return self.workflow_id

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)
        self._reader.join(timeout=5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


async def _until(predicate: Callable[[], bool], what: str, worker: _Worker) -> None:
    deadline = time.monotonic() + WAIT_REAL_S
    while not await _blocking(predicate):
        if worker.proc.poll() is not None:
            tail = "\n".join(worker.lines[-8:])
            raise CheckFailed(f"the worker process ended before {what}:\n{tail}")
        if time.monotonic() > deadline:
            raise CheckFailed(f"waited {WAIT_REAL_S:.0f} real s for {what}.")
        await asyncio.sleep(0.02)


def _paragraphs(data: dict[str, Any]) -> int:
    return len([p for p in str(data.get("answer", "")).split("\n\n") if p.strip()])


# --- the checks ---------------------------------------------------------------------------


@_lab.check
async def check_job(module: ModuleType) -> None:
    """Bad input refused; one question as a workflow: steps, progress, one notification."""
    with _workdir() as (url, outbox), config.time_scale_set_to(TIME_SCALE):
        await _launch(url)
        try:
            for bad in ("", "   "):
                try:
                    await _call(module.submit, bad)
                except ValueError:
                    continue
                raise CheckFailed(
                    f"`submit({bad!r})` accepted an empty question: refuse it with ValueError "
                    "before starting anything (`check_question` does it)."
                )
            workflow_id = await _call(module.submit, QUESTIONS[3])
            expect(
                isinstance(workflow_id, str) and len(workflow_id) >= 16,
                f"`submit` returned {workflow_id!r}: return the workflow id, a new "
                "unguessable one per question (`secrets.token_urlsafe(16)`): it is in the "
                "permalink, so anyone who can guess it can read the answer.",
            )
            events = await _read_all(module, workflow_id)
            data = await _result(module, url, workflow_id)
            _, names = await _blocking(_record, url, workflow_id)
            try:
                await _call(module.answer, "no-such-workflow-" + secrets.token_hex(4))
            except LookupError:
                unknown_ok = True
            else:
                unknown_ok = False
        finally:
            await _shutdown()
        work = _work_steps(names)
        turns = [n for n in work if n.startswith("turn-")]
        tools = [n for n in work if n.startswith("tool-")]
        expect(
            turns and tools,
            f"DBOS's record of the workflow holds {len(turns)} model turns and {len(tools)} "
            "tool calls as steps: every turn and tool call must be a step, or a crash pays "
            f"for them again (recorded: {work or 'nothing but the workflow'}).",
        )
        expect(
            _paragraphs(data) == 4 and data.get("sources"),
            f"the answer has {_paragraphs(data)} paragraphs and {len(data.get('sources', []))} "
            "sources; return the research's `result.as_dict()`.",
        )
        steps = [e.get("step") for e in events if isinstance(e, dict)]
        expect(
            {"searching", "reading", "done"} <= set(steps),
            f"a client reading `events` saw the steps {sorted(set(map(str, steps)))}: write "
            f"every progress event of the agent to the stream {PROGRESS!r}, from "
            "'searching' to 'done'.",
        )
        link = call_permalink(module, workflow_id)
        attempts, delivered = sent(link, outbox)
        expect(
            attempts == 1 and delivered == 1,
            f"{attempts} sends and {delivered} messages mention the permalink {link!r}: "
            "notify exactly once when the answer is ready, with the permalink in the body.",
        )
        expect(
            unknown_ok,
            "`answer('no-such-workflow-...')` did not raise LookupError: a permalink to "
            "nothing should say so (a 404), not look like an answer still running.",
        )
    passed(
        "one question as a workflow: turns and tool calls are steps, progress streamed, "
        "one notification with the permalink, the answer stored"
    )


def call_permalink(module: ModuleType, workflow_id: str) -> str:
    link = module.permalink(workflow_id)
    expect(
        isinstance(link, str) and workflow_id in link,
        f"`permalink({workflow_id!r})` returned {link!r}: a link that names the workflow, "
        "such as '/r/<id>'.",
    )
    return str(link)


async def _crash_and_recover(
    module: ModuleType, url: str, *, slow_send: bool, kill_when: Callable[[str], bool]
) -> tuple[str, list[str]]:
    """Run the module in a worker process, SIGKILL it when `kill_when(id)`, recover here.

    Returns the workflow id and the work steps recorded before the kill.
    """
    try:  # unfinished work shows here in a moment, not after a worker process started
        await _call(module.submit, "")
    except CheckFailed:
        raise
    except Exception:  # ValueError is right; anything else is check_job's business
        pass
    worker = _Worker(module, url, QUESTIONS[5], slow_send=slow_send)
    try:
        workflow_id = await worker.started()
        await _until(lambda: kill_when(workflow_id), "the moment the check kills it", worker)
    finally:
        worker.kill()
    status, names = await _blocking(_record, url, workflow_id)
    expect(
        status == "PENDING",
        f"the workflow was {status} when its process was killed: `submit` should start it "
        "and return, while the work goes on.",
    )
    await _launch(url, EXECUTOR)  # the same executor id: DBOS recovers its workflows
    return workflow_id, _work_steps(names)


@_lab.check
async def check_crash(module: ModuleType) -> None:
    """A worker process killed with SIGKILL mid-research; DBOS recovers the workflow."""
    with _workdir() as (url, outbox), config.time_scale_set_to(TIME_SCALE):

        def mid_research(workflow_id: str) -> bool:
            status, names = _record(url, workflow_id)
            writes = names.count("DBOS.writeStream")
            return status == "PENDING" and (len(_work_steps(names)) >= 3 or writes >= 3)

        workflow_id, before = await _crash_and_recover(
            module, url, slow_send=False, kill_when=mid_research
        )
        try:
            data = await _result(module, url, workflow_id)
        finally:
            await _shutdown()
        link = call_permalink(module, workflow_id)
        _, delivered = sent(link, outbox)
    executed = [str(n) for n in data.get("executed_steps", [])]
    # A step in the record before the kill had finished; so had turn-0 (every step follows it).
    redone = [n for n in executed if n in before or (n == "turn-0" and before)]
    expect(
        before,
        "the worker was killed mid-research, but DBOS had recorded no step of it: make "
        "every model turn and tool call a step.",
    )
    expect(
        not redone,
        f"{len(redone)} steps finished before the kill ran again after recovery ({redone}): "
        "only a step in DBOS's record comes back from it - is every model turn and tool "
        "call a step?",
    )
    expect(
        data.get("replayed_steps"),
        "the recovered run replayed nothing from the record: return `result.as_dict()` of "
        "`arun_research(..., steps=...)` with your DBOS step runner.",
    )
    expect(_paragraphs(data) == 4, "the recovered answer is incomplete.")
    expect(delivered == 1, f"{delivered} notifications after the crash, expected 1.")
    passed(
        "killed with SIGKILL mid-research, recovered by DBOS: no finished step ran again, "
        "one notification"
    )


@_lab.check
async def check_notifies_once(module: ModuleType) -> None:
    """Killed after the notification left, before DBOS recorded it: still one message."""
    with _workdir() as (url, outbox), config.time_scale_set_to(TIME_SCALE):
        link: list[str] = []

        def notified(workflow_id: str) -> bool:
            if not link:
                link.append(call_permalink(module, workflow_id))
            return sent(link[0], outbox)[0] >= 1

        workflow_id, _ = await _crash_and_recover(module, url, slow_send=True, kill_when=notified)
        try:
            await _result(module, url, workflow_id)
        finally:
            await _shutdown()
        attempts, delivered = sent(link[0], outbox)
    expect(
        delivered == 1,
        f"the user got {delivered} notifications for one answer: the process was killed "
        "after the provider took the first, before DBOS recorded the step, so the step ran "
        f"again ({attempts} sends) - with a different idempotency key each time. Use a key "
        "that is the same on every run of the workflow.",
    )
    passed(
        "killed after the notification left: the step ran again, the provider kept one "
        "message (same idempotency key)"
    )


@_lab.check
async def check_edge(module: ModuleType) -> None:
    """`submit` answers long before the 60 s edge; a client cut mid-stream reattaches."""
    with _workdir() as (url, _), config.time_scale_set_to(TIME_SCALE):
        await _launch(url)
        try:
            watch = clock.Stopwatch()
            workflow_id = await _call(module.submit, QUESTIONS[7])
            took = watch.elapsed
            done_early = (await _blocking(_record, url, workflow_id))[0] == "SUCCESS"
            expect(
                not done_early and took < EDGE_S,
                f"`submit` returned after {took:.0f} simulated s, with the answer ready: it "
                f"waited for the research. Behind a {EDGE_S:.0f} s edge that request is cut; "
                "start the workflow and return its id at once.",
            )
            cut_after = 3
            first: list[Any] = []
            stream = _events(module, workflow_id).__aiter__()
            while len(first) < cut_after:
                first.append(await asyncio.wait_for(stream.__anext__(), WAIT_REAL_S))
            await stream.aclose()  # type: ignore[attr-defined]  # the edge cuts the stream
            rest = await _read_all(module, workflow_id, cut_after)
            whole = await _read_all(module, workflow_id)
            await _result(module, url, workflow_id)
        finally:
            await _shutdown()
    expect(
        first + rest == whole,
        f"cut after {cut_after} events, the client reattached with offset={cut_after} and "
        f"read {len(rest)} more, but the whole stream has {len(whole)}: "
        + (
            "it started over (duplicates)."
            if rest[:cut_after] == whole[:cut_after]
            else "some were lost or out of order."
        )
        + " Read from `offset`.",
    )
    passed(
        "submit answers before the edge could cut it; a client cut mid-stream reattached at "
        "its offset and missed nothing"
    )


# --- the worker process -------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """Run the learner's module in this process: launch DBOS, submit, work until killed."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--dir", required=True)
    parser.add_argument("--module", required=True)
    parser.add_argument("--url", required=True)
    parser.add_argument("--question", required=True)
    args = parser.parse_args(argv)
    sys.path.insert(0, args.dir)
    from ..course import setup
    from ..durable import engine

    setup(seed=0, time_scale=TIME_SCALE, quiet=True)
    module = importlib.import_module(args.module)

    async def run() -> None:
        await engine.alaunch(args.url, executor_id=EXECUTOR)
        workflow_id = await module.submit(args.question)
        print(f"{READY} {workflow_id}", flush=True)
        await asyncio.sleep(WAIT_REAL_S * 4)  # the workflow runs; the check kills us

    asyncio.run(run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
