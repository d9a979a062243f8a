"""A throw-away `redis-server` on a free loopback port, for tests, benchmarks and demos.

A real Redis is what RQ's forking workers (and any second machine) need; when no
REDIS_URL is given, this starts a private one with persistence off, waits until it
answers, and removes it afterwards.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator

import redis

from .._subprocess import stop_process
from ..serving import free_port

__all__ = ["private_redis_server"]


@contextlib.contextmanager
def private_redis_server(start_timeout_s: float = 10.0) -> Iterator[str]:
    """Start redis-server on 127.0.0.1 and yield its URL; stop it on exit.

    Raises FileNotFoundError when no redis-server is installed, and RuntimeError
    when it does not answer within `start_timeout_s`.
    """
    server = shutil.which("redis-server")
    if server is None:
        raise FileNotFoundError(
            "redis-server is not installed (Debian: apt-get install redis-server)"
        )
    port = free_port()
    workdir = tempfile.mkdtemp(prefix="soq-redis-")
    command = [server, "--bind", "127.0.0.1", "--port", str(port), "--save", "",
               "--appendonly", "no", "--dir", workdir]  # fmt: skip
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + start_timeout_s
        client = redis.Redis(host="127.0.0.1", port=port)
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server did not start on port {port}") from None
                time.sleep(0.05)
        client.close()
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        stop_process(proc)
        shutil.rmtree(workdir, ignore_errors=True)
