"""The Setup cell of every notebook: one call that makes a run repeatable.

`setup()` seeds Python's random generator, gives the process a fresh simulator
(and a fresh in-process Redis), fixes the time scale, and prints what the
notebook is running against and which clock each part uses - without keys,
paths or host names.
`versions()` reports what is installed, for the welcome notebook's environment check.
"""

from __future__ import annotations

import platform
import random
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version

from . import config
from .simulator import Faults, RateLimits, Simulator, reset_default_simulator

__all__ = ["COURSE_PACKAGES", "Environment", "setup", "versions"]

COURSE_PACKAGES: tuple[str, ...] = (
    "anthropic",
    "rq",
    "redis",
    "fakeredis",
    "fastapi",
    "ipywidgets",
    "matplotlib",
)
"""The packages the course is built on, in the order the welcome notebook lists them."""


@dataclass(frozen=True)
class Environment:
    """What a notebook runs against; its text is the Setup cell's output.

    The course has three clocks (docs/ARCHITECTURE.md): what a person drives plays in
    real time, what a cell measures runs on simulated time (a `clock.simulated()`
    timeline or a recorded schedule, so its figures are exact), and work in other threads
    or processes (queue workers, web servers) waits on the wall clock at `time_scale`.
    """

    mode: str
    time_scale: float
    redis: str
    simulator: Simulator

    def __str__(self) -> str:
        # the human clock as a learner has it (the test suite may speed it up; see config)
        human = config.HUMAN_TIME_SCALE
        driven = "real time" if human == 1.0 else f"{human:g} real s per simulated s"
        return (
            f"mode: {self.mode} | queue: {self.redis}\n"
            f"clocks: {driven} for what you drive | simulated time, exact, for what a cell "
            f"measures | {self.time_scale:g} real s per simulated s for background work"
        )


def setup(
    *,
    seed: int = 0,
    time_scale: float | None = None,
    faults: Faults | None = None,
    limits: RateLimits | None = None,
    reset_redis: bool = True,
    quiet: bool = False,
) -> Environment:
    """Start a notebook from a known state and say what it runs against."""
    random.seed(seed)
    config.set_time_scale(time_scale)
    simulator = reset_default_simulator(Simulator(seed=seed, faults=faults, limits=limits))
    redis_url = config.redis_url()
    if reset_redis and redis_url is None:
        from .jobs import reset_fake_redis

        reset_fake_redis()
    env = Environment(
        mode=config.mode(),
        time_scale=config.time_scale(),
        redis="real Redis (REDIS_URL)" if redis_url else "in-process fakeredis",
        simulator=simulator,
    )
    if not quiet:
        print(env)
    return env


def versions(packages: tuple[str, ...] = COURSE_PACKAGES) -> dict[str, str]:
    """Python's version and each package's installed version ("missing" if absent).

    Versions change with every install, so a notebook shows them in a cell that
    nbval does not compare (tag `why:versions`).
    """
    found = {"python": platform.python_version()}
    for name in packages:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "missing"
    return found
