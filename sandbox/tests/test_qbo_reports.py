"""Ledger postings and reports on a small company built from the recorded QBO entities.

The transactions are the real recordings in /work/shared/reference/qbo/entity-*.json (Craig's
Design and Landscaping); the chart of accounts and item list they refer to are filled in by hand
with the ids and names the recordings use.
"""
from __future__ import annotations

import copy
import datetime as dt
import json
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import pytest

from qbo_sandbox import ledger as L
from qbo_sandbox.reports import TRUNCATION_NOTICE, ReportError, build_report

REF = Path("/work/shared/reference/qbo")
if not REF.exists():  # CI lays shared/ beside the clone
    REF = Path(__file__).resolve().parents[2].parent / "shared" / "reference" / "qbo"

# Id, Name, AccountType, AccountSubType, parent
ACCOUNTS = [
    ("35", "Checking", "Bank", "Checking", None), ("36", "Savings", "Bank", "Savings", None),
    ("84", "Accounts Receivable (A/R)", "Accounts Receivable", "AccountsReceivable", None),
    ("4", "Undeposited Funds", "Other Current Asset", "UndepositedFunds", None),
    ("81", "Inventory Asset", "Other Current Asset", "Inventory", None),
    ("37", "Truck", "Fixed Asset", "Vehicles", None), ("38", "Original Cost", "Fixed Asset", "Vehicles", "37"),
    ("33", "Accounts Payable (A/P)", "Accounts Payable", "AccountsPayable", None),
    ("41", "Mastercard", "Credit Card", "CreditCard", None),
    ("90", "Board of Equalization Payable", "Other Current Liability", "GlobalTaxPayable", None),
    ("43", "Loan Payable", "Long Term Liability", "NotesPayable", None),
    ("34", "Opening Balance Equity", "Equity", "OpeningBalanceEquity", None),
    ("2", "Retained Earnings", "Equity", "RetainedEarnings", None),
    ("1", "Services", "Income", "ServiceFeeIncome", None),
    ("82", "Design income", "Income", "ServiceFeeIncome", None),
    ("48", "Fountains and Garden Lighting", "Income", "SalesOfProductIncome", "45"),
    ("45", "Landscaping Services", "Income", "ServiceFeeIncome", None),
    ("79", "Sales of Product Income", "Income", "SalesOfProductIncome", None),
    ("86", "Discounts given", "Income", "DiscountsRefundsGiven", None),
    ("80", "Cost of Goods Sold", "Cost of Goods Sold", "SuppliesMaterialsCogs", None),
    ("17", "Rent or Lease", "Expense", "RentOrLeaseOfBuildings", None),
    ("13", "Meals and Entertainment", "Expense", "EntertainmentMeals", None),
    ("55", "Automobile", "Expense", "Auto", None),
    ("58", "Job Expenses", "Expense", "CostOfLabor", None),
    ("63", "Job Materials", "Expense", "SuppliesMaterials", "58"),
    ("64", "Decks and Patios", "Expense", "SuppliesMaterials", "63"),
    ("91", "Interest Earned", "Other Income", "InterestEarned", None),
]
CLASSIFICATION = {"Bank": "Asset", "Accounts Receivable": "Asset", "Other Current Asset": "Asset",
                  "Fixed Asset": "Asset", "Accounts Payable": "Liability", "Credit Card": "Liability",
                  "Other Current Liability": "Liability", "Long Term Liability": "Liability", "Equity": "Equity",
                  "Income": "Revenue", "Other Income": "Revenue", "Cost of Goods Sold": "Expense",
                  "Expense": "Expense"}
# Id, Name, Type, income, expense, asset, purchase cost
ITEMS = [("5", "Rock Fountain", "Inventory", "48", "80", "81", "125"),
         ("17", "Sprinkler Pipes", "Inventory", "48", "80", "81", "2.75"),
         ("16", "Sprinkler Heads", "Inventory", "48", "80", "81", "0.75"),
         ("11", "Pump", "Inventory", "79", "80", "81", "10"),
         ("14", "Sod", "NonInventory", "45", None, None, "0"),
         ("1", "Services", "Service", "1", None, None, "0"),
         ("3", "Concrete", "Service", "48", None, None, "0"),
         ("10", "Pest Control", "Service", "1", None, None, "0"),
         ("4", "Design", "Service", "82", None, None, "0")]

