"""Report streams against the local QBO sandbox: GL postings add up to the trial balance, windows
split in halves when QBO answers "Unable to display more data" or 504, with the same rows."""
from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

import pytest

from tap_quickbooks_online.tap import TapQuickBooksOnline

ZERO = Decimal(0)


@pytest.fixture(scope="module")
def sandbox():
    from qbo_sandbox.testing import QboSandboxServer

    with QboSandboxServer(realms=1, size="demo", seed=5, latency=False) as sb:
        yield sb


def _tap(sb, tmp_path, **extra):
    creds = sb.credentials()
    realm = creds["realms"][0]
    config = {"client_id": creds["client_id"], "client_secret": creds["client_secret"],
              "realms": [{"realm_id": realm["realm_id"], "refresh_token": realm["refresh_token"]}],
              "api_base_url": sb.base_url, "oauth_base_url": sb.base_url,
              "token_store": str(tmp_path / "tokens.json"), **extra}
    return TapQuickBooksOnline(config=config), realm["realm_id"]


def _read(tap, name, realm_id):
    """The stream's rows for one realm, after checking the realm tombstone that leads them."""
    stream = tap.streams[name]
    stream.backoff_base_seconds = 0.01
    tombstone, *rows = stream.get_records({"realm_id": realm_id})
    assert tombstone["realm_id"] == realm_id and tombstone["_sdc_deleted_at"]
    assert tombstone["report_window"] is None and tombstone["row_key"] is None
    assert all(row["row_key"] for row in rows)
    return stream, rows


@pytest.fixture(scope="module")
def first_year(sandbox):
    store = sandbox.sandbox.store
    realm = store.realms()[0]
    first = min(str(t["TxnDate"]) for e in ("Invoice", "Bill", "JournalEntry")
                for t in store.iter_entities(realm, e))
    return int(first[:4])


