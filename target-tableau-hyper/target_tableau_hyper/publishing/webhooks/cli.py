"""`target-tableau-hyper webhooks serve --config FILE [--host H] [--port P]`."""

from __future__ import annotations

import argparse
import json
import logging
import sys

from target_tableau_hyper.publishing.audit_tables import make_engine
from target_tableau_hyper.publishing.config import PublishConfig, audit_db_url
from target_tableau_hyper.publishing.errors import PublishError


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="target-tableau-hyper webhooks",
                                     description="Receive Tableau webhooks; use them only once confirmed.")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the receiver (POST /hooks/{webhook_secret})")
    serve.add_argument("--config", required=True, help="the target's JSON config file")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8765)
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        with open(args.config, encoding="utf-8") as handle:
            raw = json.load(handle)
        config = PublishConfig.from_mapping(raw)
        from target_tableau_hyper.publishing.webhooks.app import create_app
        from target_tableau_hyper.publishing.webhooks.receiver import WebhookReceiver

        receiver = WebhookReceiver(config, make_engine(audit_db_url(raw)))
    except (OSError, ValueError, PublishError) as exc:
        print(f"webhooks: {exc}", file=sys.stderr)
        return 2

    import uvicorn

    print(f"Webhook receiver listening on http://{args.host}:{args.port}/hooks/<webhook_secret>", flush=True)
    # access_log off: the path carries the secret.
    uvicorn.run(create_app(receiver), host=args.host, port=args.port, access_log=False, log_level="info")
    return 0
