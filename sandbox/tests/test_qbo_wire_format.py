"""The sandbox's bytes against the real QBO recordings in /work/shared/reference/qbo."""
from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path

import pytest

REF = Path("/work/shared/reference/qbo")
if not REF.exists():  # CI copies shared/ next to the clone
    REF = Path(__file__).resolve().parents[3] / "shared" / "reference" / "qbo"

ENTITY_FILES = {
    "accounts": "Account", "bill_payments": "BillPayment", "bills": "Bill", "credit_memos": "CreditMemo",
    "customers": "Customer", "deposits": "Deposit", "employees": "Employee", "estimates": "Estimate",
    "invoices": "Invoice", "items": "Item", "journal_entries": "JournalEntry", "payment_methods": "PaymentMethod",
    "payments": "Payment", "purchase_orders": "PurchaseOrder", "purchases": "Purchase",
    "refund_receipts": "RefundReceipt", "sales_receipts": "SalesReceipt", "tax_agencies": "TaxAgency",
    "tax_codes": "TaxCode", "tax_rates": "TaxRate", "terms": "Term", "time_activities": "TimeActivity",
}
# Keys of the recorded sample company that a generated company legitimately lacks.
SAMPLE_ONLY = {"Deposit": {"CashBack"}, "PurchaseOrder": {"LinkedTxn", "ShipAddr"}, "Customer": {"Fax"}}
ISO_TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$")


def jtype(v) -> str:
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, (int, float, Decimal)):
        return "number"
    if isinstance(v, str):
        return "string"
    if v is None:
        return "null"
    return "object" if isinstance(v, dict) else "array"


def compare(ref, ours, path="") -> list[str]:
    """Type mismatches between a reference value and ours, recursively (keys present in both)."""
    errs = []
    if jtype(ref) != jtype(ours):
        return [f"{path}: {jtype(ref)} vs {jtype(ours)}"]
    if isinstance(ref, dict):
        for k in ref:
            if k in ours:
                errs += compare(ref[k], ours[k], f"{path}.{k}")
    elif isinstance(ref, list) and ref and ours:
        errs += compare(ref[0], ours[0], path + "[0]")
    return errs


def _ref_entity(name):
    return json.loads((REF / f"entity-{name}.json").read_text())


@pytest.fixture(scope="module")
def served(qbo_module):
    sb, api = qbo_module
    cache = {}

    def get(entity):
        if entity not in cache:
            r = api.query(f"select * from {entity} maxresults 400")
            assert r.status_code == 200, r.text
            cache[entity] = (r.content, json.loads(r.content)["QueryResponse"][entity])
        return cache[entity]
    return get


@pytest.fixture(scope="module")
def qbo_module():
    from qbo_sandbox.testing import QboSandboxServer
    with QboSandboxServer(realms=1, seed=7) as sb:
        realm = sb.realm_ids()[0]
        yield sb, sb.api(realm)


@pytest.mark.parametrize("name", sorted(ENTITY_FILES))
def test_entity_keys_types_and_nesting_match_reference(name, served):
    entity = ENTITY_FILES[name]
    ref_records = _ref_entity(name)
    _raw, ours = served(entity)
    assert ours, f"no {entity} served"
    ref_keys = set().union(*map(set, ref_records))
    our_keys = set().union(*map(set, ours))
    missing = ref_keys - our_keys - SAMPLE_ONLY.get(entity, set())
    assert not missing, f"{entity} never has {sorted(missing)}"
    # Types and nesting: every reference record against every served record with the same shape keys.
    errors = []
    for ref in ref_records:
        for obj in ours[:200]:
            errors += compare(ref, obj, entity)
    assert not errors, sorted(set(errors))[:10]
    for obj in ours:
        assert obj["domain"] == "QBO" and obj["sparse"] is False
        assert isinstance(obj["SyncToken"], str) and isinstance(obj["Id"], str)
        assert ISO_TS.match(obj["MetaData"]["CreateTime"]) and ISO_TS.match(obj["MetaData"]["LastUpdatedTime"])
        assert all(v is not None for v in obj.values()), "sparse objects: absent, never null"


def test_money_has_two_decimals_on_the_wire(served):
    raw, invoices = served("Invoice")
    amounts = re.findall(rb'"(?:TotalAmt|Amount|Balance)":(-?[0-9.]+)', raw)
    assert amounts
    for a in amounts:
        assert a == b"0" or re.fullmatch(rb"-?\d+\.\d\d", a), a
    # Non-money numbers are bare, as QBO writes them (UnitPrice 75, Qty 4, 22.5).
    assert re.search(rb'"Qty":\d+[,}]', raw)


@pytest.mark.parametrize("fname,entity", [
    ("query-invoices.json", "Invoice"), ("query-bills.json", "Bill"), ("query-payments.json", "Payment"),
    ("query-purchases.json", "Purchase"), ("query-deposits.json", "Deposit"),
    ("query-journal-entries.json", "JournalEntry"), ("query-credit-memos.json", "CreditMemo"),
    ("query-bill-payments.json", "BillPayment"), ("query-vendors-page2.json", "Vendor")])
