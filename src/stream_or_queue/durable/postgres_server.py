"""A private, throwaway PostgreSQL on 127.0.0.1 for tests and benchmarks.

`private_postgres_server()` runs Debian's `initdb` into a temporary directory, starts
`postgres` on a free loopback port with `pg_ctl`, yields its URL and removes it all
afterwards. Postgres refuses to run as root, so when this process is root (CI
containers) the cluster belongs to the `postgres` system user and its commands run
through `runuser`.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .. import config

__all__ = ["PG_BIN_ENV", "find_pg_bin", "private_postgres_server"]

PG_BIN_ENV = "STREAM_OR_QUEUE_PG_BIN"
"""Directory of initdb/pg_ctl when they are not in Debian's usual place."""
_CANDIDATES = (
    "/usr/lib/postgresql/17/bin",
    "/usr/lib/postgresql/16/bin",
    "/usr/lib/postgresql/15/bin",
)


def find_pg_bin() -> Path | None:
    """Where `initdb` and `pg_ctl` live, or None when PostgreSQL is not installed."""
    for candidate in (config.env(PG_BIN_ENV) or "", *_CANDIDATES):
        if candidate and (Path(candidate) / "initdb").exists():
            return Path(candidate)
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def private_postgres_server(database: str = "dbos") -> Iterator[str]:
    """Start a fresh cluster; yield `postgresql://...@127.0.0.1:PORT/database`."""
    bin_dir = find_pg_bin()
    if bin_dir is None:
        raise RuntimeError(f"PostgreSQL is not installed (set {PG_BIN_ENV} to its bin directory)")
    as_user: list[str] = []
    owner = None
    if os.geteuid() == 0:  # postgres will not run as root
        as_user = ["runuser", "-u", "postgres", "--"]
        owner = pwd.getpwnam("postgres")
    root = Path(tempfile.mkdtemp(prefix="soq-pg-"))
    data = root / "data"
    if owner is not None:
        os.chown(root, owner.pw_uid, owner.pw_gid)
    port = _free_port()

    def run(*args: str) -> None:
        subprocess.run([*as_user, *args], check=True, capture_output=True, text=True, cwd=root)

    try:
        run(
            str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"
        )
        options = f"-h 127.0.0.1 -p {port} -k {root} -c max_connections=200"
        run(
            str(bin_dir / "pg_ctl"),
            "-D",
            str(data),
            "-o",
            options,
            "-l",
            str(root / "log"),
            "-w",
            "start",
        )
        try:
            run(
                str(bin_dir / "createdb"),
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
                "-U",
                "postgres",
                database,
            )
            yield f"postgresql://postgres@127.0.0.1:{port}/{database}"
        finally:
            run(str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")
    finally:
        shutil.rmtree(root, ignore_errors=True)
