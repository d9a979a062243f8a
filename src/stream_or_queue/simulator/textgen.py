"""Deterministic text for the simulated model.

The simulator has no neural network. It recognises the tasks the course sends
(classify an expense, justify the verdict, describe a product, label a ticket,
write a report section, summarise, write N words, answer with citations) and
writes each from the request's fields (`writers.py`). Any other question is
answered from an authored knowledge base of the course's subjects
(`knowledge.py`, `data/knowledge.md`); a follow-up builds on the entry the
previous answer came from; a question outside those subjects gets an honest
reply saying that it comes from the offline simulator. The same request and
seed always give the same text.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

from . import knowledge, writers

__all__ = ["Prompt", "chat_answer", "compose", "keywords", "off_topic"]

_STOPWORDS = frozenset(
    """a an and are as at be been but by can could do does for from had has have how i if in
    into is it its me my of on or our should so than that the their them then there these they
    this to was we were what when where which who why will with would you your about please
    tell explain give write make some any more most just also very much many need want like
    answer question short briefly words word long using use used one two three""".split()  # noqa: SIM905
)
_WORD = re.compile(r"[A-Za-z][A-Za-z'-]{2,}")


@dataclass(frozen=True)
class Prompt:
    """What the text generator sees of a request."""

    system: str
    user: str
    previous_answer: str
    tool_results: Sequence[str]
    turn: int


def keywords(text: str, limit: int = 4) -> list[str]:
    """The first distinctive words of `text`, in order, without repeats (search queries)."""
    seen: list[str] = []
    for match in _WORD.finditer(text):
        word = match.group(0).lower().strip("'-")
        if word in _STOPWORDS or word in seen or len(word) < 4:
            continue
        seen.append(word)
        if len(seen) == limit:
            break
    return seen


def compose(prompt: Prompt, rng: random.Random) -> str:
    """Pick the task the prompt asks for and write its answer."""
    both = f"{prompt.system}\n{prompt.user}".lower()
    if prompt.tool_results:
        if "single word done" in both:
            return "DONE"
        return writers.research_answer(prompt.user, prompt.tool_results, rng)
    # a summary first: the text to summarise may mention anything, expenses included
    instruction = re.split(r"[:\n]", prompt.user, maxsplit=1)[0].lower()
    if "summar" in instruction and len(writers.sentences(prompt.user)) > 1:
        return writers.summary(prompt.user, rng)
    if ("approve" in both and "reject" in both) or ("justification" in both and "expense" in both):
        if "justification" in prompt.user.lower():
            return writers.expense_justification(prompt.user, rng)
        return writers.classify_expense(prompt.user, rng)
    if "product description" in both or "describe the product" in both:
        return writers.product_description(prompt.user, rng)
    if "categor" in both and "classify" in both:
        return writers.classify_ticket(prompt.user, both, rng)
    section = writers.report_section(prompt.user, rng)
    if section is not None:
        return section
    words = writers.requested_word_count(prompt.user)
    if words:
        return writers.long_document(prompt.user, words, rng)
    return chat_answer(prompt, rng)


# --- conversation ---------------------------------------------------------------------------

_VAGUE = re.compile(
    r"\b(it|that|this|those|these|them|more|example|examples|why|what about|and|else|aim)\b", re.I
)
_POINTING = re.compile(r"\b(it|that|this|those|these|them)\b", re.I)
_CLEAR_MATCH = 12.0
"""A question whose terms score this much names its own subject, whatever its pronouns."""
_RECALLS = (
    "Earlier I said that {gist}",
    "As I said in my last answer, {gist}",
    "Going back to my previous answer: {gist}",
)
_DEEPER = (
    "Here is the next level of detail.",
    "To take that one step further, consider this.",
    "A concrete case makes this clearer.",
)


def _length(prompt: Prompt) -> str:
    text = f"{prompt.system} {prompt.user}".lower()
    if "one sentence" in text or "a sentence" in text:
        return "sentence"
    if "brief" in text or "few sentences" in text or "short" in text:
        return "brief"
    if any(w in text for w in ("in detail", "detailed", "in depth", "thorough", "step by step")):
        return "detailed"
    return "normal"


def _source_of(answer: str) -> knowledge.Entry | None:
    """The entry an earlier answer was written from: the one whose sentences it reuses most."""
    best: tuple[int, knowledge.Entry] | None = None
    for item in knowledge.entries():
        shared = sum(
            s in answer
            for p in (item.gist, *item.paragraphs, *item.more)
            for s in writers.sentences(p)
        )
        if shared and (best is None or shared > best[0]):
            best = (shared, item)
    return best[1] if best else None


def chat_answer(prompt: Prompt, rng: random.Random) -> str:
    """An answer from the knowledge base; a follow-up starts from the previous answer."""
    length = _length(prompt)
    found = knowledge.retrieve(prompt.user)
    previous = _source_of(prompt.previous_answer) if prompt.previous_answer else None
    if previous is not None and _builds_on(prompt.user, found):
        found = _with_referent(prompt.user, previous, found)
        return _follow_up(prompt, previous, found, length, rng)
    if not found:
        return off_topic(prompt, rng)
    primary = found[0].entry
    if length == "sentence":
        return primary.gist
    parts = _first_answer_parts(prompt.user, found, length)
    offer = rng.choice(_OFFERS[primary.section]) if primary.section in _OFFERS else ""
    return "\n\n".join([*(_unlabel(p) for p in parts), *([offer] if offer else [])])


def _builds_on(question: str, found: list[knowledge.Match]) -> bool:
    """A question that continues the conversation: on a subject of the notes, vague ("why?"),
    or made only of words the notes use."""
    return bool(found) or bool(_VAGUE.search(question)) or _familiar(question)


def _with_referent(
    question: str, previous: knowledge.Entry, found: list[knowledge.Match]
) -> list[knowledge.Match]:
    """In "how do I measure it?", with no clear subject of its own, "it" is the previous
    answer's subject."""
    if _POINTING.search(question) and found and found[0].score < _CLEAR_MATCH:
        return [knowledge.Match(previous, found[0].score + 1, ()), *found]
    return found


