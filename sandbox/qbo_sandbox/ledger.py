"""Double-entry general-ledger postings derived from standard QBO transaction JSON.

The reports (``reports.py``) are computed from these postings only, and the postings are derived
only from the objects the API serves (``store.iter_entities``), so every report reconciles with
what a client can read through the entity endpoints.

Conventions
- ``Posting.amount`` is in the home currency, debit positive, credit negative, exact Decimal
  cents. Every transaction's postings sum to zero (checked; ``LedgerImbalance`` otherwise).
- Foreign-currency transactions are converted line by line with their ``ExchangeRate``; the
  rounding difference goes to the control posting (A/R, A/P, bank), as QBO's home totals do.
  Realised exchange gains/losses on payments are not posted (simplification).
- Voided transactions (QBO zeroes their amounts and writes "Voided" in ``PrivateNote``) post
  nothing. Deleted ones are not in the store. Estimates, PurchaseOrders and TimeActivities are
  non-posting.
- Cash basis (``cash_basis_postings``): invoices, bills, credit memos and vendor credits post
  nothing when issued; each payment line that applies to one recognises that document's non-A/R
  (or non-A/P) postings pro rata (line amount / document total) on the payment date, in place
  of the payment's A/R (A/P) credit. Unapplied amounts stay on A/R (A/P). This is QBO's
  approximation too (income recognised pro rata by payments).
"""
from __future__ import annotations

import dataclasses
import datetime as dt
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Iterable

CENT = Decimal("0.01")
ZERO = Decimal("0")

#: Entities that post to the ledger, in the order they are read.
POSTING_ENTITIES = (
    "JournalEntry",
    "Invoice",
    "SalesReceipt",
    "Payment",
    "CreditMemo",
    "RefundReceipt",
    "Deposit",
    "Transfer",
    "Bill",
    "BillPayment",
    "VendorCredit",
    "Purchase",
)

#: Balance-sheet classifications (everything else closes to retained earnings).
BALANCE_SHEET_CLASSES = ("Asset", "Liability", "Equity")
#: Classifications whose natural balance is a debit.
DEBIT_NATURE_CLASSES = ("Asset", "Expense")


class LedgerError(ValueError):
    """The company's data cannot be posted (missing account, unknown reference…)."""


class LedgerImbalance(LedgerError):
    """A transaction's derived postings do not sum to zero."""


def dec(value: Any) -> Decimal:
    """Exact Decimal of a JSON number (Decimal, int, float or numeric string)."""
    if value is None or value == "":
        return ZERO
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        return Decimal(repr(value))
    return Decimal(str(value))


def cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def ref_value(ref: Any) -> str | None:
    if isinstance(ref, dict):
        v = ref.get("value")
        return None if v in (None, "") else str(v)
    return None


@dataclasses.dataclass(frozen=True)
class Ref:
    id: str
    name: str
    type: str = ""  # Customer, Vendor, Employee, or "" when unknown


@dataclasses.dataclass(slots=True)
class Posting:
    txn_type: str  # QBO entity name: Invoice, Bill, Purchase, …
    txn_id: str
    txn_date: dt.date
    doc_number: str
    account_id: str
    amount: Decimal  # home currency, debit positive
    name: Ref | None = None
    memo: str = ""
    class_ref: Ref | None = None
    department_ref: Ref | None = None
    line_id: str = ""
    currency: str = ""
    exchange_rate: Decimal = Decimal(1)
    foreign_amount: Decimal = ZERO  # transaction currency, debit positive
    subtype: str = ""  # display subtype for txn types (Purchase: Cash/Check/CreditCard, credit)
    seq: int = 0  # order inside the transaction

    @property
    def debit(self) -> Decimal:
        return self.amount if self.amount > 0 else ZERO

    @property
    def credit(self) -> Decimal:
        return -self.amount if self.amount < 0 else ZERO


# --- chart of accounts -------------------------------------------------------------------------


