"""Running balances shown on name-list records, kept consistent with the transactions.

* ``Account.CurrentBalance`` / ``CurrentBalanceWithSubAccounts``: sum of the postings that
  ``ledger.derive_postings`` derives from the served transactions (home currency; natural sign:
  debit-nature accounts positive when debited, others positive when credited — as QBO shows them).
* ``Customer.Balance`` / ``BalanceWithJobs``: open invoice balances minus unapplied credit memos.
* ``Vendor.Balance``: open bill balances minus vendor credits.

Computed in one pass when first needed, then maintained by deltas on every change
(``apply_change(realm, entity, old, new)``).
"""
from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from . import balances_cache
from .generator import ID_BASE
from .wire import money

ZERO = Decimal(0)


def _chart(realm):
    from . import ledger
    c = realm.company
    accounts = [r.obj for r in realm.names["Account"].values()]
    items = [r.obj for r in realm.names["Item"].values()]
    chart = ledger.Chart(accounts, items, [r.obj for r in realm.names["TaxRate"].values()],
                         [r.obj for r in realm.names["TaxAgency"].values()])
    chart.payment_accounts = _PaymentAccounts(realm)  # type: ignore[attr-defined]
    return chart


class _PaymentAccounts:
    """Lazy (TxnType, TxnId) → deposit-to account of a linked payment (what ledger.py looks up)."""

    def __init__(self, realm):
        self.realm = realm

    def get(self, key, default=None):
        entity, tid = key
        if entity not in ("Payment", "SalesReceipt"):
            return default
        rec = self.realm.get_rec(entity, str(tid))
        if rec is None:
            return default
        v = (rec.obj.get("DepositToAccountRef") or {}).get("value")
        return v or default


def _dec(v) -> Decimal:
    if v is None:
        return ZERO
    return v if isinstance(v, Decimal) else Decimal(str(v))


#: Documents the aging reports read (``reports.open_items``): kept in slim form by the same pass.
AGING_ENTITIES = ("Invoice", "CreditMemo", "Payment", "Bill", "VendorCredit", "BillPayment")
_AGING_KEYS = ("Id", "TxnDate", "DueDate", "TotalAmt", "ExchangeRate", "CustomerRef", "VendorRef", "PrivateNote",
               "TxnStatus")


class Balances:
    """Running totals of one realm, from one pass over the served transactions, then deltas.

    Besides the balances shown on name-list records, the pass keeps what the reports need so that
    they never re-read every transaction (``reports.py``, large company):

    * ``days``: ``(TxnDate, account id) → [home amount, amount in the account's currency, postings]``
      (accrual basis, debit positive) — a few hundred days × accounts, whatever the company size;
    * ``aging``: ``(entity, id) → slim document`` (the fields ``reports.open_items`` reads) of the
      not-voided invoices, credit memos, bills, vendor credits and their payments.
    """

    def __init__(self, home_currency: str = "USD", account_currency: dict[str, str] | None = None):
        self.accounts: dict[str, Decimal] = defaultdict(lambda: ZERO)   # debit-positive, home currency
        self.customers: dict[str, Decimal] = defaultdict(lambda: ZERO)  # customer currency
        self.vendors: dict[str, Decimal] = defaultdict(lambda: ZERO)
        self.home = home_currency
        self.account_currency = account_currency or {}
        self.days: dict[tuple, list] = {}
        self.aging: dict[tuple[str, str], dict] = {}

    def state(self) -> dict:
        """Plain containers (what ``balances_cache`` saves)."""
        return {"home": self.home, "account_currency": self.account_currency, "accounts": dict(self.accounts),
                "customers": dict(self.customers), "vendors": dict(self.vendors), "days": self.days,
                "aging": self.aging}

    @classmethod
    def from_state(cls, state: dict) -> "Balances":
        b = cls(state["home"], state["account_currency"])
        b.accounts.update(state["accounts"])
        b.customers.update(state["customers"])
        b.vendors.update(state["vendors"])
        b.days, b.aging = state["days"], state["aging"]
        return b

    def add_postings(self, posts, sign: int) -> None:
        days, home, acur = self.days, self.home, self.account_currency
        for p in posts:
            cur = acur.get(p.account_id) or home
            nat = p.foreign_amount if cur != home and cur == p.currency else p.amount
            key = (p.txn_date, p.account_id)
            v = days.get(key)
            if v is None:
                v = days[key] = [ZERO, ZERO, 0]
            v[0] += sign * p.amount
            v[1] += sign * nat
            v[2] += sign
            if not v[2] and not v[0] and not v[1]:
                del days[key]

    def keep_for_aging(self, entity: str, obj: dict, sign: int) -> None:
        from .ledger import is_voided
        key = (entity, str(obj.get("Id")))
        if sign < 0:
            self.aging.pop(key, None)
            return
        if is_voided(obj):
            return
        slim = {k: obj[k] for k in _AGING_KEYS if k in obj}
        if entity in ("Payment", "BillPayment"):
            slim["Line"] = [{"Amount": ln.get("Amount"), "LinkedTxn": [
                {"TxnType": lk.get("TxnType"), "TxnId": lk.get("TxnId")} for lk in ln.get("LinkedTxn") or []]}
                for ln in obj.get("Line") or []]
        self.aging[key] = slim


