"""Deterministic text for the simulated model.

The simulator has no neural network: it recognises the course's tasks from the
request (classify an expense, describe a product, summarise, write N words,
answer with citations, chat) and composes an answer from the request's own
words with a seeded random generator. The same request and seed always give the
same text, and the text reads sensibly enough to make each lesson's point.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass

_STOPWORDS = frozenset(
    """a an and are as at be been but by can could do does for from had has have how i if in
    into is it its me my of on or our should so than that the their them then there these they
    this to was we were what when where which who why will with would you your about please
    tell explain give write make some any more most just also very much many need want like
    answer question short briefly words word long using use used one two three""".split()  # noqa: SIM905
)

_WORD = re.compile(r"[A-Za-z][A-Za-z'-]{2,}")
_CITATION_ID = re.compile(r"\b([a-z]{2,10}-\d{1,4})\b")


@dataclass(frozen=True)
class Prompt:
    """What the text generator sees of a request."""

    system: str
    user: str
    previous_answer: str
    tool_results: Sequence[str]
    turn: int
    previous_question: str = ""
    """The user turn the previous answer replied to: what "my previous answer" was about."""


def keywords(text: str, limit: int = 4) -> list[str]:
    """The first distinctive words of `text`, in order, without repeats."""
    seen: list[str] = []
    for match in _WORD.finditer(text):
        word = match.group(0).lower().strip("'-")
        if word in _STOPWORDS or word in seen or len(word) < 4:
            continue
        seen.append(word)
        if len(seen) == limit:
            break
    return seen


def _topic(text: str) -> str:
    words = keywords(text, 3)
    return " ".join(words) if words else "this question"


def compose(prompt: Prompt, rng: random.Random) -> str:
    """Pick the task the prompt asks for and write its answer."""
    both = f"{prompt.system}\n{prompt.user}".lower()
    if prompt.tool_results:
        return research_answer(prompt, rng)
    if "approve" in both and "reject" in both:
        return classify_expense(prompt.user, rng)
    if "product description" in both or "describe the product" in both:
        return product_description(prompt.user, rng)
    if "categor" in both and "classify" in both:
        return classify_ticket(prompt.user, both, rng)
    words = requested_word_count(prompt.user)
    if words:
        return long_document(prompt.user, words, rng)
    if "summar" in both:
        return summary(prompt.user, rng)
    return chat_answer(prompt, rng)


# --- classification ---------------------------------------------------------

_AMOUNT = re.compile(r"[$€£]\s?(\d[\d,]*(?:\.\d+)?)")
_NOT_ALLOWED = ("alcohol", "personal", "gift card", "fine", "penalty", "spa", "lottery")


def classify_expense(text: str, rng: random.Random) -> str:
    """APPROVE or REJECT with a one-line reason, following a simple policy."""
    lowered = text.lower()
    amounts = [float(m.replace(",", "")) for m in _AMOUNT.findall(text)]
    amount = max(amounts) if amounts else 0.0
    flagged = next((w for w in _NOT_ALLOWED if w in lowered), None)
    if flagged:
        return f"REJECT: {flagged} expenses are not reimbursable."
    if amount > 500:
        return f"REJECT: {amount:,.2f} is above the 500.00 limit without pre-approval."
    if "receipt" in lowered and ("no receipt" in lowered or "missing receipt" in lowered):
        return "REJECT: a receipt is required."
    reason = rng.choice(
        ["within policy", "matches the travel policy", "under the limit with a receipt"]
    )
    return f"APPROVE: {reason}."


def classify_ticket(text: str, both: str, rng: random.Random) -> str:
    """One category from a 'Categories: a, b, c' list, chosen by keyword overlap."""
    match = re.search(r"categories?\s*:\s*([^\n]+)", both)
    options = [c.strip(" .") for c in match.group(1).split(",")] if match else []
    options = [o for o in options if o] or ["billing", "bug", "account", "feature request"]
    lowered = text.lower()
    scored = [(sum(w in lowered for w in o.split()), -i, o) for i, o in enumerate(options)]
    best = max(scored)
    return best[2] if best[0] > 0 else rng.choice(options)


# --- writing -----------------------------------------------------------------

_PRODUCT_OPENERS = [
    "Meet the {name}: {adj} and ready for {use}.",
    "The {name} is built for {use}, with a {adj} finish that lasts.",
    "Designed for {use}, the {name} pairs {adj} looks with everyday strength.",
]
_PRODUCT_MIDDLES = [
    "Its {feature} keeps things simple, so you spend less time adjusting and more time "
    "enjoying it.",
    "A thoughtful {feature} sets it apart from cheaper alternatives.",
    "Customers single out the {feature}, which holds up to daily use.",
]
_PRODUCT_CLOSERS = [
    "Order today and see why it is a favourite in its category.",
    "It makes a dependable choice for home or work.",
    "Backed by our satisfaction promise.",
]
_ADJECTIVES = ["lightweight", "durable", "compact", "elegant", "rugged", "versatile"]


def product_description(text: str, rng: random.Random) -> str:
    name_match = re.search(r"(?:name|product)\s*:\s*([^\n;]+)", text, re.I)
    name = name_match.group(1).strip() if name_match else _topic(text).title()
    feature_match = re.search(r"(?:features?|material)\s*:\s*([^\n;]+)", text, re.I)
    feature = feature_match.group(1).strip().lower() if feature_match else "design"
    use_match = re.search(r"(?:for|category)\s*:?\s*([^\n;.]+)", text, re.I)
    use = use_match.group(1).strip().lower() if use_match else "everyday use"
    adj = rng.choice(_ADJECTIVES)
    return " ".join(
        [
            rng.choice(_PRODUCT_OPENERS).format(name=name, adj=adj, use=use),
            rng.choice(_PRODUCT_MIDDLES).format(feature=feature),
            rng.choice(_PRODUCT_CLOSERS),
        ]
    )


_WORDS_REQUEST = re.compile(r"(\d[\d,]*)[\s-]*words?", re.I)


def requested_word_count(text: str) -> int:
    match = _WORDS_REQUEST.search(text)
    if not match:
        return 0
    count = int(match.group(1).replace(",", ""))
    return count if 20 <= count <= 50_000 else 0


_ESSAY_SENTENCES = [
    "The {a} shapes how teams think about {b}.",
    "In practice, {a} matters most when {b} is under pressure.",
    "A careful look at {a} shows trade-offs that are easy to miss.",
    "Most teams start with {a} and only later discover the cost of {b}.",
    "Measured over a month, {a} changed how often {b} went wrong.",
    "The simplest design for {a} is usually the one that survives {b}.",
    "When {b} grows, {a} becomes the bottleneck.",
    "Good defaults for {a} save hours of debugging {b}.",
]


def long_document(text: str, words: int, rng: random.Random) -> str:
    """About `words` words of paragraphs about the request's topic."""
    topics = keywords(text, 6) or ["the system", "the users"]
    paragraphs: list[str] = []
    count = 0
    while count < words:
        sentences = []
        for _ in range(rng.randint(4, 7)):
            a, b = rng.choice(topics), rng.choice(topics)
            sentence = rng.choice(_ESSAY_SENTENCES).format(a=a, b=b)
            sentences.append(sentence[0].upper() + sentence[1:])
            count += len(sentence.split())
            if count >= words:
                break
        paragraphs.append(" ".join(sentences))
    return "\n\n".join(paragraphs)


