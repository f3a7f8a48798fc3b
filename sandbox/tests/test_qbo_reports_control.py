"""Report errors answer QBO's own 400 Fault; the GeneralLedger size cap is set per server through
``POST /_sandbox/reports {"row_limit": N}``."""
from __future__ import annotations

import datetime as dt

import pytest
import requests

from qbo_sandbox import reports
from qbo_sandbox.reports import TRUNCATION_NOTICE
from qbo_sandbox.testing import QboSandboxServer


@pytest.fixture(scope="module")
def server():
    with QboSandboxServer(realms=1, size="demo", seed=5) as sb:
        realm = sb.realm_ids()[0]
        session = requests.Session()
        session.headers.update({"Authorization": f"Bearer {sb.access_token(realm)}", "Accept": "application/json"})
        yield sb, realm, session


def _get(server, name, **params):
    sb, realm, session = server
    return session.get(f"{sb.base_url}/v3/company/{realm}/reports/{name}", params={"minorversion": "75", **params},
                       timeout=120)


def _expected_error(store, realm, name, params) -> reports.ReportError:
    with pytest.raises(reports.ReportError) as info:
        reports.build_report(store, realm, name, params)
    return info.value


@pytest.mark.parametrize("name,params", [
    ("ProfitAndLoss", {"start_date": "2026-02-30"}),
    ("BalanceSheet", {"start_date": "2026-03-01", "end_date": "2026-01-01"}),
    ("TrialBalance", {"accounting_method": "Magic"}),
    ("CashFlow", {"summarize_column_by": "Fortnight"}),
    ("GeneralLedger", {"date_macro": "Next Decade"}),
    ("AgedReceivables", {"aging_period": "x"}),
    ("NoSuchReport", {}),
])
def test_report_errors_answer_qbo_fault_with_their_own_message(server, name, params):
    sb, realm, _ = server
    expected = _expected_error(sb.sandbox.store, realm, name, params)
    r = _get(server, name, **params)
    assert r.status_code == 400
    assert r.headers["Content-Type"].startswith("application/json")
    body = r.json()
    assert list(body) == ["Fault", "time"]
    assert body["Fault"]["type"] == "ValidationFault"
    assert body["Fault"]["Error"] == [{"Message": expected.message, "Detail": expected.detail,
                                       "code": expected.code}]
    assert body["Fault"]["Error"][0]["code"] != "500"


def test_row_limit_control_sets_the_general_ledger_cap_per_server(server):
    sb, realm, _ = server
    assert sb.control("GET", "/_sandbox/reports") == {"row_limit": None}
    params = {"start_date": "2000-01-01", "end_date": "2030-12-31"}
    today = dt.date.fromtimestamp(sb.sandbox.clock.now())
    week = {"start_date": (today - dt.timedelta(days=7)).isoformat(), "end_date": today.isoformat()}
    full = _get(server, "GeneralLedger", **params).json()
    small = _get(server, "GeneralLedger", **week).json()
    for report in (full, small):  # complete under QBO's own cap
        assert report["Rows"]["Row"][-1]["type"] == "Section"
    n_small = _count_data_rows(small["Rows"]["Row"])
    assert 0 < n_small < _count_data_rows(full["Rows"]["Row"])
    try:
        assert sb.control("POST", "/_sandbox/reports", json={"row_limit": n_small}) == {"row_limit": n_small}
        capped = _get(server, "GeneralLedger", **params).json()
        last = capped["Rows"]["Row"][-1]
        assert last["type"] == "Data" and last["ColData"][0]["value"] == TRUNCATION_NOTICE
        assert _count_data_rows(capped["Rows"]["Row"]) == n_small + 1  # the cap, then the notice row
        # the smaller window fits under the same cap, unchanged: what the tap's window splitting relies on
        again_small = _get(server, "GeneralLedger", **week).json()
        assert again_small["Rows"] == small["Rows"]
    finally:
        assert sb.control("POST", "/_sandbox/reports", json={"row_limit": None}) == {"row_limit": None}
    again = _get(server, "GeneralLedger", **params).json()
    assert again["Rows"] == full["Rows"]


def test_row_limit_control_rejects_bad_values(server):
    sb, _, _ = server
    for bad in (0, -3, "10", 2.5, True):
        r = requests.post(f"{sb.base_url}/_sandbox/reports", json={"row_limit": bad}, timeout=30)
        assert r.status_code == 400 and "row_limit" in r.json()["error"]
    assert sb.control("GET", "/_sandbox/reports") == {"row_limit": None}


def _count_data_rows(rows) -> int:
    n = 0
    for r in rows:
        if r.get("type") == "Data":
            n += 1
        n += _count_data_rows(r.get("Rows", {}).get("Row", []))
    return n