def _contrib(realm, chart, entity: str, obj: dict, b: Balances, sign: int) -> None:
    from . import ledger
    try:
        posts = ledger.derive_postings(chart, entity, obj)
    except Exception:  # noqa: BLE001 - an API-created document the ledger cannot post keeps balances as they are
        posts = []
    for p in posts:
        b.accounts[p.account_id] += sign * p.amount
    b.add_postings(posts, sign)
    if entity in AGING_ENTITIES:
        b.keep_for_aging(entity, obj, sign)
    if entity == "Invoice":
        cid = (obj.get("CustomerRef") or {}).get("value")
        b.customers[cid] += sign * _dec(obj.get("Balance"))
    elif entity == "CreditMemo":
        cid = (obj.get("CustomerRef") or {}).get("value")
        b.customers[cid] -= sign * _dec(obj.get("Balance", obj.get("RemainingCredit")))
    elif entity == "Bill":
        vid = (obj.get("VendorRef") or {}).get("value")
        b.vendors[vid] += sign * _dec(obj.get("Balance"))
    elif entity == "VendorCredit":
        vid = (obj.get("VendorRef") or {}).get("value")
        b.vendors[vid] -= sign * _dec(obj.get("Balance", obj.get("TotalAmt")))


POSTING_AND_BALANCE = ("JournalEntry", "Invoice", "SalesReceipt", "Payment", "CreditMemo", "RefundReceipt",
                       "Deposit", "Transfer", "Bill", "BillPayment", "VendorCredit", "Purchase")


def compute(realm) -> None:
    realm._balances_computing = True
    chart = _chart(realm)
    home = "USD"
    for rec in realm.names["Preferences"].values():
        home = (((rec.obj.get("CurrencyPrefs") or {}).get("HomeCurrency") or {}).get("value")) or home
    account_currency = {aid: (a.get("CurrencyRef") or {}).get("value") for aid, a in chart.accounts.items()}
    # A realm nobody has changed: the pass is a pure function of how it was generated (saved on disk).
    persist = getattr(realm, "persist_balances", False) and _pristine(realm)
    renderer = getattr(realm, "renderer", None)
    state = balances_cache.load(realm) if persist else None
    if state is not None and state["home"] == home and state["account_currency"] == account_currency:
        b = Balances.from_state(state)
        realm.load_saved_link_sums()  # (already loaded at start, unless saved since)
    else:
        b = Balances(home, account_currency)
        # The pass builds every document's dict: the renderer keeps what payments and deposits copy
        # from them (pristine realm: every document is a base document).
        keep = renderer.keep_sums_from_document if renderer is not None and _pristine(realm) else None
        for entity, obj in _current_documents(realm):
            _contrib(realm, chart, entity, obj, b, +1)
            if keep is not None and entity in _LINKED:
                keep(int(obj["Id"]) - ID_BASE, obj)
        if persist and _pristine(realm):
            balances_cache.save(realm, b.state())
            if keep is not None:  # its own small file: a fresh server loads it at start (store.Realm)
                balances_cache.save(realm, renderer.link_sums_state(), kind="linksums")
    realm._balances = b
    realm._chart = chart
    _write(realm)