class Chart:
    """Accounts and items of one realm plus the default accounts QBO posts to implicitly."""

    def __init__(self, accounts: Iterable[dict], items: Iterable[dict], tax_rates: Iterable[dict] = (),
                 tax_agencies: Iterable[dict] = ()):
        self.accounts: dict[str, dict] = {str(a["Id"]): a for a in accounts}
        self.items: dict[str, dict] = {str(i["Id"]): i for i in items}
        self.tax_rates: dict[str, dict] = {str(t["Id"]): t for t in tax_rates}
        self.tax_agencies: dict[str, dict] = {str(t["Id"]): t for t in tax_agencies}
        self._by_subtype: dict[str, list[str]] = defaultdict(list)
        self._by_type: dict[str, list[str]] = defaultdict(list)
        self._by_name: dict[str, str] = {}
        for aid in sorted(self.accounts, key=_id_sort_key):
            a = self.accounts[aid]
            self._by_subtype[a.get("AccountSubType", "")].append(aid)
            self._by_type[a.get("AccountType", "")].append(aid)
            self._by_name.setdefault(a.get("FullyQualifiedName") or a.get("Name", ""), aid)

    # lookups ------------------------------------------------------------------------------------
    def account(self, account_id: str) -> dict:
        try:
            return self.accounts[account_id]
        except KeyError:
            raise LedgerError(f"account {account_id} is not in the chart of accounts") from None

    def classification(self, account_id: str) -> str:
        return self.account(account_id).get("Classification", "")

    def is_balance_sheet(self, account_id: str) -> bool:
        return self.classification(account_id) in BALANCE_SHEET_CLASSES

    def name(self, account_id: str) -> str:
        return self.account(account_id).get("Name", "")

    def full_name(self, account_id: str) -> str:
        a = self.account(account_id)
        return a.get("FullyQualifiedName") or a.get("Name", "")

    def natural_sign(self, account_id: str) -> int:
        """+1 when the account's natural balance is a debit, -1 for a credit."""
        return 1 if self.classification(account_id) in DEBIT_NATURE_CLASSES else -1

    def parent_id(self, account_id: str) -> str | None:
        a = self.account(account_id)
        return ref_value(a.get("ParentRef")) if a.get("SubAccount") else None

    def _default(self, what: str, subtypes: tuple[str, ...], types: tuple[str, ...]) -> str:
        for st in subtypes:
            if self._by_subtype.get(st):
                return self._by_subtype[st][0]
        for t in types:
            if self._by_type.get(t):
                return self._by_type[t][0]
        raise LedgerError(f"the company has no {what} account")

    def _in_currency(self, account_type: str, currency: str | None) -> str | None:
        """A/R and A/P are kept per currency in multicurrency companies, as in QBO."""
        for aid in self._by_type.get(account_type, []):
            if ref_value(self.accounts[aid].get("CurrencyRef")) == currency:
                return aid
        return None

    def receivable(self, currency: str | None = None) -> str:
        return self._in_currency("Accounts Receivable", currency) or self._default(
            "Accounts Receivable", ("AccountsReceivable",), ("Accounts Receivable",))

    def payable(self, currency: str | None = None) -> str:
        return self._in_currency("Accounts Payable", currency) or self._default(
            "Accounts Payable", ("AccountsPayable",), ("Accounts Payable",))

    def undeposited_funds(self) -> str:
        return self._default("Undeposited Funds", ("UndepositedFunds",), ())

    def retained_earnings(self) -> str:
        return self._default("Retained Earnings", ("RetainedEarnings",), ())

    def tax_payable(self, tax_rate_id: str | None) -> str:
        """The agency's "<Agency> Payable" account when it exists, else the sales-tax liability."""
        rate = self.tax_rates.get(tax_rate_id or "")
        agency = self.tax_agencies.get(ref_value(rate.get("AgencyRef")) or "") if rate else None
        if agency:
            aid = self._by_name.get(f"{agency.get('DisplayName', '')} Payable")
            if aid:
                return aid
        return self._default("sales tax payable", ("SalesTaxPayable", "GlobalTaxPayable"), ())

    def item_account(self, item_id: str | None, side: str) -> str:
        """Income account of an item (sales side) or its expense/asset account (purchase side)."""
        item = self.items.get(item_id or "")
        if item is None:
            raise LedgerError(f"item {item_id} is not in the item list")
        if side == "sales":
            keys = ("IncomeAccountRef",)
        elif item.get("Type") == "Inventory":
            keys = ("AssetAccountRef", "ExpenseAccountRef")
        else:
            keys = ("ExpenseAccountRef", "AssetAccountRef")
        for k in keys:
            aid = ref_value(item.get(k))
            if aid:
                return aid
        raise LedgerError(f"item {item_id} has no {'income' if side == 'sales' else 'expense'} account")


def _id_sort_key(value: str) -> tuple[int, int | str]:
    return (0, int(value)) if str(value).isdigit() else (1, str(value))


