"""Change data capture: windows, changes, deletions, limits and unsupported entities."""
from __future__ import annotations

import datetime as dt


def _since(sb, **delta):
    now = dt.datetime.fromisoformat(sb.control("GET", "/_sandbox/clock")["now"])
    return (now - dt.timedelta(**delta)).isoformat(timespec="seconds")


def test_cdc_reports_changes_and_deletions_since(qbo_sandbox):
    sb = qbo_sandbox
    realm = sb.realm_ids()[0]
    api = sb.api(realm)
    since = _since(sb, seconds=1)
    base = api.get("/cdc", entities="Invoice,Customer", changedSince=since).json()
    qrs = base["CDCResponse"][0]["QueryResponse"]
    assert len(qrs) == 2 and all("Invoice" not in q and "Customer" not in q for q in qrs)
    inv = api.query("select * from Invoice maxresults 2").json()["QueryResponse"]["Invoice"]
    upd = api.post("/invoice", json={"Id": inv[0]["Id"], "SyncToken": inv[0]["SyncToken"], "sparse": True,
                                     "PrivateNote": "changed"})
    assert upd.status_code == 200
    assert api.post("/invoice", json={"Id": inv[1]["Id"], "SyncToken": inv[1]["SyncToken"]},
                    operation="delete").status_code == 200
    cust = sb.control("POST", "/_sandbox/mutate", json={"realm": realm, "entity": "Customer", "op": "create",
                                                       "data": {"DisplayName": "CDC Test Customer"}})
    out = api.get("/cdc", entities="Invoice,Customer", changedSince=since).json()
    inv_qr, cust_qr = out["CDCResponse"][0]["QueryResponse"]
    by_id = {o["Id"]: o for o in inv_qr["Invoice"]}
    assert by_id[inv[0]["Id"]]["PrivateNote"] == "changed"
    assert by_id[inv[1]["Id"]]["status"] == "Deleted" and set(by_id[inv[1]["Id"]]) == {
        "domain", "status", "Id", "MetaData"}
    assert [c["Id"] for c in cust_qr["Customer"]] == [cust["Customer"]["Id"]]
    assert inv_qr["maxResults"] == len(inv_qr["Invoice"])
    times = [o["MetaData"]["LastUpdatedTime"] for o in inv_qr["Invoice"]]
    assert times == sorted(times)


def test_cdc_window_limits_and_unsupported(qbo_sandbox):
    sb = qbo_sandbox
    api = sb.api(sb.realm_ids()[0])
    recent = api.get("/cdc", entities="Payment,Bill", changedSince=_since(sb, days=29)).json()
    pay, bill = recent["CDCResponse"][0]["QueryResponse"]
    assert 0 < len(pay["Payment"]) <= 1000 and len(bill["Bill"]) > 0
    # The base data's own deletions show up as Deleted (clock moved to 10 days after the first one).
    realm = sb.sandbox.store.realm(sb.realm_ids()[0])
    g = realm.gen
    i = next(i for i in range(g.N) if g.is_deleted(i))
    sb.control("POST", "/_sandbox/clock", json={"set": g.deleted_time(i) + 10 * 86400})
    from qbo_sandbox.wire import qbo_timestamp
    est = api.get("/cdc", entities=g.entity_of(i), changedSince=qbo_timestamp(g.deleted_time(i) - 1)).json()
    objs = est["CDCResponse"][0]["QueryResponse"][0][g.entity_of(i)]
    assert objs[0] == {"domain": "QBO", "status": "Deleted", "Id": g.txn_id(i),
                       "MetaData": {"LastUpdatedTime": qbo_timestamp(g.deleted_time(i))}}
    sb.control("POST", "/_sandbox/clock", json={"set": realm.company.end + 3700})
    old = api.get("/cdc", entities="Invoice", changedSince=_since(sb, days=31))
    assert old.status_code == 400 and "older than" in old.json()["Fault"]["Error"][0]["Detail"]
    for ent in ("TimeActivity", "TaxAgency", "TaxCode", "TaxRate"):
        r = api.get("/cdc", entities=f"Invoice,{ent}", changedSince=_since(sb, days=1))
        assert r.status_code == 400 and ent in r.json()["Fault"]["Error"][0]["Detail"]
    assert api.get("/cdc", changedSince=_since(sb, days=1)).status_code == 400


def test_cdc_caps_1000_per_entity(qbo_sandbox_factory):
    sb = qbo_sandbox_factory(realms=1, size="large", seed=5)
    api = sb.api(sb.realm_ids()[0])
    out = api.get("/cdc", entities="Invoice", changedSince=_since(sb, days=29)).json()
    assert len(out["CDCResponse"][0]["QueryResponse"][0]["Invoice"]) == 1000
