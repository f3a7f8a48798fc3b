"""Report JSON → flat rows: the recorded QBO reports, reports built by the sandbox's report
engine on a generated company, windows and their halves."""
from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import pytest

from tap_quickbooks_online import report_parsing as rp
from tap_quickbooks_online.streams.reports import report_windows, split_window

REF = Path("/work/shared/reference/qbo")
if not REF.exists():  # CI lays shared/ beside the clone
    REF = Path(__file__).resolve().parents[2].parent / "shared" / "reference" / "qbo"

ZERO = Decimal(0)


def _ref(name):
    return json.loads((REF / f"report-{name}.json").read_text())


def test_recorded_general_ledger_rows_carry_the_drill_down_key():
    report = _ref("GeneralLedger")
    accounts = {"84": {"Classification": "Asset", "AccountType": "Accounts Receivable",
                       "FullyQualifiedName": "Accounts Receivable (A/R)"},
                "4": {"Classification": "Asset"}, "82": {"Classification": "Revenue"},
                "1": {"Classification": "Revenue"}}
    rows = list(rp.general_ledger_rows(report, accounts))
    # Beginning Balance rows are not postings; 2 invoices and 1 sales receipt post 6 lines
    assert [(r["txn_entity"], r["txn_id"], r["account_id"]) for r in rows] == [
        ("Invoice", "264", "84"), ("Invoice", "265", "84"), ("SalesReceipt", "17", "4"),
        ("SalesReceipt", "17", "82"), ("Invoice", "264", "1"), ("Invoice", "265", "1")]
    first = rows[0]
    assert first["txn_type"] == "Invoice" and first["doc_number"] == "1041"
    assert first["name"] == "Amy's Bird Sanctuary" and first["name_id"] == "1"
    assert first["split_account_name"] == "Services" and first["split_account_id"] == "1"
    assert first["natural_amount"] == Decimal("100.00")
    assert first["account_fully_qualified_name"] == "Accounts Receivable (A/R)"
    assert first["account_type"] == "Accounts Receivable" and first["account_classification"] == "Asset"
    # natural amounts turned into debit-positive amounts balance per transaction
    per_txn = defaultdict(Decimal)
    for r in rows:
        assert isinstance(r["amount"], Decimal)
        per_txn[(r["txn_entity"], r["txn_id"])] += r["amount"]
    assert set(per_txn.values()) == {ZERO}
    assert len({r["row_key"] for r in rows}) == len(rows)
    assert list(rp.general_ledger_rows(report, accounts)) == rows  # deterministic keys


def test_recorded_empty_profit_and_loss():
    report = _ref("ProfitAndLoss")
    assert list(rp.period_rows(report)) == []
    summaries = list(rp.period_rows(report, include_summaries=True))
    assert [s["label"] for s in summaries] == ["Total Income", "Gross Profit", "Total Expenses",
                                               "Net Operating Income", "Net Income"]
    assert all(s["amount"] is None and s["period_start"] == "2015-01-01" for s in summaries)
    assert not rp.is_truncated(report) and not rp.is_truncated(_ref("GeneralLedger"))


def test_amount_text():
    assert rp.amount("1,234.5") == Decimal("1234.50")
    assert rp.amount("(12.00)") == Decimal("-12.00")
    assert rp.amount("") is None
    with pytest.raises(rp.ReportParseError):
        rp.amount("abc")


def test_report_windows_cover_every_day_once():
    windows = report_windows(dt.date(2023, 1, 31), dt.date(2024, 3, 15), 2)
    assert windows[0] == (dt.date(2023, 1, 31), dt.date(2023, 3, 30))
    assert windows[-1][1] == dt.date(2024, 3, 15)
    for (_, end), (start, _) in zip(windows, windows[1:]):
        assert start == end + dt.timedelta(days=1)
    with pytest.raises(ValueError):
        report_windows(dt.date(2023, 1, 1), dt.date(2023, 2, 1), 0)


@pytest.mark.parametrize("start,end", [("2024-01-01", "2024-12-31"), ("2024-01-01", "2024-01-31"),
                                       ("2024-01-15", "2024-02-10"), ("2024-02-28", "2024-03-01")])
def test_split_window_halves_are_adjacent(start, end):
    s, e = dt.date.fromisoformat(start), dt.date.fromisoformat(end)
    (a1, b1), (a2, b2) = split_window(s, e)
    assert a1 == s and b2 == e and a2 == b1 + dt.timedelta(days=1) and a1 <= b1 < a2 <= b2
    if (e.year, e.month) != (s.year, s.month):
        assert a2.day == 1  # monthly columns stay whole


# --- on a generated company, through the sandbox's report engine ----------------------------------


