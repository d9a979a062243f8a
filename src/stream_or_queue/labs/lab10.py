"""Checks for lab 10: classify a dozen new AI features and justify each choice."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

from ..choose import Feature, Pattern, decide
from . import CheckFailed, call_learner, expect, passed
from .progress import Help, LabProgress

__all__ = [
    "DECIDING",
    "FACTORS",
    "NEW_USE_CASES",
    "check_classifications",
    "check_justifications",
    "factors_named",
    "hint",
    "report",
]

NEW_USE_CASES: tuple[Feature, ...] = (
    Feature(
        "Translate a chat message as it is typed",
        user_waiting=True,
        expected_seconds=2,
        conversational=True,
    ),
    Feature(
        "Nightly: tag every new support article",
        user_waiting=False,
        expected_seconds=1800,
        items=4_000,
        recurring=True,
    ),
    Feature(
        "Draft a 40-page due-diligence report",
        user_waiting=False,
        expected_seconds=900,
        needs_durability=True,
    ),
    Feature("Spam check on a comment before it posts", user_waiting=True, expected_seconds=0.4),
    Feature(
        "Autocomplete in a search box (keystroke)",
        user_waiting=True,
        expected_seconds=0.05,
        latency_budget_ms=50,
    ),
    Feature(
        "Insurance claim intake with a legal receipt",
        user_waiting=True,
        expected_seconds=45,
        regulatory_sync_ack=True,
    ),
    Feature(
        "Agent that books travel, ~90 s, user watching", user_waiting=True, expected_seconds=90
    ),
    Feature(
        "Extract keywords from 2 million documents once",
        user_waiting=False,
        expected_seconds=20_000,
        items=2_000_000,
        batch_savings_matter=True,
    ),
    Feature("Rewrite a paragraph in the editor", user_waiting=True, expected_seconds=4),
    Feature(
        "Weekly churn-risk notes for 30,000 accounts",
        user_waiting=False,
        expected_seconds=7200,
        items=30_000,
        recurring=True,
        batch_savings_matter=True,
    ),
    Feature(
        "Alt text for 500 uploaded images, due tomorrow",
        user_waiting=False,
        expected_seconds=600,
        items=500,
        batch_savings_matter=True,
    ),
    Feature(
        "Transcribe and summarise a 1-hour meeting after it ends",
        user_waiting=False,
        expected_seconds=300,
    ),
)
"""Twelve features the lab asks about; the expected answers come from `decide`."""

_HINTS: dict[Pattern, str] = {
    Pattern.SYNC: "it answers in under a second and nobody converses with it",
    Pattern.SYNC_STREAMING: "a person is watching an answer that takes a few seconds",
    Pattern.ASYNC_BACKGROUND: "nobody is waiting for it: queue it and notify",
    Pattern.ASYNC_PROGRESS: "a person is watching, but it takes longer than ~15 s",
    Pattern.BATCH: "it is bulk work that nobody watches: half price through the Batches API",
    Pattern.SCHEDULED_BATCH: "it recurs or exceeds one batch: a scheduler should run it",
    Pattern.PRECOMPUTED: "its latency budget is under 100 ms: no model call fits",
    Pattern.SYNC_ACK_ASYNC: "a rule demands an immediate acknowledgement, the AI part can wait",
}


def _answers(
    learner: Callable[[], Mapping[str, tuple[Pattern, str]]],
) -> dict[str, tuple[Pattern, str]]:
    answers = call_learner(learner)
    expect(isinstance(answers, Mapping), "Return a dict: {feature name: (Pattern, justification)}.")
    missing = [f.name for f in NEW_USE_CASES if f.name not in answers]
    expect(not missing, "These features have no answer yet: " + "; ".join(missing))
    for name, value in answers.items():
        expect(
            isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], Pattern),
            f"{name!r}: answer with a tuple (Pattern.X, 'why'), got {value!r}.",
        )
    return dict(answers)


def check_classifications(learner: Callable[[], Mapping[str, tuple[Pattern, str]]]) -> None:
    """Every feature gets the pattern the four questions lead to."""
    answers = _answers(learner)
    wrong = []
    for feature in NEW_USE_CASES:
        expected = decide(feature).pattern
        chosen = answers[feature.name][0]
        if chosen is not expected:
            wrong.append(
                f"- {feature.name}: you chose '{chosen}', but {_HINTS[expected]} "
                "(re-read the four questions)."
            )
    if wrong:
        raise CheckFailed(
            f"{len(wrong)} of {len(NEW_USE_CASES)} need another look:\n" + "\n".join(wrong)
        )
    passed(f"all {len(NEW_USE_CASES)} features get the right pattern")


FACTORS: dict[str, re.Pattern[str]] = {
    "waiting": re.compile(
        r"\b(wait\w*|watch\w*|nobody|no one|users?|person|people|looking|away|meeting)\b"
    ),
    "duration": re.compile(
        r"(\b\d+\s*(ms|s|sec\w*|min\w*|h|hours?)\b|\b(seconds?|minutes?|hours?|long\w*|"
        r"quick\w*|fast\w*|slow\w*|instant\w*|latency|budget|timeouts?|time)\b)"
    ),
    "durability": re.compile(
        r"\b(crash\w*|surviv\w*|deploy\w*|durab\w*|lost|lose|restart\w*|checkpoint\w*)\b"
    ),
    "cost": re.compile(
        r"\b(cost\w*|price\w*|cheap\w*|half|money|bill\w*|discount\w*|batch\w*|bulk|"
        r"volume|items|millions?|thousands?)\b"
    ),
    "schedule": re.compile(r"\b(recur\w*|nightly|weekly|daily|every|schedul\w*|cron)\b"),
    "exception": re.compile(
        r"\b(rules?|regulat\w*|legal|law|receipt|acknowledg\w*|precomput\w*|cach\w*|"
        r"lookup|table|local model|\d+\s*ms)\b"
    ),
}
"""The words that name each deciding factor (a justification must name the right one)."""

DECIDING: dict[Pattern, tuple[str, ...]] = {
    Pattern.SYNC: ("duration",),
    Pattern.SYNC_STREAMING: ("waiting", "duration"),
    Pattern.ASYNC_BACKGROUND: ("waiting", "durability"),
    Pattern.ASYNC_PROGRESS: ("duration",),
    Pattern.BATCH: ("cost",),
    Pattern.SCHEDULED_BATCH: ("schedule", "cost"),
    Pattern.PRECOMPUTED: ("exception", "duration"),
    Pattern.SYNC_ACK_ASYNC: ("exception",),
}
"""Which factors can decide each pattern: what its justification must talk about."""


def factors_named(justification: str) -> list[str]:
    """The deciding factors a justification names, in FACTORS order."""
    text = justification.lower()
    return [name for name, words in FACTORS.items() if words.search(text)]


def check_justifications(learner: Callable[[], Mapping[str, tuple[Pattern, str]]]) -> None:
    """Each choice is justified by the factor that decides it: waiting, duration, ..."""
    answers = _answers(learner)
    problems = []
    for feature in NEW_USE_CASES:
        why = str(answers[feature.name][1])
        pattern = decide(feature).pattern
        wanted = DECIDING[pattern]
        named = factors_named(why)
        if len(why.split()) < 4:
            problems.append(f"- {feature.name}: {why!r} is too short to say why (4 words or more).")
        elif not set(named) & set(wanted):
            said = f"it talks about {' and '.join(named)}" if named else "it names no factor"
            problems.append(
                f"- {feature.name}: {why!r} - {said}, but what decides {pattern.name} is "
                f"{' or '.join(wanted)}."
            )
    if problems:
        raise CheckFailed(
            f"{len(problems)} of {len(NEW_USE_CASES)} justifications do not name the factor "
            "that decided the choice (waiting, duration, durability, cost, a schedule, or an "
            "exception such as a rule or a latency budget):\n" + "\n".join(problems)
        )
    passed("every choice names the factor that decided it")


LAB = LabProgress(
    "lab10",
    {
        "classifications": Help(
            hint=(
                "Ask the questions in the lesson's order: exceptions first (a latency budget "
                "under 100 ms, a rule that demands a synchronous answer), then volume, then "
                "whether anyone is waiting, then for how long."
            ),
            answer="lab10.decide(feature).pattern gives each feature's pattern; "
            "notebook 10's choose_pattern shows its reasons.",
        ),
        "justifications": Help(
            hint=(
                "Say what made the choice, in the words of the four questions: is a person "
                "waiting, how long does it take, must it survive a crash, would the batch "
                "price matter - or which exception applies."
            ),
            answer="\n".join(f"{p.name}: talk about {' or '.join(f)}" for p, f in DECIDING.items()),
        ),
    },
)
check_classifications = LAB.check(check_classifications)
check_justifications = LAB.check(check_justifications)
hint = LAB.hint
report = LAB.report
