"""The research assistant's library: a few dozen short notes written for the course.

The documents are engineering notes about the very subject of the course (edge
timeouts, queues, retries, batches, notifications...), so the simulated research
answers read sensibly. Ids look like `doc-7`: the simulated model finds ids of
that shape in tool results and cites them as `[doc-7]`.

`search()` is a small keyword ranker (term frequency weighted by rarity, titles
count double). It is deliberately plain: the lesson is about where the work runs,
not about retrieval.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass
from functools import cache

__all__ = ["CORPUS", "Document", "Hit", "UnknownDocument", "document", "search"]


@dataclass(frozen=True)
class Document:
    """One note of the corpus."""

    id: str
    title: str
    text: str

    @property
    def words(self) -> int:
        return len(self.text.split())

    @property
    def first_sentence(self) -> str:
        return re.split(r"(?<=[.!?])\s+", self.text, maxsplit=1)[0]


@dataclass(frozen=True)
class Hit:
    """A search result: the document, its score, and a one-line snippet."""

    document: Document
    score: float

    @property
    def snippet(self) -> str:
        return self.document.first_sentence


class UnknownDocument(KeyError):
    """Asked for a document id that is not in the corpus."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else "unknown document"


_NOTES: tuple[tuple[str, str], ...] = (
    (
        "Load balancer idle timeouts",
        "A load balancer closes a connection that has carried no bytes for its idle timeout, "
        "often sixty seconds by default. The client sees a dropped connection or a 504 page, and "
        "the server may keep working on a request nobody will receive. Raising the limit moves "
        "the problem rather than solving it, because every hop between the browser and the "
        "server has a limit of its own. Long tasks should return quickly and report progress "
        "through another channel.",
    ),
    (
        "Function platform time limits",
        "Serverless function platforms stop a function when it exceeds its maximum duration. The "
        "limit depends on the plan and is often between ten seconds and a few minutes. When the "
        "limit is reached the function is terminated, its open response is cut, and any work "
        "held only in memory is gone. A research agent that calls several tools can pass such "
        "a limit without warning on a slow day.",
    ),
    (
        "CDN read timeouts",
        "A content delivery network waits a bounded time for the origin to send the next bytes "
        "of a response. Streaming keeps such a connection alive only while bytes keep flowing, "
        "and a long pause while an agent thinks or calls a tool can still trip the read "
        "timeout. Teams that stream agent output through a CDN should test the slowest path, "
        "not the median one.",
    ),
    (
        "Time to first token",
        "Time to first token measures how long a user waits before any text appears. For chat it "
        "shapes perceived speed more than total generation time does, because reading can start "
        "while the rest arrives. For a task whose value is the finished artefact, such as a "
        "report or a file, time to first token says little: the user needs the last token.",
    ),
    (
        "Reading speed and streaming",
        "Adults read prose at roughly two hundred to three hundred words per minute, while a "
        "capable model writes faster than that. Streaming helps when the reader can keep pace "
        "with the text, as in a short chat answer. A five thousand word document streamed to the "
        "screen is not read as it arrives; it is better generated in the background and shown "
        "when it is complete.",
    ),
    (
        "User patience with spinners",
        "Studies of web performance agree that attention fades after about ten seconds without "
        "feedback, and that users abandon long waits. Progress indicators extend patience but do "
        "not remove the limit. A spinner that runs for a minute or more invites the user to "
        "close the tab, which in a synchronous design throws the work away.",
    ),
    (
        "Progress events",
        "Structured progress events tell the user what a long task is doing, for example "
        "searching, reading or writing, with a percentage. They can be delivered by server-sent "
        "events, WebSockets or polling. Unlike a token stream, progress events are small and "
        "meaningful on their own, so a client that reconnects can show the latest state at once.",
    ),
    (
        "Server-sent events",
        "Server-sent events are a one-way stream from server to browser over plain HTTP. The "
        "browser's EventSource reconnects on its own and sends the id of the last event it "
        "received, so a server that keeps recent events can resume without gaps. They suit "
        "progress updates and token streams, and they pass through most proxies unchanged.",
    ),
    (
        "Polling with backoff",
        "Polling asks the server for a job's status at intervals. It works everywhere and "
        "survives restarts on both sides, at the cost of extra requests and some delay in "
        "noticing completion. Backoff with jitter keeps many clients from polling in lockstep, "
        "and a maximum interval bounds how late a client learns that the job is done.",
    ),
    (
        "WebSockets",
        "WebSockets give a two-way channel that stays open, which suits collaborative editing, "
        "games and voice. For a job that only reports progress, they add connection state, "
        "heartbeats and reconnection logic that server-sent events or polling give for free. "
        "Choose them when the client must also talk back while the task runs.",
    ),
    (
        "Start then poll",
        "In the start-then-poll pattern the client posts a request, receives 202 Accepted with a "
        "job id and a status address, and checks back later. The web request ends in "
        "milliseconds, so no edge timeout applies to the work itself. The job id becomes the "
        "handle for progress, cancellation and the final result.",
    ),
    (
        "Message queues",
        "A message queue stores tasks until a worker takes them. Producers and workers scale "
        "independently, a burst waits in the queue instead of overloading the workers, and a "
        "task survives the crash of the process that created it. Redis-backed queues such as RQ "
        "keep the moving parts few while still offering retries and job registries.",
    ),
    (
        "Why not a home-made queue",
        "A queue built from a list and a loop usually lacks the parts that matter in an "
        "incident: persistence, visibility of failed tasks, retries, timeouts, scheduling and "
        "rate limits. Mature job runners have already met those failure modes. Writing your own "
        "is a good exercise and a poor production choice.",
    ),
    (
        "Retries with backoff and jitter",
        "Retrying a failed call immediately tends to fail again and adds load to a struggling "
        "service. Exponential backoff spaces the attempts out, and jitter spreads them so that "
        "many clients do not retry at the same instant. A retry budget caps the extra traffic, "
        "so an outage does not multiply the load on the way back up.",
    ),
    (
        "Rate limits and concurrency caps",
        "Model providers limit requests and tokens per minute. A background worker can respect "
        "those limits by capping how many calls run at once and by honouring retry-after "
        "headers. A synchronous web handler cannot wait politely for capacity, because its user "
        "and its edge timeout are both waiting too.",
    ),
    (
        "Batch APIs",
        "Batch endpoints accept many requests at once and return the results within hours, in "
        "exchange for a lower price, commonly half of the standard rate. They suit work that "
        "nobody is watching: nightly enrichment, evaluations, summaries that can wait. Results "
        "come back in any order, so every request carries its own identifier.",
    ),
    (
        "Smaller models for simple steps",
        "Not every step of a pipeline needs the largest model. Summarising a short document, "
        "extracting fields or classifying a ticket are often handled well by a smaller and "
        "cheaper model. The choice should rest on an evaluation of the step's quality, not on "
        "habit, and it can be revisited when prices or models change.",
    ),
    (
        "Checkpoints in long workflows",
        "A long workflow that stores the result of each finished step can resume after a crash "
        "from the last checkpoint instead of starting over. Durable execution engines record "
        "every step and replay the history on restart, skipping steps whose results are known. "
        "The same idea works on a plain key-value store keyed by job and step.",
    ),
    (
        "Deploys with work in flight",
        "A deploy replaces running processes, and any task held only in a web request or in "
        "memory dies with them. With a queue, a deploy can stop workers gracefully and start "
        "new ones that pick the remaining jobs up. With checkpoints, even a job interrupted in "
        "the middle resumes where it stopped.",
    ),
    (
        "Graceful shutdown of workers",
        "A warm shutdown lets a worker finish its current job before it exits, while a cold "
        "shutdown stops it at once. Platforms usually send a termination signal and wait a "
        "grace period before killing the process. Jobs longer than the grace period need "
        "checkpoints or they will be cut in half.",
    ),
    (
        "Idempotent side effects",
        "A retried job may perform its side effects twice: two emails, two charges, two "
        "tickets. An idempotency key derived from the job and the action lets the receiver "
        "recognise a repeat and ignore it. The check and the effect must be recorded together, "
        "or a crash between them reopens the gap.",
    ),
    (
        "Audit trails",
        "An audit trail records what a system did, when, and with what outcome: each step, each "
        "attempt and each failure. It answers questions from users and regulators, and it is "
        "the first place to look after an incident. An append-only log per job is enough for "
        "most teams.",
    ),
    (
        "Email and push notifications",
        "A notification tells the user that a long task has finished, so they do not have to "
        "wait on the page. Email reaches people who closed the tab; push notifications reach "
        "them on a phone. The message should carry a permanent link to the result, and it must "
        "be sent exactly once even if the job is retried.",
    ),
    (
        "Permalinks for results",
        "A permanent link to a result lets the user leave and come back, share the answer with "
        "a colleague, and find it again next week. The link should use an unguessable id, and "
        "the page should render the stored result rather than run the task again.",
    ),
    (
        "Completion rates",
        "Completion rate is the share of started tasks whose result reaches the user. In a "
        "synchronous design every timeout and every closed tab lowers it. In an asynchronous "
        "design the work finishes regardless, and the notification brings many users back, "
        "which is why completion often rises after such a rebuild.",
    ),
    (
        "The cost of a failed request",
        "A request that fails after a minute of work has already paid for every token and tool "
        "call made so far. Without checkpoints the next attempt pays again from the start. The "
        "waste grows with the length of the task, which makes long synchronous agents "
        "expensive in a way that a per-token price list does not show.",
    ),
    (
        "Token pricing",
        "Model providers charge per million input tokens and per million output tokens, and "
        "output usually costs several times more than input. In an agent loop the whole "
        "conversation is sent again on every turn, so input tokens grow with each tool result "
        "and often dominate the bill.",
    ),
    (
        "Context size in agent loops",
        "Every tool result added to an agent's conversation is paid for again on each later "
        "turn. Short tool results, such as a digest of a document instead of its full text, "
        "keep the context small and the cost down. Digests can be prepared ahead of time, when "
        "nobody is waiting for them.",
    ),
    (
        "Precomputing summaries",
        "Summaries of documents that change rarely can be produced in advance, for example in a "
        "nightly batch, and stored next to the documents. The interactive path then reads the "
        "short summary instead of asking a model to summarise on the spot. The saving is "
        "largest when many questions touch the same documents.",
    ),
    (
        "Research agents",
        "A research agent plans a few searches, reads the most promising sources, takes notes "
        "and writes an answer with citations. A typical run makes between five and eight tool "
        "calls and takes a minute or two. Its value is the finished, sourced answer, not the "
        "sight of it being typed.",
    ),
    (
        "Citations and sources",
        "An answer that cites its sources lets the reader check each claim. Citations should "
        "point to documents the agent actually retrieved, and the result page should list "
        "them with their titles. An answer whose citations cannot be resolved should be treated "
        "as unfinished.",
    ),
    (
        "Cancellation",
        "Cancelling a streaming request closes the connection, and the provider stops "
        "generating soon after, so the remaining tokens are not billed. In a job system "
        "cancellation is a request to the worker, which should stop at the next safe point and "
        "record that it did.",
    ),
    (
        "Sub-second paths",
        "Some interactions must answer in well under a second, such as autocomplete or fraud "
        "checks at a till. Neither a streamed model call nor a job fits them; precomputed "
        "answers, caches or a small local model do. A synchronous wrapper can still acknowledge "
        "a request at once while slower analysis runs in the background.",
    ),
    (
        "Choosing sync or async",
        "Four questions decide the pattern: is the user actively waiting, will the task take "
        "longer than about fifteen seconds, must it survive a crash, and would a batch price "
        "save real money. A yes to the last three points to a background job, even when the "
        "feature started life as a chat box.",
    ),
    (
        "Observability of jobs",
        "A job system should show how many jobs wait, run, finish and fail, and how long each "
        "stage takes. Queue depth warns of too few workers; a growing failed registry warns of "
        "a broken dependency. Tracing a job from request to notification shortens incidents.",
    ),
    (
        "Scheduling recurring work",
        "Recurring work such as nightly reports or weekly digests belongs to a scheduler that "
        "enqueues jobs at set times. Running it off peak smooths load and leaves room for "
        "batch processing windows. Each run should be idempotent, so a repeated trigger does "
        "no harm.",
    ),
)