# --- per-transaction derivation ----------------------------------------------------------------


def _ref(obj: Any, type_: str = "") -> Ref | None:
    if not isinstance(obj, dict) or ref_value(obj) is None:
        return None
    return Ref(ref_value(obj), str(obj.get("name", "")), str(obj.get("type", type_) or type_))


def is_voided(txn: dict) -> bool:
    note = str(txn.get("PrivateNote") or "")
    return txn.get("TxnStatus") == "Voided" or note.startswith("Voided")


class _Builder:
    """Collects one transaction's postings in its own currency, then converts to home."""

    def __init__(self, chart: Chart, entity: str, txn: dict):
        self.chart = chart
        self.entity = entity
        self.txn = txn
        self.rows: list[dict] = []
        self.rate = dec(txn.get("ExchangeRate") or 1)
        self.currency = ref_value(txn.get("CurrencyRef")) or ""
        self.txn_name = (_ref(txn.get("CustomerRef"), "Customer") or _ref(txn.get("VendorRef"), "Vendor")
                         or _ref(txn.get("EntityRef")))
        self.txn_class = _ref(txn.get("ClassRef"))
        self.department = _ref(txn.get("DepartmentRef"))
        self.memo = str(txn.get("PrivateNote") or "")

    def add(self, account_id: str | None, amount: Decimal, *, line: dict | None = None, name: Ref | None = None,
            control: bool = False) -> None:
        if account_id is None:
            raise LedgerError(f"{self.entity} {self.txn.get('Id')}: a line has no account")
        self.chart.account(account_id)  # fail loudly on an unknown account
        line = line or {}
        detail = line.get(line.get("DetailType", "")) if line else None
        detail = detail if isinstance(detail, dict) else {}
        self.rows.append({
            "account_id": account_id,
            "foreign": amount,
            "line_id": str(line.get("Id", "")),
            "memo": str(line.get("Description") or "") or self.memo,
            "class": _ref(detail.get("ClassRef")) or self.txn_class,
            "name": name or _ref(detail.get("CustomerRef"), "Customer") or self.txn_name,
            "control": control,
        })

    def postings(self, subtype: str = "") -> list[Posting]:
        total = sum((r["foreign"] for r in self.rows), ZERO)
        if total != 0:
            raise LedgerImbalance(
                f"{self.entity} {self.txn.get('Id')}: postings do not balance (off by {total})")
        homes = [cents(r["foreign"] * self.rate) for r in self.rows]
        residual = sum(homes, ZERO)
        if residual and self.rows:
            idx = next((i for i, r in enumerate(self.rows) if r["control"]), None)
            if idx is None:
                idx = max(range(len(homes)), key=lambda i: abs(homes[i]))
            homes[idx] -= residual
        date = _date(self.txn.get("TxnDate"))
        out = []
        for seq, (r, home) in enumerate(zip(self.rows, homes)):
            if r["foreign"] == 0:
                continue
            out.append(Posting(
                txn_type=self.entity, txn_id=str(self.txn.get("Id")), txn_date=date,
                doc_number=str(self.txn.get("DocNumber") or ""), account_id=r["account_id"], amount=home,
                name=r["name"], memo=r["memo"], class_ref=r["class"], department_ref=self.department,
                line_id=r["line_id"], currency=self.currency, exchange_rate=self.rate,
                foreign_amount=r["foreign"], subtype=subtype, seq=seq))
        assert sum((p.amount for p in out), ZERO) == 0, "home-currency postings must balance"
        return out


def _date(value: Any) -> dt.date:
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value)[:10])
    except ValueError:
        raise LedgerError(f"bad TxnDate {value!r}") from None


