"""Deciding whether a Tableau webhook delivery is real, and acting on it only then.

Tableau webhooks carry no signature, so a delivery is accepted only when all of these hold, in
this order (cheapest first; nothing is looked up for a request that fails an earlier check):
1. the URL path holds the configured secret (`/hooks/{secret}`, compared in constant time);
2. the body is a Tableau event (resource, event_type, resource_luid, site_luid, created_at);
3. `created_at` is inside the replay window (and not in the future beyond a small clock skew);
4. the site is ours (the site id our credentials sign in to) and the resource is one we know
   (a datasource we publish or a workbook we refresh, by id or by name);
5. it was not seen before (dedup key claimed in the audit DB, so restarts do not reopen it);
6. the REST API confirms it: the refresh job's finish code, or the resource's `updatedAt`, agrees.
Every delivery lands in `tableau_webhook_events` with its outcome and reason. Only accepted events
trigger the configured action (refreshing `webhook_refresh_workbooks`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

import sqlalchemy as sa
import tableauserverclient as TSC

from target_tableau_hyper.publishing import audit_tables as audit
from target_tableau_hyper.publishing.config import PublishConfig
from target_tableau_hyper.publishing.errors import PublishError
from target_tableau_hyper.publishing.lookup import find_project
from target_tableau_hyper.publishing.refresh import refresh_workbooks
from target_tableau_hyper.publishing.session import TableauSession

logger = logging.getLogger(__name__)

REQUIRED_KEYS = ("resource", "event_type", "resource_luid", "site_luid", "created_at")
DATASOURCE_EVENTS = {
    "DatasourceCreated", "DatasourceUpdated", "DatasourceDeleted",
    "DatasourceRefreshStarted", "DatasourceRefreshSucceeded", "DatasourceRefreshFailed",
}
WORKBOOK_EVENTS = {
    "WorkbookCreated", "WorkbookUpdated", "WorkbookDeleted",
    "WorkbookRefreshStarted", "WorkbookRefreshSucceeded", "WorkbookRefreshFailed",
}
# Events after which the datasource holds new data: the configured follow-up action runs.
ACTION_EVENTS = {"DatasourceRefreshSucceeded", "DatasourceUpdated", "DatasourceCreated"}
EXPECTED_FINISH = {"Succeeded": 0, "Failed": 1}
CLOCK_SKEW = timedelta(seconds=120)


@dataclass
class Verdict:
    status: int
    outcome: str  # accepted | rejected
    reason: str
    confirmation: str | None = None
    action: str | None = None

    def body(self) -> dict[str, Any]:
        out = {"outcome": self.outcome, "reason": self.reason}
        if self.confirmation:
            out["confirmation"] = self.confirmation
        if self.action:
            out["action"] = self.action
        return out


def parse_time(value: str) -> datetime:
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


class WebhookReceiver:
    def __init__(
        self,
        config: PublishConfig,
        engine: sa.Engine,
        *,
        session_factory: Callable[[PublishConfig], TableauSession] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
    ):
        if not config.webhook_secret or len(config.webhook_secret) < 16:
            raise PublishError("webhook_secret must be set to an unguessable value of at least 16 characters "
                               "(e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`).",
                               kind="config")
        self.config = config
        self.engine = engine
        # Short lock wait: a delivery must not hang behind a long publish holding the same identity;
        # it is then rejected with 503 (unconfirmable), never accepted unconfirmed.
        self.session_factory = session_factory or (lambda c: TableauSession(c, lock_timeout_seconds=20))
        self.clock = clock
        self._site_id: str | None = None

    # --- entry -----------------------------------------------------------------------------------
    def handle(self, path_secret: str, body: bytes, remote_addr: str | None = None) -> Verdict:
        seen: dict[str, Any] = {}
        try:
            verdict, event = self._check(path_secret, body, seen)
        except PublishError as exc:  # Tableau could not be asked: the event cannot be confirmed
            event = seen.get("event", {})
            verdict = Verdict(503, "rejected", f"could not confirm with Tableau: {exc}")
        self._record(event, verdict, remote_addr)
        log = logger.info if verdict.outcome == "accepted" else logger.warning
        log("webhook %s %s: %s", event.get("event_type", "?"), verdict.outcome, verdict.reason)
        return verdict

    def _check(self, path_secret: str, body: bytes, seen: dict[str, Any]) -> tuple[Verdict, dict]:
        secret = self.config.webhook_secret or ""
        if not hmac.compare_digest(path_secret.encode(), secret.encode()):
            return Verdict(404, "rejected", "wrong path secret"), {}
        try:
            event = json.loads(body)
        except ValueError:
            return Verdict(400, "rejected", "body is not JSON"), {}
        if not isinstance(event, dict) or any(not isinstance(event.get(k), str) or not event.get(k)
                                              for k in REQUIRED_KEYS):
            return Verdict(400, "rejected", f"not a Tableau event (needs {', '.join(REQUIRED_KEYS)})"), (
                event if isinstance(event, dict) else {})
        try:
            created = parse_time(event["created_at"])
        except ValueError:
            return Verdict(400, "rejected", "created_at is not a timestamp"), event
        now = self.clock()
        window = timedelta(seconds=self.config.webhook_replay_window_seconds)
        if created < now - window:
            return Verdict(409, "rejected", f"outside the replay window (created {event['created_at']})"), event
        if created > now + CLOCK_SKEW:
            return Verdict(409, "rejected", f"created_at is in the future ({event['created_at']})"), event
        seen["event"] = event
        kind = self._kind(event["event_type"])
        if kind is None:
            return Verdict(422, "rejected", f"unknown event type {event['event_type']!r}"), event

        with self.session_factory(self.config) as session:
            if event["site_luid"] != self._site(session):
                return Verdict(403, "rejected", "unknown site"), event
            project = find_project(session, self.config.project_path)
            if not self._known_resource(kind, event):
                return Verdict(403, "rejected", "unknown resource (not a datasource we publish or a workbook we "
                                                "refresh)"), event
            if not self._claim(event):
                return Verdict(409, "rejected", "duplicate delivery (already seen)"), event
            try:
                ok, detail = self._confirm(session, kind, event, project.id, created)
            except Exception:
                self._release_claim(event)
                raise
            if not ok:
                self._release_claim(event)
                return Verdict(422, "rejected", f"not confirmed by the REST API: {detail}"), event
            action = self._act(session, event, project.id)
            return Verdict(200, "accepted", "confirmed", confirmation=detail, action=action), event

    # --- checks ----------------------------------------------------------------------------------
    @staticmethod
    def _kind(event_type: str) -> str | None:
        if event_type in DATASOURCE_EVENTS:
            return "datasource"
        if event_type in WORKBOOK_EVENTS:
            return "workbook"
        return None

    def _site(self, session: TableauSession) -> str:
        if self._site_id is None:
            self._site_id = session.server.site_id
        return self._site_id

    def _known_resource(self, kind: str, event: dict) -> bool:
        luid, name = event["resource_luid"], event.get("resource_name") or ""
        with self.engine.connect() as conn:
            if kind == "datasource":
                if conn.execute(sa.select(audit.publishes.c.id).where(audit.publishes.c.datasource_id == luid)
                                .limit(1)).first():
                    return True
                known = {row.datasource_name for row in conn.execute(sa.select(audit.publishes.c.datasource_name)
                                                                     .distinct())}
                return name in known or self._matches_template(name)
            if conn.execute(sa.select(audit.refreshes.c.id).where(audit.refreshes.c.target_id == luid).limit(1)).first():
                return True
        return name in set(self.config.refresh_workbooks) | set(self.config.webhook_refresh_workbooks)

    def _matches_template(self, name: str) -> bool:
        template = self.config.datasource_name
        if "{stream}" not in template:
            return name == template
        head, tail = template.split("{stream}", 1)
        return name.startswith(head) and name.endswith(tail) and len(name) > len(head) + len(tail)

    @staticmethod
    def _dedup_key(event: dict) -> str:
        raw = "|".join(str(event.get(k, "")) for k in ("site_luid", "event_type", "resource_luid", "created_at"))
        return hashlib.sha256(raw.encode()).hexdigest()

    def _claim(self, event: dict) -> bool:
        """Take the event's dedup key; False when an earlier delivery holds it (a replay)."""
        try:
            with self.engine.begin() as conn:
                conn.execute(audit.webhook_events.insert().values(
                    dedup_key=self._dedup_key(event), received_at=audit.now(), event_type=event.get("event_type"),
                    resource=event.get("resource"), resource_name=event.get("resource_name"),
                    resource_luid=event.get("resource_luid"), site_luid=event.get("site_luid"),
                    created_at=event.get("created_at"), outcome="confirming",
                ))
            return True
        except sa.exc.IntegrityError:
            return False

    def _release_claim(self, event: dict) -> None:
        """An unconfirmed event gives its key back (a genuine later delivery may still confirm)."""
        if not event:
            return
        with self.engine.begin() as conn:
            conn.execute(audit.webhook_events.delete().where(
                audit.webhook_events.c.dedup_key == self._dedup_key(event),
                audit.webhook_events.c.outcome == "confirming",
            ))

    def _confirm(self, session: TableauSession, kind: str, event: dict, project_id: str,
                 created: datetime) -> tuple[bool, str]:
        event_type, luid = event["event_type"], event["resource_luid"]
        endpoint = "datasources" if kind == "datasource" else "workbooks"

        def fetch(srv: TSC.Server):
            return getattr(srv, endpoint).get_by_id(luid)

        try:
            item = session.call(f"confirming {kind} {luid}", fetch, attempts=2)
        except PublishError as exc:
            if exc.code and exc.code.startswith("404"):
                if event_type.endswith("Deleted"):
                    return True, f"{kind} {luid} no longer exists"
                return False, f"{kind} {luid} does not exist"
            if exc.code and exc.code.startswith("403"):
                return False, f"{kind} {luid} is not visible to us"
            raise
        if event_type.endswith("Deleted"):
            return False, f"{kind} {luid} still exists"
        if item.project_id != project_id:
            return False, f"{kind} {luid} is not in project {self.config.project!r}"
        if event.get("resource_name") and item.name != event["resource_name"]:
            return False, f"{kind} {luid} is named {item.name!r}, not {event['resource_name']!r}"
        if "Refresh" in event_type:
            confirmed = self._confirm_by_job(session, luid, event_type, created)
            if confirmed is not None:
                return confirmed
        updated = item.updated_at
        if updated is None:
            return False, f"{kind} {luid} reports no updatedAt"
        if updated.tzinfo is None:
            updated = updated.replace(tzinfo=timezone.utc)
        if updated + CLOCK_SKEW < created:
            return False, f"{kind} {luid} was last updated at {updated.isoformat()}, before the event"
        return True, f"{kind} {luid} updatedAt {updated.isoformat()} agrees"

    def _confirm_by_job(self, session, luid: str, event_type: str, created: datetime) -> tuple[bool, str] | None:
        """The most recent refresh job we started for this resource: its finish code must agree."""
        row = self._latest_refresh(luid)
        # A refresh we are starting right now may finish (and Tableau may call) before its job id is
        # written: give the publisher a moment rather than fall back to the weaker updatedAt check.
        deadline = time.monotonic() + 5
        while row is not None and row.job_id is None and row.outcome == "running" and time.monotonic() < deadline:
            time.sleep(0.1)
            row = self._latest_refresh(luid)
        if row is None or row.job_id is None:
            return None
        job = session.call(f"confirming job {row.job_id}", lambda srv: srv.jobs.get_by_id(row.job_id), attempts=2)
        expected = next((code for suffix, code in EXPECTED_FINISH.items() if event_type.endswith(suffix)), None)
        if expected is None:  # RefreshStarted: the job must have started
            ok = job.started_at is not None
            return ok, f"job {job.id} {'started' if ok else 'has not started'}"
        if job.completed_at is None:
            return False, f"job {job.id} has not finished"
        ok = int(job.finish_code) == expected
        return ok, f"job {job.id} finish code {job.finish_code}"

    def _latest_refresh(self, luid: str):
        with self.engine.connect() as conn:
            return conn.execute(
                sa.select(audit.refreshes.c.job_id, audit.refreshes.c.outcome)
                .where(audit.refreshes.c.target_id == luid)
                .order_by(audit.refreshes.c.id.desc()).limit(1)
            ).first()

    # --- after acceptance ------------------------------------------------------------------------
    def _act(self, session: TableauSession, event: dict, project_id: str) -> str | None:
        if event["event_type"] not in ACTION_EVENTS or not self.config.webhook_refresh_workbooks:
            return None
        no_wait = PublishConfig(**{**self.config.__dict__, "wait_for_jobs": False})
        try:
            results = refresh_workbooks(session, self.engine, no_wait, self.config.webhook_refresh_workbooks,
                                        project_id, run_id=None, trigger="webhook")
        except PublishError as exc:
            return f"workbook refresh failed: {exc}"
        return "refreshed " + ", ".join(f"{r['target']} (job {r.get('job_id', '-')})" for r in results)

    def _record(self, event: dict, verdict: Verdict, remote_addr: str | None) -> None:
        values = dict(
            received_at=audit.now(), event_type=_text(event.get("event_type")), resource=_text(event.get("resource")),
            resource_name=_text(event.get("resource_name")), resource_luid=_text(event.get("resource_luid")),
            site_luid=_text(event.get("site_luid")), created_at=_text(event.get("created_at")),
            outcome=verdict.outcome, reason=verdict.reason, confirmation=verdict.confirmation,
            action=verdict.action, remote_addr=remote_addr,
        )
        with self.engine.begin() as conn:
            if verdict.outcome == "accepted":
                conn.execute(audit.webhook_events.update()
                             .where(audit.webhook_events.c.dedup_key == self._dedup_key(event))
                             .values(**values))
            else:
                conn.execute(audit.webhook_events.insert().values(dedup_key=None, **values))


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else json.dumps(value)[:500]
