"""Durable execution: DBOS Transact for real work, and the mechanism in one screen.

Import the submodules; nothing is re-exported here, so importing this package does
not pull DBOS in (`durable.memo` and `durable.naive` run without it):
`memo` - step memoization in one screen (the mechanism, for the lesson and its lab);
`engine` - DBOS configured from `config` (`launch`/`alaunch`/`shutdown`/`client`,
SQLite file by default, `$DBOS_DATABASE_URL` for Postgres);
`pipeline` - the course's workflow (steps, progress events and stream, one
notification keyed by workflow id); `ledger` - what really ran, for counting;
`naive` - the same pipeline with no engine (the contrast); `worker` - worker
processes (`--import` adds workflows), `kill()`, `take_over`, `fork_onto`;
`history` - the audit trail from DBOS's record, as rows and a timeline;
`postgres_server` - a private PostgreSQL for tests and benchmarks.

Checkpoints, the outbox, the audit trail and recovery after a lost process are
DBOS's (its system database, workflow ids, `list_workflow_steps`, executor
recovery); the course keeps no engine of its own.
"""

from __future__ import annotations

__all__: list[str] = []
