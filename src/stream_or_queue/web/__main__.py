"""`python -m stream_or_queue.web --port 8000`: the research service on loopback.

With no REDIS_URL the queue is in-process (fakeredis) and the jobs run on a
worker thread in this process. With REDIS_URL set, start supervised workers next
to it (`python -m stream_or_queue.jobs --workers 2 --url $REDIS_URL web`), or
pass `--worker` to run one here too.

An unreachable REDIS_URL does not stop the service from starting: it says so
once here, `/readyz` answers 503 with the reason, and every request that needs
the queue answers 503 with `Retry-After` until Redis is back - then it serves
without a restart. A service that refused to start would turn a Redis restart
during a deploy into a crash loop; a load balancer reading `/readyz` keeps
traffic away meanwhile.
"""

from __future__ import annotations

import argparse
import ipaddress

import redis
import uvicorn

from .. import config
from ..jobs import ThreadWorker, is_fake
from .app import create_app
from .jobs import agent
from .server import make_server


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m stream_or_queue.web", description="The research assistant web service."
    )
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="interface to bind (default 127.0.0.1: this machine only)",
    )
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument(
        "--edge-timeout",
        type=float,
        default=config.DEFAULT_EDGE_TIMEOUT_S,
        help="simulated seconds after which the edge cuts a request (0: no edge)",
    )
    parser.add_argument(
        "--edge-idle",
        type=float,
        default=0.0,
        help="simulated seconds of silence after which the edge cuts a request (0: none)",
    )
    parser.add_argument(
        "--time-scale",
        type=float,
        default=None,
        help="real seconds per simulated second (1 = real time)",
    )
    parser.add_argument(
        "--worker",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="run an RQ worker thread here (default: only without REDIS_URL)",
    )
    parser.add_argument(
        "--ready-window",
        type=float,
        default=config.WEB_READY_WORKER_WINDOW_S,
        help="/readyz wants a worker heartbeat at most this many seconds old",
    )
    args = parser.parse_args(argv)
    if args.time_scale is not None:
        config.set_time_scale(args.time_scale)
    try:
        loopback = ipaddress.ip_address(args.host).is_loopback
    except ValueError:
        loopback = args.host == "localhost"
    if not loopback:
        print(f"warning: binding {args.host}: the service is reachable from other machines")
    service = create_app(
        edge_timeout_s=args.edge_timeout or None,
        edge_idle_s=args.edge_idle or None,
        ready_worker_window_s=args.ready_window,
    )
    run_worker = is_fake(service.redis) if args.worker is None else args.worker
    worker = ThreadWorker([service.queue_name], connection=service.redis) if run_worker else None
    queue = "real Redis (REDIS_URL)" if not is_fake(service.redis) else "in-process fakeredis"
    print(
        f"research service on http://{args.host}:{args.port} | queue: {queue} | "
        f"edge timeout: {args.edge_timeout or 'off'} simulated s | "
        f"edge idle timeout: {args.edge_idle or 'off'} simulated s | "
        f"time scale: {config.time_scale():g} | worker here: {'yes' if worker else 'no'}"
    )
    try:
        service.redis.ping()
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        print(
            f"warning: the queue at REDIS_URL cannot be reached ({exc}); starting degraded: "
            "/readyz and every job request answer 503 until it can"
        )
    if worker is not None:
        agent()  # loaded now, so that the first job does not pay for the import
        worker.start()
    try:
        server: uvicorn.Server = make_server(
            service, host=args.host, port=args.port, log_level="info"
        )
        server.run()
    finally:
        if worker is not None:
            worker.stop()


if __name__ == "__main__":
    main()