def _sales_lines(b: _Builder, sign: int) -> Decimal:
    """Post a sales document's lines (sign -1: credit income, as on an invoice). Returns the net."""
    chart = b.chart
    net = ZERO
    for line in b.txn.get("Line") or []:
        kind = line.get("DetailType")
        amount = dec(line.get("Amount"))
        if kind == "SalesItemLineDetail":
            d = line.get("SalesItemLineDetail") or {}
            item_id = ref_value(d.get("ItemRef"))
            b.add(chart.item_account(item_id, "sales"), sign * amount, line=line)
            net += amount
            _inventory_cost(b, item_id, dec(d.get("Qty")), sign, line)
        elif kind == "GroupLineDetail":
            for sub in (line.get("GroupLineDetail") or {}).get("Line") or []:
                d = sub.get("SalesItemLineDetail") or {}
                b.add(chart.item_account(ref_value(d.get("ItemRef")), "sales"), sign * dec(sub.get("Amount")), line=sub)
                net += dec(sub.get("Amount"))
        elif kind == "DiscountLineDetail":
            d = line.get("DiscountLineDetail") or {}
            acct = ref_value(d.get("DiscountAccountRef")) or chart._default(
                "discounts", ("DiscountsRefundsGiven",), ())
            b.add(acct, -sign * amount, line=line)
            net -= amount
        elif kind == "DescriptionOnly" or kind == "SubTotalLineDetail":
            continue
    for tax in (b.txn.get("TxnTaxDetail") or {}).get("TaxLine") or []:
        d = tax.get("TaxLineDetail") or {}
        amount = dec(tax.get("Amount"))
        if amount:
            b.add(chart.tax_payable(ref_value(d.get("TaxRateRef"))), sign * amount)
            net += amount
    total_tax = dec((b.txn.get("TxnTaxDetail") or {}).get("TotalTax"))
    if not (b.txn.get("TxnTaxDetail") or {}).get("TaxLine") and total_tax:
        b.add(chart.tax_payable(None), sign * total_tax)
        net += total_tax
    return net


def _inventory_cost(b: _Builder, item_id: str | None, qty: Decimal, sign: int, line: dict) -> None:
    """Inventory items sold move their cost from the asset account to cost of goods sold."""
    item = b.chart.items.get(item_id or "")
    if not item or item.get("Type") != "Inventory" or not qty:
        return
    cost = cents(qty * dec(item.get("PurchaseCost")))
    cogs, asset = ref_value(item.get("ExpenseAccountRef")), ref_value(item.get("AssetAccountRef"))
    if cost and cogs and asset:
        b.add(cogs, -sign * cost, line=line)
        b.add(asset, sign * cost, line=line)


def _expense_lines(b: _Builder, sign: int) -> Decimal:
    """Post a purchase document's lines (sign +1: debit expense, as on a bill). Returns the net."""
    net = ZERO
    for line in b.txn.get("Line") or []:
        kind = line.get("DetailType")
        amount = dec(line.get("Amount"))
        if kind == "AccountBasedExpenseLineDetail":
            d = line.get("AccountBasedExpenseLineDetail") or {}
            b.add(ref_value(d.get("AccountRef")), sign * amount, line=line)
        elif kind == "ItemBasedExpenseLineDetail":
            d = line.get("ItemBasedExpenseLineDetail") or {}
            b.add(b.chart.item_account(ref_value(d.get("ItemRef")), "purchase"), sign * amount, line=line)
        else:
            continue
        net += amount
    tax = dec((b.txn.get("TxnTaxDetail") or {}).get("TotalTax"))
    if tax and b.txn.get("GlobalTaxCalculation") != "TaxInclusive":
        b.add(b.chart.tax_payable(None), sign * tax)
        net += tax
    return net