def test_general_ledger_sums_to_the_trial_balance(sandbox, tmp_path, first_year):
    tap, realm_id = _tap(sandbox, tmp_path, report_start_date=f"{first_year}-01-01", report_window_months=6)
    _, gl = _read(tap, "general_ledger", realm_id)
    _, tb = _read(tap, "trial_balance", realm_id)
    assert gl and tb
    for row in gl:
        assert row["realm_id"] == realm_id and row["report_window"] and row["txn_id"] and row["txn_entity"]
        assert isinstance(row["amount"], Decimal) and row["account_fully_qualified_name"]
    keys = [(r["realm_id"], r["report_window"], r["row_key"]) for r in gl]
    assert len(set(keys)) == len(keys)
    # the drill-down key reads the document back from the API
    sample = gl[len(gl) // 2]
    doc = sandbox.sandbox.store.get(realm_id, sample["txn_entity"], sample["txn_id"])
    assert doc is not None and str(doc["TxnDate"]) == sample["txn_date"]
    last_end = max(r["as_of"] for r in tb)
    closing = {r["account_id"]: r["balance"] for r in tb if r["as_of"] == last_end}
    assert sum(closing.values()) == 0
    fy_start = last_end[:4] + "-01-01"
    sums = defaultdict(Decimal)
    for r in gl:
        if r["account_classification"] in ("Asset", "Liability", "Equity") or r["txn_date"] >= fy_start:
            sums[r["account_id"]] += r["amount"]
    retained = next(a for a, x in tap.streams["general_ledger"]._accounts[realm_id].items()
                    if x.get("AccountSubType") == "RetainedEarnings")
    for account_id, balance in closing.items():
        if account_id != retained:  # holds prior years' income, shown by the GL on income accounts
            assert sums[account_id] == balance, account_id


def test_windows_split_on_the_size_cap_with_the_same_rows(sandbox, tmp_path, first_year):
    settings = {"report_start_date": f"{first_year}-01-01", "report_window_months": 12}
    tap, realm_id = _tap(sandbox, tmp_path, **settings)
    stream, whole = _read(tap, "general_ledger", realm_id)
    assert stream.window_splits == 0
    store = sandbox.sandbox.store
    store.report_row_limit = max(50, len(whole) // 4)  # what the server answers with its cap
    try:
        tap2, _ = _tap(sandbox, tmp_path, **settings)
        stream2, split = _read(tap2, "general_ledger", realm_id)
    finally:
        store.report_row_limit = None
    assert stream2.window_splits >= 2
    assert sorted(split, key=lambda r: r["row_key"]) == sorted(whole, key=lambda r: r["row_key"])


def test_a_504_splits_the_window(sandbox, tmp_path, first_year):
    settings = {"report_start_date": f"{first_year}-01-01", "report_window_months": 12}
    tap, realm_id = _tap(sandbox, tmp_path, **settings)
    _, whole = _read(tap, "profit_and_loss", realm_id)
    sandbox.control("POST", "/_sandbox/faults", json={"kind": "5xx", "status": 504, "count": 1,
                                                      "path": "reports/ProfitAndLoss"})
    try:
        tap2, _ = _tap(sandbox, tmp_path, **settings)
        stream, split = _read(tap2, "profit_and_loss", realm_id)
    finally:
        sandbox.control("DELETE", "/_sandbox/faults")
    assert stream.window_splits == 1
    # monthly columns: a window split at a month boundary gives the very same rows
    assert sorted(split, key=lambda r: r["row_key"]) == sorted(whole, key=lambda r: r["row_key"])
    assert all(r["row_key"] and r["period_start"] for r in split)


def test_summary_report_streams(sandbox, tmp_path, first_year):
    tap, realm_id = _tap(sandbox, tmp_path, report_start_date=f"{first_year}-01-01", report_window_months=12)
    _, bs = _read(tap, "balance_sheet", realm_id)
    _, cf = _read(tap, "cash_flow", realm_id)
    _, ar = _read(tap, "aged_receivables", realm_id)
    _, ap = _read(tap, "aged_payables", realm_id)
    # the balance sheet balances at every month end
    by_month = defaultdict(Decimal)
    for r in bs:
        sign = 1 if r["category_1"] == "ASSETS" else -1
        by_month[r["period_end"]] += sign * r["amount"]
    assert by_month and set(by_month.values()) == {ZERO}
    # cash flow: the month's increase is the change of cash between month ends
    ends = {r["period_start"]: r["amount"] for r in cf if r["label"] == "Cash at end of period"}
    begins = {r["period_start"]: r["amount"] for r in cf if r["label"] == "Cash at beginning of period"}
    months = sorted(ends)
    for prev, nxt in zip(months, months[1:]):
        assert begins[nxt] == ends[prev]
    assert ar and ap and all(r["total"] == sum(r[f] for f in ("current", "past_due_1_30", "past_due_31_60",
                                                              "past_due_61_90", "past_due_91_over")) for r in ar)
    for rows in (bs, cf, ar, ap):
        keys = [(r["realm_id"], r["report_window"], r["row_key"]) for r in rows]
        assert len(set(keys)) == len(keys)


def test_a_timeout_splits_the_window(sandbox, tmp_path, first_year, monkeypatch):
    from tap_quickbooks_online.streams.reports import TrialBalanceStream

    settings = {"report_start_date": f"{first_year}-01-01", "report_window_months": 24}
    tap, realm_id = _tap(sandbox, tmp_path, **settings)
    _read(tap, "trial_balance", realm_id)  # the sandbox's ledger is now cached: answers are quick
    # only the delayed answer may exceed the client timeout (with a wide margin on a busy machine)
    monkeypatch.setattr(TrialBalanceStream, "timeout", property(lambda self: 4))
    sandbox.control("POST", "/_sandbox/faults", json={"kind": "slow", "delay_s": 10, "count": 1,
                                                      "path": "reports/TrialBalance"})
    try:
        tap2, _ = _tap(sandbox, tmp_path, **settings)
        stream, rows = _read(tap2, "trial_balance", realm_id)
    finally:
        sandbox.control("DELETE", "/_sandbox/faults")
    assert stream.window_splits >= 1
    # each part is a trial balance of its own that nets to zero
    parts = defaultdict(Decimal)
    for r in rows:
        parts[r["as_of"]] += r["balance"]
    assert len(parts) >= 2 and set(parts.values()) == {ZERO}