def _first_answer_parts(question: str, found: list[knowledge.Match], length: str) -> list[str]:
    """The paragraphs of a first answer: the best entry's gist and its closest paragraphs
    (all of them in detail), then a related entry's point unless the answer is brief."""
    primary = found[0].entry
    if length == "detailed":
        parts = [primary.gist, *primary.paragraphs, *primary.more[:1]]
    else:
        parts = [primary.gist, *_closest(question, primary, 1 if length == "brief" else 2)]
    related = [m.entry for m in found[1:] if m.score >= 0.5 * found[0].score]
    if related and length != "brief":
        parts.append("A related point: " + _lower_first(related[0].gist))
        if length == "detailed":
            parts += related[0].paragraphs[:1]
    return parts


_OFFERS = {
    "subjects": (
        "",
        "If you like, I can show how to measure this in a notebook cell.",
        "Ask me for an example if you would like one.",
        "I can go into more detail on any of these points.",
    ),
}
"""A first answer sometimes ends by offering more, as assistants do (varies with the seed)."""


def _closest(question: str, item: knowledge.Entry, count: int) -> list[str]:
    """The `count` paragraphs of `item` that share most words with the question, in order."""
    asked = set(knowledge.words_of(question))
    candidates = [*item.paragraphs, *item.more]
    ranked = sorted(
        range(len(candidates)),
        key=lambda i: (-len(asked & set(knowledge.words_of(candidates[i]))), i),
    )
    return [candidates[i] for i in sorted(ranked[:count])]


def _familiar(text: str) -> bool:
    """Every distinctive word of `text` occurs in the notes ("which should my report use?")."""
    words = [w for w in keywords(text, 12) if len(w) >= 4]
    vocabulary = _vocabulary()
    return bool(words) and all(knowledge.stem(w) in vocabulary for w in words)


@cache
def _vocabulary() -> frozenset[str]:
    return frozenset(
        w
        for item in knowledge.entries()
        for p in (item.gist, *item.paragraphs, *item.more)
        for w in knowledge.words_of(p)
    )


