"""The user model: how long people wait, and whether a notification brings them back.

Nobody can measure real users from a notebook, so the course states its model and
seeds it. Each simulated user keeps the tab open for a *patience* drawn from a
log-normal distribution (median `config.USER_PATIENCE_MEDIAN_S`, sigma
`config.USER_PATIENCE_SPREAD`); a user who left before the answer came back when
notified with probability `config.NOTIFICATION_RETURN_RATE`. Change the numbers
in `config` and every result that depends on them moves with them.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from .. import config

__all__ = ["User", "users"]


@dataclass(frozen=True)
class User:
    """One simulated user: how long they wait, and whether a notification brings them back."""

    patience_s: float
    returns_when_notified: bool


def users(count: int, seed: int = 0, *, return_rate: float | None = None) -> list[User]:
    """`count` users, the same ones for the same seed (so v1, v2 and v3 meet the same people).

    `return_rate` replaces `config.NOTIFICATION_RETURN_RATE`. The draws stay the
    same, so a higher rate only brings more of the same users back.
    """
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    rate = config.NOTIFICATION_RETURN_RATE if return_rate is None else return_rate
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"return_rate must be between 0 and 1, got {rate}")
    rng = random.Random(f"users|{seed}")
    found = []
    for _ in range(count):
        patience = config.USER_PATIENCE_MEDIAN_S * rng.lognormvariate(
            0.0, config.USER_PATIENCE_SPREAD
        )
        returns = rng.random() < rate
        found.append(User(round(patience, 1), returns))
    return found