_LINKED = frozenset(("Invoice", "Payment", "SalesReceipt"))  # what payments and deposits copy from


def _pristine(realm) -> bool:
    return not realm.overlay and not realm.deleted and not any(realm.created_order.values())


def _current_documents(realm):
    """Every current posting document (what ``realm.iter_recs`` yields for each posting entity),
    base documents in index order: a payment, bill payment or deposit comes right after the
    documents of its cycle it links to, so those are still in the generator's LRU cache instead
    of being built a second time."""
    from .generator import CYCLE, ID_BASE, SLOTS
    g, overlay, deleted = realm.gen, realm.overlay, realm.deleted
    posting = frozenset(POSTING_AND_BALANCE)
    for i in range(g.N):
        entity = SLOTS[i % CYCLE]
        if entity not in posting or g.is_deleted(i):
            continue
        key = (entity, str(ID_BASE + i))
        if key in deleted:
            continue
        rec = overlay.get(key)
        yield entity, (rec.obj if rec is not None else g.doc(i))
    for entity in POSTING_AND_BALANCE:
        for id_ in list(realm.created_order.get(entity, ())):
            key = (entity, id_)
            if key not in deleted and key in overlay:
                yield entity, overlay[key].obj


def apply_change(realm, entity: str, old: dict | None, new: dict | None) -> None:
    """Adjust balances for one changed transaction (old → new; None for create/delete)."""
    if entity not in POSTING_AND_BALANCE:
        return
    if not realm.balances_ready.is_set():
        if not getattr(realm, "_balances_computing", False):
            return  # not computed yet: the first full pass will see this change
        realm.balances_ready.wait()  # a pass is running: let it finish, then apply the delta
    if not hasattr(realm, "_balances"):
        return
    b, chart = realm._balances, realm._chart
    if old is not None:
        _contrib(realm, chart, entity, old, b, -1)
    if new is not None:
        _contrib(realm, chart, entity, new, b, +1)
    _write(realm)


def _write(realm) -> None:
    """Copy balances into the Account/Customer/Vendor objects (dropping their cached bytes)."""
    b = realm._balances
    accounts = realm.names["Account"]
    debit_nature = ("Asset", "Expense")
    own = {}
    for aid, rec in accounts.items():
        a = rec.obj
        sign = 1 if a.get("Classification") in debit_nature else -1
        own[aid] = sign * b.accounts.get(aid, ZERO)
    children = defaultdict(list)
    for aid, rec in accounts.items():
        parent = (rec.obj.get("ParentRef") or {}).get("value")
        if parent:
            children[parent].append(aid)

    def total(aid):
        return own[aid] + sum((total(c) for c in children.get(aid, ())), ZERO)

    for aid, rec in accounts.items():
        a = rec.obj
        cb, cbs = _money0(own[aid]), _money0(total(aid))
        if a.get("CurrentBalance") != cb or a.get("CurrentBalanceWithSubAccounts") != cbs:
            a["CurrentBalance"], a["CurrentBalanceWithSubAccounts"] = cb, cbs
            rec.touch()
    customers = realm.names["Customer"]
    jobs = defaultdict(lambda: ZERO)
    for cid, rec in customers.items():
        parent = (rec.obj.get("ParentRef") or {}).get("value")
        if parent:
            jobs[parent] += b.customers.get(cid, ZERO)
    for cid, rec in customers.items():
        c = rec.obj
        bal = _money0(b.customers.get(cid, ZERO))
        with_jobs = _money0(b.customers.get(cid, ZERO) + jobs.get(cid, ZERO))
        if c.get("Balance") != bal or c.get("BalanceWithJobs") != with_jobs:
            c["Balance"], c["BalanceWithJobs"] = bal, with_jobs
            rec.touch()
    for vid, rec in realm.names["Vendor"].items():
        bal = _money0(b.vendors.get(vid, ZERO))
        if rec.obj.get("Balance") != bal:
            rec.obj["Balance"] = bal
            rec.touch()


def _money0(d: Decimal):
    d = money(d)
    return d if d else 0
