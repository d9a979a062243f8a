"""Answers to the tasks the course itself sends the model.

Each function writes one kind of answer the way an assistant would: a verdict on
an expense and its justification, a product description, a ticket label, a
report section, a summary, a document of a requested length, a research answer
with citations. The words come from the request's fields and from the authored
knowledge base (`knowledge.py`), never from a keyword pasted into a sentence.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass

from . import knowledge

__all__ = [
    "classify_expense",
    "classify_ticket",
    "expense_justification",
    "long_document",
    "product_description",
    "report_section",
    "requested_word_count",
    "research_answer",
    "summary",
]

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def sentences(text: str) -> list[str]:
    """The sentences of a paragraph (split after . ! or ? followed by a space)."""
    return [s.strip() for s in _SENTENCE_END.split(text.strip()) if s.strip()]


def _lower_first(text: str) -> str:
    # "Time to first token is..." -> "time to first token is..." (keeps "TTFT", "I")
    if len(text) > 1 and text[0].isupper() and not text[1].isupper():
        return text[0].lower() + text[1:]
    return text


# --- expenses -------------------------------------------------------------------------------

_AMOUNT = re.compile(r"[$€£]\s?(\d[\d,]*(?:\.\d+)?)")
_LIMIT = 500.0
_NOT_ALLOWED = ("alcohol", "personal", "gift card", "fine", "penalty", "spa", "lottery")


@dataclass(frozen=True)
class _Verdict:
    approve: bool
    rule: str  # "alcohol", "gift card"..., "limit", "receipt" or "ok"
    amount: float


def _judge(text: str) -> _Verdict:
    lowered = text.lower()
    amounts = [float(m.replace(",", "")) for m in _AMOUNT.findall(text)]
    amount = max(amounts) if amounts else 0.0
    flagged = next((w for w in _NOT_ALLOWED if re.search(rf"\b{w}\b", lowered)), None)
    if flagged:
        return _Verdict(False, flagged, amount)
    if amount > _LIMIT:
        return _Verdict(False, "limit", amount)
    if "no receipt" in lowered or "missing receipt" in lowered or "without receipt" in lowered:
        return _Verdict(False, "receipt", amount)
    return _Verdict(True, "ok", amount)


def classify_expense(text: str, rng: random.Random) -> str:
    """APPROVE or REJECT with a one-line reason, following a simple policy."""
    verdict = _judge(text)
    if verdict.rule == "limit":
        return (
            f"REJECT: {verdict.amount:,.2f} is above the {_LIMIT:,.2f} limit without pre-approval."
        )
    if verdict.rule == "receipt":
        return "REJECT: a receipt is required."
    if not verdict.approve:
        return f"REJECT: {verdict.rule} expenses are not reimbursable."
    reason = rng.choice(
        ["within policy", "matches the travel policy", "under the limit with a receipt"]
    )
    return f"APPROVE: {reason}."


_RULES: dict[str, tuple[str, str]] = {
    "alcohol": (
        "The travel policy does not reimburse alcohol in any circumstances, including "
        "client entertainment. The rule is deliberately simple so that reviewers do not have to "
        "judge what counts as a reasonable drink.",
        "If the receipt also lists food, the employee can resubmit the claim for the food "
        "alone, with the alcohol lines removed and the attendees named.",
    ),
    "gift card": (
        "Gift cards are treated as cash equivalents, and the policy excludes them because they "
        "cannot be traced to a business purpose once handed over. Gifts to suppliers also fall "
        "under the separate gifts and hospitality register, which needs its own approval.",
        "If the gift had a legitimate business reason, the employee should record it in the "
        "gifts register and ask their manager to approve it there; finance will then reimburse "
        "it through that route.",
    ),
    "limit": (
        "Any single expense above the limit needs written pre-approval from a manager before "
        "the money is spent. Approval after the fact is not accepted, because the point of the "
        "rule is to let the budget holder decide before the commitment is made.",
        "If a manager did approve the purchase in advance, the employee can attach that "
        "approval and resubmit; otherwise the cost stays with the team that incurred it.",
    ),
    "receipt": (
        "Every claim must come with an itemised receipt, whatever the amount, so that the "
        "audit trail shows what was bought, when and from whom. A bank statement line is not "
        "enough, because it does not show the items.",
        "The claim can be resubmitted as soon as the receipt is found or a duplicate is "
        "obtained from the supplier; most transport operators can issue one online.",
    ),
    "ok": (
        "It has a clear business purpose, an itemised receipt is attached and the amount is "
        "within the limit, so it meets every condition of the travel policy. No item on it "
        "falls under an excluded category.",
        "The amount will be paid with the next expense run, and the receipt is kept with the "
        "claim for the yearly audit.",
    ),
}


def expense_justification(text: str, rng: random.Random) -> str:
    """About 150 words explaining the verdict `classify_expense` gives for the same expense."""
    line = next((ln for ln in text.splitlines() if ln.strip()), text)
    item = re.sub(r"^\s*expense\s*:\s*", "", line, flags=re.I).split(",")[0].strip(" .")
    verdict = _judge(line)
    rule, remedy = _RULES.get(verdict.rule, _RULES["alcohol"])
    symbol = re.search(r"[$€£]", line)
    currency = symbol.group(0) if symbol else "$"
    amount = f"{currency}{verdict.amount:,.2f}"
    what = f"The claim “{item}” ({amount})"
    if verdict.approve:
        opening = f"Decision: approved. {what} is accepted. The expense " + _lower_first(rule)
        limit = f"{currency}{_LIMIT:,.0f} limit"
        size = f"At {amount} it is also well inside the {limit} for a single item."
    else:
        opening = f"Decision: rejected. {what} cannot be paid. " + rule
        if verdict.rule == "limit":
            over = verdict.amount - _LIMIT
            size = f"At {amount} the claim is {currency}{over:,.2f} over the limit."
        else:
            size = (
                f"The amount is within the {currency}{_LIMIT:,.0f} limit: the rejection concerns "
                "the kind of claim, not its size."
            )
    closing = rng.choice(
        [
            "This decision and its reason are recorded with the claim, so that the employee, "
            "their manager and the auditors all see the same explanation.",
            "The reason is stored with the claim in the expense system, where the employee and "
            "the auditors can read it later.",
        ]
    )
    return "\n\n".join([opening + " " + size, remedy, closing])


# --- tickets and products -------------------------------------------------------------------


def classify_ticket(text: str, both: str, rng: random.Random) -> str:
    """One category from a 'Categories: a, b, c' list, chosen by the words they share."""
    match = re.search(r"categories?\s*:\s*([^\n.]+)", both)
    options = [c.strip(" .") for c in match.group(1).split(",")] if match else []
    options = [o for o in options if o] or ["billing", "bug", "account", "feature request"]
    lowered = text.lower()
    words = set(knowledge.words_of(lowered))
    hints = {
        "billing": ("charged", "invoice", "refund", "payment", "price"),
        "bug": ("crash", "error", "broken", "does nothing"),
        "account": ("log in", "login", "password", "profile"),
        "shipping": ("parcel", "delivery", "label", "address"),
        "feature request": ("add", "would like", "dark mode", "please support"),
    }
    scored = []
    for index, option in enumerate(options):
        score = sum(knowledge.stem(w) in words for w in option.split()) * 2
        score += sum(h in lowered for h in hints.get(option, ()))
        scored.append((score, -index, option))
    best = max(scored)
    return best[2] if best[0] > 0 else rng.choice(options)


_FEATURE_BENEFITS: dict[str, str] = {
    "adjustable strap": "adjusts to carry comfortably on the shoulder or across the body",
    "soft-touch grip": "stays comfortable and secure in the hand",
    "fold-flat design": "folds away into a drawer or bag when not in use",
    "double-wall insulation": "keeps heat in and condensation out",
    "recycled materials": "is made with a lighter footprint",
    "non-slip base": "stays put on smooth and uneven surfaces",
    "lifetime warranty": "is covered for as long as you own it",
    "usb-c charging": "charges from the same cable as your phone",
    "water-resistant finish": "shrugs off rain and spills",
    "magnetic clasp": "closes with one hand and stays shut",
    "hand-stitched seams": "holds together under years of daily use",
    "dishwasher-safe parts": "cleans up in the dishwasher",
}
_AUDIENCE_NEEDS: dict[str, str] = {
    "travellers": "packs easily between trips",
    "hikers": "earns its place in a day pack",
    "students": "handles a busy term on a budget",
    "new parents": "makes hectic days a little simpler",
    "artists": "keeps up with long sessions in the studio",
    "campers": "copes with life outdoors",
    "gardeners": "stands up to soil, sun and the odd knock",
    "commuters": "survives the daily journey",
    "home cooks": "earns its place in a busy kitchen",
    "runners": "stays light enough for early starts",
    "small offices": "works hard without taking up space",
    "remote workers": "fits neatly into a home workspace",
}
_PRODUCT_CLOSERS = [
    "A dependable choice that will not need replacing soon.",
    "Simple, practical and made to last.",
    "An easy upgrade for everyday routines.",
    "Built for daily use, not just for the shelf.",
]


def product_description(text: str, rng: random.Random) -> str:
    """About forty words built from the request's Name, Features and For lines."""

    def field(*names: str) -> str:
        for name in names:
            found = re.search(rf"^\s*{name}\s*:\s*(.+)$", text, re.I | re.M)
            if found:
                return found.group(1).strip().rstrip(".")
        return ""

    name = field("name", "product") or "This product"
    features = field("features?", "material")
    audience = field("for", "audience", "category")
    parts = [p.strip() for p in re.split(r"\band\b|,", features) if p.strip()]
    benefits = [_FEATURE_BENEFITS.get(p.lower(), "") for p in parts]
    known = [b for b in benefits if b]
    if features and known:
        benefit = known[0] if len(known) == 1 else f"{known[0]}, and {known[1]}"
        first = f"The {name} comes with {features.lower()}, so it {benefit}."
    elif features:
        first = f"The {name} comes with {features.lower()}, a detail you notice every day."
    else:
        first = f"The {name} is a well-made everyday essential."
    if audience:
        need = _AUDIENCE_NEEDS.get(audience.lower(), "fits the way you work and live")
        second = f"Designed with {audience.lower()} in mind, it {need}."
    else:
        second = "It fits the way you work and live."
    return " ".join([first, second, rng.choice(_PRODUCT_CLOSERS)])


