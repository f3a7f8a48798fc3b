"""The webhook receiver's settings as JSON Schema, merged into the tap's `config_jsonschema` so
Meltano knows them (and hands them to `meltano invoke tap-quickbooks-online:webhooks`).
The tap itself ignores them; `webhooks.settings` reads and validates them for the receiver."""

from __future__ import annotations

from singer_sdk import typing as th

WEBHOOK_SETTINGS = th.PropertiesList(
    th.Property("webhook_verifier_token", th.StringType, secret=True,
                description="Verifier token of the Intuit app (developer portal → Webhooks); every delivery's "
                            "intuit-signature is checked with it. Required by `webhooks serve`."),
    th.Property("webhook_queue_url", th.StringType,
                description="SQLAlchemy URL of the durable event queue (default a SQLite file under "
                            ".meltano/run/tap-quickbooks-online; postgresql://… for shared deployments)."),
    th.Property("webhook_command", th.StringType,
                description="Command run when events arrive (default `meltano run tap-quickbooks-online "
                            "target-tableau-hyper`; a string split like a shell, or a JSON array)."),
    th.Property("webhook_command_cwd", th.StringType,
                description="Working directory of that command (default $MELTANO_PROJECT_ROOT)."),
    th.Property("webhook_debounce_seconds", th.IntegerType, default=5,
                description="Quiet time after the last event before a run starts (coalesces bursts)."),
    th.Property("webhook_max_delay_seconds", th.IntegerType, default=30,
                description="A run starts at the latest this long after the first waiting event."),
    th.Property("webhook_retry_seconds", th.IntegerType, default=30,
                description="Wait after a failed run before the next try; doubles per failure."),
    th.Property("webhook_retry_max_seconds", th.IntegerType, default=900,
                description="Longest wait between retries of a failed run."),
    th.Property("webhook_run_timeout_seconds", th.IntegerType, default=3600,
                description="A run taking longer is killed and counts as failed."),
    th.Property("webhook_max_body_bytes", th.IntegerType, default=1048576,
                description="Larger deliveries are refused (413) unread."),
    th.Property("webhook_retention_days", th.IntegerType, default=7,
                description="Done events are kept this long to recognise retries and replays."),
)