def test_query_envelope_matches_reference(fname, entity, served, qbo_module):
    ref = json.loads((REF / fname).read_text())
    sb, api = qbo_module
    r = api.query(f"SELECT * FROM {entity} STARTPOSITION 1 MAXRESULTS 100")
    ours = r.json()
    assert set(ours) == set(ref) == {"QueryResponse", "time"}
    ref_qr, our_qr = ref["QueryResponse"], ours["QueryResponse"]
    assert set(our_qr) == set(ref_qr) - {"totalCount"}
    assert list(our_qr)[0] == entity and our_qr["startPosition"] == 1 and our_qr["maxResults"] == len(our_qr[entity])
    assert compare(ref_qr[entity][0], our_qr[entity][0]) == [] or entity == "Vendor"
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d$", ours["time"])
    assert r.headers["intuit_tid"] and r.headers["content-type"].startswith("application/json")


def test_empty_page_count_read_delete_shapes(qbo_module):
    sb, api = qbo_module
    empty = api.query("SELECT * FROM Invoice STARTPOSITION 100000 MAXRESULTS 100").json()
    ref_empty = json.loads((REF / "query-invoices-empty-page.json").read_text())
    assert set(empty) == set(ref_empty) and empty["QueryResponse"] == {}
    count = api.query("SELECT COUNT(*) FROM Vendor").json()
    ref_count = json.loads((REF / "query-vendors-count.json").read_text())
    assert set(count["QueryResponse"]) == set(ref_count["QueryResponse"]) == {"totalCount"}
    first = api.query("SELECT * FROM Invoice MAXRESULTS 1").json()["QueryResponse"]["Invoice"][0]
    read = api.get(f"/invoice/{first['Id']}")
    ref_read = json.loads((REF / "read-invoice.json").read_text())
    assert set(read.json()) == set(ref_read)
    assert compare(ref_read["Invoice"], read.json()["Invoice"]) == []
    deleted = api.post("/invoice", json={"Id": first["Id"], "SyncToken": first["SyncToken"]},
                       operation="delete").json()
    ref_del = json.loads((REF / "delete-invoice.json").read_text())
    assert set(deleted) == set(ref_del) and set(deleted["Invoice"]) == set(ref_del["Invoice"])
    assert deleted["Invoice"]["status"] == "Deleted"


def test_fault_shapes(qbo_module):
    sb, api = qbo_module
    bad = api.query("SELECT * FROMM Invoice")
    assert bad.status_code == 400
    ref400 = json.loads((REF / "fault-400.json").read_text())
    assert set(bad.json()) == set(ref400)
    assert set(bad.json()["Fault"]) == set(ref400["Fault"])
    assert set(bad.json()["Fault"]["Error"][0]) == set(ref400["Fault"]["Error"][0])
    assert bad.json()["Fault"]["Error"][0]["code"] == "4000"
    unknown = api.post("/invoice", json={"BadJson": True})
    assert unknown.status_code == 400 and unknown.json()["Fault"]["Error"][0]["code"] == "2010"
    dup_name = api.query("select * from Customer maxresults 1").json()["QueryResponse"]["Customer"][0]["DisplayName"]
    dup = api.post("/customer", json={"DisplayName": dup_name})
    ref_val = json.loads((REF / "fault-validation.json").read_text())
    assert dup.status_code == 400 and dup.json()["Fault"]["Error"][0]["code"] == "6240"
    assert dup.json()["Fault"]["Error"][0]["Message"] == ref_val["Fault"]["Error"][0]["Message"]
    import requests
    r401 = requests.get(api.base + "/customer/1", headers={"Authorization": "Bearer nope"})
    ref401 = json.loads((REF / "fault-401.json").read_text())
    assert r401.status_code == 401 and set(r401.json()) == set(ref401)
    assert r401.json()["fault"]["error"][0]["code"] == "3200"
    assert isinstance(r401.json()["time"], int)
    assert "invalid_token" in r401.headers["www-authenticate"]


def test_cdc_envelope_matches_reference(qbo_module):
    sb, api = qbo_module
    ref = json.loads((REF / "cdc-basic.json").read_text())
    now = sb.control("GET", "/_sandbox/clock")["now"]
    import datetime as dt
    since = (dt.datetime.fromisoformat(now) - dt.timedelta(days=20)).isoformat(timespec="seconds")
    ours = api.get("/cdc", entities="estimate", changedSince=since).json()
    assert set(ours) == set(ref)
    qr = ours["CDCResponse"][0]["QueryResponse"][0]
    ref_qr = ref["CDCResponse"][0]["QueryResponse"][0]
    assert set(qr) == set(ref_qr)
    assert compare(ref_qr["Estimate"][0], qr["Estimate"][0]) == []


def test_oauth_shapes_match_reference(qbo_module):
    sb, api = qbo_module
    import requests
    creds = sb.credentials()
    r = requests.post(sb.base_url + "/oauth2/v1/tokens/bearer",
                      data={"grant_type": "refresh_token", "refresh_token": creds["realms"][0]["refresh_token"]},
                      auth=(creds["client_id"], creds["client_secret"]))
    ref = json.loads((REF / "oauth-token-response.json").read_text())
    assert set(r.json()) == set(ref) - {"id_token"}
    assert r.json()["token_type"] == "bearer" and r.json()["expires_in"] == 3600
    disc = requests.get(sb.base_url + "/.well-known/openid_configuration").json()
    ref_disc = json.loads((REF / "oauth-discovery.json").read_text())
    assert set(disc) == set(ref_disc)
    assert disc["token_endpoint"] == sb.base_url + "/oauth2/v1/tokens/bearer"
