"""One place for every setting the course depends on, in the order of the lessons.

Model ids, prices, timing profiles, edge timeouts and the time scale live here
so that a notebook, a test and a benchmark never disagree about a number.
Figures that come from the outside world carry the date they were published.
A number only one module uses, and no lesson shows, lives beside that module instead.

Sections: the models and their prices; time and clocks; the environment; people;
01 the sync fast path; 04 edges and deploys; 05 background jobs (and 05x, supervised
workers); 06 the web service; 07 batch; 08 durability; 09 the research assistant.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

Mode = Literal["offline", "live"]

# --- the models and their prices --------------------------------------------------------

FAST_MODEL = "claude-haiku-4-5"
"""Small, fast model: classification, short answers, voice, bulk descriptions."""

LARGE_MODEL = "claude-sonnet-4-6"
"""Capable model: chat, research, long writing."""


@dataclass(frozen=True)
class Price:
    """US dollars per million tokens, standard tier, as published on `published`.

    The Message Batches API bills every token at `BATCH_DISCOUNT` of this price.
    """

    input_per_mtok: float
    output_per_mtok: float
    published: str


PRICES: dict[str, Price] = {
    "claude-haiku-4-5": Price(1.00, 5.00, "2025-10-15"),
    "claude-sonnet-4-6": Price(3.00, 15.00, "2026-02-17"),
    "claude-opus-4-6": Price(5.00, 25.00, "2026-02-05"),
}
"""Check the vendor's pricing page before quoting these; the course only needs their ratios."""

MODEL_ALIASES: dict[str, str] = {
    "claude-haiku-4-5-20251001": "claude-haiku-4-5",
}

BATCH_DISCOUNT = 0.5
"""Batch requests cost 50% of the standard price (Anthropic and OpenAI, 2024-2025)."""

CACHE_WRITE_MULTIPLIER = 1.25
"""Prompt-cache writes (5-minute cache) bill input tokens at 1.25x the input price."""

CACHE_READ_MULTIPLIER = 0.1
"""Prompt-cache hits bill input tokens at a tenth of the input price."""


@dataclass(frozen=True)
class TimingProfile:
    """How fast a model answers, in simulated seconds.

    Time to first token is drawn (seeded) between `ttft_min_s` and `ttft_max_s`;
    output then arrives at `tokens_per_s`, give or take `speed_jitter`.
    """

    ttft_min_s: float
    ttft_max_s: float
    tokens_per_s: float
    speed_jitter: float = 0.1


# Published measurements (Artificial Analysis and vendor pages, 2025): Sonnet-class
# models stream ~60-95 tokens/s after 0.8-1.8 s; Haiku-class ~150 tokens/s after ~0.3-0.7 s.
TIMING: dict[str, TimingProfile] = {
    "claude-haiku-4-5": TimingProfile(0.30, 0.70, 150.0),
    "claude-sonnet-4-6": TimingProfile(0.80, 1.80, 78.0),
    "claude-opus-4-6": TimingProfile(1.00, 2.20, 60.0),
}

THINKING_BUDGET_USE = (0.5, 0.9)
"""Share of `budget_tokens` the simulated model thinks for, drawn (seeded) in this range.

An assumption of the simulator: the API treats the budget as a ceiling, and real models
often use less of it on easy questions; thinking tokens are billed as output tokens."""

WORDS_PER_TOKEN = 0.75
"""Rule of thumb for English text: about 4 characters, or 3/4 of a word, per token."""

SDK_MAX_RETRIES = 2
"""The SDK's default; it retries 408, 409, 429, >=500 and connection errors."""


def canonical_model(model: str) -> str:
    """Map a dated model id to the alias that carries its price and timing."""
    return MODEL_ALIASES.get(model, model)


# --- time and clocks ----------------------------------------------------------------------

DEFAULT_TIME_SCALE = 0.01
"""Real seconds per simulated second: 0.01 turns a 90 s agent into 0.9 s of waiting."""

HUMAN_TIME_SCALE = 1.0
"""The one rule for clocks: what a person drives runs in real time (1.0). A person drives a
ChatBox (typing, Send, Stop), a job started from a JobBoard or the web page, the decision guide.
Real time is what makes a streamed answer readable and a Stop button reachable: a Sonnet-class
answer arrives at its real rate (about 60-95 tokens/s after a first token of about a second).
What a cell measures runs on a simulated timeline (`clock.simulated()`) or is computed from
recorded schedules, so it is exact; background work in threads and processes (queue workers,
web servers) plays back at `time_scale()`."""

