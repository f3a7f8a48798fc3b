"""Webhooks: create/list/get/delete/test through TSC and raw REST, and delivery of real events."""

from __future__ import annotations

import json
import threading
import uuid
import xml.etree.ElementTree as ET
from decimal import Decimal as D
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
import tableauserverclient as TSC
from tableauhyperapi import SqlType
from tableauserverclient.server.endpoint.exceptions import JobFailedException, ServerResponseError

from tableau_sandbox.testing import tsc_sign_in, write_hyper

NS = {"t": "http://tableau.com/api"}
FLAVORS = ["server", "cloud"]


class Receiver:
    """A local webhook destination that records every POST."""

    def __init__(self):
        received = self.received = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                received.append({"path": self.path, "headers": dict(self.headers), "body": json.loads(body)})
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    def events(self, path=None):
        return [r["body"]["event_type"] for r in self.received if path is None or r["path"] == path]


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def make_webhook(server, name, event, url):
    item = TSC.WebhookItem()
    item.name, item.url, item.event = name, url, event
    return server.webhooks.create(item)


@pytest.mark.parametrize("flavor", FLAVORS)
def test_webhook_crud_and_test(tableau_sandbox_factory, flavor, receiver):
    sb = tableau_sandbox_factory(flavor)
    server, _ = tsc_sign_in(sb)
    hook = make_webhook(server, "created", "datasource-created", receiver.url + "/created")
    assert hook.id and hook.event == "datasource-created" and hook.url == receiver.url + "/created"
    assert hook.owner_id
    listed, _ = server.webhooks.get()
    assert [(w.id, w.name, w.event) for w in listed] == [(hook.id, "created", "datasource-created")]
    assert server.webhooks.get_by_id(hook.id).url == hook.url
    outcome = server.webhooks.test(hook.id)
    result = ET.fromstring(outcome.content).find("t:webhookTestResult", NS)
    assert result.get("status") == "200"
    assert receiver.received[-1]["body"]["event_type"] == "DatasourceCreated"
    server.webhooks.delete(hook.id)
    assert server.webhooks.get()[0] == []
    with pytest.raises(ServerResponseError) as err:
        server.webhooks.get_by_id(hook.id)
    assert err.value.code == "404043"


def test_webhook_validation(tableau_sandbox):
    server, _ = tsc_sign_in(tableau_sandbox)
    with pytest.raises(ServerResponseError) as err:  # Tableau requires https destinations
        make_webhook(server, "plain", "datasource-created", "http://example.com/hook")
    assert err.value.code == "400000"
    with pytest.raises(ServerResponseError):
        make_webhook(server, "bad event", "datasource-exploded", "https://example.com/hook")
    make_webhook(server, "ok", "datasource-updated", "https://example.com/hook")
    with pytest.raises(ServerResponseError) as err:
        make_webhook(server, "ok", "datasource-updated", "https://example.com/hook2")
    assert err.value.code.startswith("409")


