"""The offline model's knowledge base: authored notes and a small retriever over them.

The simulator has no neural network. What it can say about the course's subjects
(streaming, queues, batches, retries, durability, timeouts, cost) is written down
in `data/knowledge.md`, one entry per subject; a question is answered from the
entries whose terms it uses. Keeping the text as package data, not code, lets
an author improve an answer without touching the generator.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources

__all__ = [
    "Entry",
    "Match",
    "entries",
    "entry",
    "retrieve",
    "stem",
    "words_of",
]

_WORD = re.compile(r"[a-z0-9][a-z0-9'-]*")


def stem(word: str) -> str:
    """A crude English stem, enough to match "retries" with "retry" and "queued" with "queues"."""
    word = word.strip("'-")
    if len(word) > 4 and word.endswith("ies"):
        word = word[:-3] + "y"
    elif len(word) > 4 and word.endswith(("sses", "xes", "ches", "shes")):
        word = word[:-2]
    elif len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    for suffix in ("ing", "ed"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)]
            break
    if len(word) > 3 and word.endswith("e"):
        word = word[:-1]
    return word


def words_of(text: str) -> list[str]:
    """Lower-case word stems of `text`, in order."""
    return [stem(w) for w in _WORD.findall(text.lower())]


@dataclass(frozen=True)
class Entry:
    """One subject: what a question must mention to reach it, and what to say about it."""

    id: str
    section: str
    """'subjects' (the course's own) or 'tasks' (prompts the course sends about other things)."""
    title: str
    gist: str
    paragraphs: tuple[str, ...]
    more: tuple[str, ...]
    terms: frozenset[str] = field(repr=False)

    @property
    def words(self) -> int:
        return sum(len(p.split()) for p in (self.gist, *self.paragraphs, *self.more))


@dataclass(frozen=True)
class Match:
    """An entry and how strongly a text points at it."""

    entry: Entry
    score: float
    matched: tuple[str, ...]


@cache
def entries() -> tuple[Entry, ...]:
    """Every entry of the bundled knowledge base, in file order."""
    source = resources.files("stream_or_queue").joinpath("data/knowledge.md").read_text("utf-8")
    return tuple(_parse(source))


def entry(entry_id: str) -> Entry:
    """The entry called `entry_id` (KeyError if there is none)."""
    for item in entries():
        if item.id == entry_id:
            return item
    raise KeyError(entry_id)


def _parse(source: str) -> list[Entry]:
    source = re.sub(r"<!--.*?-->", "", source, flags=re.S)
    found: list[Entry] = []
    section = ""
    for chunk in re.split(r"(?m)^(?=#{1,2} )", source):
        heading, _, body = chunk.partition("\n")
        if heading.startswith("# "):
            section = heading[2:].strip()
            continue
        if not heading.startswith("## "):
            continue
        fields: dict[str, str] = {}
        paragraphs: list[str] = []
        more: list[str] = []
        for block in re.split(r"\n\s*\n", body.strip()):
            lines = block.strip().splitlines()
            while lines and re.match(r"(terms|title|gist): ", lines[0]):
                key, _, value = lines.pop(0).partition(": ")
                fields[key] = value.strip()
            text = " ".join(line.strip() for line in lines).strip()
            if text.startswith("more: "):
                more.append(text.removeprefix("more: "))
            elif text:
                paragraphs.append(text)
        found.append(
            Entry(
                id=heading[3:].strip(),
                section=section,
                title=fields["title"],
                gist=fields["gist"],
                paragraphs=tuple(paragraphs),
                more=tuple(more),
                terms=frozenset(stem(t) for t in fields["terms"].split()),
            )
        )
    return found


@cache
def _weights() -> dict[str, float]:
    """Inverse document frequency of each term over the entries: rare terms decide more."""
    counts: dict[str, int] = {}
    for item in entries():
        for term in item.terms:
            counts[term] = counts.get(term, 0) + 1
    total = len(entries())
    return {term: 1.0 + math.log(total / n) for term, n in counts.items()}


def retrieve(text: str, *, among: Sequence[Entry] | None = None) -> list[Match]:
    """Entries whose terms `text` uses, best first (empty when none does)."""
    stems = set(words_of(text))
    weights = _weights()
    matches = []
    for item in among if among is not None else entries():
        matched = tuple(sorted(stems & item.terms))
        if matched:
            score = sum(weights[t] for t in matched)
            matches.append(Match(item, score, matched))
    matches.sort(key=lambda m: (-m.score, m.entry.id))
    return matches