ENTITY_FILES = {"Invoice": "invoices", "Bill": "bills", "BillPayment": "bill_payments", "CreditMemo": "credit_memos",
                "SalesReceipt": "sales_receipts", "Payment": "payments", "Purchase": "purchases", "Deposit": "deposits",
                "JournalEntry": "journal_entries", "RefundReceipt": "refund_receipts", "Estimate": "estimates",
                "PurchaseOrder": "purchase_orders", "TimeActivity": "time_activities", "TaxRate": "tax_rates",
                "TaxAgency": "tax_agencies"}


def _ref(v, name=None):
    return {"value": v, "name": name} if name else {"value": v}


class FakeStore:
    """The store interface of docs/architecture.md over in-memory lists."""

    def __init__(self, entities: dict[str, list[dict]], today: dt.date, report_row_limit: int | None = None):
        self.entities = entities
        self.today = today
        self.report_row_limit = report_row_limit

        class _Clock:
            def now(_self):
                return dt.datetime(today.year, today.month, today.day, 12, tzinfo=dt.timezone.utc).timestamp()

        self.clock = _Clock()

    def realms(self):
        return ["1"]

    def iter_entities(self, realm_id, entity):
        yield from self.entities.get(entity, [])

    def get(self, realm_id, entity, id_):
        return next((e for e in self.entities.get(entity, []) if e["Id"] == id_), None)


def reference_company() -> dict[str, list[dict]]:
    ents: dict[str, list[dict]] = {}
    for entity, stem in ENTITY_FILES.items():
        ents[entity] = json.loads((REF / f"entity-{stem}.json").read_text(), parse_float=Decimal)
    names = {a[0]: a[1] for a in ACCOUNTS}
    ents["Account"] = [
        {"Id": i, "Name": n, "SubAccount": p is not None, **({"ParentRef": _ref(p)} if p else {}),
         "FullyQualifiedName": _fqn(i), "AccountType": t, "AccountSubType": st, "Classification": CLASSIFICATION[t],
         "CurrencyRef": _ref("USD", "United States Dollar"), "Active": True}
        for (i, n, t, st, p) in ACCOUNTS]
    ents["Item"] = [
        {"Id": i, "Name": n, "Type": t, "IncomeAccountRef": _ref(inc, names[inc]), "PurchaseCost": Decimal(cost),
         **({"ExpenseAccountRef": _ref(exp, names[exp])} if exp else {}),
         **({"AssetAccountRef": _ref(asset, names[asset])} if asset else {})}
        for (i, n, t, inc, exp, asset, cost) in ITEMS]
    ents["TaxAgency"] = [dict(a, DisplayName="Board of Equalization") for a in ents["TaxAgency"]]
    return ents


def _fqn(aid: str) -> str:
    by_id = {a[0]: a for a in ACCOUNTS}
    parts = []
    while aid:
        parts.append(by_id[aid][1])
        aid = by_id[aid][4]
    return ":".join(reversed(parts))


@pytest.fixture
def store():
    return FakeStore(reference_company(), today=dt.date(2023, 3, 31))


def _walk(rows, path=()):
    """Yield (path of section headers, row) for every row, depth first."""
    for r in rows.get("Row", []):
        if r.get("type") == "Section":
            head = r.get("Header", {}).get("ColData", [{}])[0]
            yield path, r
            yield from _walk(r.get("Rows", {}), path + (head.get("value", r.get("group", "")),))
        else:
            yield path, r


def _summary_value(report, group, col=1):
    for _, r in _walk(report["Rows"]):
        if r.get("group") == group:
            return Decimal(r["Summary"]["ColData"][col]["value"] or "0")
    raise AssertionError(f"no {group} section")