TIME_SCALE_ENV = "STREAM_OR_QUEUE_TIME_SCALE"
"""Overrides DEFAULT_TIME_SCALE for the process (`.ci/run` plays the course slower with it)."""

HUMAN_TIME_SCALE_ENV = "STREAM_OR_QUEUE_HUMAN_TIME_SCALE"
"""Overrides HUMAN_TIME_SCALE (the test suite may run what a person drives faster)."""

_time_scale: float | None = None
_context_scale: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "stream_or_queue_context_time_scale", default=None
)


def time_scale() -> float:
    """Real seconds per simulated second (1.0 = real time).

    A scale set for the current context (`time_scale_in_context`, e.g. a ChatBox's answer)
    wins over the process's (`set_time_scale`), which wins over the environment's.
    """
    in_context = _context_scale.get()
    if in_context is not None:
        return in_context
    if _time_scale is not None:
        return _time_scale
    return _scale_from_env(TIME_SCALE_ENV, DEFAULT_TIME_SCALE, blank_is_unset=False)


def set_time_scale(value: float | None) -> None:
    """Change the time scale for this process (None restores the default)."""
    global _time_scale
    if value is not None:
        _check_scale(value)
    _time_scale = value


@contextlib.contextmanager
def time_scale_set_to(value: float) -> Iterator[None]:
    """Run a block at another time scale, e.g. real time for a live chat demo."""
    global _time_scale
    previous = _time_scale
    set_time_scale(value)
    try:
        yield
    finally:
        _time_scale = previous


def human_time_scale() -> float:
    """The time scale of what a person drives: HUMAN_TIME_SCALE unless the environment says."""
    return _scale_from_env(HUMAN_TIME_SCALE_ENV, HUMAN_TIME_SCALE, blank_is_unset=True)


@contextlib.contextmanager
def time_scale_in_context(value: float) -> Iterator[None]:
    """Run a block (and the tasks and threads it starts) at another time scale, leaving the
    rest of the process alone: a ChatBox streams in real time while other cells measure."""
    _check_scale(value)
    token = _context_scale.set(value)
    try:
        yield
    finally:
        _context_scale.reset(token)


def check_time_scale(value: float) -> None:
    """Raise ValueError unless `value` is a usable time scale (0 to 10 real s per simulated s)."""
    _check_scale(value)


def _check_scale(value: float) -> None:
    if not 0.0 <= value <= 10.0:
        raise ValueError(f"time scale must be between 0 and 10, got {value}")


def _scale_from_env(name: str, default: float, *, blank_is_unset: bool) -> float:
    raw = env(name)
    if raw is None or (blank_is_unset and not raw.strip()):
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be a number, got {raw!r}") from exc
    _check_scale(value)
    return value


# --- the environment ----------------------------------------------------------------------
# Every variable the course defines starts with STREAM_OR_QUEUE_. The others belong to the
# tools they configure: REDIS_URL, DBOS_DATABASE_URL, ANTHROPIC_*, JUPYTERHUB_SERVICE_PREFIX.

ENV_PREFIX = "STREAM_OR_QUEUE_"

RENAMED_ENV: dict[str, str] = {
    ENV_PREFIX + name: "SOQ_" + name
    for name in (
        "SMTP_URL",
        "RESEARCH_VERSION",
        "PG_BIN",
        "TEST_REDIS_URL",
        "TEST_POSTGRES_URL",
        "REQUIRE_SERVICES",
    )
}
"""New name -> the old name it had (SOQ_*), still read for one release, with a warning.
Empty it in the next release: from then on only the new names work."""

_warned_old_names: set[str] = set()


class RenamedVariableWarning(FutureWarning):
    """An environment variable was read under its old SOQ_* name.

    A FutureWarning, not a DeprecationWarning: the person who set the variable is a user
    of the course, not its programmer, and Python shows FutureWarning to users by default.
    """


def env(name: str) -> str | None:
    """The value of the environment variable `name`, or None when it is not set.

    The one way the course reads its environment. A variable renamed from SOQ_* to
    STREAM_OR_QUEUE_* (`RENAMED_ENV`) is still read under its old name for one release, and
    the first read under the old name warns (once per name and process) with the new one.
    """
    value = os.environ.get(name)
    old = RENAMED_ENV.get(name)
    if value is not None or old is None:
        return value
    value = os.environ.get(old)
    if value is not None and old not in _warned_old_names:
        _warned_old_names.add(old)
        warnings.warn(
            f"the environment variable {old} is now {name}: set {name} instead "
            f"({old} is still read in this release, not in the next)",
            RenamedVariableWarning,
            stacklevel=2,
        )
    return value