def derive_postings(chart: Chart, entity: str, txn: dict) -> list[Posting]:
    """The accrual-basis postings of one transaction (empty for voided/non-posting ones)."""
    if entity not in POSTING_ENTITIES or is_voided(txn):
        return []
    b = _Builder(chart, entity, txn)
    total = dec(txn.get("TotalAmt"))
    subtype = ""
    if entity == "Invoice":
        _sales_lines(b, -1)
        b.add(ref_value(txn.get("ARAccountRef")) or chart.receivable(b.currency), total, control=True)
    elif entity == "CreditMemo":
        _sales_lines(b, +1)
        b.add(ref_value(txn.get("ARAccountRef")) or chart.receivable(b.currency), -total, control=True)
    elif entity == "SalesReceipt":
        _sales_lines(b, -1)
        b.add(ref_value(txn.get("DepositToAccountRef")) or chart.undeposited_funds(), total, control=True)
    elif entity == "RefundReceipt":
        _sales_lines(b, +1)
        b.add(ref_value(txn.get("DepositToAccountRef")) or chart.undeposited_funds(), -total, control=True)
    elif entity == "Payment":
        if total:
            b.add(ref_value(txn.get("DepositToAccountRef")) or chart.undeposited_funds(), total)
            b.add(ref_value(txn.get("ARAccountRef")) or chart.receivable(b.currency), -total, control=True)
    elif entity == "Bill":
        _expense_lines(b, +1)
        b.add(ref_value(txn.get("APAccountRef")) or chart.payable(b.currency), -total, control=True)
    elif entity == "VendorCredit":
        _expense_lines(b, -1)
        b.add(ref_value(txn.get("APAccountRef")) or chart.payable(b.currency), total, control=True)
    elif entity == "BillPayment":
        subtype = str(txn.get("PayType") or "Check")
        pay = txn.get("CheckPayment") if subtype == "Check" else txn.get("CreditCardPayment")
        pay = pay or {}
        source = ref_value(pay.get("BankAccountRef")) or ref_value(pay.get("CCAccountRef"))
        if total:
            b.add(ref_value(txn.get("APAccountRef")) or chart.payable(b.currency), total, control=True)
            b.add(source, -total)
    elif entity == "Purchase":
        credit = bool(txn.get("Credit"))
        subtype = str(txn.get("PaymentType") or "Cash") + (" Credit" if credit else "")
        sign = -1 if credit else +1
        _expense_lines(b, sign)
        b.add(ref_value(txn.get("AccountRef")), -sign * total, control=True)
    elif entity == "JournalEntry":
        for line in txn.get("Line") or []:
            d = line.get("JournalEntryLineDetail")
            if not d:
                continue
            amount = dec(line.get("Amount"))
            sign = 1 if d.get("PostingType") == "Debit" else -1
            entity_ref = (d.get("Entity") or {})
            name = _ref(entity_ref.get("EntityRef"), str(entity_ref.get("Type") or ""))
            b.add(ref_value(d.get("AccountRef")), sign * amount, line=line, name=name)
        if b.rows:
            b.rows[0]["control"] = True
    elif entity == "Deposit":
        for line in txn.get("Line") or []:
            amount = dec(line.get("Amount"))
            d = line.get("DepositLineDetail") or {}
            linked = line.get("LinkedTxn") or []
            acct = ref_value(d.get("AccountRef"))
            if acct is None and linked:
                acct = _linked_deposit_source(chart, linked[0])
            name = _ref(d.get("Entity"))
            b.add(acct, -amount, line=line, name=name)
        cash_back = txn.get("CashBack") or {}
        if dec(cash_back.get("Amount")):
            b.add(ref_value(cash_back.get("AccountRef")), dec(cash_back.get("Amount")),
                  line={"Description": cash_back.get("Memo") or ""})
        b.add(ref_value(txn.get("DepositToAccountRef")), total, control=True)
    elif entity == "Transfer":
        amount = dec(txn.get("Amount"))
        b.add(ref_value(txn.get("ToAccountRef")), amount, control=True)
        b.add(ref_value(txn.get("FromAccountRef")), -amount)
    return b.postings(subtype)


#: Deposits of received payments take them out of the account the payment went to; the
#: sandbox fills this in per ledger build (payment id → deposit-to account).
def _linked_deposit_source(chart: Chart, linked: dict) -> str:
    source = getattr(chart, "payment_accounts", {}).get((linked.get("TxnType"), str(linked.get("TxnId"))))
    return source or chart.undeposited_funds()


# --- the ledger of one realm -------------------------------------------------------------------


@dataclasses.dataclass
class Ledger:
    chart: Chart
    postings: list[Posting]
    documents: dict[tuple[str, str], dict]  # (entity, id) → transaction JSON
    home_currency: str = "USD"

    def by_txn(self) -> dict[tuple[str, str], list[Posting]]:
        out: dict[tuple[str, str], list[Posting]] = defaultdict(list)
        for p in self.postings:
            out[(p.txn_type, p.txn_id)].append(p)
        return out

    def balances(self, start: dt.date | None, end: dt.date) -> dict[str, Decimal]:
        """Net debit-positive movement per account with start <= TxnDate <= end."""
        out: dict[str, Decimal] = defaultdict(lambda: ZERO)
        for p in self.postings:
            if p.txn_date <= end and (start is None or p.txn_date >= start):
                out[p.account_id] += p.amount
        return out


