"""Checks for lab 00 (warm-up): measure time to first token of one streamed call.

The learner writes `measure_ttft(client, prompt)`, which streams one answer through
the SDK and returns `(ttft_s, total_s, text)` in simulated seconds, and
`tokens_per_second(output_tokens, ttft_s, total_s)`, the streaming rate once the
first token is out. The checks run the learner's function against a private,
seeded simulator on a simulated timeline (`clock.simulated()`), so they know what
the answer was and exactly when each part of it arrived: a right measurement equals
the simulator's schedule, and a wrong one is told apart by what it equals instead.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

from .. import clock, config
from ..llm import client as make_client
from ..simulator import Simulator, count_tokens
from . import CheckFailed, call_learner, expect, passed
from .progress import Help, LabProgress

__all__ = [
    "CHECK_PROMPT",
    "StreamTiming",
    "check_measure_ttft",
    "check_tokens_per_second",
    "hint",
    "report",
]

CHECK_PROMPT = "Write a 150-word note on why a chat answer should stream."
"""A long-enough answer: its first token comes seconds before its last one."""

_SEED = 20


class StreamTiming(NamedTuple):
    """What `measure_ttft` returns: simulated seconds, and the text that arrived."""

    ttft_s: float
    total_s: float
    text: str


def _unpack(result: Any) -> StreamTiming:
    expect(
        isinstance(result, tuple) and len(result) == 3,
        "`measure_ttft` should return three things, `(ttft_s, total_s, text)` - for "
        f"example `StreamTiming(ttft, total, text)`; it returned {type(result).__name__}.",
    )
    ttft, total, text = result
    for name, value in (("ttft_s", ttft), ("total_s", total)):
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        expect(
            number and math.isfinite(value),
            f"`{name}` should be a number of simulated seconds, got {value!r}. "
            "Did you forget to record the time when the first text arrived?",
        )
    expect(
        isinstance(text, str),
        f"`text` should be the streamed answer as one string, got {type(text).__name__}: "
        'join the pieces from `stream.text_stream` with "".join(...)',
    )
    return StreamTiming(float(ttft), float(total), text)


def _same_time(measured: float, scheduled: float) -> bool:
    """On a timeline a right measurement IS the schedule; the bound only absorbs float
    rounding (a learner may subtract two `clock.now()` readings), not timing noise."""
    return math.isclose(measured, scheduled, rel_tol=1e-9, abs_tol=1e-9)


def _check_times(timing: StreamTiming, ttft: float, total: float) -> None:
    """Compare the learner's figures with the schedule, naming the likely mistake."""
    if not _same_time(timing.ttft_s, ttft):
        expect(
            timing.ttft_s >= ttft,
            f"`ttft_s` is {timing.ttft_s:.4f}, but the first token arrived at {ttft:.2f} "
            "simulated s. Measure with `clock.Stopwatch()` and read `.elapsed` (simulated "
            "seconds), not `time.perf_counter()` (real seconds).",
        )
        raise CheckFailed(
            f"`ttft_s` is {timing.ttft_s:.2f} s, but the first token arrived at {ttft:.2f} "
            f"simulated s and the answer streamed until {total:.2f} s: record the time when "
            "the FIRST piece of text arrives (inside the loop, only once), not after it."
        )
    expect(
        timing.total_s >= timing.ttft_s,
        "`total_s` is smaller than `ttft_s`: read the total time after the loop over "
        "`stream.text_stream` has finished, from the same stopwatch.",
    )
    expect(
        _same_time(timing.total_s, total),
        f"`total_s` is {timing.total_s:.2f} s, but the last token arrived at {total:.2f} "
        "simulated s: start the stopwatch before the call and read it once more after "
        "the loop over `stream.text_stream`.",
    )


