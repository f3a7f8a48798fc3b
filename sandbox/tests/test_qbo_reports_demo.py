"""Reports on the generated demo company (``qbo_sandbox.store.Store``): the numbers reconcile
with each other and with the documents the API serves."""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal

import pytest

from qbo_sandbox import ledger as L
from qbo_sandbox.clock import SandboxClock
from qbo_sandbox.reports import TRUNCATION_NOTICE, build_report, open_items
from qbo_sandbox.store import Store

ZERO = Decimal(0)


@pytest.fixture(scope="module")
def demo():
    store = Store(realms=1, size="demo", seed=7, clock=SandboxClock())
    realm = store.realms()[0]
    led = L.load_ledger(store, realm)
    first = min(p.txn_date for p in led.postings)
    last = max(p.txn_date for p in led.postings)
    return store, realm, led, first, last


def _walk(rows, path=()):
    for r in rows.get("Row", []):
        if r.get("type") == "Section":
            head = r.get("Header", {}).get("ColData", [{}])[0]
            yield path, r
            yield from _walk(r.get("Rows", {}), path + (head.get("value", r.get("group", "")),))
        else:
            yield path, r


def _summary(report, group, col=1):
    for _, r in _walk(report["Rows"]):
        if r.get("group") == group:
            return Decimal(r["Summary"]["ColData"][col]["value"] or "0")
    raise AssertionError(f"no {group} section")


def _tb(store, realm, end, method="Accrual"):
    tb = build_report(store, realm, "TrialBalance", {"end_date": end.isoformat(), "accounting_method": method})
    out = {}
    for _, r in _walk(tb["Rows"]):
        if r.get("type") == "Data":
            c = r["ColData"]
            out[c[0]["id"]] = Decimal(c[1]["value"] or "0") - Decimal(c[2]["value"] or "0")
    total = [r for _, r in _walk(tb["Rows"]) if r.get("group") == "GrandTotal"][0]["Summary"]["ColData"]
    return out, Decimal(total[1]["value"]), Decimal(total[2]["value"])


def test_every_generated_transaction_balances(demo):
    store, realm, led, *_ = demo
    per_txn = defaultdict(Decimal)
    for p in led.postings:
        per_txn[(p.txn_type, p.txn_id)] += p.amount
    assert len(per_txn) > 1000
    assert all(v == 0 for v in per_txn.values())
    # voided documents are served (zeroed) and post nothing
    voided = [k for k, txn in led.documents.items() if L.is_voided(txn)]
    assert voided and not any(k in per_txn for k in voided)


@pytest.mark.parametrize("method", ["Accrual", "Cash"])
def test_trial_balance_nets_to_zero(demo, method):
    store, realm, _led, _first, last = demo
    balances, debit, credit = _tb(store, realm, last, method)
    assert debit == credit > 0
    assert sum(balances.values()) == 0


def test_account_balances_served_equal_the_ledger(demo):
    """Account.CurrentBalance (kept by the store) is the ledger balance in natural sign."""
    store, realm, led, _first, last = demo
    balances, _, _ = _tb(store, realm, dt.date(last.year + 5, 1, 1))
    for acct in store.iter_entities(realm, "Account"):
        if acct["Classification"] in ("Asset", "Liability") and acct["AccountType"] != "Equity":
            sign = led.chart.natural_sign(acct["Id"])
            assert Decimal(str(acct["CurrentBalance"])) == balances.get(acct["Id"], ZERO) * sign, acct["Name"]


def test_balance_sheet_balances_every_month_and_equity_moves_by_net_income(demo):
    store, realm, _led, first, last = demo
    start = dt.date(last.year, 1, 1)
    bs = build_report(store, realm, "BalanceSheet", {"start_date": start.isoformat(), "end_date": last.isoformat(),
                                                      "summarize_column_by": "Month"})
    ncols = len(bs["Columns"]["Column"]) - 1
    assert ncols == last.month
    for col in range(1, ncols + 1):
        assert _summary(bs, "TotalAssets", col) == _summary(bs, "TotalLiabilitiesAndEquity", col)
    # change in (retained earnings + net income) over a span = the P&L's net income for it
    prev_end = dt.date(last.year, 1, 1) - dt.timedelta(days=1)
    bs_prev = build_report(store, realm, "BalanceSheet", {"start_date": prev_end.isoformat(),
                                                           "end_date": prev_end.isoformat()})
    pnl = build_report(store, realm, "ProfitAndLoss", {"start_date": start.isoformat(), "end_date": last.isoformat()})

    def re_ni(report, col):
        return sum((Decimal(r["ColData"][col]["value"] or "0") for path, r in _walk(report["Rows"])
                    if r.get("type") == "Data" and path[-1:] == ("Equity",)
                    and r["ColData"][0]["value"] in ("Retained Earnings", "Net Income")), ZERO)

    assert re_ni(bs, ncols) - re_ni(bs_prev, 1) == _summary(pnl, "NetIncome")


