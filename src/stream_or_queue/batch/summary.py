"""Summarise a long document as a background job: map over chunks, then reduce.

"Summarise this 300-page document" does not fit a chat box: the input alone is
hundreds of thousands of tokens, and the work is many model calls. The shape that
works is a job on a queue: split the document into chunks that each fit one
modest call, summarise the chunks a few at a time (map), summarise the summaries
(reduce), and notify the user when it is done. `summarise_document` is that job
(an importable RQ job function); it reports its progress in the job's meta.

The simulated time a run took is computed from the simulator's schedule of each
call (`pool_makespan_s`), so the figure does not depend on how busy the machine is.
"""

from __future__ import annotations

import heapq
import random
import threading
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from rq import get_current_job

from .. import config
from ..jobs.progress import report_progress
from ..llm import client, cost
from ..simulator import knowledge
from ..streaming import upstream_record

__all__ = [
    "Chunk",
    "chunk_pages",
    "generate_document",
    "pool_makespan_s",
    "summarise_document",
]

MAP_PROMPT = "Summarise this part of a long document in three sentences:\n"
REDUCE_PROMPT = "Summarise these notes on a long document in three sentences:\n"


@dataclass(frozen=True)
class Chunk:
    """Consecutive pages that go into one map call."""

    first_page: int
    last_page: int
    text: str

    @property
    def words(self) -> int:
        return len(self.text.split())


def generate_document(
    pages: int = 300, words_per_page: int = config.WORDS_PER_PAGE, seed: int = 0
) -> list[str]:
    """A long operations handbook, one string per page (seeded, the same for everyone).

    Its paragraphs come from the course's knowledge base, so that a summary of it
    has something true to say.
    """
    if pages < 1 or words_per_page < 20:
        raise ValueError("a document needs at least one page of at least 20 words")
    rng = random.Random(f"document-{seed}")
    paragraphs = [
        p for e in knowledge.entries() if e.section == "subjects" for p in (e.gist, *e.paragraphs)
    ]
    document = []
    for number in range(1, pages + 1):
        words: list[str] = []
        while len(words) < words_per_page:
            words += paragraphs[rng.randrange(len(paragraphs))].split()
        document.append(f"Page {number}. " + " ".join(words[:words_per_page]))
    return document


def chunk_pages(pages: Sequence[str], max_tokens: int = config.SUMMARY_CHUNK_TOKENS) -> list[Chunk]:
    """Whole pages, grouped in order until a chunk would pass `max_tokens` (estimated).

    Tokens are estimated from words (`config.WORDS_PER_TOKEN`): good enough to size
    a chunk, and no tokenizer call per page. A page is never split.
    """
    if max_tokens < 1:
        raise ValueError("max_tokens must be positive")
    chunks: list[Chunk] = []
    start, tokens = 0, 0.0
    texts: list[str] = []
    for index, page in enumerate(pages):
        page_tokens = len(page.split()) / config.WORDS_PER_TOKEN
        if texts and tokens + page_tokens > max_tokens:
            chunks.append(Chunk(start + 1, index, "\n\n".join(texts)))
            start, texts, tokens = index, [], 0.0
        texts.append(page)
        tokens += page_tokens
    if texts:
        chunks.append(Chunk(start + 1, len(pages), "\n\n".join(texts)))
    return chunks


def pool_makespan_s(latencies_s: Iterable[float], concurrency: int) -> float:
    """When the last of these calls ends if a pool runs them in order, `concurrency` at once."""
    if concurrency < 1:
        raise ValueError("concurrency must be >= 1")
    slots = [0.0] * concurrency
    for latency in latencies_s:
        free = heapq.heappop(slots)
        heapq.heappush(slots, free + latency)
    return max(slots)


def _scheduled_s(message: Any) -> float:
    record = upstream_record(getattr(message, "_request_id", None))
    return record.scheduled_total_s if record is not None else 0.0


def summarise_document(
    pages: Sequence[str],
    *,
    chunk_tokens: int = config.SUMMARY_CHUNK_TOKENS,
    concurrency: int = 8,
    map_model: str = config.FAST_MODEL,
    reduce_model: str = config.FAST_MODEL,
    thinking_budget: int = 0,
) -> dict[str, Any]:
    """The job: map every chunk to a short summary, `concurrency` calls at a time, then reduce.

    With `thinking_budget`, the reduce call thinks first (extended thinking): slower
    and dearer, which costs nobody anything while nobody is waiting for it.
    Returns the summary and what it took: calls, tokens, dollars, simulated seconds.
    """
    chunks = chunk_pages(pages, chunk_tokens)
    api = client()
    report_progress(0, "reading", f"{len(pages)} pages in {len(chunks)} chunks")
    done: list[Chunk] = []
    lock = threading.Lock()
    job = get_current_job()  # the pool's threads report on the job of the thread that runs it

    def summarise(chunk: Chunk) -> Any:
        message = api.messages.create(
            model=map_model,
            max_tokens=300,
            messages=[{"role": "user", "content": MAP_PROMPT + chunk.text}],
        )
        with lock:
            done.append(chunk)
            count = len(done)
            if job is not None:
                report_progress(
                    90 * count / len(chunks),
                    "summarising",
                    f"chunk {count} of {len(chunks)}",
                    job=job,
                )
        return message

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        mapped = list(pool.map(summarise, chunks))
    notes = "\n".join(_text(m) for m in mapped)
    report_progress(90, "combining", f"{len(chunks)} chunk summaries into one")
    extra: dict[str, Any] = {}
    if thinking_budget:
        extra["thinking"] = {"type": "enabled", "budget_tokens": thinking_budget}
    reduced = api.messages.create(
        model=reduce_model,
        max_tokens=thinking_budget + 600,
        messages=[{"role": "user", "content": REDUCE_PROMPT + notes}],
        **extra,
    )
    report_progress(100, "done", "summary ready")
    map_dollars = sum(cost(m.usage, map_model) for m in mapped)
    reduce_record = upstream_record(getattr(reduced, "_request_id", None))
    return {
        "summary": _text(reduced),
        "pages": len(pages),
        "chunks": len(chunks),
        "calls": len(mapped) + 1,
        "input_tokens": sum(m.usage.input_tokens for m in mapped) + reduced.usage.input_tokens,
        "output_tokens": sum(m.usage.output_tokens for m in mapped) + reduced.usage.output_tokens,
        "reduce_output_tokens": reduced.usage.output_tokens,
        "thinking_tokens": reduce_record.thinking_tokens if reduce_record is not None else None,
        "map_cost": map_dollars,
        "reduce_cost": cost(reduced.usage, reduce_model),
        "cost": map_dollars + cost(reduced.usage, reduce_model),
        "map_s": pool_makespan_s([_scheduled_s(m) for m in mapped], concurrency),
        "reduce_s": _scheduled_s(reduced),
    }


def _text(message: Any) -> str:
    return "".join(block.text for block in message.content if block.type == "text")