CORPUS: tuple[Document, ...] = tuple(
    Document(id=f"doc-{index}", title=title, text=text)
    for index, (title, text) in enumerate(_NOTES, start=1)
)
"""Every document, in id order (`doc-1` ... `doc-36`)."""

_BY_ID = {doc.id: doc for doc in CORPUS}


def document(doc_id: str) -> Document:
    """The document with this id; a clear error for anything else."""
    key = str(doc_id).strip().lower()
    try:
        return _BY_ID[key]
    except KeyError:
        raise UnknownDocument(
            f"no document {doc_id!r}: ids run from {CORPUS[0].id} to {CORPUS[-1].id}"
        ) from None


_WORD = re.compile(r"[a-z][a-z'-]+")
_STOP = frozenset(
    {
        "the",
        "and",
        "for",
        "with",
        "that",
        "this",
        "from",
        "are",
        "was",
        "were",
        "has",
        "have",
        "had",
        "not",
        "but",
        "its",
        "their",
        "they",
        "them",
        "than",
        "then",
        "when",
        "what",
        "which",
        "who",
        "why",
        "how",
        "does",
        "into",
        "over",
        "such",
        "can",
        "may",
        "also",
        "more",
        "most",
        "much",
        "each",
        "every",
        "some",
        "any",
        "our",
        "your",
        "you",
        "about",
        "should",
        "would",
        "could",
        "will",
        "been",
        "being",
        "between",
        "while",
        "only",
        "other",
        "there",
        "these",
        "those",
        "it's",
        "evidence",
        "trade-offs",
        "examples",
    }
)


