"""Report streams: general ledger, P&L, balance sheet, trial balance, aging, cash flow.

Each stream reads ``GET /v3/company/{realm}/reports/{Name}`` in date windows and flattens the
report tree into rows (``report_parsing``).

Windows and splitting
    Windows are ``report_window_months`` long, aligned on ``report_start_date`` (default: Jan 1 of
    last year) and run to the server's today. QBO does not paginate reports: a report over its
    size cap comes back as a 200 ending in "Unable to display more data. Please reduce the date
    range.", and a very large one may time out or answer 504. In all three cases the window is
    split in half (at a month boundary when it spans months) and each half fetched again, down
    to single days.

Replace semantics (full refresh per window)
    Reports are re-read in full on every run; nothing is incremental. Every record carries
    ``report_window`` (``"<start>..<end>"`` of the configured window, not of any half it was
    split into) and the key is ``["realm_id", "report_window", "row_key"]`` where ``row_key`` is
    deterministic within the window (GL: account + transaction type + id + date + occurrence;
    summary reports: period + section path + label). A re-run with the same settings therefore
    upserts the same keys. Rows that vanish (a deleted or voided transaction) would survive an
    upsert, so every report stream uses the parent-scoped replace of docs/architecture.md with
    the realm as the parent: the schema says ``"x-parent-key": ["realm_id"]`` and, before a
    realm's rows, the stream emits a tombstone (``realm_id`` set, ``report_window``/``row_key``
    null, ``_sdc_deleted_at`` set). The target then drops the realm's previous report rows and
    keeps exactly this run's, so Tableau never sums a stale GL row.
    The aging reports are snapshots "as of" the run date: ``report_window`` is that date.

Drill-down
    Every general-ledger row has ``txn_entity`` + ``txn_id`` (from the transaction-type cell's
    ``id``), the key of the document in the entity streams (``invoices``, ``bills``, ...).
"""
from __future__ import annotations

import calendar
import datetime as dt
import typing as t

import requests

from tap_quickbooks_online import report_parsing as rp
from tap_quickbooks_online.client import QuickBooksStream
from tap_quickbooks_online.errors import QBORetriableError

if t.TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

AMOUNT = {"type": ["number", "null"], "multipleOf": 0.01}
RATE = {"type": ["number", "null"]}
STRING = {"type": ["string", "null"]}
DATE = {"type": ["string", "null"], "format": "date"}
KEY_STRING = {"type": ["string"]}


class ReportWindowTooLarge(Exception):
    """QBO could not answer the window (size cap, timeout, 504): fetch it in halves."""


def _schema(properties: dict[str, dict], keys: list[str]) -> dict:
    # report_window and row_key are null only in the realm tombstone (see "Replace semantics").
    props = {"realm_id": KEY_STRING, "report_window": STRING, "row_key": STRING,
             "window_start": DATE, "window_end": DATE, "accounting_method": STRING}
    props.update(properties)
    props["_sdc_deleted_at"] = {"type": ["string", "null"], "format": "date-time"}
    return {"type": "object", "properties": props, "required": keys[:1]}


# --- windows --------------------------------------------------------------------------------------


def _add_months(d: dt.date, months: int) -> dt.date:
    m = d.month - 1 + months
    y, m = d.year + m // 12, m % 12 + 1
    return dt.date(y, m, min(d.day, calendar.monthrange(y, m)[1]))


def report_windows(start: dt.date, today: dt.date, months: int) -> list[tuple[dt.date, dt.date]]:
    """Consecutive windows of ``months`` months from ``start`` through ``today``."""
    if months < 1:
        raise ValueError("report_window_months must be at least 1")
    out = []
    k = 0
    cursor = start
    while cursor <= today:
        k += 1
        nxt = _add_months(start, k * months)  # from start each time: no drift on month ends
        out.append((cursor, min(nxt - dt.timedelta(days=1), today)))
        cursor = nxt
    return out