# --- documents ----------------------------------------------------------------------------------

_WORDS_REQUEST = re.compile(
    r"(?:\b(?:write|draft|compose|generate|produce)\b[^.?!\n]*?|\bin (?:about |around |roughly )?)"
    r"(\d[\d,]*)[\s-]*words?",
    re.I,
)
"""A request for a length: "write a 300-word note", "in about 300 words" (not "a 5,000-word
report?" in a question about one)."""


def requested_word_count(text: str) -> int:
    """The length a request asks for ("a 300-word note", "in about 300 words"), else 0."""
    match = _WORDS_REQUEST.search(text)
    if not match:
        return 0
    count = int(match.group(1).replace(",", ""))
    return count if 20 <= count <= 50_000 else 0


_REPORT_REQUEST = re.compile(
    r"(\d[\d,]*)[\s-]*word section titled\s*[\"“]?([^\"”\n]+?)[\"”]?"
    r"\s+for a report on\s+([^\n]+?)\.?$",
    re.I | re.M,
)


def report_section(text: str, rng: random.Random) -> str | None:
    """A report section ('Write a 80-word section titled "Risks" for a report on X'), or None."""
    match = _REPORT_REQUEST.search(text)
    if not match:
        return None
    words = int(match.group(1).replace(",", ""))
    title, topic = match.group(2).strip(), match.group(3).strip()
    reports = [e for e in knowledge.entries() if e.section == "reports"]
    found = knowledge.retrieve(topic, among=reports)
    if found:
        report = found[0].entry
        labelled = {
            p.split(":", 1)[0].lower(): p.split(":", 1)[1].strip() for p in report.paragraphs
        }
        body = labelled.get(title.lower()) or labelled.get("summary", report.gist)
        return _cut(sentences(body), words)
    subjects = knowledge.retrieve(topic)
    if subjects:
        material = [s for p in _material(subjects[0].entry) for s in sentences(p)]
        return _cut(material, words)
    return (
        f"This {title.lower()} section needs material the offline simulator does not have: "
        "its notes cover streaming, queues, batches, retries, durability, timeouts and cost. "
        "With a live model the section would be written from what the model knows about the "
        "subject; here it only marks where that text belongs, at the length and cost the "
        "request asked for."
    )


