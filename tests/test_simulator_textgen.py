"""The offline model writes like an assistant: checked over the course's prompts and made-up ones.

Every prompt goes through the real SDK and the simulator (what a notebook does),
so what is checked is what a learner reads.
"""

from __future__ import annotations

import itertools
import json
import re
from typing import Any

import pytest
from simulator_support import sync_client

from stream_or_queue import config
from stream_or_queue.research import corpus
from stream_or_queue.research.questions import QUESTIONS
from stream_or_queue.research.tools import Toolbox
from stream_or_queue.simulator import Simulator, knowledge
from stream_or_queue.simulator.tokens import count_tokens

MODEL = config.LARGE_MODEL
EXPENSE_SYSTEM = (
    "You review employee expenses against the travel policy. Approve or reject each one."
)

# What the course itself sends (notebooks, labs, the web page, the library's jobs).
COURSE_CHAT = [
    "Why do chat assistants stream their answers?",
    "What is time to first token?",
    "Explain in detail how our expense policy treats client dinners.",
    "Say hello to a new student in one sentence.",
    "hi",
]
COURSE_LENGTHS = [
    ("Write a 120-word welcome note for a course about streaming and queues.", 120),
    ("Write a 150-word note on why a chat answer should stream.", 150),
    ("In about 300 words, explain how a support team should triage refund requests.", 300),
    ("In about 300 words, explain what makes a good onboarding email.", 300),
    ("In about 300 words, explain how to review a pull request.", 300),
    ("In about 300 words, explain how caching speeds up a web page.", 300),
    ("In about 300 words, explain why tests should be fast.", 300),
    ("Write a 2,000-word essay on streaming versus queues.", 2000),
    ("Write a 5,000-word report on how our support team handles refunds.", 5000),
]
REPORT_SECTIONS = [
    f'Write a 80-word section titled "{title}" for a report on {topic}.'
    for topic in ("heat pumps", "e-bikes", "solar roofs", "rail freight")
    for title in ("Summary", "Findings", "Risks", "Recommendations")
]
PRODUCTS = [
    "Write a product description of about 40 words to publish in our online shop.\n"
    "Name: Metro Copper Throw Blanket\nFeatures: double-wall insulation and fold-flat design\n"
    "For: artists",
    "Write a product description of about 40 words to publish in our online shop.\n"
    "Name: Willow Bamboo Camping Stove\nFeatures: non-slip base\nFor: campers",
]
EXPENSES = [
    "Expense: Gift card for a supplier, $53.89, no receipt.",
    "Expense: Conference ticket bought without pre-approval, $720.07, receipt attached.",
    "Expense: Hotel, two nights for the Berlin conference, $301.12, receipt attached.",
    "Expense: Train ticket to the Paris office, $44.86, missing receipt.",
]
# Questions a learner might make up: on the course's subjects, and outside them.
MADE_UP = [
    "What is the difference between a queue and a stream?",
    "Should I stream a 5,000-word report to the screen?",
    "How do I stop a model answer halfway and save money?",
    "What happens when my agent runs longer than the load balancer allows?",
    "How many times does the SDK retry a 529 error?",
    "Is the batch API really half the price?",
    "How do I make a job survive a crash of its worker?",
    "Why is a Python list a bad job queue?",
    "Can progress be shown without streaming tokens?",
    "Which is better for progress, WebSockets or server-sent events?",
    "How do I send the done email only once?",
    "Tell me about heat pumps.",
]
OFF_TOPIC = [
    "How do I make fluffy pancakes?",
    "What is the capital of Mongolia?",
    "Write me a poem about autumn leaves.",
]


def _ask(client: Any, content: Any, *, system: str = "", max_tokens: int = 16000) -> Any:
    messages = content if isinstance(content, list) else [{"role": "user", "content": content}]
    params: dict[str, Any] = {"model": MODEL, "max_tokens": max_tokens, "messages": messages}
    if system:
        params["system"] = system
    return client.messages.create(**params)


def _text(message: Any) -> str:
    return "".join(b.text for b in message.content if b.type == "text")


@pytest.fixture(scope="module")
def answers() -> dict[str, str]:
    """Question -> answer for every single-turn prompt of the set (one simulator, seed 0)."""
    found: dict[str, str] = {}
    with sync_client(Simulator(seed=0)) as client:
        for question in [
            *COURSE_CHAT,
            *(q for q, _ in COURSE_LENGTHS),
            *REPORT_SECTIONS,
            *PRODUCTS,
            *MADE_UP,
            *OFF_TOPIC,
            *QUESTIONS[:12],
        ]:
            found[question] = _text(_ask(client, question))
        for expense in EXPENSES:
            found[expense] = _text(_ask(client, expense, system=EXPENSE_SYSTEM))
    return found


@pytest.mark.slow
def test_the_set_has_at_least_forty_prompts(answers: dict[str, str]) -> None:
    assert len(answers) >= 40


_STOP = frozenset(
    {"a", "an", "the", "of", "to", "in", "on", "is", "are", "do", "does", "i", "my", "it"}
    | {"and", "or", "for", "how", "what", "why"}
)


def _phrases(text: str, n: int = 3) -> set[tuple[str, ...]]:
    words = re.findall(r"[a-z0-9'-]+", text.lower())
    return {
        tuple(words[i : i + n])
        for i in range(len(words) - n + 1)
        if not set(words[i : i + n]) <= _STOP
    }


def _count(phrase: tuple[str, ...], text: str) -> int:
    words = re.findall(r"[a-z0-9'-]+", text.lower())
    return sum(tuple(words[i : i + len(phrase)]) == phrase for i in range(len(words)))