# --- ledger -------------------------------------------------------------------------------------


def test_every_reference_transaction_posts_balanced(store):
    led = L.load_ledger(store, "1")
    by_txn = led.by_txn()
    posting_docs = [k for k in led.documents]
    assert len(posting_docs) >= 20
    for key in posting_docs:
        assert sum((p.amount for p in by_txn.get(key, [])), Decimal(0)) == 0, key
    # the taxed invoice: A/R debit of the total, income credits, tax to the agency's payable account
    inv = defaultdict(Decimal)
    for p in by_txn[("Invoice", "119")]:
        inv[p.account_id] += p.amount
    assert inv["84"] == Decimal("314.28")
    assert inv["90"] == Decimal("-23.28")
    assert inv["48"] == Decimal("-291.00")
    # inventory sold moves cost: Rock Fountain 1 x 125 + Sprinkler Pipes 4 x 2.75
    assert inv["80"] == Decimal("136.00") and inv["81"] == Decimal("-136.00")
    # deposit with cash back: undeposited funds out, cash back to savings, net to checking
    dep = defaultdict(Decimal)
    for p in by_txn[("Deposit", "121")]:
        dep[p.account_id] += p.amount
    assert dep == {"4": Decimal("-1068.15"), "36": Decimal("200.00"), "35": Decimal("868.15")}


def test_non_posting_and_voided_transactions_post_nothing(store):
    chart = L.load_ledger(store, "1").chart
    for entity in ("Estimate", "PurchaseOrder", "TimeActivity"):
        for txn in store.entities[entity]:
            assert L.derive_postings(chart, entity, txn) == []
    voided = copy.deepcopy(store.entities["Invoice"][0])
    voided["PrivateNote"] = "Voided"
    for line in voided["Line"]:
        line["Amount"] = Decimal("0")
    voided["TotalAmt"] = Decimal("0")
    voided["TxnTaxDetail"] = {"TotalTax": 0}
    assert L.derive_postings(chart, "Invoice", voided) == []


def test_imbalanced_transaction_is_refused(store):
    chart = L.load_ledger(store, "1").chart
    bad = copy.deepcopy(store.entities["Bill"][0])
    bad["TotalAmt"] = Decimal("901.00")
    with pytest.raises(L.LedgerImbalance, match="Bill 24"):
        L.derive_postings(chart, "Bill", bad)


def test_foreign_currency_posts_home_amounts_balanced(store):
    chart = L.load_ledger(store, "1").chart
    inv = copy.deepcopy(store.entities["Invoice"][0])
    inv["CurrencyRef"] = _ref("CAD")
    inv["ExchangeRate"] = Decimal("0.7333")
    posts = L.derive_postings(chart, "Invoice", inv)
    assert sum(p.amount for p in posts) == 0
    ar = next(p for p in posts if p.account_id == "84")
    assert ar.foreign_amount == Decimal("314.28")
    # home amount = total x rate, to the cent (rounding lands on the A/R posting)
    assert ar.amount == (Decimal("314.28") * Decimal("0.7333")).quantize(Decimal("0.01"))


# --- shape vs the recorded reports ----------------------------------------------------------------


def _shape(obj):
    """Keys and nesting, ignoring values (cells' optional ``id`` aside)."""
    if isinstance(obj, dict):
        return {k: _shape(v) for k, v in obj.items() if k != "id"}
    if isinstance(obj, list):
        shapes = []
        for x in obj:
            s = _shape(x)
            if s not in shapes:
                shapes.append(s)
        return shapes
    return type(obj).__name__


def _row_kinds(report) -> set:
    kinds = set()
    for _, r in _walk(report["Rows"]):
        kinds.add((r.get("type"), tuple(sorted(r))))
        for part in ("Header", "Summary"):
            if part in r:
                kinds.add((part, tuple(sorted(r[part]))))
        for cell in r.get("ColData", []) + r.get("Header", {}).get("ColData", []) + r.get("Summary", {}).get("ColData", []):
            assert set(cell) <= {"value", "id"} and isinstance(cell["value"], str)
    return kinds