def test_profit_and_loss_by_month_adds_up_to_the_total(demo):
    store, realm, _led, _first, last = demo
    params = {"start_date": f"{last.year}-01-01", "end_date": last.isoformat()}
    total = build_report(store, realm, "ProfitAndLoss", params)
    monthly = build_report(store, realm, "ProfitAndLoss", dict(params, summarize_column_by="Month"))
    cols = monthly["Columns"]["Column"]
    assert cols[-1]["ColTitle"] == "Total" and cols[1]["MetaData"][0] == {"Name": "StartDate",
                                                                            "Value": f"{last.year}-01-01"}
    months = sum((_summary(monthly, "NetIncome", c) for c in range(1, len(cols) - 1)), ZERO)
    assert months == _summary(monthly, "NetIncome", len(cols) - 1) == _summary(total, "NetIncome")
    assert _summary(total, "Income") != 0


def test_general_ledger_per_account_equals_trial_balance(demo):
    store, realm, _led, first, last = demo
    # one fiscal year at a time: income-statement accounts restart at each year
    start = dt.date(last.year, 1, 1)
    gl = build_report(store, realm, "GeneralLedger", {
        "start_date": start.isoformat(), "end_date": last.isoformat(),
        "columns": "tx_date,txn_type,account_name,subt_nat_home_amount,debt_home_amt,credit_home_amt,rbal_nat_home_amount"})
    assert not any(TRUNCATION_NOTICE in str(r) for r in gl["Rows"]["Row"][-1:])
    sums = defaultdict(Decimal)
    begin = defaultdict(Decimal)
    for path, r in _walk(gl["Rows"]):
        if r.get("type") != "Data":
            continue
        c = r["ColData"]
        if c[0]["value"] == "Beginning Balance":
            begin[path[-1]] += Decimal(c[6]["value"])
            continue
        sums[c[2]["id"]] += Decimal(c[4]["value"] or "0") - Decimal(c[5]["value"] or "0")
    balances, _, _ = _tb(store, realm, last)
    bs_accounts = {a: v for a, v in balances.items() if demo[2].chart.is_balance_sheet(a)}
    pnl_accounts = {a: v for a, v in balances.items() if not demo[2].chart.is_balance_sheet(a)}
    # income statement accounts: this year's GL activity is the whole trial-balance figure
    assert {a: sums[a] for a in pnl_accounts} == pnl_accounts
    # balance-sheet accounts: beginning balance (natural sign) + activity
    names = {a: demo[2].chart.name(a) for a in bs_accounts}
    for a, v in bs_accounts.items():
        sign = demo[2].chart.natural_sign(a)
        assert begin.get(names[a], ZERO) * sign + sums[a] == v, names[a]


def test_aging_equals_open_documents_and_control_accounts(demo):
    store, realm, led, _first, last = demo
    today = dt.date(last.year + 1, 1, 1)
    ar = build_report(store, realm, "AgedReceivables", {"report_date": today.isoformat()})
    ap = build_report(store, realm, "AgedPayables", {"report_date": today.isoformat()})
    ar_total = _summary(ar, "GrandTotal", len(ar["Columns"]["Column"]) - 1)
    ap_total = _summary(ap, "GrandTotal", len(ap["Columns"]["Column"]) - 1)
    buckets = sum((_summary(ar, "GrandTotal", c) for c in range(1, len(ar["Columns"]["Column"]) - 1)), ZERO)
    assert buckets == ar_total

    def home(doc, field):
        rate = Decimal(str(doc.get("ExchangeRate") or 1))
        return (Decimal(str(doc.get(field) or 0)) * rate).quantize(Decimal("0.01"))

    open_invoices = sum((home(i, "Balance") for i in store.iter_entities(realm, "Invoice")), ZERO)
    open_credits = sum((home(c, "RemainingCredit") for c in store.iter_entities(realm, "CreditMemo")), ZERO)
    unapplied = sum((home(p, "UnappliedAmt") for p in store.iter_entities(realm, "Payment")), ZERO)
    assert ar_total == open_invoices - open_credits - unapplied
    open_bills = sum((home(b, "Balance") for b in store.iter_entities(realm, "Bill")), ZERO)
    vendor_credits = sum((i.amount for i in open_items(led, "AP", today) if i.entity == "VendorCredit"), ZERO)
    assert ap_total == open_bills + vendor_credits
    balances, _, _ = _tb(store, realm, today)
    ar_ids = [a for a, x in led.chart.accounts.items() if x["AccountType"] == "Accounts Receivable"]
    ap_ids = [a for a, x in led.chart.accounts.items() if x["AccountType"] == "Accounts Payable"]
    assert ar_total == sum((balances.get(a, ZERO) for a in ar_ids), ZERO)
    assert ap_total == -sum((balances.get(a, ZERO) for a in ap_ids), ZERO)


