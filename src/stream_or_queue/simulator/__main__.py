"""`python -m stream_or_queue.simulator --port 8765`: the Messages API simulator on loopback."""

from __future__ import annotations

import argparse

from .. import config
from .engine import RateLimits, Simulator
from .faults import Faults
from .server import make_server


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback)")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--faults", default="", help="e.g. rate_limit=0.1,overloaded=0.05")
    parser.add_argument("--max-concurrency", type=int, default=None)
    parser.add_argument("--rpm", type=int, default=None, help="requests per simulated minute")
    parser.add_argument(
        "--time-scale",
        type=float,
        default=None,
        help="real seconds per simulated second (default from config)",
    )
    args = parser.parse_args(argv)
    try:
        if args.time_scale is not None:
            config.set_time_scale(args.time_scale)
        simulator = Simulator(
            seed=args.seed,
            faults=Faults.parse(args.faults),
            limits=RateLimits(max_concurrency=args.max_concurrency, requests_per_minute=args.rpm),
        )
    except ValueError as exc:
        parser.error(str(exc))
    server = make_server(simulator, host=args.host, port=args.port)
    print(
        f"Messages API simulator on http://{args.host}:{args.port} "
        f"(time scale {config.time_scale()})",
        flush=True,
    )
    server.run()


if __name__ == "__main__":
    main()
