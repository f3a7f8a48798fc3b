"""QBO Reports API JSON → flat rows (pure functions, no I/O).

A QBO report is a tree: ``Rows.Row[]`` holds ``Section`` rows (``Header``, ``Rows``, ``Summary``,
``group``) and ``Data`` rows (``ColData``: one ``{"value", "id"?}`` cell per column of
``Columns.Column[]``). ``walk_report`` flattens it into ``ReportRow``s that keep the section
path (the header labels above a row), and the per-report functions below shape those into the
stream records. Amounts come back as ``Decimal`` (QBO sends them as strings; ``""`` is no value).
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import typing as t
from decimal import Decimal, InvalidOperation

#: QBO's answer when a report would exceed its size cap (no error: a 200 with this Data row).
TRUNCATION_NOTICE = "Unable to display more data"

#: Transaction type as QBO prints it in report rows → the API entity to read it back from.
#: With the ``id`` of the same cell it is the drill-down key from any report row to the document.
TXN_TYPE_ENTITY = {
    "Invoice": "Invoice", "Sales Receipt": "SalesReceipt", "Payment": "Payment", "Credit Memo": "CreditMemo",
    "Refund": "RefundReceipt", "Refund Receipt": "RefundReceipt", "Deposit": "Deposit", "Transfer": "Transfer",
    "Journal Entry": "JournalEntry", "Bill": "Bill", "Vendor Credit": "VendorCredit",
    "Bill Payment (Check)": "BillPayment", "Bill Payment (Credit Card)": "BillPayment", "Bill Payment": "BillPayment",
    "Expense": "Purchase", "Check": "Purchase", "Cash Expense": "Purchase", "Credit Card Expense": "Purchase",
    "Credit Card Credit": "Purchase", "Estimate": "Estimate", "Purchase Order": "PurchaseOrder",
    "Inventory Qty Adjust": "InventoryAdjustment", "Sales Tax Payment": "SalesTaxPayment",
    "Payroll Check": "Paycheck", "Credit Card Payment": "CreditCardPayment",
}


class ReportParseError(ValueError):
    """The body is not a QBO report (no Header/Columns/Rows)."""


@dataclasses.dataclass(frozen=True)
class Column:
    title: str
    type: str
    key: str
    start: str | None = None  # period columns (summarize_column_by): MetaData StartDate/EndDate
    end: str | None = None


@dataclasses.dataclass
class ReportRow:
    kind: str  # "Data" or "Summary"
    path: tuple[str, ...]  # header labels of the enclosing sections, outermost first
    groups: tuple[str, ...]  # ``group`` of the enclosing sections ("" where none)
    section_ids: tuple[str, ...]  # ``id`` of the enclosing section headers ("" where none)
    cells: list[tuple[str, str | None]]  # (value, id) per column
    group: str = ""  # for Summary rows: the section's own group

    def value(self, i: int) -> str:
        return self.cells[i][0] if i < len(self.cells) else ""

    def id(self, i: int) -> str | None:
        return self.cells[i][1] if i < len(self.cells) else None


def columns(report: dict) -> list[Column]:
    try:
        raw = report["Columns"]["Column"]
    except (KeyError, TypeError):
        raise ReportParseError("not a QBO report: no Columns.Column") from None
    out = []
    for i, c in enumerate(raw):
        meta = {m.get("Name"): m.get("Value") for m in c.get("MetaData") or []}
        out.append(Column(str(c.get("ColTitle", "")), str(c.get("ColType", "")),
                          str(meta.get("ColKey") or c.get("ColType") or i), meta.get("StartDate"), meta.get("EndDate")))
    return out


def _cells(row: dict | None) -> list[tuple[str, str | None]]:
    cells = []
    for c in (row or {}).get("ColData") or []:
        value = c.get("value")
        cells.append(("" if value is None else str(value), None if c.get("id") in (None, "") else str(c["id"])))
    return cells


def walk_report(report: dict) -> t.Iterator[ReportRow]:
    """Every Data row and every section Summary, depth first, in report order."""
    if not isinstance(report, dict) or "Rows" not in report:
        raise ReportParseError("not a QBO report: no Rows")

    def walk(rows: dict | None, path, groups, ids) -> t.Iterator[ReportRow]:
        for row in (rows or {}).get("Row") or []:
            if row.get("type") == "Section" or "Header" in row or "Summary" in row or "Rows" in row:
                head = _cells(row.get("Header"))
                label = head[0][0] if head else ""
                sid = head[0][1] if head else None
                group = str(row.get("group") or "")
                inner = (path + (label,), groups + (group,), ids + (sid or "",))
                yield from walk(row.get("Rows"), *inner)
                if "Summary" in row:
                    yield ReportRow("Summary", inner[0], inner[1], inner[2], _cells(row["Summary"]), group)
            else:
                yield ReportRow("Data", path, groups, ids, _cells(row))

    yield from walk(report.get("Rows"), (), (), ())


def is_truncated(report: dict) -> bool:
    """True when QBO cut the report at its size cap (the notice row, anywhere)."""
    header = report.get("Header") or {}
    for opt in header.get("Option") or []:
        if TRUNCATION_NOTICE.lower() in str(opt.get("Value", "")).lower():
            return True

    def rows_have(rows: dict | None) -> bool:
        for row in (rows or {}).get("Row") or []:
            for part in (row, row.get("Header") or {}, row.get("Summary") or {}):
                for c in part.get("ColData") or []:
                    if TRUNCATION_NOTICE.lower() in str(c.get("value", "")).lower():
                        return True
            if rows_have(row.get("Rows")):
                return True
        return False

    return rows_have(report.get("Rows"))


def amount(text: str | None) -> Decimal | None:
    """QBO report money text → Decimal to the cent; '' → None."""
    if text is None:
        return None
    s = str(text).strip().replace(",", "")
    if not s:
        return None
    neg = s.startswith("(") and s.endswith(")")
    if neg:
        s = s[1:-1]
    try:
        d = Decimal(s)
    except InvalidOperation:
        raise ReportParseError(f"not an amount: {text!r}") from None
    return (-d if neg else d).quantize(Decimal("0.01"))


def row_key(*parts: t.Any) -> str:
    """A short deterministic key from the parts that identify a row."""
    text = "\x1f".join("" if p is None else str(p) for p in parts)
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:24]  # noqa: S324 - an id, not security


def _col_index(cols: list[Column]) -> dict[str, int]:
    return {c.type: i for i, c in enumerate(cols)}


# --- GeneralLedger ---------------------------------------------------------------------------------

#: Columns the tap asks for (``columns=`` parameter) on GeneralLedger requests.
#: Home-currency amounts are the ``*_home_*`` columns; ``subt_nat_amount`` is in the account's own
#: currency (differs for foreign-currency A/R, A/P and bank accounts), ``nat_foreign_amount`` in the
#: transaction's currency.
GL_COLUMNS = ["tx_date", "txn_type", "doc_num", "name", "memo", "split_acc", "account_name", "klass_name",
              "dept_name", "subt_nat_home_amount", "debt_home_amt", "credit_home_amt", "subt_nat_amount",
              "nat_foreign_amount", "currency", "exch_rate"]


def general_ledger_rows(report: dict, accounts: dict[str, dict] | None = None) -> t.Iterator[dict]:
    """One dict per GL posting (Beginning Balance rows and totals skipped).

    ``amount`` (= ``home_amount``) is the home-currency amount, debit positive (``debit - credit``);
    ``natural_amount`` is QBO's Amount column as sent: in the account's own currency and positive
    in the account's natural direction; ``foreign_amount`` is in the transaction's currency, debit
    positive. ``accounts`` (Id → Account JSON) adds the account's fully qualified name, type and
    classification (and is needed to sign amounts when the report has no Debit/Credit columns).
    """
    cols = columns(report)
    ix = _col_index(cols)
    accounts = accounts or {}
    seen: dict[tuple, int] = {}
    for row in walk_report(report):
        if row.kind != "Data" or "tx_date" not in ix:
            continue
        date = row.value(ix["tx_date"])
        if not _is_date(date):
            if TRUNCATION_NOTICE.lower() in date.lower():
                raise ReportParseError("the report was truncated at QBO's size cap; request a shorter window")
            continue  # Beginning Balance and other label rows
        account_id = row.id(ix["account_name"]) if "account_name" in ix else None
        if account_id is None:
            account_id = next((i for i in reversed(row.section_ids) if i), None)
        txn_label = row.value(ix["txn_type"]) if "txn_type" in ix else ""
        txn_id = row.id(ix["txn_type"]) if "txn_type" in ix else None
        acct = accounts.get(account_id or "", {})
        # home-currency debit/credit when asked for (GL_COLUMNS), else the account-currency ones
        debit_col, credit_col = (("debt_home_amt", "credit_home_amt") if "debt_home_amt" in ix
                                 else ("debt_amt", "credit_amt"))
        debit = credit = signed = None
        if debit_col in ix and credit_col in ix:  # a blank Debit/Credit cell is zero
            debit = amount(row.value(ix[debit_col])) or Decimal("0.00")
            credit = amount(row.value(ix[credit_col])) or Decimal("0.00")
            signed = debit - credit
        natural = amount(row.value(ix["subt_nat_amount"])) if "subt_nat_amount" in ix else None
        home_natural = (amount(row.value(ix["subt_nat_home_amount"])) if "subt_nat_home_amount" in ix
                        else natural)
        # QBO's Amount columns are positive in the account's natural direction (debit for assets
        # and expenses); the classification turns them into debit-positive amounts
        nature = None
        if acct.get("Classification"):
            nature = 1 if acct["Classification"] in ("Asset", "Expense") else -1
        if signed is None and home_natural is not None and nature is not None:
            signed = home_natural * nature
        foreign = amount(row.value(ix["nat_foreign_amount"])) if "nat_foreign_amount" in ix else None
        if foreign is not None and nature is not None:
            foreign = foreign * nature
        identity = (account_id, txn_label, txn_id, date)
        seen[identity] = seen.get(identity, 0) + 1
        split_id = row.id(ix["split_acc"]) if "split_acc" in ix else None
        yield {
            "row_key": row_key(account_id, TXN_TYPE_ENTITY.get(txn_label, txn_label), txn_id, date,
                               seen[identity]),
            "txn_date": date,
            "txn_type": txn_label,
            "txn_entity": TXN_TYPE_ENTITY.get(txn_label, txn_label.replace(" ", "") or None),
            "txn_id": txn_id,
            "doc_number": _nz(row.value(ix["doc_num"])) if "doc_num" in ix else None,
            "account_id": account_id,
            "account_name": (row.value(ix["account_name"]) if "account_name" in ix else None)
            or (row.path[-1] if row.path else None),
            "account_fully_qualified_name": acct.get("FullyQualifiedName"),
            "account_type": acct.get("AccountType"),
            "account_sub_type": acct.get("AccountSubType"),
            "account_classification": acct.get("Classification"),
            "name_id": row.id(ix["name"]) if "name" in ix else None,
            "name": _nz(row.value(ix["name"])) if "name" in ix else None,
            "class_id": row.id(ix["klass_name"]) if "klass_name" in ix else None,
            "class_name": _nz(row.value(ix["klass_name"])) if "klass_name" in ix else None,
            "department_id": row.id(ix["dept_name"]) if "dept_name" in ix else None,
            "department_name": _nz(row.value(ix["dept_name"])) if "dept_name" in ix else None,
            "memo": _nz(row.value(ix["memo"])) if "memo" in ix else None,
            "split_account_id": split_id,
            "split_account_name": _nz(row.value(ix["split_acc"])) if "split_acc" in ix else None,
            "amount": signed,
            "natural_amount": natural,
            "debit": debit,
            "credit": credit,
            "home_amount": signed,
            "foreign_amount": foreign,
            "currency": _nz(row.value(ix["currency"])) if "currency" in ix else None,
            "exchange_rate": _rate(row.value(ix["exch_rate"])) if "exch_rate" in ix else None,
        }


def _is_date(text: str) -> bool:
    try:
        dt.date.fromisoformat(text)
        return True
    except ValueError:
        return False


def _nz(text: str | None) -> str | None:
    return text if text not in (None, "") else None


def _rate(text: str) -> Decimal | None:
    try:
        return Decimal(text) if text else None
    except InvalidOperation:
        return None


# --- summary reports (P&L, balance sheet, cash flow) ----------------------------------------------


def period_rows(report: dict, *, include_summaries: bool = False) -> t.Iterator[dict]:
    """One dict per (row, period column) of a summary report, the section path kept as levels.

    The row label's account id (``account_id``) is set for account rows; ``row_type`` is
    ``Data`` or ``Summary``. The ``Total`` column of multi-period reports is skipped (it is the
    sum of the period columns); a single ``TOTAL`` column is kept with the report's dates.
    """
    cols = columns(report)
    header = report.get("Header") or {}
    money_cols = [(i, c) for i, c in enumerate(cols) if i > 0]
    periodic = any(c.start for _, c in money_cols)
    for row in walk_report(report):
        if row.kind == "Summary" and not include_summaries:
            continue
        label = row.value(0)
        if not label:
            continue
        path = [p for p in row.path if p]
        if row.kind == "Summary" and path and label.startswith("Total"):
            path = path[:-1]
        for i, col in money_cols:
            if periodic and not col.start:
                continue  # the Total column
            value = amount(row.value(i))
            if value is None and row.kind == "Data":
                continue
            start = col.start or header.get("StartPeriod")
            end = col.end or header.get("EndPeriod")
            levels = (path + [None] * 5)[:5]
            yield {
                "row_key": row_key(start, end, row.kind, *row.path, label),
                "period_start": start,
                "period_end": end,
                "row_type": row.kind,
                "group": next((g for g in row.groups if g), None) or (row.group or None),
                "section_group": row.group or (row.groups[-1] if row.groups and row.groups[-1] else None),
                "category_1": levels[0], "category_2": levels[1], "category_3": levels[2],
                "category_4": levels[3], "category_5": levels[4],
                "section_path": " > ".join(path) or None,
                "label": label,
                "account_id": row.id(0),
                "amount": value,
            }


def trial_balance_rows(report: dict) -> t.Iterator[dict]:
    header = report.get("Header") or {}
    for row in walk_report(report):
        if row.kind != "Data" or not row.value(0):
            continue
        debit, credit = amount(row.value(1)) or Decimal("0.00"), amount(row.value(2)) or Decimal("0.00")
        yield {
            "row_key": row_key(header.get("EndPeriod"), row.id(0) or row.value(0)),
            "as_of": header.get("EndPeriod"),
            "period_start": header.get("StartPeriod"),
            "account_id": row.id(0),
            "account_name": row.value(0),
            "debit": debit,
            "credit": credit,
            "balance": debit - credit,
        }


AGING_FIELDS = ["current", "past_due_1_30", "past_due_31_60", "past_due_61_90", "past_due_91_over"]


def aging_rows(report: dict) -> t.Iterator[dict]:
    """One dict per customer/vendor: the default buckets (30 days x 4) and the total."""
    cols = columns(report)
    header = report.get("Header") or {}
    as_of = next((o.get("Value") for o in header.get("Option") or [] if o.get("Name") == "report_date"),
                 header.get("EndPeriod"))
    bucket_cols = cols[1:-1]
    if len(bucket_cols) != len(AGING_FIELDS):
        raise ReportParseError(f"expected {len(AGING_FIELDS)} aging buckets, got {len(bucket_cols)}")
    for row in walk_report(report):
        if row.kind != "Data" or not row.value(0):
            continue
        rec = {"row_key": row_key(as_of, row.id(0) or row.value(0)), "as_of": as_of,
               "name_id": row.id(0), "name": row.value(0)}
        for i, f in enumerate(AGING_FIELDS, start=1):
            rec[f] = amount(row.value(i)) or Decimal("0.00")
        rec["total"] = amount(row.value(len(cols) - 1)) or Decimal("0.00")
        yield rec
