"""Reports of a sandbox Store come from the balances pass's per-day aggregates and window scans
(``report_source.py``): they must equal, cell for cell, the reports computed from the full ledger
(``ledger.load_ledger``, the path test fakes and the cash basis use), also after API changes."""
from __future__ import annotations

import datetime as dt

import pytest

from qbo_sandbox import report_source
from qbo_sandbox.clock import SandboxClock
from qbo_sandbox.mutations import Mutator
from qbo_sandbox.reports import build_report
from qbo_sandbox.store import Store


class FullLedgerView:
    """The same data seen through the plain store interface only: reports take the full-ledger path."""

    def __init__(self, store: Store):
        self._store = store
        self.clock = store.clock
        self.listeners = store.listeners  # the full ledger is cached until the store announces a change

    def realms(self):
        return self._store.realms()

    def iter_entities(self, realm_id, entity):
        return self._store.iter_entities(realm_id, entity)

    def get(self, realm_id, entity, id_):
        return self._store.get(realm_id, entity, id_)


@pytest.fixture(scope="module")
def demo():
    store = Store(realms=1, size="demo", seed=13, clock=SandboxClock())
    realm = store.realms()[0]
    last = dt.date.fromtimestamp(store.as_of)
    return store, realm, last


def _cases(last: dt.date):
    first = last - dt.timedelta(days=390)
    mid = last - dt.timedelta(days=170)
    return [
        ("ProfitAndLoss", {"start_date": first.isoformat(), "end_date": last.isoformat(),
                           "summarize_column_by": "Month"}),
        ("ProfitAndLoss", {"start_date": mid.isoformat(), "end_date": (mid + dt.timedelta(days=40)).isoformat()}),
        ("BalanceSheet", {"start_date": first.isoformat(), "end_date": last.isoformat(),
                          "summarize_column_by": "Quarter"}),
        ("TrialBalance", {"end_date": mid.isoformat()}),
        ("TrialBalance", {"end_date": last.isoformat()}),
        ("CashFlow", {"start_date": mid.isoformat(), "end_date": last.isoformat(), "summarize_column_by": "Month"}),
        ("GeneralLedger", {"start_date": mid.isoformat(), "end_date": (mid + dt.timedelta(days=20)).isoformat()}),
        ("GeneralLedger", {"start_date": (last - dt.timedelta(days=3)).isoformat(), "end_date": last.isoformat(),
                           "columns": "tx_date,txn_type,doc_num,name,account_name,nat_foreign_amount,"
                                      "subt_nat_home_amount,rbal_nat_amount,rbal_nat_home_amount,split_acc"}),
        ("ProfitAndLossDetail", {"start_date": mid.isoformat(),
                                 "end_date": (mid + dt.timedelta(days=10)).isoformat()}),
        ("AgedReceivables", {"report_date": mid.isoformat()}),
        ("AgedPayables", {"report_date": last.isoformat(), "aging_period": "15", "num_periods": "6"}),
    ]


def _assert_same_reports(store, realm, last):
    assert report_source.supports(store) and not report_source.supports(FullLedgerView(store))
    full = FullLedgerView(store)
    for name, params in _cases(last):
        fast = build_report(store, realm, name, params)
        slow = build_report(full, realm, name, params)
        fast["Header"].pop("Time"), slow["Header"].pop("Time")  # the clock runs between the two
        assert fast == slow, (name, params)
        assert len(fast["Rows"]["Row"]) > 1, (name, params)


def test_aggregated_reports_equal_full_ledger_reports(demo):
    _assert_same_reports(*demo)


def test_aggregates_follow_api_changes(demo):
    store, realm, last = demo
    mut, r = Mutator(store, store.clock), store.realm(realm)
    invoices = [i for i in store.iter_entities(realm, "Invoice") if i.get("Balance")][:3]
    bills = list(store.iter_entities(realm, "Bill"))[5:7]
    mut.void(r, "Invoice", {"Id": invoices[0]["Id"], "SyncToken": invoices[0]["SyncToken"]})
    mut.delete(r, "Invoice", {"Id": invoices[1]["Id"], "SyncToken": invoices[1]["SyncToken"]})
    line = dict(bills[0]["Line"][0])
    line["Amount"] = 1234.56
    mut.update(r, "Bill", {"Id": bills[0]["Id"], "SyncToken": bills[0]["SyncToken"], "sparse": True,
                           "Line": [line]})
    created = mut.create(r, "Payment", {"CustomerRef": invoices[2]["CustomerRef"], "TotalAmt": 10})
    assert created["Id"]
    _assert_same_reports(store, realm, last)
