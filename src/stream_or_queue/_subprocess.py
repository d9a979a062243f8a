"""Stopping a child process politely, then firmly: one way for every server we start."""

from __future__ import annotations

import subprocess
from typing import Any

__all__ = ["stop_process"]


def stop_process(proc: subprocess.Popen[Any], timeout: float = 10.0) -> None:
    """SIGTERM, wait up to `timeout` s for a clean exit, then SIGKILL and reap it.

    Reaping matters: an unwaited child stays a zombie and, with pipes, leaks them
    (a ResourceWarning under strict pytest).
    """
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=timeout)