def _terms(text: str) -> list[str]:
    return [w for w in _WORD.findall(text.lower()) if len(w) > 2 and w not in _STOP]


def _stem(word: str) -> str:
    for suffix in ("ing", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            return word[: -len(suffix)]
    return word


@cache
def _index() -> tuple[dict[str, Counter[str]], dict[str, float]]:
    counts = {
        doc.id: Counter(_stem(t) for t in [*_terms(doc.title) * 2, *_terms(doc.text)])
        for doc in CORPUS
    }
    frequency: Counter[str] = Counter()
    for terms in counts.values():
        frequency.update(terms.keys())
    rarity = {t: math.log(1 + len(CORPUS) / n) for t, n in frequency.items()}
    return counts, rarity


def search(query: str, limit: int = 4) -> list[Hit]:
    """The documents that best match `query`, best first (ties by id), at most `limit`."""
    if not isinstance(query, str) or not query.strip():
        raise ValueError("search query must be a non-empty string")
    if limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    counts, rarity = _index()
    wanted = {_stem(t) for t in _terms(query)}
    hits = []
    for doc in CORPUS:
        terms = counts[doc.id]
        score = sum((1 + math.log(terms[t])) * rarity[t] for t in wanted if terms[t])
        if score > 0:
            hits.append(Hit(doc, round(score, 3)))
    hits.sort(key=lambda h: (-h.score, int(h.document.id.split("-")[1])))
    return hits[:limit]