def _material(entry: knowledge.Entry) -> list[str]:
    return [entry.gist, *entry.paragraphs, *entry.more]


def _cut(parts: Sequence[str], words: int) -> str:
    """Sentences in order until about `words` words (never cut inside a sentence)."""
    kept: list[str] = []
    count = 0
    for sentence in parts:
        if count >= words:
            break
        kept.append(sentence)
        count += len(sentence.split())
    return " ".join(kept)


def long_document(text: str, words: int, rng: random.Random) -> str:
    """About `words` words on the request's subject, in titled sections when it is long."""
    subject = re.sub(r"\d[\d,]*[\s-]*words?", " ", text)  # the length is not the subject
    found = knowledge.retrieve(subject)
    primary = found[0].entry if found else None
    if primary is not None and primary.section == "tasks":
        pieces = [[*primary.paragraphs, *primary.more]]
        titles = [primary.title]
        if primary.id == "refunds":
            pieces.append(_refund_cases(rng, words))
            titles.append("cases from the last quarter")
    else:
        order = [m.entry for m in found if m.entry.section == "subjects"]
        order += [e for e in knowledge.entries() if e.section == "subjects" and e not in order]
        pieces = [_material(e) for e in order]
        titles = [e.title for e in order]
    headed = words >= 1000
    paragraphs: list[str] = []
    count = 0
    for title, material in zip(titles, pieces, strict=True):
        if count >= words:
            break
        if headed:
            paragraphs.append("## " + title[0].upper() + title[1:])
        for paragraph in material:
            kept: list[str] = []
            for sentence in sentences(paragraph):
                size = len(sentence.split())
                if count >= words or count + size - words > words - count:
                    count = max(count, words)  # stop where the length is closest to the request
                    break
                kept.append(sentence)
                count += size
            if kept:
                paragraphs.append(" ".join(kept))
    return "\n\n".join(paragraphs)


