"""The decision the course teaches, as a function: stream it, or queue it?

`choose_pattern` asks the four questions (is the user actively waiting; is the
task likely over ~15 s; does it need to survive a crash; would batch pricing save
real money) plus the cases the rule does not cover (a conversation, a hard
real-time budget, a regulatory synchronous acknowledgement, bulk item counts) and
returns a pattern with the reasons that led to it. It is deliberately a short,
readable chain of rules: a design review should be able to argue with each line.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from . import config

__all__ = [
    "BULK_ITEMS",
    "PATTERN_NOTES",
    "USE_CASES",
    "Decision",
    "Feature",
    "Pattern",
    "choose_pattern",
    "decide",
]

LONG_TASK_S = 15.0
"""Past about 15 s of waiting, a user needs progress, or a job they can leave."""

SUB_SECOND_S = config.SYNC_LATENCY_BUDGET_S
"""Under the sync budget (a second), one response is as fast as a stream's first token."""

REALTIME_MS = 100.0
"""Below ~100 ms no model call fits: answer from something computed beforehand."""

BULK_ITEMS = 100
"""From about a hundred items, batch pricing and concurrency caps start to pay."""


class Pattern(StrEnum):
    SYNC = "sync"
    SYNC_STREAMING = "sync streaming"
    ASYNC_BACKGROUND = "async background job"
    ASYNC_PROGRESS = "async job with progress events"
    BATCH = "batch"
    SCHEDULED_BATCH = "scheduled batch"
    PRECOMPUTED = "precomputed / cache"
    SYNC_ACK_ASYNC = "sync acknowledgement wrapping async work"

    def __str__(self) -> str:
        return self.value


PATTERN_NOTES: dict[Pattern, str] = {
    Pattern.SYNC: "one request, one response; no stream needed",
    Pattern.SYNC_STREAMING: "stream tokens to the person watching; let them stop it",
    Pattern.ASYNC_BACKGROUND: "enqueue, return a job id, notify when done",
    Pattern.ASYNC_PROGRESS: "start-then-poll or SSE progress events from a job",
    Pattern.BATCH: "Message Batches API at half price, concurrency capped",
    Pattern.SCHEDULED_BATCH: "a scheduler submits chunked batches off-peak",
    Pattern.PRECOMPUTED: "answer from a cache or precomputed table; model runs offline",
    Pattern.SYNC_ACK_ASYNC: "acknowledge synchronously, do the AI part in a job",
}


@dataclass(frozen=True)
class Feature:
    """An AI feature, described by the answers to the course's questions."""

    name: str
    user_waiting: bool
    expected_seconds: float
    needs_durability: bool = False
    batch_savings_matter: bool = False
    conversational: bool = False
    latency_budget_ms: float | None = None
    regulatory_sync_ack: bool = False
    items: int = 1
    recurring: bool = False

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise ValueError("a feature needs a name")
        if self.expected_seconds < 0:
            raise ValueError(f"expected_seconds must be >= 0, got {self.expected_seconds}")
        if self.items < 1:
            raise ValueError(f"items must be at least 1, got {self.items}")
        if self.latency_budget_ms is not None and self.latency_budget_ms <= 0:
            raise ValueError(f"latency_budget_ms must be > 0, got {self.latency_budget_ms}")


@dataclass(frozen=True)
class Decision:
    pattern: Pattern
    reasons: tuple[str, ...]
    advice: tuple[str, ...] = field(default=())

    def explain(self) -> str:
        lines = [f"{self.pattern}: {PATTERN_NOTES[self.pattern]}"]
        lines += [f"  because {r}" for r in self.reasons]
        lines += [f"  tip: {a}" for a in self.advice]
        return "\n".join(lines)


