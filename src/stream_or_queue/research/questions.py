"""The questions every version of the research assistant is measured on.

One fixed list, so that v1, v2 and v3 answer exactly the same questions and the
results table compares like with like. They are the kind of question a product
team would type into a research tool about its own architecture.
"""

from __future__ import annotations

__all__ = ["QUESTIONS", "questions"]

QUESTIONS: tuple[str, ...] = (
    "Why do load balancer timeouts break long agent requests?",
    "How should a team report progress for a research agent?",
    "When is streaming tokens worth it for readers?",
    "What does a failed request cost an agent system?",
    "How do checkpoints help long workflows survive crashes?",
    "Why do deploys kill work held in web requests?",
    "What makes server-sent events suitable for progress updates?",
    "How does polling with backoff compare with server-sent events?",
    "When are WebSockets worth their extra complexity?",
    "Why is a home-made job queue a poor production choice?",
    "How do retries with jitter protect a struggling service?",
    "How should a worker respect model rate limits?",
    "What work suits a batch API at half price?",
    "When can a smaller model replace the largest one?",
    "Why do input tokens dominate the bill of an agent loop?",
    "How do document digests reduce agent costs?",
    "Why precompute summaries in a nightly batch?",
    "What does a typical research agent run look like?",
    "How should an answer cite its sources?",
    "What happens to tokens when a user cancels a stream?",
    "Which interactions need sub-second answers without a model call?",
    "Which four questions decide between sync and async?",
    "What should a team monitor in a job system?",
    "How should recurring reports be scheduled?",
    "How do function platform time limits affect agents?",
    "Why can a CDN read timeout cut a streamed answer?",
    "Does time to first token matter for a finished report?",
    "How long will users wait behind a spinner?",
    "How does start-then-poll avoid edge timeouts?",
    "What does a message queue give that a web request does not?",
    "How should a worker shut down during a deploy?",
    "How do idempotency keys prevent duplicate emails?",
    "What belongs in an audit trail for background jobs?",
    "How should a notification bring users back to a result?",
    "What makes a good permalink for a research answer?",
    "Why do completion rates rise after moving to background jobs?",
    "How much does an agent pay again after a timeout?",
    "How are model tokens priced for input and output?",
    "How does context size grow during an agent loop?",
    "What are the trade-offs of progress events versus token streams?",
    "How do retry budgets limit traffic during an outage?",
    "Why should a chat box not hold a two-minute request?",
    "How can a research tool cut its model costs?",
    "When should a job be cancelled and how?",
    "How does a queue absorb a burst of research requests?",
    "What do durable execution engines record for each step?",
    "How does a warm shutdown differ from a cold shutdown?",
    "Why should notifications be sent exactly once?",
    "How do users react when a long request fails?",
    "What limits the duration of a serverless research agent?",
    "How do batch results come back and how are they matched?",
    "Which steps of a research pipeline can run on a cheaper model?",
    "How should an agent recover from a crashed worker?",
    "Why does streaming a long document not help the reader?",
    "What is the role of a scheduler in batch processing?",
    "How do proxies and timeouts interact with streamed responses?",
    "What does a research agent need to survive a deploy?",
    "How should failed jobs be made visible to the team?",
    "How can a result page avoid running the task again?",
    "What is the cheapest reliable design for a research assistant?",
)
"""Sixty questions (the issue asks for at least fifty)."""


def questions(count: int | None = None) -> list[str]:
    """The first `count` questions (all of them by default)."""
    if count is None:
        return list(QUESTIONS)
    if not 1 <= count <= len(QUESTIONS):
        raise ValueError(f"count must be between 1 and {len(QUESTIONS)}, got {count}")
    return list(QUESTIONS[:count])