_REFUND_CASES = (
    (
        "a duplicate charge",
        "The payment record showed two identical charges a few minutes apart.",
        "refunded the second charge under the written rule for duplicates",
    ),
    (
        "an order that never shipped",
        "The warehouse system had no dispatch scan for the order.",
        "cancelled the order and refunded it in full",
    ),
    (
        "a parcel marked as delivered but not received",
        "The carrier's record showed a delivery photo at a neighbouring address.",
        "opened a claim with the carrier and sent a replacement",
    ),
    (
        "a damaged item",
        "The customer's photos showed the damage clearly.",
        "approved a refund without asking for the item back",
    ),
    (
        "a subscription renewal the customer had forgotten",
        "The account showed no use since the renewal date.",
        "refunded the renewal as a one-time goodwill gesture and noted it on the account",
    ),
    (
        "a return outside the refund window",
        "The purchase date was well past the thirty-day window.",
        "declined the refund and offered store credit instead",
    ),
    (
        "a high-value order with a mismatched name",
        "The billing name differed from the account holder's.",
        "escalated the case to a senior agent, who verified the customer before refunding",
    ),
    (
        "a price drop a few days after purchase",
        "The price-protection rule covers fourteen days.",
        "refunded the difference to the original card",
    ),
)
_CHANNELS = ("email", "chat", "phone", "the web form")


def _refund_cases(rng: random.Random, words: int) -> list[str]:
    """Short case notes, enough to reach a long report's length (each a paragraph)."""
    notes: list[str] = []
    count = 0
    number = 0
    while count < words:
        number += 1
        reason, check, action = _REFUND_CASES[(number - 1) % len(_REFUND_CASES)]
        channel = rng.choice(_CHANNELS)
        amount = rng.uniform(12, 480)
        minutes = rng.randint(6, 240)
        took = f"{minutes} minutes" if minutes < 120 else f"{minutes // 60} hours"
        note = (
            f"Case {number}: a customer contacted us by {channel} about {reason} "
            f"(${amount:,.2f}). {check} The agent {action}; the case closed after {took}."
        )
        notes.append(note)
        count += len(note.split())
    return notes


_SUMMARY_COUNTS = {"one": 1, "two": 2, "three": 3, "2": 2, "3": 3, "1": 1}


def summary(text: str, rng: random.Random) -> str:
    """The text's most informative sentences, as an extractive summary picks them."""
    instruction, _, body = text.partition("\n") if "\n" in text else text.partition(":")
    body = re.sub(r"^\s*(note|text|report)\s*:\s*", "", body.strip(), flags=re.I)
    wanted = re.search(r"in (one|two|three|\d)(?: or (two|three))? sentences?", instruction, re.I)
    limit = 3
    if wanted:
        limit = _SUMMARY_COUNTS.get((wanted.group(2) or wanted.group(1)).lower(), 3)
    found = list(dict.fromkeys(s for s in sentences(body) if len(s.split()) > 4))  # no repeats
    if not found:
        return "The text is too short to summarise: it says " + _lower_first(body.strip()) + ""
    # keep the first sentence (the topic), then the longest others, in their original order
    rest = sorted(found[1:], key=lambda s: -len(s.split()))[: max(limit - 1, 0)]
    picked = [found[0], *[s for s in found[1:] if s in rest]]
    return " ".join(picked[:limit])


