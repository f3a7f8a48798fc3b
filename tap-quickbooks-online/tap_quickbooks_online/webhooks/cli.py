"""`tap-quickbooks-online webhooks serve [--config FILE ...] [--host H] [--port P]`, and `… webhooks status`.

`status` prints the queue as JSON: waiting events (per realm and entity) and the last runs.

Options may come before or after `serve` (Meltano puts `--config` first). Settings come from the
config file(s) and from `TAP_QUICKBOOKS_ONLINE_*` environment variables (how Meltano passes a
plugin's settings to its commands); the file wins. See `settings.py` for the names.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

from tap_quickbooks_online.webhooks.settings import SettingsError, WebhookSettings, config_from_env


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tap-quickbooks-online webhooks",
        description="Receive QBO webhook notifications and run the incremental pipeline when they arrive.")
    parser.add_argument("action", choices=["serve", "status"],
                        help="serve: run the receiver (POST /webhooks/qbo); status: print the queue as JSON")
    parser.add_argument("--config", action="append", default=[],
                        help="the tap's JSON config file (repeatable; `ENV` = environment only)")
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8766, help="port (default 8766; 0 picks a free one)")
    return parser


def load_config(paths: list[str]) -> dict:
    config = config_from_env()
    for path in paths:
        if path == "ENV":
            continue
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
        if not isinstance(data, dict):
            raise SettingsError(f"{path} does not hold a JSON object")
        config.update(data)
    return config


def queue_status(queue, last_runs: int = 10) -> dict:
    batch = queue.next_batch()
    return {"waiting": batch.events if batch else 0, "changes": batch.changes if batch else {},
            "runs": queue.runs()[-last_runs:]}


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        settings = WebhookSettings.from_config(load_config(args.config))
        from tap_quickbooks_online.webhooks.app import create_app
        from tap_quickbooks_online.webhooks.event_queue import EventQueue
        from tap_quickbooks_online.webhooks.trigger import RunTrigger

        queue = EventQueue.from_url(settings.queue_url)
    except (OSError, ValueError) as exc:
        print(f"webhooks: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # e.g. the queue database cannot be opened
        print(f"webhooks: cannot open the event queue: {type(exc).__name__}", file=sys.stderr)
        return 2
    if args.action == "status":
        print(json.dumps(queue_status(queue), indent=2))
        return 0
    trigger = RunTrigger(queue, settings.command, debounce_s=settings.debounce_s, max_delay_s=settings.max_delay_s,
                         retry_s=settings.retry_s, retry_max_s=settings.retry_max_s,
                         run_timeout_s=settings.run_timeout_s, cwd=settings.command_cwd,
                         retention_s=settings.retention_s)
    import socket

    import uvicorn

    # Bind first so `--port 0` can print the real port before anything else happens.
    sock = socket.socket(socket.AF_INET6 if ":" in args.host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))
    host, port = sock.getsockname()[:2]
    print(f"QBO webhook receiver listening on http://{host}:{port}/webhooks/qbo", flush=True)
    config = uvicorn.Config(create_app(settings, queue, trigger), log_level="info", access_log=False)
    uvicorn.Server(config).run(sockets=[sock])
    return 0
