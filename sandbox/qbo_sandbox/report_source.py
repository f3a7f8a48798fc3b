"""Postings for the reports of a sandbox ``Store`` without reading every transaction per report.

``ledger.load_ledger`` reads every posting document of a realm: fine for a demo company, minutes
and gigabytes for the large one (522,000 documents). For a sandbox ``Store`` the reports instead
use what the balances pass (``balances.py``) keeps up to date, from the very same postings:

* summary reports (ProfitAndLoss, BalanceSheet, TrialBalance, CashFlow; accrual basis) read one
  aggregated posting per (TxnDate, account) — what they use of a posting is its date, account and
  amount, so the numbers are the same sums;
* GeneralLedger / ProfitAndLossDetail read those aggregates for the opening balances (dates before
  the window) and the real postings of the documents dated inside the window only: base documents
  are found by index arithmetic (a base document's TxnDate is within a few days before its
  ``LastUpdatedTime``, which grows with its index), documents changed or created through the API
  from the overlay;
* aging reports read the slim invoice/bill/payment records the pass keeps.

The cash basis needs every payment's linked documents: it keeps the full-ledger path.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from . import balances as bal
from .generator import SLOTS, CYCLE
from .ledger import POSTING_ENTITIES, Chart, Ledger, LedgerError, Posting, _id_sort_key, derive_postings
from .timefmt import PACIFIC

DAY = 86400
_POSTING = frozenset(POSTING_ENTITIES)


def supports(store: Any) -> bool:
    """A sandbox Store (realms with a generator and a balances pass), not a test fake."""
    from .store import Store
    return isinstance(store, Store)


def _ready(store: Any, realm_id: str):
    realm = store.realm(realm_id)
    realm.ensure_balances()
    return realm, realm._balances


def chart_of(store: Any, realm_id: str) -> Chart:
    """The chart ``load_ledger`` builds (accounts in Id order), payment accounts looked up lazily."""
    chart = Chart(list(store.iter_entities(realm_id, "Account")), list(store.iter_entities(realm_id, "Item")),
                  list(store.iter_entities(realm_id, "TaxRate")), list(store.iter_entities(realm_id, "TaxAgency")))
    chart.payment_accounts = bal._PaymentAccounts(store.realm(realm_id))  # type: ignore[attr-defined]
    return chart


def _aggregate(b, chart: Chart, before: dt.date | None = None) -> list[Posting]:
    """One posting per (TxnDate, account) carrying the day's sums (optionally only dates < before)."""
    home, acur = b.home, b.account_currency
    out = []
    for (day, aid), (home_amount, nat_amount, _n) in list(b.days.items()):
        if before is not None and day >= before:
            continue
        cur = acur.get(aid) or home
        out.append(Posting(txn_type="", txn_id="", txn_date=day, doc_number="", account_id=aid, amount=home_amount,
                           currency=cur, foreign_amount=nat_amount))
    out.sort(key=lambda p: (p.txn_date, p.account_id))
    return out


def summary_ledger(store: Any, realm_id: str, home: str, aging: bool = False) -> Ledger:
    """Aggregated accrual postings of the whole history (+ the slim aging documents if ``aging``)."""
    _realm, b = _ready(store, realm_id)
    chart = chart_of(store, realm_id)
    documents = dict(list(b.aging.items())) if aging else {}
    return Ledger(chart, _aggregate(b, chart), documents, home)


def window_ledger(store: Any, realm_id: str, start: dt.date, end: dt.date, home: str) -> Ledger:
    """Aggregated postings dated before ``start`` (opening balances) + the real postings dated in
    [start, end], in ``load_ledger``'s order."""
    realm, b = _ready(store, realm_id)
    chart = chart_of(store, realm_id)
    opening = _aggregate(b, chart, before=start)
    window = _window_postings(realm, chart, start, end)
    return Ledger(chart, opening + window, {}, home)


def _epoch(day: dt.date) -> float:
    return dt.datetime(day.year, day.month, day.day, tzinfo=PACIFIC).timestamp()


def _window_postings(realm, chart: Chart, start: dt.date, end: dt.date) -> list[Posting]:
    g = realm.gen
    # A base document's TxnDate lies between (its LastUpdatedTime - one index step - 2 days) and
    # its LastUpdatedTime; margins of a day more on each side, then the exact filter.
    lo = g.index_at_or_after(_epoch(start) - DAY)
    hi = g.index_at_or_after(_epoch(end) + 4 * DAY + 2 * g.step)
    overlay, deleted = realm.overlay, realm.deleted
    out: list[Posting] = []

    def take(entity: str, obj: dict) -> None:
        try:
            posts = derive_postings(chart, entity, obj)
        except LedgerError:
            return  # as in the balances pass: a document the ledger cannot post is left out
        out.extend(p for p in posts if start <= p.txn_date <= end)

    for i in range(lo, hi):
        entity = SLOTS[i % CYCLE]
        if entity not in _POSTING or g.is_deleted(i):
            continue
        key = (entity, str(100 + i))
        if key in overlay or key in deleted:
            continue  # served from the overlay (below) or deleted through the API
        take(entity, g.doc(i))
    for (entity, _id), rec in list(overlay.items()):
        if entity in _POSTING and (entity, _id) not in deleted:
            take(entity, rec.obj)
    out.sort(key=lambda p: (p.txn_date, _id_sort_key(p.txn_id), p.txn_type, p.seq))
    return out