def load_ledger(store: Any, realm_id: str) -> Ledger:
    """Read accounts, items, tax setup and every posting transaction of a realm from the store."""
    def all_of(entity: str) -> list[dict]:
        return list(store.iter_entities(realm_id, entity))

    chart = Chart(all_of("Account"), all_of("Item"), all_of("TaxRate"), all_of("TaxAgency"))
    documents: dict[tuple[str, str], dict] = {}
    for entity in POSTING_ENTITIES:
        for txn in all_of(entity):
            documents[(entity, str(txn.get("Id")))] = txn
    chart.payment_accounts = {  # type: ignore[attr-defined]
        (entity, tid): (ref_value(t.get("DepositToAccountRef")) or chart.undeposited_funds())
        for (entity, tid), t in documents.items()
        if entity in ("Payment", "SalesReceipt") and ref_value(t.get("DepositToAccountRef"))
    }
    postings: list[Posting] = []
    for (entity, _tid), txn in documents.items():
        postings.extend(derive_postings(chart, entity, txn))
    postings.sort(key=lambda p: (p.txn_date, _id_sort_key(p.txn_id), p.txn_type, p.seq))
    return Ledger(chart, postings, documents, _home_currency(store, realm_id))


def _home_currency(store: Any, realm_id: str) -> str:
    try:
        for prefs in store.iter_entities(realm_id, "Preferences"):
            cur = ((prefs.get("CurrencyPrefs") or {}).get("HomeCurrency") or {})
            if ref_value(cur):
                return ref_value(cur)  # type: ignore[return-value]
    except Exception:  # noqa: BLE001 - a store without Preferences serves USD companies
        pass
    return "USD"


# --- cash basis ----------------------------------------------------------------------------------

_DEFERRED = {"Invoice": ("Payment", "receivable"), "CreditMemo": ("Payment", "receivable"),
             "Bill": ("BillPayment", "payable"), "VendorCredit": ("BillPayment", "payable")}


def cash_basis_postings(ledger: Ledger) -> list[Posting]:
    """Postings restated on the cash basis (see the module docstring)."""
    by_txn = ledger.by_txn()
    out: list[Posting] = []
    for (entity, tid), posts in by_txn.items():
        if entity in _DEFERRED:
            continue
        if entity not in ("Payment", "BillPayment"):
            out.extend(posts)
            continue
        txn = ledger.documents[(entity, tid)]
        control = next((p for p in posts if _is_control(ledger, p)), None)
        mine = [p for p in posts if p is not control]
        remaining = control.amount if control else ZERO
        for line in txn.get("Line") or []:
            for link in line.get("LinkedTxn") or []:
                doc_key = (str(link.get("TxnType")), str(link.get("TxnId")))
                if doc_key[0] not in _DEFERRED or doc_key not in by_txn:
                    continue
                doc = ledger.documents[doc_key]
                doc_posts = [p for p in by_txn[doc_key] if not _is_control(ledger, p)]
                doc_total = dec(doc.get("TotalAmt"))
                applied = dec(line.get("Amount"))
                if not doc_total or not applied:
                    continue
                # A payment's receivable credit (bill payment's payable debit) becomes the document's
                # income/expense/tax postings, scaled by the share of the document this line settles.
                share = applied / doc_total
                scaled = _scale(doc_posts, share, entity, txn)
                mine.extend(scaled)
                remaining -= sum((p.amount for p in scaled), ZERO)
        if control is not None and remaining:
            mine.append(dataclasses.replace(control, amount=remaining))
        _check_balanced(mine, entity, tid)
        out.extend(mine)
    out.sort(key=lambda p: (p.txn_date, _id_sort_key(p.txn_id), p.txn_type, p.seq))
    return out


def _is_control(ledger: Ledger, p: Posting) -> bool:
    sub = ledger.chart.account(p.account_id).get("AccountType", "")
    return sub in ("Accounts Receivable", "Accounts Payable")


def _scale(posts: list[Posting], share: Decimal, entity: str, payment: dict) -> list[Posting]:
    target = cents(sum((p.amount for p in posts), ZERO) * share)
    scaled = [dataclasses.replace(p, amount=cents(p.amount * share), txn_type=entity,
                                  txn_id=str(payment.get("Id")), txn_date=_date(payment.get("TxnDate")),
                                  doc_number=str(payment.get("DocNumber") or p.doc_number),
                                  seq=100 + p.seq) for p in posts]
    diff = target - sum((p.amount for p in scaled), ZERO)
    if diff and scaled:
        big = max(scaled, key=lambda p: abs(p.amount))
        big.amount += diff
    return [p for p in scaled if p.amount]


def _check_balanced(posts: list[Posting], entity: str, tid: str) -> None:
    total = sum((p.amount for p in posts), ZERO)
    if total != 0:
        raise LedgerImbalance(f"cash-basis {entity} {tid} does not balance (off by {total})")

