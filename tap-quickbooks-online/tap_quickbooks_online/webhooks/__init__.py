"""QBO webhook receiver: near-real-time incremental runs, with scheduled polling as the safety net.

`tap-quickbooks-online webhooks serve --config FILE [--host H] [--port P]` runs a small ASGI
service (Starlette + uvicorn) that accepts QBO's change notifications (legacy `eventNotifications`
and CloudEvents) on `POST /webhooks/qbo`, verifies the `intuit-signature` HMAC of the raw body,
commits the events to a durable, de-duplicated queue (SQLAlchemy; SQLite by default) and answers
200 at once. A debounced trigger then runs the incremental pipeline (`meltano run
tap-quickbooks-online target-tableau-hyper` by default): a burst becomes one run, never two runs at
once, at most one follow-up behind a running one; events are marked done only after a successful
run, a failed run is retried with backoff, and a restart resumes whatever is still waiting.

Webhooks are an accelerator, not the source of truth: QBO may drop or delay a notification (it
gives up after its retries), and the receiver may be down. Keep the scheduled incremental sync (the
`hourly-entities` / `daily-full` schedules): it reads CDC per realm from its bookmark, so it catches
every change a lost webhook missed. A webhook-triggered run is that same incremental sync: QBO's
events name only entity + id (no data), the run fetches the changes through CDC (a couple of
requests per realm, whatever the number of events) and advances the same kind of bookmark.

Running beside the schedule: `meltano run` refuses to start while a pipeline with the same state
id is running (`--force` overrides), so if the webhook run and a scheduled run of the same
extractor/loader pair meet, one exits non-zero — the trigger then keeps its events and retries
with backoff. The same holds for a run Meltano still records as running after a crash (until
Meltano considers it stale). For dashboards, point `webhook_command` at the extractor the hourly
schedule uses (`meltano run tap-quickbooks-online--entities target-tableau-hyper`): the default
`tap-quickbooks-online` also re-reads the reports on every run.

Handed to the command (documented in `trigger`): `QBO_WEBHOOK_CHANGES` = JSON
`{"<realm_id>": ["Invoice", …]}` — the entities QBO said changed. The tap does not read it yet; a
future tap option could narrow its CDC entity list to it.

Modules: `signature` (HMAC), `events` (payload parsing), `event_queue` (durable queue and run
log), `trigger` (debounced runs), `app` (HTTP), `settings` (configuration), `cli`.
"""