MODE_ENV = "STREAM_OR_QUEUE_MODE"
"""`live` (with ANTHROPIC_API_KEY set) calls the real API; anything else stays offline."""


def mode() -> Mode:
    """`live` only when asked for *and* a key is present; anything else is offline."""
    wanted = (env(MODE_ENV) or "offline").strip().lower()
    if wanted == "live" and env("ANTHROPIC_API_KEY"):
        return "live"
    return "offline"


def redis_url() -> str | None:
    """A real Redis when REDIS_URL is set; None means the in-process fakeredis."""
    return env("REDIS_URL") or None


# --- people: how fast they read, type and speak, and how long they wait --------------------
# Lessons 01-04 and 09 measure answers against these.

READING_WORDS_PER_MINUTE = 238.0
"""Average silent reading speed of adults for non-fiction (Brysbaert, 2019)."""

TYPING_WORDS_PER_MINUTE = 52.0
"""Average typing speed on a physical keyboard (Dhakal et al., CHI 2018: 136M keystrokes)."""

SPEAKING_WORDS_PER_MINUTE = 150.0
"""Typical conversational speaking rate in English (about 150 words per minute)."""

SLOW_CHAT_REPLY_S = 30.0
"""The reply time at which a chat stops feeling like a conversation (the source article)."""

SPINNER_PATIENCE_MEDIAN_S = 10.0
"""An assumption: with nothing on screen (a spinner), half of the people have given up after
10 s: Nielsen's limit for keeping attention on a dialogue without feedback (Usability
Engineering, 1993). Log-normal with sigma `USER_PATIENCE_SPREAD`, as the chat-tab model below."""

USER_PATIENCE_MEDIAN_S = 75.0
USER_PATIENCE_SPREAD = 0.5
"""The user-patience model: how long a user keeps a chat tab open waiting for an answer
is log-normal with this median (simulated s) and sigma. A stated model, not a measurement."""

# --- 01 the sync fast path ----------------------------------------------------------------

SYNC_LATENCY_BUDGET_S = 1.0
"""What "sub-second" means for a sync decision such as approving an expense."""

COMPLETION_LATENCY_BUDGET_S = 1.0
"""An assumption: an inline code suggestion must be whole on screen within a second, Nielsen's
limit for keeping the user's flow of thought (Nielsen, Usability Engineering, 1993)."""

VOICE_REPLY_BUDGET_S = 1.0
"""An assumption: a voice assistant should start speaking within a second of the user
stopping (Nielsen's 1993 flow limit; people leave ~0.2 s between turns: Stivers et al.,
PNAS 2009)."""

VOICE_SPEECH_TO_TEXT_S = 0.15
"""An assumption: time to detect the end of speech and finish the transcript."""

VOICE_FIRST_AUDIO_S = 0.15
"""An assumption: time for text-to-speech to produce the first audio from the first words."""

# --- 04 edges and deploys -----------------------------------------------------------------

EdgeKind = Literal["duration", "idle"]


@dataclass(frozen=True)
class EdgeLimit:
    """Where a real edge ends a held-open request, and by which rule.

    Two kinds, and they treat a stream differently:

    - `"duration"`: the request's *total* time, however busy the connection is
      (function platforms, API gateways). Streaming does not help.
    - `"idle"`: time with *no bytes* on the connection (load balancers, CDN
      proxies). A silent request dies; a stream that keeps sending survives.

    `documented` is the month the figure was checked against `source`.
    """

    name: str
    kind: EdgeKind
    seconds: float
    source: str
    documented: str


EDGE_LIMITS: tuple[EdgeLimit, ...] = (
    EdgeLimit(
        "AWS API Gateway (REST)",
        "duration",
        29.0,
        "docs.aws.amazon.com/apigateway/latest/developerguide/limits.html: integration "
        "timeout, 29 s by default (Regional REST APIs may raise it since June 2024)",
        "December 2026",
    ),
    EdgeLimit(
        "AWS ALB (idle)",
        "idle",
        60.0,
        "docs.aws.amazon.com/elasticloadbalancing/latest/application/"
        "edit-load-balancer-attributes.html: connection idle timeout, no data sent or "
        "received, 60 s by default",
        "December 2026",
    ),
    EdgeLimit(
        "Cloudflare proxy (read)",
        "idle",
        100.0,
        "Cloudflare zone setting proxy_read_timeout: maximum time between two read "
        "operations from the origin, 100 s by default (error 524)",
        "December 2026",
    ),
    EdgeLimit(
        "Vercel function (default)",
        "duration",
        300.0,
        "vercel.com/docs/functions/limitations: maximum duration 300 s by default on "
        "every plan (Pro and Enterprise may raise it to 800 s)",
        "December 2026",
    ),
    EdgeLimit(
        "AWS Lambda (maximum)",
        "duration",
        900.0,
        "docs.aws.amazon.com/lambda/latest/dg/configuration-timeout.html: 3 s by "
        "default, at most 900 s",
        "December 2026",
    ),
)
"""Vendor figures for both kinds of edge; check the sources before quoting them."""

