"""Every lab fails its checks as shipped, helpfully; every solution passes them.

Discovers every `solutions/*.ipynb`, so each new lab is covered without editing this
file. A *check cell* is a code cell that calls `labNN.check_*(...)` (or is tagged
`check`). In the lab as generated (answers stubbed out), each check cell must stop
with `CheckFailed` and a message a learner can act on - not a NameError, ImportError
or a bare NotImplementedError - so that no check passes vacuously. Other lab cells
may stop only with NotImplementedError (a "try it" cell calling an unfinished
function). In the solution, every cell runs without error and every check passes
(proved by nbval's run of solutions/ in `make test`: test_solution_passes_every_check).
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbformat import NotebookNode

from stream_or_queue import clock, config
from stream_or_queue.labs import (
    CheckFailed,
    call_learner,
    expect,
    lab00,
    lab01,
    lab02,
    lab03,
    lab04,
    lab06,
    lab10,
)
from stream_or_queue.labs import is_check_cell as is_check_source

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = sorted((ROOT / "solutions").glob("*.ipynb"))
OFFLINE_ENV_CLEARED = (
    "STREAM_OR_QUEUE_MODE",
    "REDIS_URL",
    "ANTHROPIC_BASE_URL",
    "STREAM_OR_QUEUE_TIME_SCALE",
)
MIN_MESSAGE = 40
"""A helpful message says what is wrong and what to do: more than a few words."""


def is_check_cell(cell: NotebookNode) -> bool:
    tags = cell.get("metadata", {}).get("tags", [])
    return cell.cell_type == "code" and is_check_source(cell.source, tags)


def _errors(cell: NotebookNode) -> list[NotebookNode]:
    return [out for out in cell.get("outputs", []) if out.output_type == "error"]


def _run(path: Path, monkeypatch: pytest.MonkeyPatch) -> NotebookNode:
    """Execute a notebook from a fresh kernel in its folder, offline, keeping errors."""
    from nbclient import NotebookClient

    for name in OFFLINE_ENV_CLEARED:
        monkeypatch.delenv(name, raising=False)
    nb = nbformat.read(path, as_version=4)
    NotebookClient(
        nb,
        timeout=180,
        kernel_name="python3",
        allow_errors=True,
        resources={"metadata": {"path": str(path.parent)}},
        store_widget_state=False,
    ).execute()
    return nb


def _where(path: Path, index: int) -> str:
    return f"{path.relative_to(ROOT)} cell {index}"


def test_there_are_solutions() -> None:
    assert SOLUTIONS, "solutions/ holds no notebook"


@pytest.mark.slow
@pytest.mark.parametrize("solution", SOLUTIONS, ids=[p.stem for p in SOLUTIONS])
def test_lab_as_shipped_fails_every_check_helpfully(
    solution: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lab = ROOT / "labs" / solution.name
    assert lab.is_file(), f"{lab.name} is missing: run .venv/bin/python scripts/build_course.py"
    nb = _run(lab, monkeypatch)
    checks = [i for i, cell in enumerate(nb.cells) if is_check_cell(cell)]
    assert checks, f"{lab.name} has no check cell (a code cell calling labNN.check_...())"
    for index, cell in enumerate(nb.cells):
        errors = _errors(cell)
        where = _where(lab, index)
        if index in checks:
            assert errors, f"{where}: the check PASSED on the unsolved lab (vacuous check)"
            error = errors[0]
            assert error.ename == CheckFailed.__name__, (
                f"{where}: the check should fail with CheckFailed, got "
                f"{error.ename}: {error.evalue}"
            )
            assert len(error.evalue) >= MIN_MESSAGE, f"{where}: unhelpful message {error.evalue!r}"
        else:
            for error in errors:  # call_learner's CheckFailed is advice on unfinished work too
                assert error.ename in ("NotImplementedError", CheckFailed.__name__), (
                    f"{where}: only check cells (and calls of unfinished functions) may fail "
                    f"in a lab; this one raised {error.ename}: {error.evalue}. A 'try it' cell "
                    "should call the learner's function itself, not reuse a variable that an "
                    "earlier, unfinished cell never set"
                )


NBVAL_MAY_FAIL_TAGS = frozenset({"raises-exception", "nbval-skip", "skip-execution"})
"""Cell tags under which nbval lets a cell fail or skips it."""


@pytest.mark.parametrize("solution", SOLUTIONS, ids=[p.stem for p in SOLUTIONS])
def test_solution_passes_every_check(solution: Path) -> None:
    """Every solution has check cells, and `make test` runs every one of its cells under
    nbval (a fresh kernel in its folder, offline), where any error fails the run: that
    run is the proof that every check passes. So this test checks that the proof holds -
    nbval runs solutions/ and no solution cell is allowed to fail or be skipped - instead
    of executing each solution a second time (about 90 s of the two-worker phase)."""
    nb = nbformat.read(solution, as_version=4)
    assert any(is_check_cell(cell) for cell in nb.cells), f"{solution.name} has no check cell"
    excused = [
        _where(solution, index)
        for index, cell in enumerate(nb.cells)
        if NBVAL_MAY_FAIL_TAGS & set(cell.get("metadata", {}).get("tags", []))
    ]
    assert not excused, f"nbval would let these cells fail or skip them: {excused}"
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"-m pytest notebooks solutions \$\(NBVAL\)", makefile)
    assert "--nbval-lax" not in makefile


# --- the framework itself, and lab 00's checks, in-process -------------------------------


def test_check_cells_are_recognised() -> None:
    assert is_check_source("lab00.check_measure_ttft(measure_ttft)")
    assert is_check_source("x = 1", ["check"])
    assert not is_check_source("from stream_or_queue.labs import lab00")
    assert not is_check_source("def check_me(): pass")


def test_call_learner_turns_unfinished_work_into_advice() -> None:
    def unfinished() -> None:
        raise NotImplementedError()

    with pytest.raises(CheckFailed, match="`unfinished` still raises NotImplementedError"):
        call_learner(unfinished)
    with pytest.raises(ZeroDivisionError):  # a real bug in the learner's code stays visible
        call_learner(lambda: 1 / 0)
    assert call_learner(lambda x: x + 1, 1) == 2
    with pytest.raises(CheckFailed, match="why"):
        expect(False, "why")
    expect(True, "never shown")


def _measure(
    client: Any, prompt: str, *, create: bool = False, late: bool = False, real: bool = False
) -> Any:
    watch, started, first, pieces = clock.Stopwatch(), time.perf_counter(), None, []
    request = {
        "model": config.LARGE_MODEL,
        "max_tokens": 1024,
        "messages": [{"role": "user", "content": prompt}],
    }
    if create:
        reply = client.messages.create(**request)
        return (watch.elapsed, watch.elapsed, reply.content[0].text)
    with client.messages.stream(**request) as stream:
        for text in stream.text_stream:
            if first is None and not late:
                first = time.perf_counter() - started if real else watch.elapsed
            pieces.append(text)
    if real:
        return (first, time.perf_counter() - started, "".join(pieces))
    return lab00.StreamTiming(
        first if first is not None else watch.elapsed, watch.elapsed, "".join(pieces)
    )


def test_lab00_accepts_a_correct_measurement(capsys: pytest.CaptureFixture[str]) -> None:
    lab00.check_measure_ttft(_measure)
    lab00.check_tokens_per_second(lambda n, a, b: n / (b - a) if b > a else 0.0)
    assert capsys.readouterr().out.count("\N{CHECK MARK}") == 2


@pytest.mark.parametrize(
    ("options", "advice"),
    [
        ({"create": True}, "not streamed"),
        ({"late": True}, "FIRST piece of text"),
        ({"real": True}, "simulated seconds"),
    ],
)
def test_lab00_explains_each_mistake(options: dict[str, bool], advice: str) -> None:
    with pytest.raises(CheckFailed, match=advice):
        lab00.check_measure_ttft(lambda client, prompt: _measure(client, prompt, **options))


def test_lab00_measures_on_a_timeline_without_real_waiting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_real_wait(seconds: float) -> None:
        raise AssertionError(f"the check slept {seconds} real s")

    monkeypatch.setattr(time, "sleep", no_real_wait)
    lab00.check_measure_ttft(_measure)


def test_lab00_a_total_read_too_early_is_named_with_the_exact_last_token() -> None:
    def early_total(client: Any, prompt: str) -> Any:
        timing = _measure(client, prompt)
        return timing._replace(total_s=timing.ttft_s + 0.5)

    with pytest.raises(CheckFailed, match=r"the last token arrived at \d+\.\d\d simulated s"):
        lab00.check_measure_ttft(early_total)


def test_lab00_wants_the_whole_text_and_a_tuple() -> None:
    def short(client: Any, prompt: str) -> Any:
        timing = _measure(client, prompt)
        return timing._replace(text=timing.text[:20])

    with pytest.raises(CheckFailed, match="not the whole answer"):
        lab00.check_measure_ttft(short)
    with pytest.raises(CheckFailed, match="should return three things"):
        lab00.check_measure_ttft(lambda client, prompt: 1.0)


def test_lab00_rate_must_not_divide_by_the_total() -> None:
    with pytest.raises(CheckFailed, match="total_s - ttft_s"):
        lab00.check_tokens_per_second(lambda n, a, b: n / b)
    with pytest.raises(CheckFailed, match="dividing by zero"):
        lab00.check_tokens_per_second(lambda n, a, b: n / (b - a) if b > a else 1.0)


# --- lab 02: plausible wrong answers are caught, with what was observed -------------------


def _every_token(arrivals: list[float], max_per_s: float) -> list[float]:
    return list(arrivals)


def _throttle_without_last(arrivals: list[float], max_per_s: float) -> list[float]:
    """Drops what arrives within an interval: the end of a burst is never drawn."""
    renders: list[float] = []
    for t in arrivals:
        if not renders or t - renders[-1] >= 1 / max_per_s:
            renders.append(t)
    return renders


def _every_tenth_token(arrivals: list[float], max_per_s: float) -> list[float]:
    return arrivals[9::10]


@pytest.mark.parametrize(
    ("render_times", "advice"),
    [
        (_every_token, "more often than one render per 0.033 s"),
        (_throttle_without_last, "the end of the answer is never shown"),
        (_every_tenth_token, "may wait at most one interval"),
    ],
)
def test_lab02_render_times_catches_plausible_mistakes(render_times: Any, advice: str) -> None:
    with pytest.raises(CheckFailed, match=advice):
        lab02.check_render_times(render_times)


def test_lab02_render_times_accepts_a_correct_coalescer() -> None:
    def coalesce(arrivals: list[float], max_per_s: float) -> list[float]:
        interval = 1 / max_per_s
        renders: list[float] = []
        for t in arrivals:
            if not renders or t >= renders[-1] + interval:
                renders.append(t)
            elif renders[-1] < t:
                renders.append(renders[-1] + interval)
        return renders

    lab02.check_render_times(coalesce)


def test_lab02_delivery_says_why_a_task_is_not_streamed() -> None:
    def stream_if_watched(task: lab02.DeliveryTask) -> str:
        return "stream" if task.user_waiting else "async"

    with pytest.raises(CheckFailed, match="within the 1 s budget: streaming adds nothing"):
        lab02.check_choose_delivery(stream_if_watched)


def test_lab02_unread_words_starts_reading_at_the_first_token() -> None:
    with pytest.raises(CheckFailed, match="expected 4640"):
        lab02.check_unread_words(lambda w, a, b, r: max(0.0, w - b * r / 60))


def test_lab02_second_failure_hints_and_the_answer_waits_for_a_request(
    capsys: pytest.CaptureFixture[str],
) -> None:
    for _ in range(2):
        with pytest.raises(CheckFailed) as failure:
            lab02.check_render_times(_every_token)
    assert "Hint:" in str(failure.value) and "lab02.hint('render_times')" in str(failure.value)
    assert "renders.append" not in str(failure.value)
    lab02.hint("render_times")
    assert "renders.append" in capsys.readouterr().out


# --- lab 10: a justification must name the factor that decided the choice ----------------


def _lab10_answers(why: Any = None) -> dict[str, tuple[Any, str]]:
    from stream_or_queue.choose import decide

    reasons = {
        "SYNC": "it answers in under a second",
        "SYNC_STREAMING": "a person is watching the text appear",
        "ASYNC_BACKGROUND": "nobody is waiting for the result",
        "ASYNC_PROGRESS": "it takes far longer than 15 s",
        "BATCH": "bulk work costs half in a batch",
        "SCHEDULED_BATCH": "it recurs, so a scheduler runs it",
        "PRECOMPUTED": "a 50 ms budget fits no model call",
        "SYNC_ACK_ASYNC": "a legal rule demands an immediate receipt",
    }
    answers = {}
    for feature in lab10.NEW_USE_CASES:
        pattern = decide(feature).pattern
        answers[feature.name] = (pattern, why(pattern) if why else reasons[pattern.name])
    return answers


def test_lab10_accepts_justifications_that_name_the_deciding_factor() -> None:
    lab10.check_classifications(_lab10_answers)
    lab10.check_justifications(_lab10_answers)


@pytest.mark.parametrize(
    ("why", "advice"),
    [
        (lambda p: "this is the best option overall", "it names no factor"),
        (lambda p: "it is the cheapest way to do it", "it talks about cost, but what decides"),
        (lambda p: "ok", "too short to say why"),
    ],
)
def test_lab10_catches_a_justification_that_misses_the_point(why: Any, advice: str) -> None:
    with pytest.raises(CheckFailed, match=advice):
        lab10.check_justifications(lambda: _lab10_answers(why))


def test_lab10_a_wrong_pattern_is_named_with_its_reason() -> None:
    from stream_or_queue import Pattern

    def everything_streams() -> dict[str, tuple[Any, str]]:
        return {name: (Pattern.SYNC_STREAMING, why) for name, (_, why) in _lab10_answers().items()}

    with pytest.raises(CheckFailed, match="nobody is waiting for it: queue it and notify"):
        lab10.check_classifications(everything_streams)


def test_lab10_factor_words() -> None:
    assert lab10.factors_named("Nobody waits; it must survive a deploy") == [
        "waiting",
        "durability",
    ]
    assert lab10.factors_named("half price in a batch") == ["cost"]
    assert lab10.factors_named("a 50 ms budget") == ["duration", "exception"]
    assert lab10.factors_named("because") == []


# --- lab 01: an off-by-one rank and a budget without the first token are caught ----------


def test_lab01_percentiles_catch_an_off_by_one_rank() -> None:
    import math

    def zero_based(values: Sequence[float]) -> tuple[float, float]:
        ordered = sorted(values)

        def rank(p: float) -> float:
            return ordered[min(len(ordered) - 1, math.ceil(p / 100 * len(ordered)))]

        return rank(50), rank(95)

    with pytest.raises(CheckFailed, match="expected"):
        lab01.check_percentiles(zero_based)


def test_lab01_budget_catches_a_forgotten_first_token() -> None:
    import math

    with pytest.raises(CheckFailed, match="expected"):
        lab01.check_latency_budget(
            lambda budget, ttft, rate, overhead: max(0, math.floor((budget - overhead) * rate))
        )


# --- labs 03, 04 and 06: a plausible wrong answer is caught with what was observed --------


def test_lab03_a_stop_that_only_hides_the_text_is_caught() -> None:
    from stream_or_queue import client
    from stream_or_queue.course import setup

    setup(seed=0)
    llm = client()

    def hide_only(question: str, pieces: int) -> str:
        kept: list[str] = []
        with llm.messages.stream(
            model=config.LARGE_MODEL,
            max_tokens=4000,
            messages=[{"role": "user", "content": question}],
        ) as stream:
            for text in stream.text_stream:
                if len(kept) < pieces:  # stops showing, keeps reading
                    kept.append(text)
        return "".join(kept)

    with pytest.raises(CheckFailed, match="The answer ran to the end"):
        lab03.check_stop_early(hide_only)


def test_lab03_a_turn_that_forgets_the_typing_is_caught() -> None:
    with pytest.raises(CheckFailed, match="expected"):
        lab03.check_turn_seconds(
            lambda wait, reply, question: wait + reply / config.READING_WORDS_PER_MINUTE * 60
        )


@pytest.mark.parametrize(
    ("rate", "advice"),
    [
        (lambda ds, t: sum(d >= t for d in ds) / len(ds), "exactly 60 s still gets its answer"),
        (lambda ds, t: sum(d > t for d in ds) / len(ds), "With no durations"),
    ],
    ids=["off-by-one at the limit", "divides by zero on no durations"],
)
def test_lab04_edge_failure_rate_catches_plausible_mistakes(rate: Any, advice: str) -> None:
    def guarded(durations: Sequence[float], timeout_s: float) -> float:
        try:
            return float(rate(durations, timeout_s))
        except ZeroDivisionError:
            return float("nan")

    with pytest.raises(CheckFailed, match=advice):
        lab04.check_edge_failure_rate(guarded)


def test_lab06_backoff_without_a_cap_is_caught() -> None:
    def uncapped(
        get_status: Any, *, first_s: float = 1.0, factor: float = 2.0, max_s: float = 15.0,
        sleep: Any = None,
    ) -> tuple[str, int]:  # fmt: skip
        delay, polls = first_s, 0
        while True:
            status = get_status()
            polls += 1
            if status in ("finished", "failed", "canceled"):
                return status, polls
            sleep(delay)
            delay *= factor

    with pytest.raises(CheckFailed, match=r"16.0, 32.0, 64.0\]; .* none is longer than") as info:
        lab06.check_poll_with_backoff(uncapped)
    assert "min(" not in str(info.value), "the formula waits for lab06.hint()"


def test_a_failed_check_reads_as_one_message_in_ipython() -> None:
    """What a learner sees in a notebook: the advice, not the checker's frames and paths."""
    import subprocess
    import sys

    code = (
        "from stream_or_queue.labs import expect\nexpect(False, 'Return the stream, not a list.')"
    )
    shown = subprocess.run(
        [sys.executable, "-m", "IPython", "--no-banner", "--colors=NoColor", "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    output = shown.stdout + shown.stderr
    assert "Not yet:" in output and "Return the stream, not a list." in output
    assert "Traceback" not in output and "site-packages" not in output and "File " not in output
