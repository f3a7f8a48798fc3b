"""The Reports API over HTTP: served shape, reports follow changes made through the API, bad
requests answer a Fault, and the size cap answers like QBO."""
from __future__ import annotations

from decimal import Decimal

import pytest
import requests

from qbo_sandbox.reports import TRUNCATION_NOTICE
from qbo_sandbox.testing import QboSandboxServer


@pytest.fixture(scope="module")
def server():
    with QboSandboxServer(realms=1, size="demo", seed=21) as sb:
        realm = sb.realm_ids()[0]
        session = requests.Session()
        session.headers.update({"Authorization": f"Bearer {sb.access_token(realm)}", "Accept": "application/json"})
        yield sb, realm, session


def _get(server, name, **params):
    sb, realm, session = server
    r = session.get(f"{sb.base_url}/v3/company/{realm}/reports/{name}", params={"minorversion": "75", **params},
                    timeout=60)
    return r


def _summary(report, group, col=1):
    stack = list(report["Rows"]["Row"])
    while stack:
        r = stack.pop(0)
        if r.get("group") == group:
            return Decimal(r["Summary"]["ColData"][col]["value"] or "0")
        stack.extend(r.get("Rows", {}).get("Row", []))
    raise AssertionError(group)


def _tb_total(report):
    cells = report["Rows"]["Row"][-1]["Summary"]["ColData"]
    return Decimal(cells[1]["value"]), Decimal(cells[2]["value"])


def test_reports_are_served_with_the_qbo_shape(server):
    for name in ("ProfitAndLoss", "BalanceSheet", "TrialBalance", "GeneralLedger", "AgedReceivables",
                 "AgedPayables", "CashFlow", "ProfitAndLossDetail"):
        r = _get(server, name, start_date="2026-01-01", end_date="2026-03-31")
        assert r.status_code == 200, r.text
        assert r.headers["Content-Type"].startswith("application/json")
        body = r.json()
        assert list(body) == ["Header", "Columns", "Rows"]
        assert body["Header"]["ReportName"] == name
        assert body["Header"]["Option"][-1]["Name"] == "NoReportData"


def test_reports_follow_changes_made_through_the_api(server):
    sb, realm, _ = server
    store = sb.sandbox.store
    params = {"start_date": "2000-01-01", "end_date": "2030-12-31"}
    before = _get(server, "ProfitAndLoss", **params).json()
    ar_before = _get(server, "AgedReceivables", report_date="2030-12-31").json()
    invoice = next(i for i in store.iter_entities(realm, "Invoice")
                   if Decimal(str(i["Balance"])) == Decimal(str(i["TotalAmt"])) > 0 and not i.get("ExchangeRate"))
    income = sum(Decimal(str(line["Amount"])) for line in invoice["Line"]
                 if line.get("DetailType") == "SalesItemLineDetail")
    discount = sum(Decimal(str(line["Amount"])) for line in invoice["Line"]
                   if line.get("DetailType") == "DiscountLineDetail")
    sb.control("POST", "/_sandbox/mutate", json={"realm": realm, "entity": "Invoice", "op": "void",
                                                  "id": invoice["Id"]})
    after = _get(server, "ProfitAndLoss", **params).json()
    ar_after = _get(server, "AgedReceivables", report_date="2030-12-31").json()
    assert _summary(before, "Income") - _summary(after, "Income") == income - discount
    ncol = len(ar_after["Columns"]["Column"]) - 1
    assert _summary(ar_before, "GrandTotal", ncol) - _summary(ar_after, "GrandTotal", ncol) == Decimal(
        str(invoice["TotalAmt"]))
    debit, credit = _tb_total(_get(server, "TrialBalance", end_date="2030-12-31").json())
    assert debit == credit


def test_bad_requests_answer_a_fault(server):
    r = _get(server, "ProfitAndLoss", start_date="2026-02-30")
    assert r.status_code == 400 and "Fault" in r.json()
    r = _get(server, "ProfitAndLoss", accounting_method="Magic")
    assert r.status_code == 400 and "Fault" in r.json()


def test_general_ledger_over_the_cap(server):
    sb, realm, _ = server
    store = sb.sandbox.store
    store.report_row_limit = 100
    try:
        body = _get(server, "GeneralLedger", start_date="2000-01-01", end_date="2030-12-31").json()
    finally:
        store.report_row_limit = None
    last = body["Rows"]["Row"][-1]
    assert last["type"] == "Data" and last["ColData"][0]["value"] == TRUNCATION_NOTICE
    full = _get(server, "GeneralLedger", start_date="2000-01-01", end_date="2030-12-31").json()
    assert full["Rows"]["Row"][-1]["type"] == "Section"