def test_cash_flow_reconciles_to_bank_balances(demo):
    store, realm, led, first, last = demo
    cf = build_report(store, realm, "CashFlow", {"start_date": f"{last.year}-01-01", "end_date": last.isoformat()})
    balances, _, _ = _tb(store, realm, last)
    banks = [a for a, x in led.chart.accounts.items() if x["AccountType"] == "Bank"]
    assert _summary(cf, "EndingCash") == sum((balances.get(a, ZERO) for a in banks), ZERO)
    assert _summary(cf, "EndingCash") - _summary(cf, "BeginningCash") == _summary(cf, "CashIncrease")


def test_general_ledger_over_the_cap_on_the_demo_company(demo):
    store, realm, _led, first, last = demo
    params = {"start_date": first.isoformat(), "end_date": last.isoformat()}
    cut = build_report(store, realm, "GeneralLedger", params, row_limit=500)
    assert cut["Rows"]["Row"][-1]["ColData"][0]["value"] == TRUNCATION_NOTICE
    assert sum(1 for _, r in _walk(cut["Rows"]) if r.get("type") == "Data") == 501


def test_foreign_currency_accounts_show_their_own_currency(demo):
    store, realm, led, first, last = demo
    gl = build_report(store, realm, "GeneralLedger", {
        "start_date": first.isoformat(), "end_date": last.isoformat(),
        "columns": "tx_date,account_name,currency,exch_rate,nat_foreign_amount,subt_nat_amount,subt_nat_home_amount"})
    foreign_accounts = {a for a, x in led.chart.accounts.items()
                        if (x.get("CurrencyRef") or {}).get("value", "USD") != "USD"}
    seen = 0
    for _, r in _walk(gl["Rows"]):
        if r.get("type") != "Data" or r["ColData"][0]["value"] == "Beginning Balance":
            continue
        c = [cell["value"] for cell in r["ColData"]]
        account = r["ColData"][1]["id"]
        foreign, nat, home = Decimal(c[4]), Decimal(c[5]), Decimal(c[6])
        if account in foreign_accounts:
            seen += 1
            assert c[2] != "USD" and nat == foreign  # e.g. A/R - CAD keeps CAD amounts
            assert abs(home - (foreign * Decimal(c[3])).quantize(Decimal("0.01"))) <= Decimal("0.01")
        else:
            assert nat == home
    assert seen > 10


def test_ledger_cache_loads_once_and_drops_on_change(monkeypatch):
    import threading

    from qbo_sandbox import reports as R

    # The cash basis reads the full ledger (accrual reports of a Store use the balances pass's totals).
    store = Store(realms=1, size="demo", seed=3, clock=SandboxClock())
    realm = store.realms()[0]
    loads = []
    real_load = R.load_ledger

    def counting_load(s, r):
        loads.append(r)
        return real_load(s, r)

    monkeypatch.setattr(R, "load_ledger", counting_load)
    results = []
    threads = [threading.Thread(target=lambda: results.append(
        build_report(store, realm, "TrialBalance", {"end_date": "2030-01-01", "accounting_method": "Cash"}))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(loads) == 1 and len(results) == 4 and all(r["Rows"] == results[0]["Rows"] for r in results)
    store.notify(realm, "Invoice", "1", "Update", 0.0)  # what every write through the API does
    build_report(store, realm, "TrialBalance", {"end_date": "2030-01-01", "accounting_method": "Cash"})
    assert len(loads) == 2