def test_no_answer_echoes_a_phrase_of_its_question(answers: dict[str, str]) -> None:
    for question, answer in answers.items():
        instruction = question.split("\n")[0]
        for phrase in _phrases(instruction):
            assert _count(phrase, answer) <= 1, (question, phrase)


def test_no_template_slot_shows(answers: dict[str, str]) -> None:
    vocabulary = {w for e in knowledge.entries() for w in _phrases_words(e)}
    for question, answer in answers.items():
        assert not re.search(r"[{}]|\bNone\b|\s[,.]|\.\.(?!\.)", answer), (question, answer)
        assert answer[:1].isupper() or answer[:1] in "#“*", (question, answer[:40])
    # a question's own words that the notes never use cannot appear in a chat answer:
    # that is what a keyword pasted into a sentence would look like ("fluffy pancakes")
    for question in [*MADE_UP, *OFF_TOPIC]:
        foreign = {w for w in re.findall(r"[a-z]{5,}", question.lower()) if w not in vocabulary}
        for word in foreign:
            assert word not in answers[question].lower(), (question, word)


def _phrases_words(item: knowledge.Entry) -> set[str]:
    text = " ".join([item.title, item.gist, *item.paragraphs, *item.more])
    return set(re.findall(r"[a-z]{5,}", text.lower()))


def test_different_questions_get_different_answers(answers: dict[str, str]) -> None:
    on_topic = {q: a for q, a in answers.items() if q not in OFF_TOPIC}
    for (q1, a1), (q2, a2) in itertools.combinations(on_topic.items(), 2):
        assert a1 != a2, (q1, q2)


def test_course_prompts_get_answers_written_for_them(answers: dict[str, str]) -> None:
    for question, words in COURSE_LENGTHS:
        count = len(answers[question].split())
        assert 0.8 * words <= count <= 1.2 * words, (question, count)
    assert "refund" in answers[COURSE_LENGTHS[2][0]].lower()
    assert "review" in answers[COURSE_LENGTHS[4][0]].lower()
    assert "cache" in answers[COURSE_LENGTHS[5][0]].lower()
    for question in REPORT_SECTIONS:
        assert 50 <= len(answers[question].split()) <= 110, question
    assert "heat pump" in answers[REPORT_SECTIONS[0]].lower()
    assert answers["Say hello to a new student in one sentence."].count(". ") == 0
    for expense in EXPENSES:
        assert answers[expense].split(":")[0] in ("APPROVE", "REJECT")


def test_off_topic_questions_get_an_honest_reply_long_enough_to_stop(
    answers: dict[str, str],
) -> None:
    for question in OFF_TOPIC:
        answer = answers[question]
        assert "offline simulator" in answer and "live" in answer
        assert count_tokens(answer) >= 150, question


def test_follow_ups_build_on_the_previous_answer() -> None:
    conversations = [
        ("What is time to first token?", "How do I measure it in my own chat box?"),
        ("Explain background queues", "And what about retries?"),
        ("Why do chat assistants stream their answers?", "Can you give me an example?"),
        ("What does a batch cost?", "Why is that cheaper?"),
        ("How do I make fluffy pancakes?", "What about streaming then?"),
        ("What is the difference between a queue and a stream?", "Which should my report use?"),
    ]
    with sync_client(Simulator(seed=0)) as client:
        for first_question, follow_up in conversations:
            first = _text(_ask(client, first_question))
            second = _text(
                _ask(
                    client,
                    [
                        {"role": "user", "content": first_question},
                        {"role": "assistant", "content": first},
                        {"role": "user", "content": follow_up},
                    ],
                )
            )
            assert second != first
            if "offline simulator" in first:
                continue  # nothing to build on: the follow-up is a first answer
            shared = {p for p in _phrases(first, 5)} & _phrases(second, 5)
            assert shared, (first_question, follow_up, second)


def test_same_request_and_seed_give_the_same_text_and_usage_counts_it() -> None:
    def run(seed: int) -> list[tuple[str, int]]:
        with sync_client(Simulator(seed=seed)) as client:
            out = []
            for question in (MADE_UP[0], OFF_TOPIC[0], REPORT_SECTIONS[1]):
                message = _ask(client, question)
                out.append((_text(message), message.usage.output_tokens))
            return out

    first = run(3)
    assert first == run(3)
    for text, tokens in first:
        assert tokens == count_tokens(text)


def test_research_answers_cite_the_documents_they_quote() -> None:
    toolbox = Toolbox()
    question = QUESTIONS[0]
    hits = toolbox.plan("search", {"query": question}).output
    ids = [json.loads(line)["id"] for line in hits.splitlines()]
    read = [toolbox.plan("read_document", {"doc_id": i}).output for i in ids[:3]]
    messages: list[dict[str, Any]] = [{"role": "user", "content": question}]
    for index, output in enumerate([hits, *read]):
        call_id = f"toolu_{index:024d}"
        messages.append(
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": call_id, "name": "t", "input": {}}],
            }
        )
        messages.append(
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": call_id, "content": output}],
            }
        )
    with sync_client(Simulator(seed=0)) as client:
        answer = _text(_ask(client, messages, system="Answer in four paragraphs citing [doc-N]."))
    paragraphs = answer.split("\n\n")
    assert len(paragraphs) == 4
    for paragraph in paragraphs:
        cited = re.findall(r"\[([a-z]+-\d+)\]", paragraph)
        quotes = re.findall(r"“([^”]+)”", paragraph)
        assert len(cited) == 1 and quotes, paragraph
        assert all(q in corpus.document(cited[0]).text for q in quotes), paragraph
    assert {c for c in re.findall(r"\[([a-z]+-\d+)\]", answer)} <= set(ids[:3])
