"""``qbo-sandbox serve --host 127.0.0.1 --port PORT --realms N --size demo|large --seed S [--latency]``."""
from __future__ import annotations

import argparse
import gc
import socket
import sys


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="qbo-sandbox", description="Local QuickBooks Online API v3 sandbox")
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve", help="run the sandbox HTTP server")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    s.add_argument("--realms", type=int, default=2)
    s.add_argument("--size", choices=["demo", "large"], default="demo")
    s.add_argument("--seed", type=int, default=42)
    s.add_argument("--latency", action="store_true", help="turn on the latency model (~1 s per 1000-row page)")
    s.add_argument("--now", help="start the sandbox clock at this ISO date-time (default: wall clock)")
    s.add_argument("--as-of", dest="as_of", help="date the generated data ends at (default: the clock's start)")
    s.add_argument("--redirect-uri", action="append", dest="redirect_uris",
                   help="a registered OAuth redirect URI (repeatable; replaces the defaults)")
    s.add_argument("--log-level", default="warning")
    args = p.parse_args(argv)
    if args.realms < 1:
        p.error("--realms must be at least 1")

    import uvicorn
    from .app import Sandbox, build_app
    from .wire import parse_timestamp

    now = parse_timestamp(args.now) if args.now else None
    as_of = parse_timestamp(args.as_of) if args.as_of else None
    sb = Sandbox(args.realms, args.size, args.seed, args.latency, now=now, as_of=as_of,
                 redirect_uris=args.redirect_uris)
    # Serving and the balances pass allocate millions of short-lived containers while the LRU
    # caches hold hundreds of thousands of long-lived ones: with the default thresholds the cyclic
    # GC re-scans those over and over (~25% of a large pass). Fewer young collections, and the
    # startup objects moved out of the collector's sight.
    gc.set_threshold(50_000, 20, 100)
    gc.freeze()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))
    port = sock.getsockname()[1]
    sb.base_url = f"http://{args.host}:{port}"
    config = uvicorn.Config(build_app(sb), log_level=args.log_level, access_log=False, lifespan="off",
                            timeout_keep_alive=30)
    server = uvicorn.Server(config)

    orig_startup = server.startup

    async def startup(sockets=None):
        await orig_startup(sockets=sockets)
        print(f"QBO sandbox ready at {sb.base_url}", flush=True)
    server.startup = startup
    server.run(sockets=[sock])
    return 0


if __name__ == "__main__":
    sys.exit(main())