def _follow_up(
    prompt: Prompt,
    previous: knowledge.Entry,
    found: list[knowledge.Match],
    length: str,
    rng: random.Random,
) -> str:
    """Recall the previous answer's point, then add what it did not say yet."""
    recall = rng.choice(_RECALLS).format(gist=_lower_first(previous.gist))
    said = prompt.previous_answer
    fresh = [
        p
        for p in (*previous.more, *previous.paragraphs)
        if not any(s in said for s in writers.sentences(p))
    ]
    primary = next((m.entry for m in found if m.entry is not previous), None)
    if primary is not None and found and found[0].entry is not previous:
        parts = [
            recall,
            f"That leads to {primary.title}. " + primary.gist,
            *primary.paragraphs[: 1 if length == "brief" else 2],
        ]
    elif fresh:
        parts = [recall, rng.choice(_DEEPER) + " " + fresh[0], *fresh[1:2]]
    elif found and found[0].entry is previous:
        # asked again about the same subject: go over it in more detail
        detail = previous.more[0] if previous.more else previous.paragraphs[-1]
        parts = [recall, "In more detail: " + detail]
        neighbour = _neighbour(previous)
        parts.append("A related point: " + _lower_first(neighbour.gist))
    else:
        neighbour = primary or _neighbour(previous)
        parts = [
            recall,
            f"The natural next step is {neighbour.title}. " + neighbour.gist,
            *neighbour.paragraphs[:1],
        ]
    if length == "sentence":
        parts = parts[:2]
    return "\n\n".join(_unlabel(p) for p in parts)


def _neighbour(item: knowledge.Entry) -> knowledge.Entry:
    """The entry after `item` in the same section (the knowledge base is ordered by topic)."""
    same = [e for e in knowledge.entries() if e.section == item.section]
    return same[(same.index(item) + 1) % len(same)]


def _unlabel(paragraph: str) -> str:
    # report entries label their paragraphs ("Findings: ..."); a chat answer drops the label
    return re.sub(r"^(Summary|Findings|Risks|Recommendations): ", "", paragraph)


def _lower_first(text: str) -> str:
    if len(text) > 1 and text[0].isupper() and not text[1].isupper():
        return text[0].lower() + text[1:]
    return text


# --- outside the course's subjects ------------------------------------------------------------

_OFF_TOPIC_OPENINGS = (
    "I can't give you a real answer to that one. I am the course's offline simulator, not a "
    "language model: I answer from a small set of notes written for this course, and your "
    "question is outside them.",
    "That question is outside what I can answer. You are talking to the offline simulator that "
    "stands in for the model in this course; it has no general knowledge, only notes on the "
    "course's subjects.",
)
_OFF_TOPIC_BODY = (
    "Those notes cover streaming answers, time to first token, stopping a stream, background "
    "jobs and queues, progress events, batches, retries, durability, edge timeouts and cost. "
    "Ask about any of them and you will get an answer written for the question.",
    "With a live key the same code would send your question to a real Claude model and you "
    "would get a proper answer. To switch, set ANTHROPIC_API_KEY and STREAM_OR_QUEUE_MODE=live "
    "before starting the kernel; every notebook then talks to the real API, and costs real "
    "money.",
    "Meanwhile this reply behaves exactly like a real one in every way the course measures. It "
    "streams token by token at the pace of a Sonnet-class model, you can press Stop halfway "
    "through, and its tokens and cost are counted from its usage just as a real answer's "
    "would be.",
)


def off_topic(prompt: Prompt, rng: random.Random) -> str:
    """An honest reply for a question the knowledge base does not cover, long enough to stop."""
    if _length(prompt) == "sentence":
        return (
            "I am the course's offline simulator and can only answer questions about "
            "streaming, queues and the other subjects of this course."
        )
    suggestion = rng.choice(
        [
            "For example, try: why should a chat answer stream?",
            "For example, try: what happens when a long request meets a sixty-second timeout?",
            "For example, try: when is a batch cheaper than live calls?",
        ]
    )
    return "\n\n".join([rng.choice(_OFF_TOPIC_OPENINGS), *_OFF_TOPIC_BODY, suggestion])