EDGE_TIMEOUTS_S: dict[str, float] = {limit.name: limit.seconds for limit in EDGE_LIMITS}
"""The same figures by name, for tables that only need the seconds."""

DEFAULT_EDGE_TIMEOUT_S = 60.0
"""The course's edge: a limit on a request's *total* duration (a modelling choice).

A round figure between API Gateway's 29 s and Vercel's 300 s, so that the
research agent's durations straddle it. It equals ALB's default *idle* timeout,
which is a different rule: see `EDGE_LIMITS`.
"""

DEFAULT_EDGE_IDLE_S = EDGE_TIMEOUTS_S["AWS ALB (idle)"]
"""The course's idle timeout: AWS ALB's default (`EDGE_LIMITS`)."""

DEPLOY_DRAIN_S = 30.0
"""How long a deploy lets the old server finish its requests before killing it: 30 s is
Kubernetes' default `terminationGracePeriodSeconds` (kubernetes.io, Pod lifecycle,
checked December 2026). A stream still running after the drain dies with the process."""

# --- 05 background jobs -------------------------------------------------------------------

REPORT_GATHER_S = 25.0
"""Simulated seconds the report job spends gathering data for each section (before the
model writes it): four sections make the two-minute task of notebook 05."""

REPORT_SECTION_WORDS = 80
"""Words the model is asked for per report section."""

JOB_RESULT_TTL_S = 24 * 3600
"""How long a finished job (and its result) stays in Redis, in real seconds."""

NOTIFY_SENT_TTL_S = 7 * 24 * 3600
"""How long a sent notification's idempotency key is remembered (real s)."""

INBOX_MAX_MESSAGES = 1_000
"""The Redis inbox keeps the newest this many messages."""

# 05x supervised workers: `python -m stream_or_queue.jobs --workers N`

WORKER_TTL_S = 30
"""An idle `rq worker` re-registers (heartbeat) every `WORKER_TTL_S - 15` s (RQ: 420)."""

WORKER_MONITOR_INTERVAL_S = 5
"""A busy worker renews its job's heartbeat this often (RQ's `job_monitoring_interval`: 30)."""

WORKER_HEARTBEAT_GRACE_S = 10
"""A job's heartbeat expires this long after its last renewal (RQ: 60); then it counts as
abandoned, and the next maintenance run retries it."""

WORKER_MAINTENANCE_INTERVAL_S = 10
"""How often a worker runs RQ's registry maintenance (RQ: 600). With the two above: a job
whose worker vanished (its machine died) is retried within 5 + 10 + 10 = 25 s."""

WORKER_REDIS_RETRY_S = 15.0
"""How long a worker's Redis commands keep retrying through an outage (a restart) before
the worker gives up and exits (the supervisor then starts another)."""

# --- 06 the web service -------------------------------------------------------------------

WEB_QUEUE = "web"
"""The RQ queue of the web service's jobs (`python -m stream_or_queue.jobs --workers 2 web`)."""

WEB_INBOX = "web"
"""The inbox (a Redis list, `jobs.Inbox`) a finished web job's notification goes to."""

WEB_QUESTION_MAX_CHARS = 2_000
"""A longer question is refused with 422: it is a prompt, not a document upload. The
research agent refuses one too (`research.agent.check_question`), whoever asks."""

WEB_MAX_BODY_BYTES = 64 * 1024
"""Request bodies above this are refused with 413 before they are parsed."""

WEB_RESULT_TTL_S = 7 * 24 * 3600
"""How long a permalink (result and progress events) is kept, in real seconds (Redis TTL)."""

WEB_READY_WORKER_WINDOW_S = 30.0
"""`/readyz` wants a worker on the web queue whose heartbeat is at most this old (real s).

The course's workers beat at least every 15 s when idle (`WORKER_TTL_S`), every
`WORKER_MONITOR_INTERVAL_S` while busy; the in-process worker thread every second.
"""

# --- 07 batch: the Message Batches API ----------------------------------------------------

BATCH_MAX_REQUESTS = 100_000
BATCH_EXPIRY_S = 24 * 3600.0
"""A batch that has not finished 24 h after creation expires its unprocessed requests."""

