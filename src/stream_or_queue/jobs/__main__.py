"""`python -m stream_or_queue.jobs --workers N --url URL QUEUE...`: supervised RQ workers."""

from __future__ import annotations

from .supervisor import main

if __name__ == "__main__":
    raise SystemExit(main())