def test_empty_profit_and_loss_is_the_recorded_one(store):
    ref = json.loads((REF / "report-ProfitAndLoss.json").read_text())
    ours = build_report(store, "1", "ProfitAndLoss", {"start_date": "2015-01-01", "end_date": "2015-07-31"})
    assert ours["Rows"] == ref["Rows"]
    assert ours["Columns"] == ref["Columns"]
    assert list(ours) == list(ref)
    assert [k for k in ours["Header"]] == [k for k in ref["Header"] if k != "Customer"]
    assert ours["Header"]["Option"] == ref["Header"]["Option"]


def test_general_ledger_has_the_recorded_shape(store):
    ref = json.loads((REF / "report-GeneralLedger.json").read_text())
    ours = build_report(store, "1", "GeneralLedger", {})  # default: this month-to-date
    assert list(ours) == list(ref)
    assert list(ours["Header"]) == list(ref["Header"])
    assert ours["Header"]["DateMacro"] == ref["Header"]["DateMacro"] == "this month-to-date"
    assert ours["Columns"] == ref["Columns"]
    ours = build_report(store, "1", "GeneralLedger", {"start_date": "2023-02-10", "end_date": "2023-03-31"})
    assert _row_kinds(ours) == _row_kinds(ref)
    assert _shape(ours["Columns"]) == _shape(ref["Columns"])
    # data rows: 8 cells; the transaction type cell carries the transaction id (the drill-down key)
    sale = [r for _, r in _walk(ours["Rows"]) if r.get("type") == "Data" and r["ColData"][1].get("id") == "11"]
    assert sale and sale[0]["ColData"][1]["value"] == "Sales Receipt"
    assert all(len(r["ColData"]) == 8 for _, r in _walk(ours["Rows"]) if r.get("type") == "Data")


# --- numbers reconcile ----------------------------------------------------------------------------


def _tb(store, end, **params):
    tb = build_report(store, "1", "TrialBalance", {"start_date": "2023-01-01", "end_date": end, **params})
    out = {}
    for _, r in _walk(tb["Rows"]):
        if r.get("type") == "Data":
            c = r["ColData"]
            out[c[0]["id"]] = Decimal(c[1]["value"] or "0") - Decimal(c[2]["value"] or "0")
    total = [r for _, r in _walk(tb["Rows"]) if r.get("group") == "GrandTotal"][0]["Summary"]["ColData"]
    return out, Decimal(total[1]["value"]), Decimal(total[2]["value"])


@pytest.mark.parametrize("method", ["Accrual", "Cash"])
def test_trial_balance_nets_to_zero(store, method):
    balances, debit, credit = _tb(store, "2023-03-31", accounting_method=method)
    assert debit == credit and debit > 0
    assert sum(balances.values()) == 0


@pytest.mark.parametrize("method", ["Accrual", "Cash"])
def test_balance_sheet_balances_and_equity_moves_by_net_income(store, method):
    bs = build_report(store, "1", "BalanceSheet", {"start_date": "2023-02-01", "end_date": "2023-03-31",
                                                    "summarize_column_by": "Month", "accounting_method": method})
    assert [c["ColTitle"] for c in bs["Columns"]["Column"]] == ["", "Feb 2023", "Mar 2023"]
    for col in (1, 2):
        assert _summary_value(bs, "TotalAssets", col) == _summary_value(bs, "TotalLiabilitiesAndEquity", col)
    pnl = build_report(store, "1", "ProfitAndLoss", {"start_date": "2023-03-01", "end_date": "2023-03-31",
                                                      "accounting_method": method})

    def re_plus_ni(col):
        total = Decimal(0)
        for path, r in _walk(bs["Rows"]):
            if r.get("type") == "Data" and path[-1:] == ("Equity",) and r["ColData"][0]["value"] in (
                    "Retained Earnings", "Net Income"):
                total += Decimal(r["ColData"][col]["value"] or "0")
        return total

    assert re_plus_ni(2) - re_plus_ni(1) == _summary_value(pnl, "NetIncome")


