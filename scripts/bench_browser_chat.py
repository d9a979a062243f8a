"""Benchmark the ChatBox in a real browser at real speed: render lag and Stop latency.

    .venv/bin/python scripts/bench_browser_chat.py            # the figures in docs/performance.md
    .venv/bin/python scripts/bench_browser_chat.py --runs 3   # quicker

JupyterLab serves a one-cell notebook with a ChatBox on loopback, on the human
clock (real time: a Sonnet-class answer at its real pace); Debian's chromium
drives it through playwright, as a person would: it types a question, clicks
Send, and later clicks Stop.

1. Last token -> final render. A short answer streams to its end. The kernel notes
   (wall clock) when the last token arrived; a MutationObserver in the page notes
   when the transcript's final state (no cursor) was painted into the DOM.
   Reported: the difference (target <= 100 ms).
2. Stop -> upstream closed. A long answer streams; after a dozen renders the Stop
   button is clicked. The page notes the click (wall clock); the simulator's ledger
   notes when the upstream stream closed. Reported: the difference (target <= 50 ms).

Both sides read the same machine's wall clock (Date.now() and time.time()).
Loopback only; every wait is bounded.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from browser import (  # noqa: E402
    chromium_page,
    jupyter_lab,
    open_and_run_notebook,
)

SHORT = "What is time to first token?"
LONG = "Write a 3,000-word essay on streaming versus queues."

SETUP_CELL = """\
import asyncio, json, time
from stream_or_queue.course import setup
from stream_or_queue.streaming import upstream_record
from stream_or_queue.widgets import ChatBox
course = setup(seed=1, quiet=True)

def _wall(t):
    return None if t is None else time.time() - (time.perf_counter() - t)

async def _report():
    seen = 0
    while True:
        if len(chat.turns) > seen:
            turn = chat.turns[-1]
            record = upstream_record(turn.stats.request_id, course.simulator)
            row = {"cancelled": turn.cancelled, "last_token": _wall(chat.last_token_real),
                   "closed": _wall(record.ended if record else None)}
            with open("bench.jsonl", "a") as out:
                out.write(json.dumps(row) + "\\n")
            seen = len(chat.turns)
        await asyncio.sleep(0.02)

"""
CHAT_CELL = """\
chat = ChatBox()
_reporter = asyncio.get_running_loop().create_task(_report())
chat
"""

OBSERVER = """
() => {
  const box = document.querySelector('.soq-chat .soq-chat-transcript');
  window.__renders = [];
  new MutationObserver(() => {
    const text = box.innerText;
    window.__renders.push({t: Date.now(), n: text.length, cursor: text.includes('\u258c')});
  }).observe(box, {subtree: true, childList: true, characterData: true});
  const stop = document.querySelector('.soq-chat button.soq-chat-stop');
  stop.addEventListener('click', () => { window.__stopClick = Date.now(); }, true);
}
"""


def _notebook(path: Path) -> None:
    import nbformat

    notebook = nbformat.v4.new_notebook()
    # two cells: a widget created by a fresh kernel's very first cell can reach the page
    # before JupyterLab's widget manager is ready ("model not found")
    notebook.cells = [nbformat.v4.new_code_cell(SETUP_CELL), nbformat.v4.new_code_cell(CHAT_CELL)]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    nbformat.write(notebook, path)


def _rows(root: Path) -> list[dict[str, Any]]:
    path = root / "bench.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _wait_rows(root: Path, count: int, timeout_s: float = 120.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        rows = _rows(root)
        if len(rows) >= count:
            return rows
        time.sleep(0.05)
    raise TimeoutError(f"the kernel reported {len(_rows(root))} turns, expected {count}")


def run(runs: int, chromium: str) -> dict[str, list[float]]:
    lags: list[float] = []
    stops: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        _notebook(root / "bench.ipynb")
        with (
            jupyter_lab(root, env={"STREAM_OR_QUEUE_HUMAN_TIME_SCALE": "1.0"}) as lab,
            chromium_page(chromium) as page,
        ):
            open_and_run_notebook(page, lab, "bench.ipynb", timeout_s=120)
            chat = page.locator(".soq-chat").first
            chat.wait_for(timeout=60_000)
            page.evaluate(OBSERVER)
            send = chat.locator("button.soq-chat-send")
            stop = chat.locator("button.soq-chat-stop")
            text = chat.locator(".soq-chat-input input")
            turns = 0
            for _ in range(runs):
                # 1. a short answer to its end
                page.evaluate("() => { window.__renders = []; }")
                text.fill(SHORT)
                send.click()
                turns += 1
                row = _wait_rows(root, turns)[-1]
                page.wait_for_function(
                    "() => document.querySelector('.soq-chat button.soq-chat-stop').disabled",
                    timeout=60_000,
                )
                time.sleep(0.3)
                renders = page.evaluate("() => window.__renders")
                final = next(r for r in reversed(renders) if not r["cursor"])
                first_final = min(
                    r["t"] for r in renders if not r["cursor"] and r["n"] == final["n"]
                )
                lags.append(first_final / 1000 - row["last_token"])
                # 2. a long answer, stopped after a dozen renders
                page.evaluate("() => { window.__renders = []; window.__stopClick = null; }")
                text.fill(LONG)
                send.click()
                page.wait_for_function("() => window.__renders.length >= 12", timeout=60_000)
                stop.click()
                turns += 1
                row = _wait_rows(root, turns)[-1]
                clicked = page.evaluate("() => window.__stopClick")
                if not row["cancelled"] or clicked is None or row["closed"] is None:
                    raise RuntimeError(f"the stop did not register: {row}, click {clicked}")
                stops.append(row["closed"] - clicked / 1000)
    return {"lag": lags, "stop": stops}


def _summary(values: list[float]) -> str:
    ms = sorted(v * 1000 for v in values)
    p95 = ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))]
    return f"median {statistics.median(ms):.1f} ms, p95 {p95:.1f} ms, max {ms[-1]:.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()
    if not 1 <= args.runs <= 50:
        parser.error("--runs must be between 1 and 50")
    found = run(args.runs, args.chromium)
    print(f"runs: {args.runs} (real speed, JupyterLab + chromium on loopback)")
    print("| measure | target | measured |")
    print("|---|---|---|")
    print(f"| last token -> final render in the browser | <= 100 ms | {_summary(found['lag'])} |")
    print(
        f"| Stop click in the browser -> upstream closed | <= 50 ms | {_summary(found['stop'])} |"
    )


if __name__ == "__main__":
    main()