@pytest.mark.parametrize("flavor", FLAVORS)
def test_events_are_delivered(tableau_sandbox_factory, flavor, receiver, tmp_path):
    sb = tableau_sandbox_factory(flavor)
    server, project = tsc_sign_in(sb)
    creds = sb.credentials()
    site_id = server.site_id
    for event in ("datasource-created", "datasource-updated", "datasource-refresh-succeeded",
                  "datasource-refresh-failed", "workbook-refresh-succeeded", "workbook-refresh-failed"):
        make_webhook(server, event, event, f"{receiver.url}/{event}")
    # the newer form: <webhook event="ApiEventName"> over raw REST
    body = (f'<tsRequest><webhook name="deleted" event="DatasourceDeleted"><webhook-destination>'
            f'<webhook-destination-http method="POST" url="{receiver.url}/deleted"/></webhook-destination>'
            f'</webhook></tsRequest>')
    r = requests.post(f"{sb.base_url}/api/3.25/sites/{site_id}/webhooks", data=body,
                      headers={"X-Tableau-Auth": server.auth_token}, timeout=10)
    assert r.status_code == 201

    path = write_hyper(tmp_path / "o.hyper", [("id", SqlType.big_int()), ("amt", SqlType.numeric(9, 2))],
                       [(1, D("1.00"))])
    ds = server.datasources.publish(TSC.DatasourceItem(project.id, name="Orders"), path, "CreateNew")
    server.datasources.publish(TSC.DatasourceItem(project.id, name="Orders"), path, "Overwrite")
    job = server.datasources.update_hyper_data(ds, request_id=str(uuid.uuid4()), actions=[
        {"action": "delete", "target-table": "Extract", "target-schema": "Extract",
         "condition": {"op": "eq", "target-col": "id", "const": {"type": "integer", "v": 99}}}])
    server.jobs.wait_for_job(job)
    server.jobs.wait_for_job(server.datasources.refresh(ds))
    sb.control("POST", "/_sandbox/faults", json={"jobs": {"fail": {"count": 1}}})
    with pytest.raises(JobFailedException):
        server.jobs.wait_for_job(server.datasources.refresh(ds))
    wb = sb.control("POST", "/_sandbox/workbooks", json={"name": "Dash", "datasource_ids": [ds.id]})
    server.jobs.wait_for_job(server.workbooks.refresh(wb["id"]))
    sb.control("POST", "/_sandbox/faults", json={"jobs": {"fail": {"count": 1}}})
    with pytest.raises(JobFailedException):
        server.jobs.wait_for_job(server.workbooks.refresh(wb["id"]))
    server.datasources.delete(ds.id)

    deliveries = sb.deliveries()  # waits for pending deliveries
    assert all(d["status_code"] == 200 for d in deliveries)
    assert receiver.events("/datasource-created") == ["DatasourceCreated"]
    assert receiver.events("/datasource-updated") == ["DatasourceUpdated", "DatasourceUpdated"]
    assert receiver.events("/datasource-refresh-succeeded") == ["DatasourceRefreshSucceeded"]
    assert receiver.events("/datasource-refresh-failed") == ["DatasourceRefreshFailed"]
    assert receiver.events("/workbook-refresh-succeeded") == ["WorkbookRefreshSucceeded"]
    assert receiver.events("/workbook-refresh-failed") == ["WorkbookRefreshFailed"]
    assert receiver.events("/deleted") == ["DatasourceDeleted"]
    created = next(r for r in receiver.received if r["path"] == "/datasource-created")
    assert set(created["body"]) == {"resource", "event_type", "resource_name", "site_luid", "resource_luid",
                                    "created_at"}
    assert created["body"]["resource"] == "DATASOURCE" and created["body"]["resource_name"] == "Orders"
    assert created["body"]["site_luid"] == site_id and created["body"]["resource_luid"] == ds.id
    assert created["headers"]["Content-Type"] == "application/json"
    assert not any(k.lower().startswith("x-tableau-signature") for k in created["headers"])  # unsigned
    refresh = next(r for r in receiver.received if r["path"] == "/workbook-refresh-succeeded")
    assert refresh["body"]["resource_luid"] == wb["id"] and refresh["body"]["resource_name"] == "Dash"
    assert creds["pat"]["token_secret"] not in json.dumps(receiver.received)


def test_unreachable_destination_is_recorded(tableau_sandbox, tmp_path):
    server, project = tsc_sign_in(tableau_sandbox)
    dead = Receiver()
    dead.close()  # nothing listens there any more
    make_webhook(server, "dead", "datasource-created", dead.url + "/x")
    path = write_hyper(tmp_path / "o.hyper", [("id", SqlType.big_int())], [(1,)])
    server.datasources.publish(TSC.DatasourceItem(project.id, name="Orders"), path, "CreateNew")
    deliveries = tableau_sandbox.deliveries()
    assert len(deliveries) == 1 and deliveries[0]["status_code"] is None and deliveries[0]["error"]


def test_webhooks_need_a_site_administrator(tableau_sandbox):
    server, _ = tsc_sign_in(tableau_sandbox)
    hook = make_webhook(server, "ok", "datasource-created", "https://example.com/hook")
    tableau_sandbox.control("POST", "/_sandbox/users/role", json={"site_role": "Creator"})
    with pytest.raises(ServerResponseError) as err:
        make_webhook(server, "not admin", "datasource-created", "https://example.com/hook")
    assert err.value.code == "403000"
    with pytest.raises(ServerResponseError):
        server.webhooks.get()
    tableau_sandbox.control("POST", "/_sandbox/users/role", json={"site_role": "SiteAdministratorCreator"})
    assert [w.id for w in server.webhooks.get()[0]] == [hook.id]


@pytest.mark.parametrize("name,expected", [
    ("AdminPromoted", "AdminPromoted"), ("webhook-event-user-promoted-admin", "AdminPromoted"),
    ("webhook-source-event-view-deleted", "ViewDeleted"), ("workbook-created", "WorkbookCreated"),
])
def test_all_documented_event_names_are_accepted(tableau_sandbox, name, expected):
    server, _ = tsc_sign_in(tableau_sandbox)
    body = (f'<tsRequest><webhook name="h" event="{name}"><webhook-destination>'
            f'<webhook-destination-http method="POST" url="https://example.com/x"/></webhook-destination>'
            f'</webhook></tsRequest>')
    r = requests.post(f"{tableau_sandbox.base_url}/api/3.25/sites/{server.site_id}/webhooks", data=body,
                      headers={"X-Tableau-Auth": server.auth_token}, timeout=10)
    assert r.status_code == 201
    assert ET.fromstring(r.content).find("t:webhook", NS).get("event") == expected