BATCH_BASE_PROCESSING_S = 120.0
BATCH_PER_REQUEST_S = 0.05
"""Simulated processing time: a fixed start-up plus a little per request.

Real batches usually end within an hour and may take up to 24 h; the simulator uses
minutes so that a notebook can watch one finish.
"""

# 07 batch at scale: the course's own choices, not vendor limits.

CATALOGUE_SIZE = 10_000
"""Rows in the bundled product catalogue (generated from a seed, a few of them invalid)."""

BATCH_ITEM_MAX_CHARS = 2_000
"""A catalogue row whose text is longer than this is rejected before any request is made."""

BATCH_CONCURRENCY = 50
"""Requests in flight at once on the capped-concurrency path."""

NIGHTLY_CRON = "0 2 * * *"
"""When the nightly batch fires (cron syntax, the scheduler's local time)."""

NIGHTLY_JOB_TIMEOUT_S = 24 * 3600
"""RQ's limit on one nightly run (real s): a run still going when the next night's fires
has failed, whatever it was doing."""

NIGHTLY_MAX_QUEUED_REQUESTS = 500_000
"""Batch requests the nightly job keeps waiting at the API at once. Check your
organisation's limit on requests in the batch processing queue before raising it."""

WORDS_PER_PAGE = 500
"""A single-spaced page of prose holds about 500 words (a common publishing rule of thumb)."""

SUMMARY_CHUNK_TOKENS = 8_000
"""Input tokens per map call when summarising a long document: the course's choice, small
enough that each call is quick and a failed one is cheap to redo."""

# --- 08 durability: DBOS Transact ---------------------------------------------------------

DURABLE_DATABASE_URL_ENV = "DBOS_DATABASE_URL"
"""Set it to a Postgres URL (postgresql://user:pass@host:5432/db) to share one DBOS system
database between processes and machines; unset, DBOS keeps its record in a SQLite file."""

DURABLE_SQLITE_FILE = "stream_or_queue_dbos.sqlite"
"""The SQLite file DBOS uses when no URL is set, created in the current working directory
(the notebook's folder): one file, no server, so it runs in Binder."""

DURABLE_SQLITE_DIR_ENV = "STREAM_OR_QUEUE_DBOS_DIR"
"""The folder of that SQLite file when set (the test suite points it at a private folder,
which the worker processes it starts inherit); unset, the current working directory."""

DURABLE_APP_VERSION = "course-1"
"""Pinned application version. DBOS recovers a workflow only on a process running the
version it started on, and its default version is a hash of the workflow code: a learner who
edits a cell after a crash would orphan the work. Bump it on a deploy that changes what
steps do, and move in-flight work across with `fork_workflow`."""

DURABLE_POLL_S = 0.05
"""How often (real s) DBOS polls for notifications and queued work. Its default of 1 s makes
a notebook crawl on SQLite; Postgres notifies by LISTEN/NOTIFY and polls only as a fallback."""

DURABLE_QUEUE = "durable"
"""The DBOS queue the course's durable work runs on."""


def durable_database_url() -> str:
    """The DBOS system database: `$DBOS_DATABASE_URL`, else a SQLite file in the cwd."""
    url = (env(DURABLE_DATABASE_URL_ENV) or "").strip()
    if url:
        return url
    folder = (env(DURABLE_SQLITE_DIR_ENV) or "").strip()
    return (
        f"sqlite:///{os.path.join(folder, DURABLE_SQLITE_FILE) if folder else DURABLE_SQLITE_FILE}"
    )


# --- 09 the research assistant ------------------------------------------------------------
# The course's model of a research agent and of its users, not vendor figures.

RESEARCH_SEARCH_MEDIAN_S = 8.0
RESEARCH_SEARCH_SPREAD = 0.6
"""One search (a search service answering): log-normal, this median (simulated s) and sigma,
so that now and then a search is slow - the long tail that real agents see."""

RESEARCH_READ_BASE_S = 3.8
RESEARCH_READ_PER_WORD_S = 0.06
"""Reading a document: fetching it plus parsing, in proportion to its length."""

RESEARCH_NOTES_S = (2.0, 4.0)
"""Filing a note, min and max simulated seconds."""

RESEARCH_MAX_TURNS = 12
"""Model turns one question may take before the agent gives up (a runaway-loop guard)."""

RESEARCH_BATCH_POLL_S = 10.0
"""Simulated seconds between two looks at a batch's status (v3, and its schedule model)."""

NOTIFICATION_RETURN_RATE = 0.85
"""The model's share of users who left and come back to the permalink when notified."""
