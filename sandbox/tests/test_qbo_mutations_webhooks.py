"""Writes (create, sparse update, stale SyncToken, delete, void, inactivate) and signed webhooks."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

from qbo_sandbox.webhooks import sign, verify

REF = Path("/work/shared/reference/qbo")
if not REF.exists():
    REF = Path(__file__).resolve().parents[3] / "shared" / "reference" / "qbo"


def test_signature_matches_intuit_test_vector():
    v = json.loads((REF / "webhook-signature-vector.json").read_text())
    body = v["payload"].encode()
    assert sign(body, v["verifier_token"]) == v["intuit_signature"]
    assert verify(body, v["intuit_signature"], v["verifier_token"])
    assert not verify(body, "1234", v["verifier_token"])


def test_create_update_stale_delete_void(qbo_sandbox):
    sb = qbo_sandbox
    realm = sb.realm_ids()[0]
    api = sb.api(realm)
    cust = api.query("select * from Customer where CurrencyRef = 'USD' maxresults 1").json()["QueryResponse"][
        "Customer"][0]
    item = api.query("select * from Item where Type = 'Service' maxresults 1").json()["QueryResponse"]["Item"][0]
    r = api.post("/invoice", json={"CustomerRef": {"value": cust["Id"]}, "Line": [
        {"DetailType": "SalesItemLineDetail", "Amount": 150.5,
         "SalesItemLineDetail": {"ItemRef": {"value": item["Id"]}, "Qty": 1, "UnitPrice": 150.5}}]})
    assert r.status_code == 200, r.text
    assert b'"TotalAmt":150.50' in r.content and b'"Balance":150.50' in r.content
    inv = r.json()["Invoice"]
    assert inv["SyncToken"] == "0" and inv["CustomerRef"]["name"] == cust["DisplayName"]
    assert api.get(f"/invoice/{inv['Id']}").json()["Invoice"]["Id"] == inv["Id"]
    sb.control("POST", "/_sandbox/clock", json={"advance": 120})
    up = api.post("/invoice", json={"Id": inv["Id"], "SyncToken": "0", "sparse": True, "PrivateNote": "hi"})
    assert up.status_code == 200
    u = up.json()["Invoice"]
    assert u["SyncToken"] == "1" and u["PrivateNote"] == "hi" and u["Line"] == inv["Line"]
    assert u["MetaData"]["LastUpdatedTime"] > inv["MetaData"]["LastUpdatedTime"]
    assert u["MetaData"]["CreateTime"] == inv["MetaData"]["CreateTime"]
    stale = api.post("/invoice", json={"Id": inv["Id"], "SyncToken": "0", "sparse": True, "PrivateNote": "x"})
    assert stale.status_code == 400 and stale.json()["Fault"]["Error"][0]["code"] == "5010"
    assert stale.json()["Fault"]["Error"][0]["Message"] == "Stale Object Error"
    # A payment applied to it lowers its Balance and links both ways.
    pay = api.post("/payment", json={"CustomerRef": {"value": cust["Id"]}, "TotalAmt": 100, "Line": [
        {"Amount": 100, "LinkedTxn": [{"TxnId": inv["Id"], "TxnType": "Invoice"}]}]})
    assert pay.status_code == 200, pay.text
    after = api.get(f"/invoice/{inv['Id']}").json()["Invoice"]
    assert Decimal(str(after["Balance"])) == Decimal("50.50") and after["SyncToken"] == "2"
    assert {"TxnId": pay.json()["Payment"]["Id"], "TxnType": "Payment"} in after["LinkedTxn"]
    # Void the payment: the invoice is open again.
    p = pay.json()["Payment"]
    v = api.post("/payment", json={"Id": p["Id"], "SyncToken": p["SyncToken"]}, operation="void")
    assert v.status_code == 200 and v.json()["Payment"]["TotalAmt"] == 0
    assert v.json()["Payment"]["PrivateNote"] == "Voided"
    assert Decimal(str(api.get(f"/invoice/{inv['Id']}").json()["Invoice"]["Balance"])) == Decimal("150.50")
    cur = api.get(f"/invoice/{inv['Id']}").json()["Invoice"]
    d = api.post("/invoice", json={"Id": inv["Id"], "SyncToken": cur["SyncToken"]}, operation="delete")
    assert d.json()["Invoice"] == {"domain": "QBO", "status": "Deleted", "Id": inv["Id"]}
    assert api.get(f"/invoice/{inv['Id']}").status_code == 400
    assert api.query(f"select * from Invoice where Id = '{inv['Id']}'").json()["QueryResponse"] == {}
    # Names cannot be deleted, only made inactive.
    assert api.post("/customer", json={"Id": cust["Id"], "SyncToken": cust["SyncToken"]},
                    operation="delete").status_code == 400
    ina = sb.control("POST", "/_sandbox/mutate", json={"realm": realm, "entity": "Customer", "op": "inactivate",
                                                      "id": cust["Id"]})
    assert ina["Customer"]["Active"] is False
    ids = [c["Id"] for c in api.query("select * from Customer maxresults 1000").json()["QueryResponse"]["Customer"]]
    assert cust["Id"] not in ids
    missing = api.post("/invoice", json={"Line": []})
    assert missing.status_code == 400 and missing.json()["Fault"]["Error"][0]["code"] == "2020"


def test_batch(qbo_sandbox):
    api = qbo_sandbox.api(qbo_sandbox.realm_ids()[0])
    r = api.post("/batch", json={"BatchItemRequest": [
        {"bId": "a", "Query": "select count(*) from Invoice"},
        {"bId": "b", "Query": "select * from Term"},
        {"bId": "c", "Query": "select * frm Term"},
        {"bId": "d", "operation": "create", "Customer": {"DisplayName": "Batch Created Co"}}]})
    assert r.status_code == 200
    items = r.json()["BatchItemResponse"]
    assert [i["bId"] for i in items] == ["a", "b", "c", "d"]
    assert items[0]["QueryResponse"]["totalCount"] > 0 and items[1]["QueryResponse"]["Term"]
    assert items[2]["Fault"]["Error"][0]["code"] == "4000"
    assert items[3]["Customer"]["DisplayName"] == "Batch Created Co"
    too_many = api.post("/batch", json={"BatchItemRequest": [{"bId": str(k), "Query": "select * from Term"}
                                                            for k in range(31)]})
    assert too_many.status_code == 400


class _Hook(BaseHTTPRequestHandler):
    received: list = []
    fail_first = 1

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        cls = type(self)
        if cls.fail_first > 0:
            cls.fail_first -= 1
            self.send_response(500)
            self.end_headers()
            return
        cls.received.append((body, self.headers.get("intuit-signature")))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *a):
        pass


def test_webhooks_signed_batched_and_retried(qbo_sandbox):
    sb = qbo_sandbox
    srv = HTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{srv.server_address[1]}/hook"
        verifier = sb.credentials()["webhook_verifier_token"]
        sb.control("POST", "/_sandbox/webhooks", json={"url": url, "batch_window_s": 1.0, "backoff_s": 0.05})
        realm = sb.realm_ids()[0]
        c1 = sb.control("POST", "/_sandbox/mutate", json={"realm": realm, "entity": "Customer", "op": "create",
                                                         "data": {"DisplayName": "Hook One"}})
        sb.control("POST", "/_sandbox/mutate", json={"realm": realm, "entity": "Customer", "op": "update",
                                                    "id": c1["Customer"]["Id"], "data": {"Notes": "n"}})
        deadline = time.time() + 10
        while not _Hook.received and time.time() < deadline:
            time.sleep(0.05)
        body, signature = _Hook.received[0]
        expected = base64.b64encode(hmac.new(verifier.encode(), body, hashlib.sha256).digest()).decode()
        assert signature == expected
        payload = json.loads(body)
        ents = payload["eventNotifications"][0]["dataChangeEvent"]["entities"]
        assert payload["eventNotifications"][0]["realmId"] == realm
        assert [(e["name"], e["operation"]) for e in ents] == [("Customer", "Create"), ("Customer", "Update")]
        deliveries = []
        while len(deliveries) < 2 and time.time() < deadline:  # the log is written after the answer
            deliveries = sb.control("GET", "/_sandbox/webhooks/deliveries")["deliveries"]
            time.sleep(0.05)
        assert [d["status"] for d in deliveries[:2]] == [500, 200] and deliveries[1]["attempt"] == 2
    finally:
        srv.shutdown()


def test_cloudevents_format_and_entity_filter(qbo_sandbox):
    sb = qbo_sandbox
    got = []

    class H(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            got.append((self.rfile.read(int(self.headers["Content-Length"])), dict(self.headers)))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *a):
            pass
    srv = HTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        sb.control("POST", "/_sandbox/webhooks", json={
            "url": f"http://127.0.0.1:{srv.server_address[1]}/ce", "format": "cloudevents",
            "verifier_token": "tok123", "entities": ["Invoice"], "batch_window_s": 0.2})
        realm = sb.realm_ids()[1]
        api = sb.api(realm)
        inv = api.query("select * from Invoice maxresults 1").json()["QueryResponse"]["Invoice"][0]
        sb.control("POST", "/_sandbox/mutate", json={"realm": realm, "entity": "Customer", "op": "create",
                                                    "data": {"DisplayName": "Not Delivered Co"}})
        assert api.post("/invoice", json={"Id": inv["Id"], "SyncToken": inv["SyncToken"]},
                        operation="void").status_code == 200
        deadline = time.time() + 10
        while not got and time.time() < deadline:
            time.sleep(0.05)
        body, headers = got[0]
        assert headers["intuit-signature"] == sign(body, "tok123")
        events = json.loads(body)
        ref = json.loads((REF / "webhook-cloudevents.json").read_text())
        assert [set(e) for e in events] == [set(ref[0])]
        assert events[0]["type"] == "qbo.invoice.voided.v1" and events[0]["intuitentityid"] == inv["Id"]
        assert events[0]["intuitaccountid"] == realm
    finally:
        srv.shutdown()


def test_read_companyinfo_preferences_and_unknown(qbo_sandbox):
    realm = qbo_sandbox.realm_ids()[0]
    api = qbo_sandbox.api(realm)
    ci = api.get(f"/companyinfo/{realm}").json()
    assert ci["CompanyInfo"]["CompanyName"] and "time" in ci
    prefs = api.get("/preferences").json()["Preferences"]
    assert prefs["CurrencyPrefs"]["MultiCurrencyEnabled"] is True
    missing = api.get("/invoice/987654321")
    assert missing.status_code == 400 and missing.json()["Fault"]["Error"][0]["code"] == "610"
    by_id = api.query("select * from Invoice where Id in ('101', '100')").json()["QueryResponse"]["Invoice"]
    assert sorted(i["Id"] for i in by_id) == ["100", "101"]
