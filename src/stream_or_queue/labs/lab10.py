"""Checks for lab 10: classify a dozen new AI features and justify each choice."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from ..choose import Feature, Pattern, decide
from . import CheckFailed, call_learner, expect, passed

__all__ = ["NEW_USE_CASES", "check_classifications", "check_justifications"]

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


def check_justifications(learner: Callable[[], Mapping[str, tuple[Pattern, str]]]) -> None:
    """Each choice comes with a reason of at least a few words."""
    answers = _answers(learner)
    thin = [name for name, (_, why) in answers.items() if len(str(why).split()) < 4]
    expect(
        not thin,
        "Justify each choice in a short sentence (four words or more) naming the question "
        "that decided it, e.g. 'nobody is waiting, so queue it'. Too short: " + "; ".join(thin),
    )
    passed("every choice is justified")
