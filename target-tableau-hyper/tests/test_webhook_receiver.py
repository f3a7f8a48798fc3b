"""The webhook receiver with the sandbox's real deliveries and forged ones: accepted only when every
check passes and the REST API confirms; every rejection path recorded and never acted on."""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

import pytest
import requests
import sqlalchemy as sa
import tableauserverclient as TSC

from target_tableau_hyper.publishing import audit_tables as audit
from target_tableau_hyper.publishing.changes import StreamKeys
from target_tableau_hyper.publishing.config import PublishConfig
from target_tableau_hyper.publishing.hyperfiles import hyper_process
from target_tableau_hyper.publishing.publisher import Publisher
from target_tableau_hyper.publishing.testing import (
    RecordedChanges,
    ThreadedUvicorn,
    jwt_overrides,
    sandbox_config,
    write_invoices,
)
from target_tableau_hyper.publishing.webhooks.app import create_app
from target_tableau_hyper.publishing.webhooks.receiver import WebhookReceiver

SECRET = "hook-" + "x" * 32


def iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class Setup:
    """A published datasource (with a workbook on it), and a receiver signing in as the Connected App
    (a separate identity from the publisher's PAT, so the two never wait for each other)."""

    def __init__(self, sb, tmp_path, refresh="datasource", receiver_jwt=True):
        self.sb = sb
        self.db_url = f"sqlite:///{tmp_path}/audit.sqlite"
        self.engine = audit.make_engine(self.db_url)
        self.publisher_config = sandbox_config(sb, refresh=refresh)
        self.receiver_config = sandbox_config(sb, webhook_secret=SECRET, webhook_refresh_workbooks=["Finance P&L"],
                                              **(jwt_overrides(sb) if receiver_jwt else {}))
        self.changes = RecordedChanges(keys={"invoices": StreamKeys(["realm_id", "Id"], ["realm_id", "Id"], False)})
        self.path = str(tmp_path / "invoices.hyper")
        self.receiver = WebhookReceiver(PublishConfig.from_mapping(self.receiver_config), self.engine)
        self.site_id = sb.control("GET", "/_sandbox/state")["site"]["id"]

    def publish(self, run_id, rows):
        with hyper_process() as hyper:
            write_invoices(hyper, self.path, rows)
        self.changes.touched[("invoices", run_id)] = [("r1", str(i)) for i in rows]
        report = Publisher(PublishConfig.from_mapping(self.publisher_config), self.engine, self.changes).run(
            run_id, {"invoices": self.path})
        assert report.ok, report
        return report.results[0].datasource_id

    def subscribe(self, url, *events):
        cfg = self.publisher_config
        server = TSC.Server(self.sb.base_url, use_server_version=True)
        with server.auth.sign_in(TSC.PersonalAccessTokenAuth(cfg["tableau_token_name"], cfg["tableau_token_secret"],
                                                             cfg["tableau_site"])):
            for event in events:
                item = TSC.WebhookItem()
                item.name, item.url, item.event = f"ml-connector {event}", url, event
                server.webhooks.create(item)

    def events(self):
        with self.engine.connect() as conn:
            return [r._asdict() for r in conn.execute(sa.select(audit.webhook_events)
                                                      .order_by(audit.webhook_events.c.id))]

    def webhook_refreshes(self):
        with self.engine.connect() as conn:
            return [r._asdict() for r in conn.execute(sa.select(audit.refreshes)
                                                      .where(audit.refreshes.c.trigger == "webhook"))]

    def event(self, ds_id, event_type="DatasourceUpdated", created_at=None, **changes):
        body = {"resource": "DATASOURCE", "event_type": event_type, "resource_name": "QBO invoices",
                "site_luid": self.site_id, "resource_luid": ds_id,
                "created_at": created_at or iso(datetime.now(timezone.utc))}
        body.update(changes)
        return body