def split_window(start: dt.date, end: dt.date) -> list[tuple[dt.date, dt.date]]:
    """Two halves; at a month boundary when the window spans more than one month."""
    if start >= end:
        return [(start, end)]
    months = (end.year - start.year) * 12 + end.month - start.month
    if months >= 1:
        first_of = dt.date(start.year, start.month, 1)
        mid_start = _add_months(first_of, (months + 1) // 2)
        if start < mid_start <= end:
            return [(start, mid_start - dt.timedelta(days=1)), (mid_start, end)]
    mid = start + (end - start) // 2
    return [(start, mid), (mid + dt.timedelta(days=1), end)]


# --- the base stream -------------------------------------------------------------------------------


class ReportStream(QuickBooksStream):
    """One QBO report, read per realm in windows (full refresh, see the module docstring)."""

    report_name: str = ""
    primary_keys: t.ClassVar[list[str]] = ["realm_id", "report_window", "row_key"]
    replication_key = None
    properties: t.ClassVar[dict[str, dict]] = {}
    #: extra query parameters of every request
    report_params: t.ClassVar[dict[str, str]] = {}
    windowed: bool = True
    #: the deepest split before giving up (a window of a few days still over the cap)
    max_split_depth: int = 16

    def __init__(self, tap: t.Any) -> None:
        super().__init__(tap, name=self.name, schema=_schema(self.properties, list(self.primary_keys)),
                         path=f"/v3/company/{{realm_id}}/reports/{self.report_name}")
        self.window_splits = 0  # how many times a window was halved (tests and logs)
        self._report_request = False  # set while a report (not a query) is being fetched

    # settings ----------------------------------------------------------------------------------
    @property
    def accounting_method(self) -> str:
        return str(self.config.get("accounting_method") or "Accrual")

    def today(self, realm_id: str) -> dt.date:
        return self._tap.server_now(self, realm_id).date()

    def windows(self, realm_id: str) -> list[tuple[dt.date, dt.date]]:
        today = self.today(realm_id)
        configured = self.config.get("report_start_date")
        start = dt.date.fromisoformat(str(configured)[:10]) if configured else dt.date(today.year - 1, 1, 1)
        return report_windows(start, today, int(self.config.get("report_window_months") or 12))

    # fetching ----------------------------------------------------------------------------------
    def fetch_report(self, realm_id: str, params: dict[str, str]) -> dict:
        """One report request; ``ReportWindowTooLarge`` when QBO cannot answer the range."""
        self._report_request = True
        try:
            body = self.api_get(realm_id, f"reports/{self.report_name}", params)
        finally:
            self._report_request = False
        if rp.is_truncated(body):
            raise ReportWindowTooLarge("QBO: Unable to display more data. Please reduce the date range.")
        return body

    def request_decorator(self, func: t.Callable) -> t.Callable:
        """The base retries, except that on a report request a 504 or a timeout is not retried
        as is: the report service gave up on the range, so the window is split instead."""

        def guarded(*args: t.Any, **kwargs: t.Any) -> t.Any:
            try:
                return func(*args, **kwargs)
            except QBORetriableError as exc:
                status = getattr(getattr(exc, "response", None), "status_code", None)
                if status == 504 and self._report_request:
                    raise ReportWindowTooLarge(str(exc)) from exc
                raise
            except requests.exceptions.Timeout as exc:
                if self._report_request:
                    raise ReportWindowTooLarge(f"timed out: {exc}") from exc
                raise

        return super().request_decorator(guarded)

    def fetch_window(self, realm_id: str, start: dt.date, end: dt.date, depth: int = 0
                     ) -> t.Iterator[tuple[dt.date, dt.date, dict]]:
        """The report for [start, end], split in halves as often as QBO needs."""
        params = {"start_date": start.isoformat(), "end_date": end.isoformat(),
                  "accounting_method": self.accounting_method, **self.report_params}
        try:
            yield start, end, self.fetch_report(realm_id, params)
            return
        except ReportWindowTooLarge as exc:
            if start >= end or depth >= self.max_split_depth:
                msg = (f"{self.name} realm {realm_id}: QBO cannot return the {self.report_name} report "
                       f"even for {start}..{end}: {exc}")
                raise RuntimeError(msg) from exc
            halves = split_window(start, end)
            self.window_splits += 1
            self.logger.info("%s realm %s: %s..%s too large for one request (%s); splitting into %s",
                             self.name, realm_id, start, end, exc,
                             ", ".join(f"{a}..{b}" for a, b in halves))
        for a, b in halves:
            yield from self.fetch_window(realm_id, a, b, depth + 1)

    # records -----------------------------------------------------------------------------------
    def _generate_schema_messages(self) -> t.Iterator[t.Any]:
        # The SDK's catalog round-trip drops unknown schema keywords; the target needs this one.
        for message in super()._generate_schema_messages():
            message.schema = {**message.schema, "x-parent-key": ["realm_id"]}
            yield message

    def get_records(self, context: Context | None) -> t.Iterable[dict]:
        realm_id = (context or {})["realm_id"]
        self.prepare(realm_id)
        # Replace, not upsert: the realm's earlier rows go, this run's rows follow.
        yield {"realm_id": realm_id, "report_window": None, "row_key": None,
               "_sdc_deleted_at": dt.datetime.now(dt.timezone.utc).isoformat()}
        for w_start, w_end in self.windows(realm_id):
            window = f"{w_start.isoformat()}..{w_end.isoformat()}"
            for _a, _b, report in self.fetch_window(realm_id, w_start, w_end):
                for row in self.rows(report):
                    row.update(realm_id=realm_id, report_window=window, window_start=w_start.isoformat(),
                               window_end=w_end.isoformat(), accounting_method=self.accounting_method)
                    yield row

    def prepare(self, realm_id: str) -> None:
        """Per-realm set-up before the first window (lookups)."""

    def rows(self, report: dict) -> t.Iterable[dict]:
        raise NotImplementedError


# --- streams -------------------------------------------------------------------------------------


class GeneralLedgerStream(ReportStream):
    """One row per GL posting, joined with the account (fully qualified name, type, class)."""

    name = "general_ledger"
    report_name = "GeneralLedger"
    report_params: t.ClassVar[dict[str, str]] = {"columns": ",".join(rp.GL_COLUMNS)}
    properties: t.ClassVar[dict[str, dict]] = {
        "txn_date": DATE, "txn_type": STRING, "txn_entity": STRING, "txn_id": STRING, "doc_number": STRING,
        "account_id": STRING, "account_name": STRING, "account_fully_qualified_name": STRING,
        "account_type": STRING, "account_sub_type": STRING, "account_classification": STRING,
        "name_id": STRING, "name": STRING, "class_id": STRING, "class_name": STRING,
        "department_id": STRING, "department_name": STRING, "memo": STRING,
        "split_account_id": STRING, "split_account_name": STRING,
        "amount": AMOUNT, "natural_amount": AMOUNT, "debit": AMOUNT, "credit": AMOUNT,
        "home_amount": AMOUNT, "foreign_amount": AMOUNT, "currency": STRING, "exchange_rate": RATE,
    }

    def __init__(self, tap: t.Any) -> None:
        super().__init__(tap)
        self._accounts: dict[str, dict[str, dict]] = {}
        self._realm: str | None = None

    def prepare(self, realm_id: str) -> None:
        """Read the chart of accounts once per realm (active and inactive)."""
        self._realm = realm_id
        if realm_id in self._accounts:
            return
        accounts: dict[str, dict] = {}
        start = 1
        while True:
            resp = self.query(realm_id, "SELECT * FROM Account WHERE Active IN (true, false) "
                                        f"STARTPOSITION {start} MAXRESULTS 1000")
            page = resp.get("Account") or []
            for a in page:
                accounts[str(a["Id"])] = a
            if len(page) < 1000:
                break
            start += 1000
        self._accounts[realm_id] = accounts

    def rows(self, report: dict) -> t.Iterable[dict]:
        return rp.general_ledger_rows(report, self._accounts.get(self._realm or "", {}))


class _PeriodStream(ReportStream):
    """A summary report by month (``summarize_column_by=Month``), flattened by ``report_parsing.period_rows``."""

    report_params: t.ClassVar[dict[str, str]] = {"summarize_column_by": "Month"}
    properties: t.ClassVar[dict[str, dict]] = {
        "period_start": DATE, "period_end": DATE, "row_type": STRING, "group": STRING, "section_group": STRING,
        "category_1": STRING, "category_2": STRING, "category_3": STRING, "category_4": STRING,
        "category_5": STRING, "section_path": STRING, "label": STRING, "account_id": STRING, "amount": AMOUNT,
    }
    include_summaries = False  # section totals as rows of their own

    def rows(self, report: dict) -> t.Iterable[dict]:
        return rp.period_rows(report, include_summaries=self.include_summaries)


class ProfitAndLossStream(_PeriodStream):
    """P&L by month and account; the section path (Income > Services ...) as category levels."""

    name = "profit_and_loss"
    report_name = "ProfitAndLoss"


class BalanceSheetStream(_PeriodStream):
    """Balance sheet at each month end (``period_end``) by account, section path as levels."""

    name = "balance_sheet"
    report_name = "BalanceSheet"


class CashFlowStream(_PeriodStream):
    """Statement of cash flows by month: account rows and the section totals (``row_type``)."""

    name = "cash_flow"
    report_name = "CashFlow"
    include_summaries = True


class TrialBalanceStream(ReportStream):
    """Trial balance as of each window's end."""

    name = "trial_balance"
    report_name = "TrialBalance"
    properties: t.ClassVar[dict[str, dict]] = {
        "as_of": DATE, "period_start": DATE, "account_id": STRING, "account_name": STRING,
        "debit": AMOUNT, "credit": AMOUNT, "balance": AMOUNT,
    }

    def rows(self, report: dict) -> t.Iterable[dict]:
        return rp.trial_balance_rows(report)


class _AgingStream(ReportStream):
    """Open balances by customer/vendor and age bucket, as of the run date (a snapshot)."""

    properties: t.ClassVar[dict[str, dict]] = {
        "as_of": DATE, "name_id": STRING, "name": STRING,
        **{f: AMOUNT for f in rp.AGING_FIELDS}, "total": AMOUNT,
    }

    def windows(self, realm_id: str) -> list[tuple[dt.date, dt.date]]:
        today = self.today(realm_id)
        return [(today, today)]

    def fetch_window(self, realm_id: str, start: dt.date, end: dt.date, depth: int = 0
                     ) -> t.Iterator[tuple[dt.date, dt.date, dict]]:
        params = {"report_date": end.isoformat(), "accounting_method": self.accounting_method,
                  "aging_period": "30", "num_periods": "4"}
        try:
            yield start, end, self.fetch_report(realm_id, params)
        except ReportWindowTooLarge as exc:  # a snapshot cannot be split
            raise RuntimeError(f"{self.name} realm {realm_id}: {exc}") from exc

    def rows(self, report: dict) -> t.Iterable[dict]:
        return rp.aging_rows(report)


class AgedReceivablesStream(_AgingStream):
    name = "aged_receivables"
    report_name = "AgedReceivables"


class AgedPayablesStream(_AgingStream):
    name = "aged_payables"
    report_name = "AgedPayables"


REPORT_STREAMS: list[type] = [
    GeneralLedgerStream, ProfitAndLossStream, BalanceSheetStream, TrialBalanceStream,
    AgedReceivablesStream, AgedPayablesStream, CashFlowStream,
]