def test_general_ledger_per_account_equals_trial_balance(store):
    gl = build_report(store, "1", "GeneralLedger", {"start_date": "2023-01-01", "end_date": "2023-03-31",
                                                    "columns": "tx_date,txn_type,account_name,debt_amt,credit_amt"})
    sums = defaultdict(Decimal)
    for _, r in _walk(gl["Rows"]):
        if r.get("type") == "Data":
            c = r["ColData"]
            sums[c[2]["id"]] += Decimal(c[3]["value"] or "0") - Decimal(c[4]["value"] or "0")
    balances, _, _ = _tb(store, "2023-03-31")
    assert {k: v for k, v in sums.items() if v} == balances


def test_cash_basis_recognises_only_paid_income(store):
    accrual = build_report(store, "1", "ProfitAndLoss", {"start_date": "2023-01-01", "end_date": "2023-03-31"})
    cash = build_report(store, "1", "ProfitAndLoss", {"start_date": "2023-01-01", "end_date": "2023-03-31",
                                                      "accounting_method": "Cash"})
    assert cash["Header"]["ReportBasis"] == "Cash"
    # the open invoices 119 and 130 are income on the accrual basis only
    assert _summary_value(accrual, "Income") - _summary_value(cash, "Income") >= Decimal("291.00") + Decimal("335.25")


def test_cash_flow_reconciles_cash(store):
    cf = build_report(store, "1", "CashFlow", {"start_date": "2023-02-15", "end_date": "2023-03-31"})
    begin = _summary_value(cf, "BeginningCash")
    end = _summary_value(cf, "EndingCash")
    balances, _, _ = _tb(store, "2023-03-31")
    assert end == balances.get("35", 0) + balances.get("36", 0)
    assert end - begin == _summary_value(cf, "CashIncrease")
    pnl = build_report(store, "1", "ProfitAndLoss", {"start_date": "2023-02-15", "end_date": "2023-03-31"})
    net = [r for _, r in _walk(cf["Rows"]) if r.get("type") == "Data" and r["ColData"][0]["value"] == "Net Income"]
    assert Decimal(net[0]["ColData"][1]["value"]) == _summary_value(pnl, "NetIncome")


# --- aging ----------------------------------------------------------------------------------------


def _aging_company():
    """Hand-made A/R and A/P documents whose payments are all in the store."""
    ents = reference_company()
    for k in ("Invoice", "Payment", "CreditMemo", "Bill", "BillPayment", "Deposit", "SalesReceipt", "RefundReceipt",
              "Purchase", "JournalEntry"):
        ents[k] = []
    cust, vend = _ref("1", "Amy's Bird Sanctuary"), _ref("40", "Hall Properties")

    def sales(id_, type_, date, due, amount, **kw):
        line = {"Id": "1", "Amount": Decimal(amount), "DetailType": "SalesItemLineDetail",
                "SalesItemLineDetail": {"ItemRef": _ref("1", "Services")}}
        return {"Id": id_, "TxnDate": date, "DueDate": due, "CustomerRef": cust, "Line": [line],
                "TotalAmt": Decimal(amount), **kw}

    ents["Invoice"] = [sales("1", "Invoice", "2023-01-01", "2023-01-31", "100.00", Balance=Decimal("100.00")),
                       sales("2", "Invoice", "2023-03-01", "2023-03-31", "250.00", Balance=Decimal("50.00")),
                       sales("3", "Invoice", "2023-03-10", "2023-04-09", "40.00", Balance=Decimal("0"))]
    ents["CreditMemo"] = [sales("4", "CreditMemo", "2023-03-05", "2023-03-05", "30.00", Balance=Decimal("10.00"),
                                RemainingCredit=Decimal("10.00"))]
    ents["Payment"] = [{"Id": "5", "TxnDate": "2023-03-15", "CustomerRef": cust, "TotalAmt": Decimal("225.00"),
                        "UnappliedAmt": Decimal("5.00"), "DepositToAccountRef": _ref("4"),
                        "Line": [{"Amount": Decimal("200.00"), "LinkedTxn": [{"TxnId": "2", "TxnType": "Invoice"}]},
                                 {"Amount": Decimal("40.00"), "LinkedTxn": [{"TxnId": "3", "TxnType": "Invoice"}]},
                                 {"Amount": Decimal("20.00"), "LinkedTxn": [{"TxnId": "4", "TxnType": "CreditMemo"}]}]}]
    bill_line = {"Id": "1", "Amount": Decimal("900.00"), "DetailType": "AccountBasedExpenseLineDetail",
                 "AccountBasedExpenseLineDetail": {"AccountRef": _ref("17")}}
    ents["Bill"] = [{"Id": "7", "TxnDate": "2022-11-01", "DueDate": "2022-12-01", "VendorRef": vend,
                     "Line": [bill_line], "TotalAmt": Decimal("900.00"), "Balance": Decimal("400.00")}]
    ents["BillPayment"] = [{"Id": "8", "TxnDate": "2023-01-05", "VendorRef": vend, "PayType": "Check",
                            "CheckPayment": {"BankAccountRef": _ref("35")}, "TotalAmt": Decimal("500.00"),
                            "Line": [{"Amount": Decimal("500.00"), "LinkedTxn": [{"TxnId": "7", "TxnType": "Bill"}]}]}]
    return ents