def test_real_deliveries_are_confirmed_recorded_and_acted_on(tableau_sandbox, tmp_path):
    setup = Setup(tableau_sandbox, tmp_path)
    ds_id = setup.publish("run1", {1: 0, 2: 0})
    tableau_sandbox.control("POST", "/_sandbox/workbooks", json={"name": "Finance P&L", "datasource_ids": [ds_id]})
    with ThreadedUvicorn(create_app(setup.receiver)) as web:
        setup.subscribe(f"{web.base_url}/hooks/{SECRET}", "datasource-updated", "datasource-refresh-succeeded")
        setup.publish("run2", {1: 1, 2: 0, 3: 0})  # update-data job + direct refresh → two events
        assert tableau_sandbox.wait_idle()
        deliveries = tableau_sandbox.deliveries()
    assert sorted(d["event_type"] for d in deliveries) == ["DatasourceRefreshSucceeded", "DatasourceUpdated"]
    assert all(d["status_code"] == 200 for d in deliveries), deliveries

    events = {e["event_type"]: e for e in setup.events()}
    assert {e["outcome"] for e in events.values()} == {"accepted"}
    assert "finish code 0" in events["DatasourceRefreshSucceeded"]["confirmation"]
    assert "updatedAt" in events["DatasourceUpdated"]["confirmation"]
    assert all(e["dedup_key"] for e in events.values())
    # the configured action ran once per confirmed event
    assert [r["target_name"] for r in setup.webhook_refreshes()] == ["Finance P&L", "Finance P&L"]
    assert all("refreshed Finance P&L" in e["action"] for e in events.values())

    # the same deliveries replayed byte for byte are rejected as duplicates (persisted, across restarts)
    restarted = WebhookReceiver(PublishConfig.from_mapping(setup.receiver_config), setup.engine)
    for delivery in deliveries:
        verdict = restarted.handle(SECRET, json.dumps(delivery["payload"]).encode())
        assert (verdict.status, verdict.reason) == (409, "duplicate delivery (already seen)")
    assert len(setup.webhook_refreshes()) == 2


def test_forged_and_stale_events_are_rejected_and_never_acted_on(tableau_sandbox, tmp_path):
    setup = Setup(tableau_sandbox, tmp_path, refresh="auto")
    ds_id = setup.publish("run1", {1: 0})
    tableau_sandbox.control("POST", "/_sandbox/workbooks", json={"name": "Finance P&L", "datasource_ids": [ds_id]})
    now = datetime.now(timezone.utc)
    cases = [
        ("wrong path secret", "not-the-secret", setup.event(ds_id), 404, "wrong path secret"),
        ("not json", SECRET, b"{nope", 400, "body is not JSON"),
        ("missing keys", SECRET, {"event_type": "DatasourceUpdated"}, 400, "not a Tableau event"),
        ("stale", SECRET, setup.event(ds_id, created_at=iso(now - timedelta(hours=1))), 409,
         "outside the replay window"),
        ("future", SECRET, setup.event(ds_id, created_at=iso(now + timedelta(hours=1))), 409, "in the future"),
        ("unknown event", SECRET, setup.event(ds_id, event_type="UserDeleted"), 422, "unknown event type"),
        ("other site", SECRET, setup.event(ds_id, site_luid="00000000-0000-0000-0000-000000000000"), 403,
         "unknown site"),
        ("unknown resource", SECRET, setup.event("11111111-1111-1111-1111-111111111111", resource_name="Payroll"),
         403, "unknown resource"),
        ("nonexistent datasource", SECRET, setup.event("11111111-1111-1111-1111-111111111111"), 422,
         "does not exist"),
        ("refresh failed that succeeded", SECRET, setup.event(ds_id, event_type="DatasourceRefreshFailed",
                                                              resource="EXTRACTS"), 422, "finish code 0"),
        ("deleted but exists", SECRET, setup.event(ds_id, event_type="DatasourceDeleted"), 422, "still exists"),
        ("wrong name", SECRET, setup.event(ds_id, resource_name="QBO bills"), 422, "is named 'QBO invoices'"),
    ]
    with ThreadedUvicorn(create_app(setup.receiver)) as web:
        for label, secret, body, status, reason in cases:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            response = requests.post(f"{web.base_url}/hooks/{secret}", data=data, timeout=30)
            assert response.status_code == status, (label, response.text)
            assert reason in response.json()["reason"], (label, response.json())
        assert requests.get(f"{web.base_url}/healthz", timeout=10).json() == {"ok": True}
    events = setup.events()
    assert len(events) == len(cases) and {e["outcome"] for e in events} == {"rejected"}
    assert all(e["dedup_key"] is None for e in events)  # rejected events hold no claim
    assert setup.webhook_refreshes() == []
    assert SECRET not in json.dumps(events, default=str)