# --- research answers ----------------------------------------------------------------------------

_CITATION_ID = re.compile(r"\b([a-z]{2,10}-\d{1,4})\b")


@dataclass
class _Source:
    id: str
    title: str
    sentences: list[str]
    read: bool


def _sources(tool_results: Sequence[str]) -> list[_Source]:
    """What the tools returned: documents read in full first, then search snippets."""
    found: dict[str, _Source] = {}
    for result in tool_results:
        text = result.strip()
        if text.startswith("Title:"):
            first, _, body = text.partition("\n")
            ids = _CITATION_ID.findall(body)
            if not ids:
                continue
            doc_id = ids[-1]
            body = body.replace(f"[{doc_id}]", "").strip()
            found[doc_id] = _Source(
                doc_id, first.removeprefix("Title:").strip(), sentences(body), True
            )
            continue
        whole_document = len(set(_CITATION_ID.findall(text))) == 1
        for line in text.splitlines():
            try:
                hit = json.loads(line)
            except ValueError:
                hit = _plain_hit(line)
            if not isinstance(hit, dict) or not isinstance(hit.get("id"), str):
                continue
            if hit["id"] not in found:
                found[hit["id"]] = _Source(
                    hit["id"],
                    str(hit.get("title", "")),
                    sentences(str(hit.get("snippet", ""))),
                    whole_document and not line.lstrip().startswith("{"),
                )
    ordered = [s for s in found.values() if s.read] + [s for s in found.values() if not s.read]
    return [s for s in ordered if s.sentences]


def _plain_hit(line: str) -> dict[str, str] | None:
    """A tool result line like 'doc-3: some text' (one id): another tool's format."""
    ids = set(_CITATION_ID.findall(line))
    if len(ids) != 1:
        return None
    text = _CITATION_ID.sub("", line).strip(" \t:-[]()")
    return {"id": ids.pop(), "title": "", "snippet": text} if len(text.split()) > 3 else None


_LEADS = (
    "The clearest evidence comes from {title} [{id}]:",
    "{title} [{id}] adds a practical angle:",
    "A third source, {title} [{id}], shows what is at stake:",
)


def research_answer(question: str, tool_results: Sequence[str], rng: random.Random) -> str:
    """Four paragraphs, each citing one document [doc-N] and quoting what it says."""
    sources = _sources(tool_results)
    found = knowledge.retrieve(question)
    subject = found[0].entry if found and found[0].entry.section == "subjects" else None
    if not sources:
        return (
            "The library returned nothing on this question, so there is nothing to cite. "
            "The search may need other words, or the library may not cover the subject."
        )
    used: dict[str, int] = {}

    def quote(source: _Source, count: int) -> str:
        start = used.get(source.id, 0)
        picked = source.sentences[start : start + count] or source.sentences[:count]
        used[source.id] = start + len(picked)
        return "“" + " ".join(picked) + "”"

    paragraphs = []
    for index, lead in enumerate(_LEADS):
        source = sources[index % len(sources)]
        if index >= len(sources):
            lead = "The same document, {title} [{id}], goes further:"
        lead = lead.format(title=_titled(source.title), id=source.id)
        paragraph = lead[0].upper() + lead[1:] + " " + quote(source, 2)
        if index == 0 and subject is not None:
            paragraph += " " + sentences(subject.paragraphs[0])[0]
        paragraphs.append(paragraph)
    if subject is not None:
        closing = "Taken together, the sources point to one rule. " + subject.gist
    else:
        closing = "Taken together, the sources point the same way."
    last = sources[min(len(sources), len(_LEADS)) - 1]  # read documents come first
    closing += f" As {_titled(last.title)} [{last.id}] puts it, " + quote(last, 1)
    paragraphs.append(closing)
    return "\n\n".join(paragraphs)


def _titled(title: str) -> str:
    return f"*{title}*" if title else "a note"