def summary(text: str, rng: random.Random) -> str:
    """Two or three of the text's own sentences, as an extractive summary would pick."""
    body = text.split(":", 1)[1] if ":" in text[:200] else text
    sentences = [s.strip() for s in re.split(r"(?<=[.!?])\s+", body) if len(s.split()) > 4]
    if not sentences:
        return f"In short: {_topic(text)}."
    picked = sentences[:1] + rng.sample(sentences[1:], k=min(2, len(sentences) - 1))
    return "Summary: " + " ".join(picked)


# --- conversation ---------------------------------------------------------------

_CHAT_OPENERS = [
    "Good question about {t}.",
    "Here is the short version on {t}.",
    "Let's look at {t}.",
]
_CHAT_FOLLOWUPS = [
    "Building on my previous answer about {p}, here is how {t} fits in.",
    "Following on from {p}: {t} is the next thing to settle.",
    "Since we just covered {p}, the answer about {t} follows from it.",
]
_CHAT_BODY = [
    "The key idea is that {t} depends on who is waiting for the result.",
    "If a person is watching, keep {t} fast and show progress early.",
    "If nobody is watching, {t} can run in the background and report back.",
    "Measure {t} before deciding: time to first token and total time tell different stories.",
    "A queue gives {t} retries, durability and a record of what happened.",
    "Streaming helps {t} only when the reader can keep up with the text.",
    "For {t}, the cheapest option is often the one that can wait.",
    "Try it with a small example of {t} first, then scale it up.",
]