def test_update_that_did_not_happen_is_not_confirmed(tableau_sandbox, tmp_path):
    # (PAT: a JWT minted by our clock would be refused by a sandbox clock set an hour back)
    setup = Setup(tableau_sandbox, tmp_path, receiver_jwt=False)
    tableau_sandbox.control("POST", "/_sandbox/clock", json={"advance_minutes": -60})  # published an hour ago
    ds_id = setup.publish("run1", {1: 0})
    verdict = setup.receiver.handle(SECRET, json.dumps(setup.event(ds_id)).encode())
    assert verdict.status == 422 and "before the event" in verdict.reason
    # a genuine event of that moment would have been confirmed (and an unconfirmed one left no claim)
    created = iso(datetime.now(timezone.utc) - timedelta(minutes=60))
    window = WebhookReceiver(PublishConfig.from_mapping({**setup.receiver_config,
                                                         "webhook_replay_window_seconds": 7200}), setup.engine)
    assert window.handle(SECRET, json.dumps(setup.event(ds_id, created_at=created)).encode()).outcome == "accepted"


def test_receiver_needs_a_real_secret(tableau_sandbox, tmp_path):
    from target_tableau_hyper.publishing.errors import PublishError

    config = PublishConfig.from_mapping(sandbox_config(tableau_sandbox, webhook_secret="short"))
    with pytest.raises(PublishError, match="at least 16 characters"):
        WebhookReceiver(config, audit.make_engine(f"sqlite:///{tmp_path}/a.sqlite"))


def test_webhooks_serve_command(tableau_sandbox, tmp_path):
    port = _free_port()
    config = sandbox_config(tableau_sandbox, webhook_secret=SECRET, audit_db_url=f"sqlite:///{tmp_path}/a.sqlite")
    (tmp_path / "config.json").write_text(json.dumps(config))
    command = [sys.executable, "-c", "from target_tableau_hyper.cli import main; main()", "webhooks", "serve",
               "--config", str(tmp_path / "config.json"), "--host", "127.0.0.1", "--port", str(port)]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2).ok:
                    break
            except requests.ConnectionError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise AssertionError("receiver did not start")
                time.sleep(0.2)
        forged = requests.post(f"http://127.0.0.1:{port}/hooks/{secrets.token_urlsafe(32)}", json={}, timeout=10)
        assert forged.status_code == 404
    finally:
        proc.send_signal(signal.SIGINT)
        output = proc.communicate(timeout=30)[0]
    assert "Webhook receiver listening" in output and SECRET not in output
    bad = subprocess.run(command[:-4] + ["--config", str(tmp_path / "missing.json")], capture_output=True,
                         text=True, timeout=60, env={**os.environ})
    assert bad.returncode == 2


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_event_that_cannot_be_confirmed_is_rejected_not_trusted(tableau_sandbox, tmp_path):
    setup = Setup(tableau_sandbox, tmp_path, receiver_jwt=False)
    ds_id = setup.publish("run1", {1: 0})
    body = json.dumps(setup.event(ds_id)).encode()
    # Tableau unreachable
    down = PublishConfig.from_mapping({**setup.receiver_config,
                                       "tableau_server_url": f"http://127.0.0.1:{_free_port()}"})
    verdict = WebhookReceiver(down, setup.engine).handle(SECRET, body)
    assert (verdict.status, verdict.outcome) == (503, "rejected") and "cannot reach Tableau" in verdict.reason
    # our identity busy in a long publish: the delivery does not wait forever, and is not trusted
    from target_tableau_hyper.publishing.session import SessionLock, TableauSession

    config = PublishConfig.from_mapping(setup.receiver_config)
    lock = SessionLock(config.identity)
    lock.acquire()
    try:
        busy = WebhookReceiver(config, setup.engine,
                               session_factory=lambda c: TableauSession(c, lock_timeout_seconds=0.3))
        verdict = busy.handle(SECRET, body)
    finally:
        lock.release()
    assert verdict.status == 503 and "another run is still signed in" in verdict.reason
    # once Tableau can be asked, the same (genuine) event is accepted: the failures left no claim
    assert setup.receiver.handle(SECRET, body).outcome == "accepted"
    assert [e["outcome"] for e in setup.events()] == ["rejected", "rejected", "accepted"]