def check_measure_ttft(measure_ttft: Callable[..., Any], model: str = config.LARGE_MODEL) -> None:
    """Run the learner's `measure_ttft(client, prompt)` against a known simulator."""
    request: dict[str, Any] = {
        "model": model,
        "max_tokens": 1024,
        "messages": [{"role": "user", "content": CHECK_PROMPT}],
    }
    reference = make_client(simulator=Simulator(seed=_SEED))
    with clock.simulated(), reference.messages.stream(**request) as stream:  # for its text
        expected_text = "".join(stream.text_stream)
    simulator = Simulator(seed=_SEED)
    with clock.simulated():  # no real waiting, and the figures are exact
        timing = _unpack(call_learner(measure_ttft, make_client(simulator=simulator), CHECK_PROMPT))
    records = [r for r in simulator.ledger if r.endpoint.endswith("messages")]
    expect(
        len(records) == 1,
        f"`measure_ttft` should make exactly one call to the API; it made {len(records)}. "
        "Use `client.messages.stream(...)` once and read the whole stream.",
    )
    record = records[0]
    expect(
        record.stream,
        "The call was not streamed: use `with client.messages.stream(...) as stream:` "
        "(not `messages.create`), so that text arrives while the model is still writing.",
    )
    expect(
        record.completed and not record.cancelled,
        "The stream was not read to the end: iterate over all of `stream.text_stream` "
        "before the `with` block ends, and only then read the total time.",
    )
    expect(
        timing.text == expected_text,
        "`text` is not the whole answer: keep every piece of `stream.text_stream` "
        f"and join them (expected {count_tokens(expected_text)} tokens, "
        f"got {count_tokens(timing.text)}). Did you send the prompt you were given, "
        f"with model={model!r} and max_tokens large enough (e.g. 1024)?",
    )
    _check_times(timing, record.scheduled_ttft_s, record.scheduled_total_s)
    passed(
        "measure_ttft streams one answer and times its first token and its end "
        "in simulated seconds."
    )


def check_tokens_per_second(tokens_per_second: Callable[..., Any]) -> None:
    """The learner's rate: output tokens per simulated second after the first token."""
    cases = [((150, 1.0, 3.0), 75.0), ((80, 0.5, 1.5), 80.0), ((0, 0.8, 0.8), 0.0)]
    for args, want in cases:
        got = call_learner(tokens_per_second, *args)
        expect(
            isinstance(got, (int, float)) and not isinstance(got, bool),
            f"`tokens_per_second{args}` should return a number, got {got!r}.",
        )
        if args[1] == args[2]:
            expect(
                got == 0,
                f"`tokens_per_second{args}` should be 0 when nothing streamed after the first "
                "token (total == ttft): avoid dividing by zero.",
            )
            continue
        expect(
            math.isclose(got, want, rel_tol=1e-6),
            f"`tokens_per_second{args}` returned {got!r}, expected {want:g}: divide the output "
            "tokens by the time spent streaming, `total_s - ttft_s` (not by `total_s`).",
        )
    passed("tokens_per_second measures the streaming rate once text is flowing.")


LAB = LabProgress(
    "lab00",
    {
        "measure_ttft": Help(
            hint=(
                "Start the stopwatch before the request, stream the answer, and read the "
                "stopwatch once when the first piece of text arrives and once after the loop."
            ),
            answer=(
                "watch = clock.Stopwatch(); ttft = None; pieces = []\n"
                "with client.messages.stream(model=model, max_tokens=max_tokens,\n"
                "        messages=[{'role': 'user', 'content': prompt}]) as stream:\n"
                "    for text in stream.text_stream:\n"
                "        if ttft is None:\n"
                "            ttft = watch.elapsed\n"
                "        pieces.append(text)\n"
                "return StreamTiming(ttft, watch.elapsed, ''.join(pieces))"
            ),
        ),
        "tokens_per_second": Help(
            hint="Which part of the total time was spent streaming tokens, after the first?",
            answer="0.0 if total_s <= ttft_s else output_tokens / (total_s - ttft_s)",
        ),
    },
)
check_measure_ttft = LAB.check(check_measure_ttft)
check_tokens_per_second = LAB.check(check_tokens_per_second)
hint = LAB.hint
report = LAB.report
