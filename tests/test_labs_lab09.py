"""Lab 09 (capstone): plausible wrong versions of research_v2 are caught, helpfully.

Each test takes the solution's module (the `%%writefile research_v2.py` cell of
solutions/09_capstone.py), breaks it the way a learner plausibly would - a random
idempotency key, turns that are not steps, a notification sent twice, a `submit`
that waits, a reader that ignores its offset - and runs the real check on it: in
this process, and (for the crash checks) in a worker process killed with SIGKILL.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from types import ModuleType

import pytest

from stream_or_queue.course import setup
from stream_or_queue.labs import CheckFailed, lab09

ROOT = Path(__file__).resolve().parent.parent
SOLUTION = ROOT / "solutions" / "09_capstone.py"
MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION")


def solution_module_source() -> str:
    """The research_v2.py the solution writes, without the solution markers."""
    text = SOLUTION.read_text()
    start = text.index("# %%writefile research_v2.py\n") + len("# %%writefile research_v2.py\n")
    end = text.index("\n# %%", start)
    lines = text[start:end].splitlines()
    return "\n".join(line for line in lines if line.strip() not in MARKERS) + "\n"


def load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, old: str = "", new: str = ""
) -> ModuleType:
    """Write research_v2.py (with `old` replaced by `new`) and load it as the lab does.

    Always under the lab's module name, as a fresh import: DBOS refuses a workflow name
    registered by two modules of different names.
    """
    source = solution_module_source()
    if old:
        assert old in source, f"the solution no longer contains {old!r}: update this test"
        source = source.replace(old, new)
    (tmp_path / f"{lab09.MODULE}.py").write_text(source)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delitem(sys.modules, lab09.MODULE, raising=False)
    setup(seed=0, quiet=True)
    return lab09.load_module()


RANDOM_KEY = ("idempotency_key=workflow_id,", "idempotency_key=secrets.token_hex(8),")
TURNS_NOT_STEPS = (
    '        return await DBOS.run_step_async({"name": name}, fn, *args, **kwargs)',
    '        if name.startswith("turn-"):\n            return await fn(*args, **kwargs)\n'
    '        return await DBOS.run_step_async({"name": name}, fn, *args, **kwargs)',
)
NOTIFIES_TWICE = (
    "    await notify(DBOS.workflow_id, question)\n",
    "    await notify(DBOS.workflow_id, question)\n"
    "    await notify(DBOS.workflow_id, question)  # 'to be sure'\n",
)
SUBMIT_WAITS = (
    "        await DBOS.start_workflow_async(research, question)\n",
    "        handle = await DBOS.start_workflow_async(research, question)\n"
    "    await handle.get_result()\n",
)
IGNORES_OFFSET = ("PROGRESS, offset=offset)", "PROGRESS)")


@pytest.mark.anyio
async def test_the_solution_passes_the_quick_checks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = load(tmp_path, monkeypatch)
    await lab09.check_job(module)
    await lab09.check_edge(module)


@pytest.mark.anyio
async def test_turns_that_are_not_steps_are_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = load(tmp_path, monkeypatch, *TURNS_NOT_STEPS)
    with pytest.raises(CheckFailed, match=r"holds 0 model turns and \d+ tool calls as steps"):
        await lab09.check_job(module)


@pytest.mark.anyio
async def test_a_notification_sent_twice_is_caught(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = load(tmp_path, monkeypatch, *NOTIFIES_TWICE)
    with pytest.raises(CheckFailed, match="2 sends and 1 messages mention the permalink"):
        await lab09.check_job(module)


@pytest.mark.anyio
async def test_a_submit_that_waits_for_the_answer_is_cut_by_the_edge(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = load(tmp_path, monkeypatch, *SUBMIT_WAITS)
    with pytest.raises(CheckFailed, match=r"returned after \d+ simulated s.* waited"):
        await lab09.check_edge(module)


@pytest.mark.anyio
async def test_a_reader_that_ignores_its_offset_is_caught(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = load(tmp_path, monkeypatch, *IGNORES_OFFSET)
    with pytest.raises(CheckFailed, match=re.escape("it started over (duplicates)")):
        await lab09.check_edge(module)


@pytest.mark.anyio
async def test_an_unknown_permalink_must_say_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = load(tmp_path, monkeypatch, "raise LookupError(", "return None  # (")
    with pytest.raises(CheckFailed, match="did not raise LookupError"):
        await lab09.check_job(module)


@pytest.mark.slow
@pytest.mark.anyio
async def test_a_random_idempotency_key_notifies_twice_after_a_kill(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = load(tmp_path, monkeypatch, *RANDOM_KEY)
    with pytest.raises(CheckFailed, match="the user got 2 notifications for one answer") as info:
        await lab09.check_notifies_once(module)
    assert "workflow_id" not in str(info.value), "the answer waits for lab09.hint()"


@pytest.mark.slow
@pytest.mark.anyio
async def test_turns_that_are_not_steps_are_paid_again_after_a_kill(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = load(tmp_path, monkeypatch, *TURNS_NOT_STEPS)
    with pytest.raises(CheckFailed, match=r"finished before the kill ran again.*'turn-0'"):
        await lab09.check_crash(module)


@pytest.mark.slow
def test_the_capstone_runs_on_dbos_not_on_the_retired_engine() -> None:
    import subprocess

    code = (
        "import sys; from stream_or_queue.labs import lab09; "
        "old = [m for m in ('run', 'audit', 'workers', 'chaos') "
        "if f'stream_or_queue.durable.{m}' in sys.modules]; print(old)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