def choose_pattern(
    *,
    user_waiting: bool,
    expected_seconds: float,
    needs_durability: bool = False,
    batch_savings_matter: bool = False,
    conversational: bool = False,
    latency_budget_ms: float | None = None,
    regulatory_sync_ack: bool = False,
    items: int = 1,
    recurring: bool = False,
) -> Decision:
    """Pick a pattern for an AI feature and say why.

    The order of the rules is the order of the argument: exceptions first (hard
    real-time, regulation), then volume, then whether anyone is watching, then
    how long they would watch.
    """
    feature = Feature(
        name="feature",
        user_waiting=user_waiting,
        expected_seconds=expected_seconds,
        needs_durability=needs_durability,
        batch_savings_matter=batch_savings_matter,
        conversational=conversational,
        latency_budget_ms=latency_budget_ms,
        regulatory_sync_ack=regulatory_sync_ack,
        items=items,
        recurring=recurring,
    )
    return decide(feature)


def decide(feature: Feature) -> Decision:
    """`choose_pattern` for a `Feature` (the form the use-case table uses).

    The rules run in the order of the argument; the first that applies decides.
    A budget the task misses is said whatever the pattern (except when no model
    call fits the budget at all: then nothing else matters).
    """
    precomputed = _realtime_budget(feature)
    if precomputed is not None:
        return precomputed
    notes = _budget_miss(feature)
    for rule in _RULES:
        decision = rule(feature, notes)
        if decision is not None:
            return decision
    return _stream(feature, notes)


@dataclass
class _Notes:
    """Reasons and advice gathered on the way to a decision."""

    reasons: list[str] = field(default_factory=list)
    advice: list[str] = field(default_factory=list)

    def decide(self, pattern: Pattern) -> Decision:
        return Decision(pattern, tuple(self.reasons), tuple(self.advice))


def _realtime_budget(f: Feature) -> Decision | None:
    budget = f.latency_budget_ms
    if budget is None or budget >= REALTIME_MS:
        return None
    notes = _Notes(
        [f"the budget is {budget:g} ms, below any model call's first token"],
        ["precompute answers, cache them, or run a small local model"],
    )
    return notes.decide(Pattern.PRECOMPUTED)


def _budget_miss(f: Feature) -> _Notes:
    budget = f.latency_budget_ms
    if budget is None or f.expected_seconds * 1000 <= budget:
        return _Notes()
    # whatever the pattern, say so: the task as measured cannot meet its own budget
    return _Notes(
        [f"it takes about {f.expected_seconds * 1000:g} ms, which misses its {budget:g} ms budget"],
        ["make it faster, precompute or cache it, or agree a realistic budget"],
    )


def _regulated(f: Feature, notes: _Notes) -> Decision | None:
    if not f.regulatory_sync_ack:
        return None
    notes.reasons.append("a rule requires a synchronous acknowledgement")
    if f.expected_seconds > SUB_SECOND_S or f.needs_durability:
        notes.reasons.append("the AI step is slower than an acknowledgement may take")
    notes.advice.append("acknowledge with an id at once; run the AI step as a durable job")
    return notes.decide(Pattern.SYNC_ACK_ASYNC)


