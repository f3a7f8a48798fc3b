"""QBO webhook receiver: near-real-time incremental runs, with scheduled polling as the safety net.

`tap-quickbooks-online webhooks serve --config FILE [--host H] [--port P]` runs a small ASGI
service (Starlette + uvicorn) that accepts QBO's change notifications (legacy `eventNotifications`
and CloudEvents) on `POST /webhooks/qbo`, verifies the `intuit-signature` HMAC of the raw body,
commits the events to a durable, de-duplicated queue (SQLAlchemy; SQLite by default) and answers
200 at once. A debounced trigger then runs the incremental pipeline (`meltano run
tap-quickbooks-online target-tableau-hyper` by default): a burst becomes one run, never two runs at
once, at most one follow-up behind a running one; events are marked done only after a successful
run, a failed run is retried with backoff, and a restart resumes whatever is still waiting.

Webhooks are an accelerator, not the source of truth: QBO may drop or delay a notification (and
gives up after its retries), a receiver may be down. Keep the scheduled incremental sync (the
`hourly-entities` / `daily-full` schedules): it reads CDC per realm from its bookmark and so
catches every change a lost webhook missed. The webhook-triggered run is the same incremental run
with the same bookmarks, so the two never conflict (Meltano's state is per job; if both may run at
the same time, give them the same state id or let one wait).

Modules: `signature` (HMAC), `events` (payload parsing), `event_queue` (durable queue and run
log), `trigger` (debounced runs), `app` (HTTP), `settings` (configuration), `cli`.
"""
