"""'Classify all 50M tickets': the arithmetic, and a nightly batch on RQ's cron.

Nobody waits for 50 million classifications, so they belong in the Batches API
(half price) on a schedule: every night the job picks up the tickets that have
no label yet, submits them in chunks of at most 100,000, keeps a bounded number
of requests waiting at the API, writes the labels back, and resubmits only what
errored or expired. Because it skips tickets that already have a label, running
it twice (a retry, a double fire, a manual run) does no work twice.

`plan_nightly` does the sizing on paper; `nightly_classify` is the RQ job, and
`schedule_nightly` registers it with `rq.cron.CronScheduler`.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from dataclasses import dataclass
from typing import Any

from croniter import croniter
from rq import get_current_job
from rq.cron import CronJob, CronScheduler

from .. import config
from ..jobs import get_redis
from ..llm import client as make_client
from ..llm import token_cost
from ..simulator import default_simulator
from .catalogue import Item
from .ledger import Ledger
from .message_batches import SimulatorPeek, run_batches
from .progress import Progress

__all__ = [
    "LABELS_KEY",
    "TICKET_CATEGORIES",
    "TICKET_SYSTEM",
    "NightlyPlan",
    "Ticket",
    "fire_now",
    "generate_tickets",
    "next_runs",
    "nightly_classify",
    "plan_nightly",
    "schedule_nightly",
    "ticket_item",
]

NIGHTLY_WINDOW_S = 8 * 3600.0
"""How long the nightly run may take before the day's traffic starts."""

TICKET_CATEGORIES = ("billing", "bug", "account", "shipping", "feature request")
TICKET_SYSTEM = (
    "Classify the customer support ticket. Categories: "
    + ", ".join(TICKET_CATEGORIES)
    + ". Answer with the category only."
)
LABELS_KEY = "nightly:ticket-labels"
"""Redis hash ticket id -> label: the 'database column' the nightly job fills in."""

_TEMPLATES = {
    "billing": [
        "I was charged twice, please check my billing for order {n}.",
        "The billing total on invoice {n} looks wrong.",
    ],
    "bug": [
        "The app crashes when I open report {n}; looks like a bug.",
        "Found a bug: the export button does nothing on page {n}.",
    ],
    "account": [
        "I cannot log in to my account since update {n}.",
        "Please merge my two account profiles, reference {n}.",
    ],
    "shipping": [
        "My parcel {n} is late, what is the shipping status?",
        "Shipping label {n} has the wrong address.",
    ],
    "feature request": [
        "Feature request: dark mode for dashboard {n}.",
        "Could you add a request to export to CSV? (feature {n})",
    ],
}


@dataclass(frozen=True)
class Ticket:
    id: str
    text: str
    truth: str  # the category the ticket was written for (for checking the labels)


def generate_tickets(count: int, *, seed: int = 0, start: int = 0) -> list[Ticket]:
    """`count` support tickets, the same for the same seed (a stand-in for the database)."""
    rng = random.Random(f"tickets-{seed}")
    tickets = []
    for number in range(start, start + count):
        category = rng.choice(TICKET_CATEGORIES)
        text = rng.choice(_TEMPLATES[category]).format(n=rng.randint(1000, 99999))
        tickets.append(Ticket(f"T-{number:08d}", text, category))
    return tickets


def ticket_item(ticket: Ticket, *, model: str = config.FAST_MODEL) -> Item:
    return Item(
        custom_id=ticket.id,
        params={
            "model": model,
            "max_tokens": 10,
            "system": TICKET_SYSTEM,
            "messages": [{"role": "user", "content": ticket.text}],
        },
    )


# --- the arithmetic ----------------------------------------------------------------------


def batch_processing_s(requests: int) -> float:
    """How long the (simulated) API takes to process a batch of `requests`."""
    return config.BATCH_BASE_PROCESSING_S + config.BATCH_PER_REQUEST_S * requests


@dataclass(frozen=True)
class NightlyPlan:
    """How a job of `total_items` splits into batches, waves and nights, and what it costs."""

    total_items: int
    max_per_batch: int
    batches: int
    batches_per_wave: int
    waves: int
    wave_s: float
    waves_per_night: int
    nights: int
    items_per_night: int
    standard_cost: float
    batch_cost: float

    @property
    def savings(self) -> float:
        return self.standard_cost - self.batch_cost

    def rows(self) -> list[tuple[str, str]]:
        return [
            ("items", f"{self.total_items:,}"),
            ("max requests per batch", f"{self.max_per_batch:,}"),
            ("batches", f"{self.batches:,}"),
            ("batches waiting at once", f"{self.batches_per_wave:,}"),
            ("waves", f"{self.waves:,}"),
            ("one wave (simulated pace)", f"{self.wave_s:,.0f} s = {self.wave_s / 3600:.1f} h"),
            ("waves per nightly window", f"{self.waves_per_night:,}"),
            ("items per night", f"{self.items_per_night:,}"),
            ("nights to finish", f"{self.nights:,}"),
            ("cost at the standard price", f"${self.standard_cost:,.2f}"),
            ("cost at the batch price", f"${self.batch_cost:,.2f}"),
            ("saved", f"${self.savings:,.2f}"),
        ]

    def __str__(self) -> str:
        width = max(len(k) for k, _ in self.rows()) + 2
        return "\n".join(f"{k:<{width}}{v}" for k, v in self.rows())