def _bulk(f: Feature, notes: _Notes) -> Decision | None:
    bulk = f.items >= BULK_ITEMS
    if not (bulk or (f.batch_savings_matter and not f.user_waiting)):
        return None
    notes.reasons.append(
        f"{f.items:,} items are bulk work"
        if bulk
        else "batch pricing saves real money and nobody is waiting"
    )
    batches = -(-f.items // config.BATCH_MAX_REQUESTS)
    if not (f.recurring or batches > 1):
        notes.advice.append(
            f"the Batches API bills at {config.BATCH_DISCOUNT:.0%} of the standard price"
        )
        return notes.decide(Pattern.BATCH)
    if f.recurring:
        notes.reasons.append("it recurs, so a scheduler should own it")
    if batches > 1:
        notes.reasons.append(
            f"it needs {batches:,} batches of at most {config.BATCH_MAX_REQUESTS:,} requests"
        )
    notes.advice.append("chunk into batches, run off-peak, reconcile every item")
    return notes.decide(Pattern.SCHEDULED_BATCH)


def _nobody_watching(f: Feature, notes: _Notes) -> Decision | None:
    if f.user_waiting:
        return None
    notes.reasons.append("nobody is watching, so nothing gains from holding a request open")
    if f.needs_durability:
        notes.reasons.append("it must survive crashes and deploys")
    notes.advice.append("notify when done (email, push, webhook) with a permalink")
    return notes.decide(Pattern.ASYNC_BACKGROUND)


def _must_survive(f: Feature, notes: _Notes) -> Decision | None:
    if not f.needs_durability:
        return None
    notes.reasons.append("it must survive crashes, which a held-open request cannot")
    notes.advice.append("show progress events so the person watching sees it move")
    return notes.decide(Pattern.ASYNC_PROGRESS)


def _too_long_to_watch(f: Feature, notes: _Notes) -> Decision | None:
    if f.expected_seconds <= LONG_TASK_S:
        return None
    notes.reasons.append(
        f"about {f.expected_seconds:g} s is past the ~{LONG_TASK_S:g} s a person will watch"
    )
    if f.expected_seconds >= config.DEFAULT_EDGE_TIMEOUT_S:
        notes.reasons.append(
            f"a {config.DEFAULT_EDGE_TIMEOUT_S:g} s edge timeout would cut a held request"
        )
    if f.conversational:
        notes.advice.append("a chat that answers this slowly is a dead chat: split the work")
    notes.advice.append(
        "POST returns a job id; stream structured progress (searching, reading, ...)"
    )
    return notes.decide(Pattern.ASYNC_PROGRESS)


def _sub_second(f: Feature, notes: _Notes) -> Decision | None:
    if f.expected_seconds >= SUB_SECOND_S or f.conversational:
        return None
    notes.reasons.append("it answers in under a second: the whole answer beats a first token")
    return notes.decide(Pattern.SYNC)


def _stream(f: Feature, notes: _Notes) -> Decision:
    notes.reasons.append("a person is watching and the answer takes seconds to write")
    if f.conversational:
        notes.reasons.append("the next message depends on this answer")
    budget = f.latency_budget_ms
    if budget is not None and budget < 1000:
        notes.advice.append(
            f"a {budget:g} ms budget calls for a low-latency model such as {config.FAST_MODEL}"
        )
    notes.advice.append("give them a Stop button: cancelling saves tokens")
    return notes.decide(Pattern.SYNC_STREAMING)


_RULES: tuple[Callable[[Feature, _Notes], Decision | None], ...] = (
    _regulated,
    _bulk,
    _nobody_watching,
    _must_survive,
    _too_long_to_watch,
    _sub_second,
)
"""The rules after the budget checks, in the order of the argument."""


USE_CASES: tuple[Feature, ...] = (
    Feature("Chat assistant", user_waiting=True, expected_seconds=6, conversational=True),
    Feature("Code completion", user_waiting=True, expected_seconds=1.5),
    Feature(
        "Summarize this 300-page document",
        user_waiting=False,
        expected_seconds=240,
        needs_durability=True,
    ),
    Feature(
        "Generate 10,000 product descriptions",
        user_waiting=False,
        expected_seconds=3600,
        batch_savings_matter=True,
        items=10_000,
    ),
    Feature("Research agent - answer in 2 minutes", user_waiting=True, expected_seconds=120),
    Feature(
        "Classify all 50M tickets in our DB",
        user_waiting=False,
        expected_seconds=86_400,
        batch_savings_matter=True,
        items=50_000_000,
        recurring=True,
    ),
    Feature(
        "Voice assistant",
        user_waiting=True,
        expected_seconds=2,
        conversational=True,
        latency_budget_ms=500,
    ),
    Feature("Approve / reject this expense", user_waiting=True, expected_seconds=0.5),
)
"""The article's use-case table, as answers to the questions."""