def chat_answer(prompt: Prompt, rng: random.Random) -> str:
    topic = _topic(prompt.user)
    if prompt.previous_answer:
        previous = _topic(prompt.previous_question or prompt.previous_answer)
        opener = rng.choice(_CHAT_FOLLOWUPS).format(p=previous, t=topic)
    else:
        opener = rng.choice(_CHAT_OPENERS).format(t=topic)
    detail = any(w in prompt.user.lower() for w in ("detail", "in depth", "thorough", "essay"))
    count = rng.randint(6, 9) if detail else rng.randint(2, 4)
    body = [s.format(t=topic) for s in rng.sample(_CHAT_BODY, k=min(count, len(_CHAT_BODY)))]
    return " ".join([opener, *body])


# --- research answers with citations -------------------------------------------------

_RESEARCH_PARAGRAPHS = [
    "The sources agree on the core of {t}. {s} [{c}]",
    "A second thread concerns how {t} behaves in practice. {s} [{c}]",
    "There is some disagreement about the trade-offs. {s} [{c}]",
    "In summary, the evidence on {t} points one way. {s} [{c}]",
]


def research_answer(prompt: Prompt, rng: random.Random) -> str:
    """Four paragraphs that cite the documents the tools returned, read ones first."""
    topic = _topic(prompt.user)
    read: list[str] = []  # ids of results about one document: documents read in full
    mentioned: list[str] = []  # every id seen, in order (search hits included)
    evidence: dict[str, str] = {}
    for result in prompt.tool_results:
        ids = list(dict.fromkeys(_CITATION_ID.findall(result)))
        mentioned.extend(i for i in ids if i not in mentioned)
        whole_document = len(ids) == 1
        if whole_document and ids[0] not in read:
            read.append(ids[0])
        for doc_id, sentence in _evidence_lines(result):
            if doc_id not in evidence or whole_document:
                evidence[doc_id] = sentence
    cited = read + [i for i in mentioned if i not in read] or ["no-source-0"]
    paragraphs = []
    for index, template in enumerate(_RESEARCH_PARAGRAPHS):
        doc_id = cited[index % len(cited)]
        sentence = evidence.get(doc_id) or rng.choice(_CHAT_BODY).format(t=topic)
        paragraphs.append(template.format(t=topic, s=sentence, c=doc_id))
    return "\n\n".join(paragraphs)


def _evidence_lines(result: str) -> list[tuple[str, str]]:
    """(id, first informative sentence) for each line of a tool result naming one id."""
    found: list[tuple[str, str]] = []
    for line in result.splitlines():
        ids = set(_CITATION_ID.findall(line))
        if len(ids) != 1:
            continue
        text = _CITATION_ID.sub("", line).strip(" \t:-[]()")
        sentences = [
            s.strip()
            for s in re.split(r"(?<=[.!?])\s+", text)
            if len(s.split()) > 5 and "{" not in s
        ]
        if sentences:
            sentence = sentences[0]
            found.append((ids.pop(), sentence if sentence[-1] in ".!?" else sentence + "."))
    return found


def citations_in(text: str) -> list[str]:
    """Document ids cited as [id] in an answer."""
    return re.findall(r"\[([a-z]{2,10}-\d{1,4})\]", text)