def plan_nightly(
    total_items: int,
    *,
    input_tokens_per_item: float,
    output_tokens_per_item: float,
    model: str = config.FAST_MODEL,
    max_per_batch: int = config.BATCH_MAX_REQUESTS,
    max_queued: int = config.NIGHTLY_MAX_QUEUED_REQUESTS,
    window_s: float = NIGHTLY_WINDOW_S,
) -> NightlyPlan:
    """Batches of `max_per_batch`, `max_queued // max_per_batch` at a time, within a window.

    A wave is the batches waiting at once; it takes as long as one full batch. The
    nightly window fits `window_s // wave_s` waves (at least one).
    """
    if total_items < 0 or max_per_batch < 1 or max_queued < max_per_batch:
        raise ValueError("need total_items >= 0 and max_queued >= max_per_batch >= 1")
    if max_per_batch > config.BATCH_MAX_REQUESTS:
        raise ValueError(f"a batch holds at most {config.BATCH_MAX_REQUESTS:,} requests")
    batches = math.ceil(total_items / max_per_batch)
    per_wave = max_queued // max_per_batch
    waves = math.ceil(batches / per_wave)
    wave_s = batch_processing_s(max_per_batch)
    waves_per_night = max(1, int(window_s // wave_s))
    input_tokens = round(total_items * input_tokens_per_item)
    output_tokens = round(total_items * output_tokens_per_item)
    return NightlyPlan(
        total_items=total_items,
        max_per_batch=max_per_batch,
        batches=batches,
        batches_per_wave=per_wave,
        waves=waves,
        wave_s=wave_s,
        waves_per_night=waves_per_night,
        nights=math.ceil(waves / waves_per_night),
        items_per_night=waves_per_night * per_wave * max_per_batch,
        standard_cost=token_cost(input_tokens, output_tokens, model),
        batch_cost=token_cost(input_tokens, output_tokens, model, batch=True),
    )


# --- the job -------------------------------------------------------------------------------


def nightly_classify(
    total: int = 5_000,
    *,
    seed: int = 0,
    max_per_batch: int = 1_000,
    max_queued: int = 2_000,
    max_rounds: int = 3,
    poll_every_s: float = 10.0,
    skip_idle: bool = False,
) -> dict[str, Any]:
    """RQ job: label every ticket that has no label yet, through the Batches API.

    Progress goes to the job's meta (`done`/`total`) for anyone watching. The
    return value is the night's report. `skip_idle` (offline only) jumps over
    the hours a batch sits waiting to expire; see `SimulatorPeek`.
    """
    job = get_current_job()
    connection = get_redis()
    tickets = generate_tickets(total, seed=seed)
    labelled = {
        k.decode() if isinstance(k, bytes) else str(k) for k in connection.hkeys(LABELS_KEY)
    }
    todo = [ticket_item(t) for t in tickets if t.id not in labelled]
    ledger = Ledger(todo)

    def report(done: int, of: int) -> None:
        if job is not None:
            job.meta.update({"done": done, "total": of})
            job.save_meta()

    progress = Progress(len(todo), "nightly", show=False, on_update=report)
    peek = None
    if skip_idle and config.mode() == "offline":
        peek = SimulatorPeek(default_simulator())
    with make_client() as api:
        run = run_batches(
            todo,
            client=api,
            ledger=ledger,
            max_rounds=max_rounds,
            max_per_batch=max_per_batch,
            max_in_flight=max(1, max_queued // max_per_batch),
            poll_every_s=poll_every_s,
            progress=progress,
            peek=peek,
        )
    labels = ledger.texts()
    if labels:
        connection.hset(LABELS_KEY, mapping=labels)  # type: ignore[arg-type]
    reconciliation = ledger.reconcile()
    tokens = ledger.tokens()
    return {
        "tickets": total,
        "already_labelled": len(labelled),
        "submitted": len(todo),
        "labelled": reconciliation.succeeded,
        "failed": reconciliation.counts["failed"],
        "lost": reconciliation.lost,
        "batches": run.batches,
        "rounds": len(run.rounds),
        "api_seconds": run.api_seconds,
        "input_tokens": tokens["input_tokens"],
        "output_tokens": tokens["output_tokens"],
        "batch_cost": ledger.cost(batch=True),
        "standard_cost": ledger.cost(batch=False),
    }


def schedule_nightly(
    scheduler: CronScheduler,
    *,
    queue_name: str = "nightly",
    cron: str = config.NIGHTLY_CRON,
    **job_kwargs: Any,
) -> CronJob:
    """Register `nightly_classify` to run at `cron` (default 02:00 every day)."""
    return scheduler.register(
        nightly_classify,
        queue_name=queue_name,
        cron=cron,
        kwargs=job_kwargs,
        job_timeout=config.NIGHTLY_JOB_TIMEOUT_S,
        name="nightly-classify",
    )


def next_runs(cron: str, after: dt.datetime, count: int = 3) -> list[dt.datetime]:
    """The next `count` fire times of `cron` after `after` (what the scheduler will do)."""
    iterator = croniter(cron, after)
    return [iterator.get_next(dt.datetime) for _ in range(count)]


def fire_now(scheduler: CronScheduler) -> list[CronJob]:
    """Make every registered cron job due now and let the scheduler enqueue it.

    This is the scheduler's own `enqueue_jobs()`, run at 'two o'clock' without
    waiting for the night: a notebook (or a test) cannot wait for the clock.
    """
    from rq.utils import now

    moment = now()
    for cron_job in scheduler.get_jobs():
        cron_job.next_enqueue_time = moment
    return scheduler.enqueue_jobs()