@pytest.fixture(scope="module")
def company():
    from qbo_sandbox.clock import SandboxClock
    from qbo_sandbox.reports import build_report
    from qbo_sandbox.store import Store

    store = Store(realms=1, size="demo", seed=11, clock=SandboxClock())
    realm = store.realms()[0]
    accounts = {a["Id"]: a for a in store.iter_entities(realm, "Account")}
    return store, realm, accounts, build_report


def test_general_ledger_rows_sum_to_the_trial_balance(company):
    store, realm, accounts, build_report = company
    tb = build_report(store, realm, "TrialBalance", {"end_date": "2030-12-31"})
    gl = build_report(store, realm, "GeneralLedger", {"start_date": "2000-01-01", "end_date": "2030-12-31",
                                                      "columns": ",".join(rp.GL_COLUMNS)})
    # one fiscal year: the trial balance's income accounts restart each year, so compare the GL of
    # the whole history on balance-sheet accounts and of the last year on income accounts
    rows = list(rp.general_ledger_rows(gl, accounts))
    assert len(rows) > 1000
    last_year = max(r["txn_date"] for r in rows)[:4]
    tb_rows = {r["account_id"]: r for r in rp.trial_balance_rows(tb)}
    assert sum(r["balance"] for r in tb_rows.values()) == 0
    sums = defaultdict(Decimal)
    for r in rows:
        bs = r["account_classification"] in ("Asset", "Liability", "Equity")
        if bs or r["txn_date"][:4] == last_year:
            sums[r["account_id"]] += r["amount"]
        assert r["amount"] == r["debit"] - r["credit"] and (r["debit"] == 0 or r["credit"] == 0)
        assert r["txn_entity"] in ("Invoice", "SalesReceipt", "Payment", "CreditMemo", "RefundReceipt", "Deposit",
                                   "Transfer", "JournalEntry", "Bill", "VendorCredit", "BillPayment", "Purchase")
    retained = next(a for a, x in accounts.items() if x.get("AccountSubType") == "RetainedEarnings")
    for account_id, r in tb_rows.items():
        if account_id == retained:
            continue  # carries prior years' income, which the GL shows on the income accounts
        assert sums[account_id] == r["balance"], r["account_name"]


def test_profit_and_loss_by_month_rows(company):
    store, realm, accounts, build_report = company
    report = build_report(store, realm, "ProfitAndLoss", {"start_date": "2026-01-01", "end_date": "2026-06-30",
                                                          "summarize_column_by": "Month"})
    rows = list(rp.period_rows(report))
    months = sorted({r["period_start"] for r in rows})
    assert months[0] == "2026-01-01" and all(m.endswith("-01") for m in months)
    income = [r for r in rows if r["group"] == "Income"]
    assert income and all(r["category_1"] == "Income" and r["amount"] is not None for r in income)
    # sub-accounts keep their parent as a category level
    nested = [r for r in rows if r["category_2"]]
    assert nested and all(accounts[r["account_id"]].get("SubAccount") or r["label"] == r["category_2"]
                          for r in nested if r["account_id"])
    net = sum((r["amount"] if r["group"] in ("Income", "OtherIncome") else -r["amount"]) for r in rows)
    summaries = list(rp.period_rows(report, include_summaries=True))
    total_net = sum(s["amount"] for s in summaries if s["label"] == "Net Income")
    assert net == total_net
    assert len({r["row_key"] for r in summaries}) == len(summaries)


def test_truncated_report_is_detected(company):
    store, realm, accounts, build_report = company
    cut = build_report(store, realm, "GeneralLedger", {"start_date": "2000-01-01", "end_date": "2030-12-31",
                                                       "columns": ",".join(rp.GL_COLUMNS)}, row_limit=50)
    assert rp.is_truncated(cut)
    with pytest.raises(rp.ReportParseError, match="truncated"):
        list(rp.general_ledger_rows(cut, accounts))


def test_aging_rows(company):
    store, realm, accounts, build_report = company
    report = build_report(store, realm, "AgedReceivables", {"report_date": "2030-01-01"})
    rows = list(rp.aging_rows(report))
    assert rows and all(r["as_of"] == "2030-01-01" for r in rows)
    for r in rows:
        assert sum(r[f] for f in rp.AGING_FIELDS) == r["total"]
    invoices = sum((Decimal(str(i["Balance"])) * Decimal(str(i.get("ExchangeRate") or 1))).quantize(Decimal("0.01"))
                   for i in store.iter_entities(realm, "Invoice"))
    credits = sum((Decimal(str(c["RemainingCredit"])) * Decimal(str(c.get("ExchangeRate") or 1))).quantize(
        Decimal("0.01")) for c in store.iter_entities(realm, "CreditMemo"))
    unapplied = sum((Decimal(str(p.get("UnappliedAmt") or 0)) * Decimal(str(p.get("ExchangeRate") or 1))).quantize(
        Decimal("0.01")) for p in store.iter_entities(realm, "Payment"))
    assert sum(r["total"] for r in rows) == invoices - credits - unapplied