def _aging_totals(report):
    cols = [c["ColTitle"] for c in report["Columns"]["Column"]]
    total = [r for _, r in _walk(report["Rows"]) if r.get("group") == "GrandTotal"][0]["Summary"]["ColData"]
    return dict(zip(cols[1:], (Decimal(c["value"]) for c in total[1:])))


def test_aged_receivables_buckets_equal_open_balances():
    store = FakeStore(_aging_company(), today=dt.date(2023, 4, 15))
    rep = build_report(store, "1", "AgedReceivables", {})
    assert rep["Header"]["DateMacro"] == "today"
    t = _aging_totals(rep)
    # invoice 1 (due Jan 31) is 74 days late; invoice 2 (due Mar 31) 15 days; credit memo 4 and the
    # unapplied 5.00 of payment 5 (both dated in March) count against the customer.
    assert t["61 - 90"] == Decimal("100.00")
    assert t["1 - 30"] == Decimal("50.00")
    assert t["31 - 60"] == Decimal("-15.00")  # credit memo left 10.00 (due Mar 5) + unapplied 5.00 (Mar 15)
    invoices = sum(i["Balance"] for i in store.entities["Invoice"])
    credits = sum(c["RemainingCredit"] for c in store.entities["CreditMemo"])
    unapplied = sum(p["UnappliedAmt"] for p in store.entities["Payment"])
    assert t["Total"] == invoices - credits - unapplied
    balances, _, _ = _tb(store, "2023-04-15")
    assert t["Total"] == balances["84"]
    # as of an earlier date the later payment is not applied yet
    earlier = _aging_totals(build_report(store, "1", "AgedReceivables", {"report_date": "2023-03-12"}))
    assert earlier["Total"] == Decimal("100.00") + Decimal("250.00") + Decimal("40.00") - Decimal("30.00")


def test_cash_basis_income_follows_payments():
    store = FakeStore(_aging_company(), today=dt.date(2023, 4, 15))
    params = {"start_date": "2023-01-01", "end_date": "2023-04-15"}
    accrual = build_report(store, "1", "ProfitAndLoss", params)
    cash = build_report(store, "1", "ProfitAndLoss", dict(params, accounting_method="Cash"))
    # accrual: invoices 100 + 250 + 40 less the 30 credit memo
    assert _summary_value(accrual, "Income") == Decimal("360.00")
    # cash: payment 5 settles 200 of invoice 2, all of invoice 3 and 20 of the credit memo
    assert _summary_value(cash, "Income") == Decimal("200.00") + Decimal("40.00") - Decimal("20.00")
    by_month = build_report(store, "1", "ProfitAndLoss", dict(params, accounting_method="Cash",
                                                              summarize_column_by="Month"))
    titles = [c["ColTitle"] for c in by_month["Columns"]["Column"]]
    assert titles == ["", "Jan 2023", "Feb 2023", "Mar 2023", "Apr 2023", "Total"]
    assert _summary_value(by_month, "Income", 3) == Decimal("220.00")  # all in March, the payment's month
    assert _summary_value(by_month, "Income", 1) == 0
    # the bill paid 500 of 900 in January: cash-basis rent is 500
    assert _summary_value(cash, "Expenses") == Decimal("500.00")
    assert _summary_value(accrual, "Expenses") == 0  # the bill itself is dated in 2022


@pytest.mark.parametrize("by", ["Month", "Quarter", "Year", "Week", "Days"])
def test_period_columns_tile_the_range_and_add_up(store, by):
    params = {"start_date": "2023-02-01", "end_date": "2023-03-31"}
    total = build_report(store, "1", "ProfitAndLoss", params)
    rep = build_report(store, "1", "ProfitAndLoss", dict(params, summarize_column_by=by))
    cols = rep["Columns"]["Column"]
    meta = [{m["Name"]: m["Value"] for m in c["MetaData"]} for c in cols[1:]]
    periods = [m for m in meta if "StartDate" in m]
    assert periods[0]["StartDate"] == "2023-02-01" and periods[-1]["EndDate"] == "2023-03-31"
    for a, b in zip(periods, periods[1:]):
        assert dt.date.fromisoformat(b["StartDate"]) == dt.date.fromisoformat(a["EndDate"]) + dt.timedelta(days=1)
    n = len(periods)
    assert cols[-1]["ColTitle"] == "Total" and len(cols) == n + 2
    assert sum((_summary_value(rep, "NetIncome", c) for c in range(1, n + 1)), Decimal(0)) == \
        _summary_value(total, "NetIncome") == _summary_value(rep, "NetIncome", n + 1)


def test_aged_payables_buckets_equal_open_bills():
    store = FakeStore(_aging_company(), today=dt.date(2023, 4, 15))
    t = _aging_totals(build_report(store, "1", "AgedPayables", {}))
    assert t["91 and over"] == t["Total"] == sum(b["Balance"] for b in store.entities["Bill"])
    balances, _, _ = _tb(store, "2023-04-15")
    assert -balances["33"] == t["Total"]


# --- size cap ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["GeneralLedger", "ProfitAndLossDetail"])
def test_over_the_row_cap_answers_like_qbo(store, name):
    params = {"start_date": "2023-01-01", "end_date": "2023-03-31"}
    full = build_report(store, "1", name, params)
    n = sum(1 for _, r in _walk(full["Rows"]) if r.get("type") == "Data")
    assert n > 10 and not any(TRUNCATION_NOTICE in json.dumps(r) for r in full["Rows"]["Row"])
    cut = build_report(store, "1", name, params, row_limit=7)
    last = cut["Rows"]["Row"][-1]
    assert last == {"ColData": [{"value": TRUNCATION_NOTICE}] + [{"value": ""}] * 7, "type": "Data"}
    data = [r for _, r in _walk(cut["Rows"]) if r.get("type") == "Data" and r is not last]
    assert len(data) == 7
    # the section the data ran out in never gets its Summary
    assert not all("Summary" in r for _, r in _walk(cut["Rows"]) if r.get("type") == "Section")
    # the store attribute is the fallback
    store.report_row_limit = 7
    assert build_report(store, "1", name, params)["Rows"] == cut["Rows"]


def test_bad_requests_raise_report_errors(store):
    with pytest.raises(ReportError, match="Invalid Date"):
        build_report(store, "1", "ProfitAndLoss", {"start_date": "2023-13-01"})
    with pytest.raises(ReportError, match="accounting_method"):
        build_report(store, "1", "ProfitAndLoss", {"accounting_method": "Magic"})
    with pytest.raises(ReportError, match="Unsupported report"):
        build_report(store, "1", "NoSuchReport", {})
