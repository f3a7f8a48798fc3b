"""QBO Reports API (``GET /v3/company/{realm}/reports/{Name}``) computed from the ledger.

``build_report(store, realm_id, name, params)`` answers ProfitAndLoss, ProfitAndLossDetail,
BalanceSheet, TrialBalance, GeneralLedger, AgedReceivables, AgedPayables and CashFlow in QBO's
wire shape: ``Header`` / ``Columns.Column[]`` / ``Rows.Row[]`` with nested ``Section`` rows
(``Header``, ``Rows``, ``Summary``, ``type``, ``group``) and ``Data`` rows (``ColData`` cells
``{"value": "...", "id": "..."}``, amounts as strings). All numbers come from
``ledger.load_ledger``, i.e. from exactly the transactions the entity endpoints serve.

Query parameters understood: ``start_date``, ``end_date``, ``date_macro``, ``accounting_method``
(Accrual|Cash), ``summarize_column_by`` (Total, Month, Quarter, Year, Week, Days; P&L, balance
sheet and cash flow), ``columns`` (GeneralLedger, ProfitAndLossDetail), ``report_date``,
``aging_period``, ``num_periods`` (aging reports). Amount signs follow QBO: each account's
natural balance is positive (debit for assets/expenses, credit for liabilities/equity/income).

Size cap: QBO does not paginate reports; it caps a response at 400,000 cells and, instead of an
error, answers 200 with the rows it had room for and a last Data row reading "Unable to display
more data. Please reduce the date range." (the open section never gets its Summary). The sandbox
does the same for GeneralLedger and ProfitAndLossDetail, with the cap in *data rows* settable:
``build_report(..., row_limit=N)`` (the server passes it from its control API), else the store
attribute ``report_row_limit``, else 400,000 cells / number of columns.
"""
from __future__ import annotations

import calendar
import dataclasses
import datetime as dt
import threading
import time
import weakref
from collections import defaultdict
from decimal import Decimal
from typing import Any, Callable, Iterable

from . import report_source
from .ledger import ZERO, Chart, Ledger, Posting, _home_currency, cash_basis_postings, dec, load_ledger, ref_value
from .wire import PACIFIC, qbo_timestamp

TRUNCATION_NOTICE = "Unable to display more data. Please reduce the date range."
CELL_LIMIT = 400_000

REPORT_NAMES = ("ProfitAndLoss", "ProfitAndLossDetail", "BalanceSheet", "TrialBalance", "GeneralLedger",
                "AgedReceivables", "AgedPayables", "CashFlow")


class ReportError(ValueError):
    """A bad report request (unknown report, bad date or parameter): answer 400 ValidationFault."""

    def __init__(self, message: str, detail: str, code: str = "2020"):
        super().__init__(f"{message}: {detail}")
        self.message, self.detail, self.code = message, detail, code


# --- dates and columns -------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Period:
    title: str
    start: dt.date
    end: dt.date
    key: str


def _today(store: Any) -> dt.date:
    clock = getattr(store, "clock", None)
    now = clock.now() if clock is not None else time.time()
    return dt.datetime.fromtimestamp(now, PACIFIC).date()


def _now(store: Any) -> float:
    clock = getattr(store, "clock", None)
    return clock.now() if clock is not None else time.time()


def _parse_date(value: str, name: str) -> dt.date:
    try:
        return dt.date.fromisoformat(str(value).strip()[:10])
    except ValueError:
        raise ReportError("Invalid Date", f"{name}={value!r} is not a date (yyyy-MM-dd)", "2050") from None


def _month_start(d: dt.date) -> dt.date:
    return d.replace(day=1)


def _month_end(d: dt.date) -> dt.date:
    return d.replace(day=calendar.monthrange(d.year, d.month)[1])


def _add_months(d: dt.date, months: int) -> dt.date:
    m = d.month - 1 + months
    y = d.year + m // 12
    m = m % 12 + 1
    return d.replace(year=y, month=m, day=min(d.day, calendar.monthrange(y, m)[1]))


def fiscal_year_start(day: dt.date, first_month: int) -> dt.date:
    start = dt.date(day.year, first_month, 1)
    return start if start <= day else dt.date(day.year - 1, first_month, 1)


def _macro_range(macro: str, today: dt.date, fy_month: int) -> tuple[dt.date, dt.date]:
    m = macro.strip().lower()
    fy = fiscal_year_start(today, fy_month)
    q_start = _add_months(fy, ((today.year - fy.year) * 12 + today.month - fy.month) // 3 * 3)
    ranges: dict[str, Callable[[], tuple[dt.date, dt.date]]] = {
        "today": lambda: (today, today),
        "yesterday": lambda: (today - dt.timedelta(days=1),) * 2,
        "this week": lambda: (today - dt.timedelta(days=(today.weekday() + 1) % 7),
                              today - dt.timedelta(days=(today.weekday() + 1) % 7) + dt.timedelta(days=6)),
        "this week-to-date": lambda: (today - dt.timedelta(days=(today.weekday() + 1) % 7), today),
        "this month": lambda: (_month_start(today), _month_end(today)),
        "this month-to-date": lambda: (_month_start(today), today),
        "last month": lambda: (_month_start(_add_months(_month_start(today), -1)),
                               _month_end(_add_months(_month_start(today), -1))),
        "last month-to-date": lambda: (_month_start(_add_months(_month_start(today), -1)), _add_months(today, -1)),
        "this fiscal quarter": lambda: (q_start, _add_months(q_start, 3) - dt.timedelta(days=1)),
        "this fiscal quarter-to-date": lambda: (q_start, today),
        "last fiscal quarter": lambda: (_add_months(q_start, -3), q_start - dt.timedelta(days=1)),
        "this fiscal year": lambda: (fy, _add_months(fy, 12) - dt.timedelta(days=1)),
        "this fiscal year-to-date": lambda: (fy, today),
        "last fiscal year": lambda: (_add_months(fy, -12), fy - dt.timedelta(days=1)),
        "this calendar year": lambda: (dt.date(today.year, 1, 1), dt.date(today.year, 12, 31)),
        "this calendar year-to-date": lambda: (dt.date(today.year, 1, 1), today),
        "last calendar year": lambda: (dt.date(today.year - 1, 1, 1), dt.date(today.year - 1, 12, 31)),
        "all": lambda: (dt.date(1900, 1, 1), today),
    }
    if m not in ranges:
        raise ReportError("Invalid date_macro", f"date_macro={macro!r} is not supported", "2050")
    return ranges[m]()


_SUMMARIZE = {"total": "Total", "month": "Month", "quarter": "Quarter", "year": "Year", "week": "Week",
              "days": "Days"}


def _periods(start: dt.date, end: dt.date, by: str, fy_month: int) -> list[Period]:
    if by == "Total":
        return [Period("TOTAL", start, end, "total")]
    out: list[Period] = []
    cursor = start
    while cursor <= end:
        if by == "Month":
            stop = _month_end(cursor)
            title = cursor.strftime("%b %Y")
        elif by == "Quarter":
            fy = fiscal_year_start(cursor, fy_month)
            q0 = _add_months(fy, ((cursor.year - fy.year) * 12 + cursor.month - fy.month) // 3 * 3)
            stop = _add_months(q0, 3) - dt.timedelta(days=1)
            title = f"{cursor:%b %d, %Y} - {min(stop, end):%b %d, %Y}"
        elif by == "Year":
            fy = fiscal_year_start(cursor, fy_month)
            stop = _add_months(fy, 12) - dt.timedelta(days=1)
            title = f"{stop.year}" if fy_month == 1 else f"FY{stop.year}"
        elif by == "Week":
            stop = cursor + dt.timedelta(days=(5 - cursor.weekday()) % 7)  # weeks end on Saturday
            title = f"{cursor:%b %d} - {min(stop, end):%b %d, %Y}"
        else:  # Days
            stop = cursor
            title = f"{cursor:%b %d, %Y}"
        stop = min(stop, end)
        out.append(Period(title, cursor, stop, title))
        cursor = stop + dt.timedelta(days=1)
        if len(out) > 400:
            raise ReportError("Too many columns", "reduce the date range or summarize by a longer period", "2050")
    return out


# --- formatting --------------------------------------------------------------------------------


def money(value: Decimal) -> str:
    return f"{value.quantize(Decimal('0.01')):f}"


def _cell(value: Decimal, blank_zero: bool = True) -> str:
    return "" if (blank_zero and value == 0) else money(value)


def _cd(value: str, id_: str | None = None) -> dict:
    return {"value": value} if id_ is None else {"value": value, "id": id_}


def _data(cells: list[dict]) -> dict:
    return {"ColData": cells, "type": "Data"}


def _section(header: list[dict] | None, rows: list[dict] | None, summary: list[dict] | None,
             group: str | None = None) -> dict:
    s: dict[str, Any] = {}
    if header is not None:
        s["Header"] = {"ColData": header}
    if rows:
        s["Rows"] = {"Row": rows}
    if summary is not None:
        s["Summary"] = {"ColData": summary}
    s["type"] = "Section"
    if group:
        s["group"] = group
    return s


def _blank(n: int) -> list[dict]:
    return [_cd("") for _ in range(n)]


# --- the request context -------------------------------------------------------------------------


@dataclasses.dataclass
class Request:
    name: str
    params: dict[str, str]
    ledger: Ledger
    postings: list[Posting]
    basis: str
    start: dt.date
    end: dt.date
    date_macro: str | None
    summarize: str
    fy_month: int
    now: float
    row_limit: int | None

    @property
    def chart(self) -> Chart:
        return self.ledger.chart

    def fy_start(self, day: dt.date) -> dt.date:
        return fiscal_year_start(day, self.fy_month)


_DEFAULT_MACRO = {"GeneralLedger": "This Month-to-date", "ProfitAndLossDetail": "This Month-to-date",
                  "AgedReceivables": "Today", "AgedPayables": "Today"}

_MONTHS = {name.lower(): i for i, name in enumerate(calendar.month_name) if name}


def _fiscal_month(store: Any, realm_id: str) -> int:
    try:
        for info in store.iter_entities(realm_id, "CompanyInfo"):
            return _MONTHS.get(str(info.get("FiscalYearStartMonth", "January")).lower(), 1)
    except Exception:  # noqa: BLE001 - a store without CompanyInfo: calendar fiscal year
        pass
    return 1


def _request(store: Any, realm_id: str, name: str, params: dict[str, str], row_limit: int | None) -> Request:
    params = {str(k): str(v) for k, v in (params or {}).items() if v is not None}
    today = _today(store)
    fy_month = _fiscal_month(store, realm_id)
    macro = params.get("date_macro")
    if "start_date" in params or "end_date" in params or "report_date" in params:
        macro = None
        if name in ("AgedReceivables", "AgedPayables"):
            end = _parse_date(params.get("report_date") or params.get("end_date") or today.isoformat(), "report_date")
            start = end
        else:
            end = _parse_date(params.get("end_date") or today.isoformat(), "end_date")
            start = _parse_date(params.get("start_date") or fiscal_year_start(end, fy_month).isoformat(),
                                "start_date")
    else:
        macro = macro or _DEFAULT_MACRO.get(name, "This Fiscal Year-to-date")
        start, end = _macro_range(macro, today, fy_month)
    if start > end:
        raise ReportError("Invalid Date Range", f"start_date {start} is after end_date {end}", "2050")
    basis = params.get("accounting_method", "Accrual").strip().capitalize()
    if basis not in ("Accrual", "Cash"):
        raise ReportError("Invalid accounting_method", f"accounting_method={basis!r}: use Accrual or Cash", "2050")
    summarize = _SUMMARIZE.get(params.get("summarize_column_by", "Total").strip().lower())
    if summarize is None:
        raise ReportError("Invalid summarize_column_by",
                          f"summarize_column_by={params['summarize_column_by']!r}: use one of "
                          + ", ".join(_SUMMARIZE.values()), "2050")
    if basis == "Accrual" and report_source.supports(store):
        # A sandbox Store: aggregates kept by the balances pass + the window's own postings.
        home = _home_currency(store, realm_id)
        if name in ("GeneralLedger", "ProfitAndLossDetail"):
            ledger = report_source.window_ledger(store, realm_id, start, end, home)
        else:
            ledger = report_source.summary_ledger(store, realm_id, home,
                                                  aging=name in ("AgedReceivables", "AgedPayables"))
        postings = ledger.postings
    else:
        ledger = _cached_ledger(store, realm_id)
        postings = ledger.postings if basis == "Accrual" else cash_basis_postings(ledger)
    return Request(name, params, ledger, postings, basis, start, end, macro, summarize, fy_month, _now(store),
                   row_limit)


class _LedgerCache:
    """Ledgers per realm, dropped on every change the store announces (``store.listeners``).

    Stores without ``listeners`` (test fakes) get a fresh ledger on every request."""

    def __init__(self, store: Any):
        self.lock = threading.Lock()
        self.version: dict[str, int] = defaultdict(int)
        self.ledgers: dict[str, tuple[int, Ledger]] = {}
        # one load at a time per realm: concurrent requests wait for it instead of loading again
        self.loading: dict[str, threading.Lock] = defaultdict(threading.Lock)
        store.listeners.append(self.on_change)

    def on_change(self, realm_id: str, *_args: Any) -> None:
        with self.lock:
            self.version[realm_id] += 1
            self.ledgers.pop(realm_id, None)

    def _hit(self, realm_id: str) -> tuple[int, Ledger | None, threading.Lock]:
        with self.lock:
            version = self.version[realm_id]
            hit = self.ledgers.get(realm_id)
            loader = self.loading[realm_id]
        return version, (hit[1] if hit is not None and hit[0] == version else None), loader

    def get(self, store: Any, realm_id: str) -> Ledger:
        version, ledger, loader = self._hit(realm_id)
        if ledger is not None:
            return ledger
        with loader:
            version, ledger, _ = self._hit(realm_id)  # loaded by the request we waited for?
            if ledger is not None:
                return ledger
            ledger = load_ledger(store, realm_id)
            with self.lock:
                if self.version[realm_id] == version:  # no change while it was being read
                    self.ledgers[realm_id] = (version, ledger)
        return ledger


_CACHES: "weakref.WeakKeyDictionary[Any, _LedgerCache]" = weakref.WeakKeyDictionary()
_CACHES_LOCK = threading.Lock()


def _cached_ledger(store: Any, realm_id: str) -> Ledger:
    if not isinstance(getattr(store, "listeners", None), list):
        return load_ledger(store, realm_id)
    with _CACHES_LOCK:
        cache = _CACHES.get(store)
        if cache is None:
            cache = _CACHES[store] = _LedgerCache(store)
    return cache.get(store, realm_id)


def _header(req: Request, *, summarize: bool = True, options: list[dict] | None = None,
            extra: dict | None = None) -> dict:
    h: dict[str, Any] = {"Time": qbo_timestamp(req.now), "ReportName": req.name}
    if req.date_macro:
        h["DateMacro"] = req.date_macro.lower()
    h["ReportBasis"] = req.basis
    h["StartPeriod"] = req.start.isoformat()
    h["EndPeriod"] = req.end.isoformat()
    if summarize:
        h["SummarizeColumnsBy"] = req.summarize
    h["Currency"] = req.ledger.home_currency
    h.update(extra or {})
    h["Option"] = options or []
    return h


def _no_data(flag: bool) -> dict:
    return {"Name": "NoReportData", "Value": "true" if flag else "false"}


def _money_columns(first_title: str, first_type: str, first_key: str, periods: list[Period],
                   with_total: bool) -> list[dict]:
    cols = [{"ColTitle": first_title, "ColType": first_type, "MetaData": [{"Name": "ColKey", "Value": first_key}]}]
    for p in periods:
        if p.key == "total":
            cols.append({"ColTitle": "TOTAL", "ColType": "Money", "MetaData": [{"Name": "ColKey", "Value": "total"}]})
        else:
            cols.append({"ColTitle": p.title, "ColType": "Money", "MetaData": [
                {"Name": "StartDate", "Value": p.start.isoformat()}, {"Name": "EndDate", "Value": p.end.isoformat()},
                {"Name": "ColKey", "Value": p.key}]})
    if with_total and not (len(periods) == 1 and periods[0].key == "total"):
        cols.append({"ColTitle": "Total", "ColType": "Money", "MetaData": [{"Name": "ColKey", "Value": "total"}]})
    return cols


# --- account trees -------------------------------------------------------------------------------

_TYPE_ORDER = ["Bank", "Accounts Receivable", "Other Current Asset", "Fixed Asset", "Other Asset",
               "Accounts Payable", "Credit Card", "Other Current Liability", "Long Term Liability", "Equity",
               "Income", "Cost of Goods Sold", "Expense", "Other Income", "Other Expense"]


def account_sort_key(chart: Chart, aid: str) -> tuple:
    a = chart.account(aid)
    t = a.get("AccountType", "")
    return (_TYPE_ORDER.index(t) if t in _TYPE_ORDER else len(_TYPE_ORDER), chart.full_name(aid).lower(), aid)


def _account_tree_rows(chart: Chart, accounts: Iterable[str], values: dict[str, list[Decimal]], ncols: int,
                       extra_rows: list[tuple[dict, list[Decimal]]] = ()) -> tuple[list[dict], list[Decimal]]:
    """Data rows per account, parents with sub-accounts as Sections ("Total <parent>")."""
    accounts = set(accounts)
    children: dict[str | None, list[str]] = defaultdict(list)
    for aid in accounts:
        parent = chart.parent_id(aid)
        children[parent if parent in accounts else None].append(aid)

    def subtree_has(aid: str) -> bool:
        return any(v != 0 for v in values.get(aid, [])) or any(subtree_has(c) for c in children.get(aid, []))

    def build(aid: str) -> tuple[dict | None, list[Decimal]]:
        own = values.get(aid, [ZERO] * ncols)
        kids = sorted((c for c in children.get(aid, []) if subtree_has(c)), key=lambda c: account_sort_key(chart, c))
        name = chart.name(aid)
        if not kids:
            if all(v == 0 for v in own):
                return None, [ZERO] * ncols
            return _data([_cd(name, aid)] + [_cd(_cell(v)) for v in own]), list(own)
        rows, total = [], list(own)
        if any(v != 0 for v in own):
            rows.append(_data([_cd(name, aid)] + [_cd(_cell(v)) for v in own]))
        for k in kids:
            row, vals = build(k)
            if row is not None:
                rows.append(row)
                total = [a + b for a, b in zip(total, vals)]
        sec = _section([_cd(name, aid)] + _blank(ncols), rows,
                       [_cd(f"Total {name}")] + [_cd(money(v)) for v in total])
        return sec, total

    out, total = [], [ZERO] * ncols
    for aid in sorted(children.get(None, []), key=lambda a: account_sort_key(chart, a)):
        row, vals = build(aid)
        if row is not None:
            out.append(row)
            total = [a + b for a, b in zip(total, vals)]
    for row, vals in extra_rows:
        out.append(row)
        total = [a + b for a, b in zip(total, vals)]
    return out, total


def _by_type(chart: Chart, types: Iterable[str]) -> list[str]:
    types = set(types)
    return [aid for aid, a in chart.accounts.items() if a.get("AccountType") in types]


def _movement(postings: list[Posting], periods: list[Period]) -> dict[str, list[Decimal]]:
    """Debit-positive movement per account per period."""
    out: dict[str, list[Decimal]] = defaultdict(lambda: [ZERO] * len(periods))
    if not periods:
        return out
    lo, hi = periods[0].start, periods[-1].end
    for p in postings:
        if lo <= p.txn_date <= hi:
            for i, per in enumerate(periods):
                if per.start <= p.txn_date <= per.end:
                    out[p.account_id][i] += p.amount
                    break
    return out


def _natural(chart: Chart, values: dict[str, list[Decimal]]) -> dict[str, list[Decimal]]:
    return {aid: [v * chart.natural_sign(aid) for v in vals] for aid, vals in values.items()}


# --- Profit and Loss ----------------------------------------------------------------------------

PNL_GROUPS = [  # (group, header, summary, account types, sign in net income)
    ("Income", "Income", "Total Income", ("Income",), 1),
    ("COGS", "Cost of Goods Sold", "Total Cost of Goods Sold", ("Cost of Goods Sold",), -1),
    ("Expenses", "Expenses", "Total Expenses", ("Expense",), -1),
    ("OtherIncome", "Other Income", "Total Other Income", ("Other Income",), 1),
    ("OtherExpenses", "Other Expenses", "Total Other Expenses", ("Other Expense",), -1),
]
_ALWAYS_PNL = {"Income", "Expenses"}


def _pnl_rows(req: Request, values: dict[str, list[Decimal]], ncols: int) -> tuple[list[dict], list[Decimal], bool]:
    """P&L sections from debit-positive account values per column (QBO's group order)."""
    chart = req.chart
    natural = _natural(chart, values)
    rows: list[dict] = []
    totals: dict[str, list[Decimal]] = {}
    has_data = False
    for group, header, summary, types, _sign in PNL_GROUPS:
        sub, total = _account_tree_rows(chart, _by_type(chart, types), natural, ncols)
        totals[group] = total
        has_data = has_data or bool(sub)
        if sub or group in _ALWAYS_PNL:
            rows.append(_section([_cd(header)] + _blank(ncols), sub,
                                 [_cd(summary)] + [_cd(money(v) if sub else "") for v in total], group))
        if group == "COGS":
            gp = [a - b for a, b in zip(totals["Income"], totals["COGS"])]
            rows.append(_section(None, None, [_cd("Gross Profit")] + [_cd(money(v) if has_data else "") for v in gp],
                                 "GrossProfit"))
        if group == "Expenses":
            noi = [a - b for a, b in zip(gp, totals["Expenses"])]
            rows.append(_section(None, None, [_cd("Net Operating Income")]
                                 + [_cd(money(v) if has_data else "") for v in noi], "NetOperatingIncome"))
    other = [a - b for a, b in zip(totals["OtherIncome"], totals["OtherExpenses"])]
    if any(r.get("group") in ("OtherIncome", "OtherExpenses") for r in rows):
        rows.append(_section(None, None, [_cd("Net Other Income")] + [_cd(money(v)) for v in other], "NetOtherIncome"))
    net = [a + b for a, b in zip(noi, other)]
    rows.append(_section(None, None, [_cd("Net Income")] + [_cd(money(v) if has_data else "") for v in net],
                         "NetIncome"))
    return rows, net, has_data


def profit_and_loss(req: Request) -> dict:
    periods = _periods(req.start, req.end, req.summarize, req.fy_month)
    with_total = not (len(periods) == 1 and periods[0].key == "total")
    movement = _movement(req.postings, periods)
    ncols = len(periods) + (1 if with_total else 0)
    if with_total:
        movement = {a: v + [sum(v, ZERO)] for a, v in movement.items()}
    rows, _net, has_data = _pnl_rows(req, movement, ncols)
    return {"Header": _header(req, options=[{"Name": "AccountingStandard", "Value": "GAAP"}, _no_data(not has_data)]),
            "Columns": {"Column": _money_columns("", "Account", "account", periods, with_total)},
            "Rows": {"Row": rows}}


# --- Balance sheet ---------------------------------------------------------------------------------

BS_TREE = ("TotalAssets", "ASSETS", "TOTAL ASSETS", [
    ("CurrentAssets", "Current Assets", "Total Current Assets", [
        ("BankAccounts", "Bank Accounts", "Total Bank Accounts", ("Bank",)),
        ("AR", "Accounts Receivable", "Total Accounts Receivable", ("Accounts Receivable",)),
        ("OtherCurrentAssets", "Other Current Assets", "Total Other Current Assets", ("Other Current Asset",)),
    ]),
    ("FixedAssets", "Fixed Assets", "Total Fixed Assets", ("Fixed Asset",)),
    ("OtherAssets", "Other Assets", "Total Other Assets", ("Other Asset",)),
]), ("TotalLiabilitiesAndEquity", "LIABILITIES AND EQUITY", "TOTAL LIABILITIES AND EQUITY", [
    ("Liabilities", "Liabilities", "Total Liabilities", [
        ("CurrentLiabilities", "Current Liabilities", "Total Current Liabilities", [
            ("AP", "Accounts Payable", "Total Accounts Payable", ("Accounts Payable",)),
            ("CreditCards", "Credit Cards", "Total Credit Cards", ("Credit Card",)),
            ("OtherCurrentLiabilities", "Other Current Liabilities", "Total Other Current Liabilities",
             ("Other Current Liability",)),
        ]),
        ("LongTermLiabilities", "Long-Term Liabilities", "Total Long-Term Liabilities", ("Long Term Liability",)),
    ]),
    ("Equity", "Equity", "Total Equity", ("Equity",)),
])
_ALWAYS_BS = {"TotalAssets", "TotalLiabilitiesAndEquity", "Liabilities", "Equity"}


def balance_sheet_values(req: Request, ends: list[dt.date]) -> tuple[dict[str, list[Decimal]], list[Decimal]]:
    """Natural-sign balances of balance-sheet accounts at each date (retained earnings closed to the
    fiscal year start), and the fiscal-year-to-date net income at each date."""
    chart = req.chart
    re_id = chart.retained_earnings()
    balances: dict[str, list[Decimal]] = defaultdict(lambda: [ZERO] * len(ends))
    net: list[Decimal] = [ZERO] * len(ends)
    for p in req.postings:
        bs = chart.is_balance_sheet(p.account_id)
        for i, end in enumerate(ends):
            if p.txn_date > end:
                continue
            if bs:
                balances[p.account_id][i] += p.amount
            elif p.txn_date < req.fy_start(end):
                balances[re_id][i] += p.amount  # prior years' income closes to retained earnings
            else:
                net[i] -= p.amount
    return _natural(chart, balances), net


def _tree(req: Request, node: tuple, values: dict[str, list[Decimal]], ncols: int,
          extra: dict[str, list[tuple[dict, list[Decimal]]]]) -> tuple[dict | None, list[Decimal]]:
    group, header, summary, spec = node
    if spec and isinstance(spec[0], tuple):  # sub-groups
        rows, total = [], [ZERO] * ncols
        for child in spec:
            sec, vals = _tree(req, child, values, ncols, extra)
            if sec is not None:
                rows.append(sec)
                total = [a + b for a, b in zip(total, vals)]
    else:
        rows, total = _account_tree_rows(req.chart, _by_type(req.chart, spec), values, ncols, extra.get(group, []))
    if not rows and group not in _ALWAYS_BS:
        return None, total
    return _section([_cd(header)] + _blank(ncols), rows, [_cd(summary)] + [_cd(money(v)) for v in total], group), total


def balance_sheet(req: Request) -> dict:
    periods = _periods(req.start, req.end, req.summarize, req.fy_month)
    ends = [p.end for p in periods]
    values, net = balance_sheet_values(req, ends)
    ncols = len(periods)
    net_row = (_data([_cd("Net Income")] + [_cd(_cell(v)) for v in net]), net)
    extra = {"Equity": [net_row]} if any(v != 0 for v in net) else {}
    rows = []
    for node in BS_TREE:
        sec, _ = _tree(req, node, values, ncols, extra)
        rows.append(sec)
    has_data = any(any(v != 0 for v in vals) for vals in values.values()) or any(v != 0 for v in net)
    return {"Header": _header(req, options=[{"Name": "AccountingStandard", "Value": "GAAP"}, _no_data(not has_data)]),
            "Columns": {"Column": _money_columns("", "Account", "account", periods, False)},
            "Rows": {"Row": rows}}


# --- Trial balance ---------------------------------------------------------------------------------


def trial_balance_values(req: Request, end: dt.date) -> dict[str, Decimal]:
    """Debit-positive balance per account at ``end``: balance-sheet accounts since inception, income
    statement accounts since the fiscal year start, earlier income closed to retained earnings."""
    chart = req.chart
    re_id = chart.retained_earnings()
    fy = req.fy_start(end)
    out: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for p in req.postings:
        if p.txn_date > end:
            continue
        if chart.is_balance_sheet(p.account_id) or p.txn_date >= fy:
            out[p.account_id] += p.amount
        else:
            out[re_id] += p.amount
    return out


def trial_balance(req: Request) -> dict:
    chart = req.chart
    bal = trial_balance_values(req, req.end)
    rows, debit, credit = [], ZERO, ZERO
    for aid in sorted((a for a, v in bal.items() if v != 0), key=lambda a: account_sort_key(chart, a)):
        v = bal[aid]
        debit += max(v, ZERO)
        credit += max(-v, ZERO)
        rows.append(_data([_cd(chart.full_name(aid), aid), _cd(money(v) if v > 0 else ""),
                           _cd(money(-v) if v < 0 else "")]))
    rows.append(_section(None, None, [_cd("TOTAL"), _cd(money(debit)), _cd(money(credit))], "GrandTotal"))
    cols = [{"ColTitle": "", "ColType": "Account", "MetaData": [{"Name": "ColKey", "Value": "account"}]},
            {"ColTitle": "Debit", "ColType": "Money", "MetaData": [{"Name": "ColKey", "Value": "Debit"}]},
            {"ColTitle": "Credit", "ColType": "Money", "MetaData": [{"Name": "ColKey", "Value": "Credit"}]}]
    return {"Header": _header(req, options=[_no_data(len(rows) == 1)]), "Columns": {"Column": cols},
            "Rows": {"Row": rows}}


# --- transaction detail (GeneralLedger, ProfitAndLossDetail) -------------------------------------

#: QBO's column keys → titles (GeneralLedger / ProfitAndLossDetail ``columns`` parameter).
DETAIL_COLUMNS = {
    "tx_date": "Date", "txn_type": "Transaction Type", "doc_num": "Num", "name": "Name",
    "memo": "Memo/Description", "split_acc": "Split", "subt_nat_amount": "Amount", "rbal_nat_amount": "Balance",
    "account_name": "Account", "account_num": "Account #", "klass_name": "Class", "dept_name": "Location",
    "debt_amt": "Debit", "credit_amt": "Credit", "cust_name": "Customer", "vend_name": "Vendor",
    "emp_name": "Employee", "currency": "Currency", "exch_rate": "Exchange Rate",
    "nat_foreign_amount": "Foreign Amount", "subt_nat_home_amount": "Home Amount",
    "rbal_nat_home_amount": "Home Balance", "debt_home_amt": "Home Debit", "credit_home_amt": "Home Credit",
    "nat_home_open_bal": "Open Balance", "create_date": "Create Date", "last_mod_date": "Last Modified",
}
DEFAULT_DETAIL_COLUMNS = ["tx_date", "txn_type", "doc_num", "name", "memo", "split_acc", "subt_nat_amount",
                          "rbal_nat_amount"]

#: How QBO names transaction types in report rows (``ColData`` value; the ``id`` is the entity Id).
TXN_TYPE_LABELS = {
    "Invoice": "Invoice", "SalesReceipt": "Sales Receipt", "Payment": "Payment", "CreditMemo": "Credit Memo",
    "RefundReceipt": "Refund", "Deposit": "Deposit", "Transfer": "Transfer", "JournalEntry": "Journal Entry",
    "Bill": "Bill", "VendorCredit": "Vendor Credit", "BillPayment:Check": "Bill Payment (Check)",
    "BillPayment:CreditCard": "Bill Payment (Credit Card)", "Purchase:Cash": "Expense", "Purchase:Check": "Check",
    "Purchase:CreditCard": "Credit Card Expense", "Purchase:CreditCard Credit": "Credit Card Credit",
    "Purchase:Cash Credit": "Expense", "Purchase:Check Credit": "Check",
}


def txn_type_label(p: Posting) -> str:
    return TXN_TYPE_LABELS.get(f"{p.txn_type}:{p.subtype}") or TXN_TYPE_LABELS.get(p.txn_type, p.txn_type)


def _splits(postings: list[Posting]) -> dict[int, str | None]:
    """For each posting, the one other account of its transaction, or None ("-Split-")."""
    by_txn: dict[tuple[str, str], set[str]] = defaultdict(set)
    for p in postings:
        by_txn[(p.txn_type, p.txn_id)].add(p.account_id)
    out = {}
    for p in postings:
        others = by_txn[(p.txn_type, p.txn_id)] - {p.account_id}
        out[id(p)] = next(iter(others)) if len(others) == 1 else None
    return out


def _detail_columns(req: Request) -> list[str]:
    raw = req.params.get("columns")
    if not raw:
        return list(DEFAULT_DETAIL_COLUMNS)
    cols = [c.strip() for c in raw.split(",") if c.strip()]
    known = [c for c in cols if c in DETAIL_COLUMNS]
    if not known:
        raise ReportError("Invalid columns", f"columns={raw!r}: none of them is a report column", "2050")
    return known


def _nat_amount(req: Request, p: Posting) -> Decimal:
    """The posting in the account's own currency ("nat" columns): the transaction amount for a
    foreign-currency account (A/R - CAD ...) in that currency, else the home amount."""
    cur = ref_value(req.chart.account(p.account_id).get("CurrencyRef")) or req.ledger.home_currency
    if cur != req.ledger.home_currency and cur == p.currency:
        return p.foreign_amount
    return p.amount


def _detail_cells(req: Request, cols: list[str], p: Posting, sign: int, running: tuple[Decimal, Decimal],
                  split: str | None) -> list[dict]:
    """One Data row. Amount columns are in the account's natural sign; "nat" columns in the
    account's currency, "home" columns in the home currency; ``running`` is (nat, home)."""
    chart = req.chart
    nat = _nat_amount(req, p)
    cells = []
    for c in cols:
        if c == "tx_date":
            cells.append(_cd(p.txn_date.isoformat()))
        elif c == "txn_type":
            cells.append(_cd(txn_type_label(p), p.txn_id))
        elif c == "doc_num":
            cells.append(_cd(p.doc_number))
        elif c == "name":
            cells.append(_cd(p.name.name, p.name.id) if p.name else _cd("", ""))
        elif c in ("cust_name", "vend_name", "emp_name"):
            want = {"cust_name": "Customer", "vend_name": "Vendor", "emp_name": "Employee"}[c]
            ok = p.name is not None and p.name.type == want
            cells.append(_cd(p.name.name, p.name.id) if ok else _cd("", ""))
        elif c == "memo":
            cells.append(_cd(p.memo))
        elif c == "split_acc":
            cells.append(_cd(chart.full_name(split), split) if split else _cd("-Split-", ""))
        elif c == "subt_nat_amount":
            cells.append(_cd(money(nat * sign)))
        elif c == "subt_nat_home_amount":
            cells.append(_cd(money(p.amount * sign)))
        elif c == "rbal_nat_amount":
            cells.append(_cd(money(running[0])))
        elif c == "rbal_nat_home_amount":
            cells.append(_cd(money(running[1])))
        elif c == "account_name":
            cells.append(_cd(chart.full_name(p.account_id), p.account_id))
        elif c == "account_num":
            cells.append(_cd(str(chart.account(p.account_id).get("AcctNum", ""))))
        elif c == "klass_name":
            cells.append(_cd(p.class_ref.name, p.class_ref.id) if p.class_ref else _cd("", ""))
        elif c == "dept_name":
            cells.append(_cd(p.department_ref.name, p.department_ref.id) if p.department_ref else _cd("", ""))
        elif c == "debt_amt":
            cells.append(_cd(_cell(max(nat, ZERO))))
        elif c == "credit_amt":
            cells.append(_cd(_cell(max(-nat, ZERO))))
        elif c == "debt_home_amt":
            cells.append(_cd(_cell(p.debit)))
        elif c == "credit_home_amt":
            cells.append(_cd(_cell(p.credit)))
        elif c == "currency":
            cells.append(_cd(p.currency or req.ledger.home_currency))
        elif c == "exch_rate":
            cells.append(_cd(f"{p.exchange_rate:f}"))
        elif c == "nat_foreign_amount":
            cells.append(_cd(money(p.foreign_amount * sign)))
        else:
            cells.append(_cd(""))
    return cells


class _RowBudget:
    """Counts data rows against the cap; once over, the report ends with QBO's notice row."""

    def __init__(self, limit: int | None):
        self.limit = limit
        self.used = 0
        self.truncated = False

    def take(self) -> bool:
        if self.limit is not None and self.used >= self.limit:
            self.truncated = True
            return False
        self.used += 1
        return True


def _row_limit(req: Request, ncols: int, store: Any) -> int:
    if req.row_limit is not None:
        return int(req.row_limit)
    attr = getattr(store, "report_row_limit", None)
    if attr:
        return int(attr)
    return CELL_LIMIT // max(ncols, 1)


_SUM_COLUMNS = ("subt_nat_amount", "subt_nat_home_amount", "debt_amt", "credit_amt", "debt_home_amt",
                "credit_home_amt")


def _detail_account_sections(req: Request, cols: list[str], accounts: list[str], postings: list[Posting],
                             opening: dict[str, tuple[Decimal, Decimal]], budget: _RowBudget,
                             splits: dict[int, str | None] | None = None) -> tuple[list[dict], dict[str, Decimal]]:
    """One Section per account (sub-accounts nested) with its postings; returns rows and the home
    totals per account (natural sign). ``opening`` is the debit-positive (nat, home) balance before
    the first row; ``splits`` (posting → other account) defaults to one computed from ``postings``."""
    chart = req.chart
    ncols = len(cols)
    splits = splits if splits is not None else _splits(postings)
    by_account: dict[str, list[Posting]] = defaultdict(list)
    for p in postings:
        by_account[p.account_id].append(p)
    wanted = set(accounts)
    children: dict[str | None, list[str]] = defaultdict(list)
    for aid in wanted:
        parent = chart.parent_id(aid)
        children[parent if parent in wanted else None].append(aid)

    def active(aid: str) -> bool:
        return (bool(by_account.get(aid)) or any(opening.get(aid, (ZERO, ZERO)))
                or any(active(c) for c in children[aid]))

    index = {c: i for i, c in enumerate(cols)}
    totals: dict[str, Decimal] = {}

    def build(aid: str) -> tuple[dict, dict[str, Decimal], bool]:
        sign = chart.natural_sign(aid)
        name = chart.name(aid)
        rows: list[dict] = []
        open_nat, open_home = opening.get(aid, (ZERO, ZERO))
        running = (open_nat * sign, open_home * sign)
        if (open_nat or open_home) and budget.take():
            cells = [_cd("Beginning Balance")] + _blank(ncols - 1)
            for col, v in (("rbal_nat_amount", running[0]), ("rbal_nat_home_amount", running[1])):
                if col in index:
                    cells[index[col]] = _cd(money(v))
            rows.append(_data(cells))
        sums = dict.fromkeys(_SUM_COLUMNS, ZERO)
        had, complete = False, True
        for p in by_account.get(aid, []):
            if not budget.take():
                complete = False
                break
            nat = _nat_amount(req, p)
            running = (running[0] + nat * sign, running[1] + p.amount * sign)
            sums["subt_nat_amount"] += nat * sign
            sums["subt_nat_home_amount"] += p.amount * sign
            sums["debt_amt"] += max(nat, ZERO)
            sums["credit_amt"] += max(-nat, ZERO)
            sums["debt_home_amt"] += p.debit
            sums["credit_home_amt"] += p.credit
            had = True
            rows.append(_data(_detail_cells(req, cols, p, sign, running, splits[id(p)])))
        for kid in sorted((c for c in children[aid] if active(c)), key=lambda c: account_sort_key(chart, c)):
            if not complete:
                break
            sec, kid_sums, kid_had = build(kid)
            rows.append(sec)
            complete = "Summary" in sec
            sums = {k: v + kid_sums[k] for k, v in sums.items()}
            had = had or kid_had
        summary = None
        if complete:
            summary = [_cd(f"Total for {name}")] + _blank(ncols - 1)
            if had:
                for col, v in sums.items():
                    if col in index:
                        summary[index[col]] = _cd(money(v))
        totals[aid] = sums["subt_nat_home_amount"]
        return _section([_cd(name, aid)] + _blank(ncols - 1), rows, summary), sums, had

    out = []
    for aid in sorted((a for a in children[None] if active(a)), key=lambda a: account_sort_key(chart, a)):
        if budget.truncated:
            break
        sec, *_ = build(aid)
        out.append(sec)
    return out, totals


def _notice_row(ncols: int) -> dict:
    return _data([_cd(TRUNCATION_NOTICE)] + _blank(ncols - 1))


def _detail_header_columns(cols: list[str]) -> list[dict]:
    return [{"ColTitle": DETAIL_COLUMNS[c], "ColType": c} for c in cols]


def general_ledger(req: Request, store: Any) -> dict:
    chart = req.chart
    cols = _detail_columns(req)
    in_period = [p for p in req.postings if req.start <= p.txn_date <= req.end]
    # Beginning balances: balance-sheet accounts since inception; income-statement accounts since the
    # start of the fiscal year of start_date (earlier income is in retained earnings).
    fy = req.fy_start(req.start)
    re_id = chart.retained_earnings()
    opening: dict[str, tuple[Decimal, Decimal]] = defaultdict(lambda: (ZERO, ZERO))
    for p in req.postings:
        if p.txn_date >= req.start:
            continue
        if chart.is_balance_sheet(p.account_id) or p.txn_date >= fy:
            nat, home = opening[p.account_id]
            opening[p.account_id] = (nat + _nat_amount(req, p), home + p.amount)
        else:
            nat, home = opening[re_id]  # retained earnings is a home-currency account
            opening[re_id] = (nat + p.amount, home + p.amount)
    budget = _RowBudget(_row_limit(req, len(cols), store))
    rows, _ = _detail_account_sections(req, cols, list(chart.accounts), in_period, opening, budget)
    if budget.truncated:
        rows.append(_notice_row(len(cols)))
    return {"Header": _header(req, summarize=False, options=[_no_data(not rows)]),
            "Columns": {"Column": _detail_header_columns(cols)}, "Rows": {"Row": rows}}


def profit_and_loss_detail(req: Request, store: Any) -> dict:
    chart = req.chart
    cols = _detail_columns(req)
    in_period = [p for p in req.postings if req.start <= p.txn_date <= req.end]
    pnl_postings = [p for p in in_period if not chart.is_balance_sheet(p.account_id)]
    budget = _RowBudget(_row_limit(req, len(cols), store))
    ncols = len(cols)
    amount_idx = cols.index("subt_nat_amount") if "subt_nat_amount" in cols else None
    all_splits = _splits(in_period)  # a split is judged on the whole transaction

    def group_rows(group: str, types: tuple[str, ...]) -> tuple[list[dict], list[Decimal]]:
        if budget.truncated:
            return [], [ZERO]
        accounts = _by_type(chart, types)
        wanted = set(accounts)
        posts = [p for p in pnl_postings if p.account_id in wanted]
        rows, totals = _detail_account_sections(req, cols, accounts, posts, {}, budget, all_splits)
        total = ZERO
        for aid, t in totals.items():
            if chart.parent_id(aid) not in wanted:
                # group totals are in the group's natural sign (income credit+, expenses debit+)
                total += t
        return rows, [total]

    rows, _net, has_data = _pnl_rows_detail(req, group_rows, ncols, amount_idx)
    if budget.truncated:
        rows = _cut_after_truncation(rows)
        rows.append(_notice_row(ncols))
    return {"Header": _header(req, summarize=False, options=[_no_data(not has_data)]),
            "Columns": {"Column": _detail_header_columns(cols)}, "Rows": {"Row": rows}}


def _pnl_rows_detail(req: Request, group_rows, ncols: int, amount_idx: int | None):
    """P&L sections for the detail report: group totals go in the amount column."""
    rows: list[dict] = []
    totals: dict[str, Decimal] = {}
    has_data = False

    def summary(label: str, value: Decimal | None) -> list[dict]:
        cells = [_cd(label)] + _blank(ncols - 1)
        if amount_idx is not None and value is not None:
            cells[amount_idx] = _cd(money(value))
        return cells

    for group, header, summ, types, _sign in PNL_GROUPS:
        sub, total = group_rows(group, types)
        totals[group] = total[0] if total else ZERO
        has_data = has_data or bool(sub)
        if sub or group in _ALWAYS_PNL:
            rows.append(_section([_cd(header)] + _blank(ncols - 1), sub, summary(summ, totals[group] if sub else None),
                                 group))
        if group == "COGS":
            gp = totals["Income"] - totals["COGS"]
            rows.append(_section(None, None, summary("Gross Profit", gp if has_data else None), "GrossProfit"))
        if group == "Expenses":
            noi = gp - totals["Expenses"]
            rows.append(_section(None, None, summary("Net Operating Income", noi if has_data else None),
                                 "NetOperatingIncome"))
    other = totals["OtherIncome"] - totals["OtherExpenses"]
    if any(r.get("group") in ("OtherIncome", "OtherExpenses") for r in rows):
        rows.append(_section(None, None, summary("Net Other Income", other), "NetOtherIncome"))
    net = noi + other
    rows.append(_section(None, None, summary("Net Income", net if has_data else None), "NetIncome"))
    return rows, net, has_data


def _cut_after_truncation(rows: list[dict]) -> list[dict]:
    """Drop the summary-only sections that follow the point where the data ran out."""
    out = []
    for r in rows:
        out.append(r)
        if r.get("Rows") and not _complete(r):
            break
    return out


def _complete(section: dict) -> bool:
    if "Summary" not in section:
        return False
    return all(_complete(r) for r in section.get("Rows", {}).get("Row", []) if r.get("type") == "Section")


# --- Aging ---------------------------------------------------------------------------------------


@dataclasses.dataclass
class OpenItem:
    entity: str
    id: str
    name_id: str
    name: str
    date: dt.date
    due: dt.date
    amount: Decimal  # open home-currency amount; credits negative


def open_items(ledger: Ledger, side: str, as_of: dt.date) -> list[OpenItem]:
    """Open A/R (``side="AR"``) or A/P documents at ``as_of``, from the documents and the payments
    dated on or before it that apply to them."""
    docs, credit_docs, pay_entity, name_key = (
        ("Invoice", "CreditMemo", "Payment", "CustomerRef") if side == "AR"
        else ("Bill", "VendorCredit", "BillPayment", "VendorRef"))
    applied: dict[tuple[str, str], Decimal] = defaultdict(lambda: ZERO)
    unapplied: list[OpenItem] = []
    for (entity, _tid), txn in ledger.documents.items():
        if entity != pay_entity or _void(txn) or _d(txn.get("TxnDate")) > as_of:
            continue
        linked_total = ZERO
        for line in txn.get("Line") or []:
            for link in line.get("LinkedTxn") or []:
                key = (str(link.get("TxnType")), str(link.get("TxnId")))
                amount = dec(line.get("Amount"))
                applied[key] += amount
                linked_total += -amount if key[0] == credit_docs else amount
        rest = dec(txn.get("TotalAmt")) - linked_total
        if side == "AR" and rest:
            unapplied.append(_item(pay_entity, txn, name_key, -rest))
    items = []
    for (entity, tid), txn in ledger.documents.items():
        if entity not in (docs, credit_docs) or _void(txn) or _d(txn.get("TxnDate")) > as_of:
            continue
        open_amount = dec(txn.get("TotalAmt")) - applied.get((entity, tid), ZERO)
        if open_amount:
            items.append(_item(entity, txn, name_key, open_amount if entity == docs else -open_amount))
    return items + unapplied


def _void(txn: dict) -> bool:
    from .ledger import is_voided
    return is_voided(txn)


def _d(value: Any) -> dt.date:
    return dt.date.fromisoformat(str(value)[:10])


def _item(entity: str, txn: dict, name_key: str, amount: Decimal) -> OpenItem:
    ref = txn.get(name_key) or {}
    rate = dec(txn.get("ExchangeRate") or 1)
    date = _d(txn.get("TxnDate"))
    return OpenItem(entity, str(txn.get("Id")), ref_value(ref) or "", str(ref.get("name", "")), date,
                    _d(txn.get("DueDate") or txn.get("TxnDate")), (amount * rate).quantize(Decimal("0.01")))


def aging(req: Request) -> dict:
    side = "AR" if req.name == "AgedReceivables" else "AP"
    as_of = req.end
    try:
        period = int(req.params.get("aging_period", "30"))
        num = int(req.params.get("num_periods", "4"))
    except ValueError:
        raise ReportError("Invalid aging parameter", "aging_period and num_periods must be integers", "2050") from None
    if period < 1 or not 1 <= num <= 20:
        raise ReportError("Invalid aging parameter", "aging_period >= 1 and 1 <= num_periods <= 20", "2050")
    titles = ["Current"] + [f"{i * period + 1} - {(i + 1) * period}" for i in range(num - 1)] + \
             [f"{(num - 1) * period + 1} and over"]
    keys = ["current"] + [f"{i * period + 1}-{(i + 1) * period}" for i in range(num - 1)] + \
           [f"{(num - 1) * period + 1}+"]
    per_name: dict[tuple[str, str], list[Decimal]] = {}
    for item in open_items(req.ledger, side, as_of):
        days = (as_of - item.due).days
        bucket = 0 if days <= 0 else min((days - 1) // period + 1, num)
        vals = per_name.setdefault((item.name, item.name_id), [ZERO] * (num + 1))
        vals[bucket] += item.amount
    rows, totals = [], [ZERO] * (num + 2)
    for (name, nid), vals in sorted(per_name.items(), key=lambda kv: (kv[0][0].lower(), kv[0][1])):
        vals = vals + [sum(vals, ZERO)]
        if vals[-1] == 0 and all(v == 0 for v in vals):
            continue
        totals = [a + b for a, b in zip(totals, vals)]
        rows.append(_data([_cd(name, nid)] + [_cd(_cell(v)) for v in vals]))
    rows.append(_section(None, None, [_cd("TOTAL")] + [_cd(money(v)) for v in totals], "GrandTotal"))
    first = "Customer" if side == "AR" else "Vendor"
    cols = [{"ColTitle": "", "ColType": first, "MetaData": [{"Name": "ColKey", "Value": first.lower()}]}]
    cols += [{"ColTitle": t, "ColType": "Money", "MetaData": [{"Name": "ColKey", "Value": k}]}
             for t, k in zip(titles, keys)]
    cols.append({"ColTitle": "Total", "ColType": "Money", "MetaData": [{"Name": "ColKey", "Value": "total"}]})
    header = _header(req, summarize=False, options=[{"Name": "report_date", "Value": as_of.isoformat()},
                                                    _no_data(len(rows) == 1)])
    return {"Header": header, "Columns": {"Column": cols}, "Rows": {"Row": rows}}


# --- Cash flow -----------------------------------------------------------------------------------

_OPERATING_TYPES = ("Accounts Receivable", "Other Current Asset", "Accounts Payable", "Credit Card",
                    "Other Current Liability")
_INVESTING_TYPES = ("Fixed Asset", "Other Asset")
_FINANCING_TYPES = ("Long Term Liability", "Equity")


def cash_flow(req: Request) -> dict:
    chart = req.chart
    periods = _periods(req.start, req.end, req.summarize, req.fy_month)
    with_total = not (len(periods) == 1 and periods[0].key == "total")
    ncols = len(periods) + (1 if with_total else 0)
    movement = _movement(req.postings, periods)
    if with_total:
        movement = {a: v + [sum(v, ZERO)] for a, v in movement.items()}
    # cash provided = -(debit movement) for every non-cash balance-sheet account
    provided = {a: [-x for x in v] for a, v in movement.items()}
    net = [ZERO] * ncols
    for aid, vals in movement.items():
        if not chart.is_balance_sheet(aid):
            net = [n - v for n, v in zip(net, vals)]
    adj_rows, adj_total = _account_tree_rows(chart, _by_type(chart, _OPERATING_TYPES), provided, ncols)
    oper_rows = [_data([_cd("Net Income")] + [_cd(money(v)) for v in net])]
    if adj_rows:
        label = "Adjustments to reconcile Net Income to Net Cash provided by operations:"
        oper_rows.append(_section([_cd(label)] + _blank(ncols), adj_rows,
                                  [_cd("Total " + label)] + [_cd(money(v)) for v in adj_total],
                                  "OperatingAdjustments"))
    oper = [a + b for a, b in zip(net, adj_total)]
    rows = [_section([_cd("OPERATING ACTIVITIES")] + _blank(ncols), oper_rows,
                     [_cd("Net cash provided by operating activities")] + [_cd(money(v)) for v in oper],
                     "OperatingActivities")]
    inv_rows, inv = _account_tree_rows(chart, _by_type(chart, _INVESTING_TYPES), provided, ncols)
    if inv_rows:
        rows.append(_section([_cd("INVESTING ACTIVITIES")] + _blank(ncols), inv_rows,
                             [_cd("Net cash provided by investing activities")] + [_cd(money(v)) for v in inv],
                             "InvestingActivities"))
    fin_rows, fin = _account_tree_rows(chart, _by_type(chart, _FINANCING_TYPES), provided, ncols)
    if fin_rows:
        rows.append(_section([_cd("FINANCING ACTIVITIES")] + _blank(ncols), fin_rows,
                             [_cd("Net cash provided by financing activities")] + [_cd(money(v)) for v in fin],
                             "FinancingActivities"))
    increase = [a + b + c for a, b, c in zip(oper, inv, fin)]
    cash_ids = set(_by_type(chart, ("Bank",)))
    starts = [p.start for p in periods] + ([periods[0].start] if with_total else [])
    begin = []
    for s in starts:
        begin.append(sum((p.amount for p in req.postings if p.account_id in cash_ids and p.txn_date < s), ZERO))
    end = [b + i for b, i in zip(begin, increase)]
    rows.append(_section(None, None, [_cd("Net cash increase for period")] + [_cd(money(v)) for v in increase],
                         "CashIncrease"))
    rows.append(_section(None, None, [_cd("Cash at beginning of period")] + [_cd(money(v)) for v in begin],
                         "BeginningCash"))
    rows.append(_section(None, None, [_cd("Cash at end of period")] + [_cd(money(v)) for v in end], "EndingCash"))
    has_data = any(any(v != 0 for v in vals) for vals in movement.values())
    return {"Header": _header(req, options=[_no_data(not has_data)]),
            "Columns": {"Column": _money_columns("", "Account", "account", periods, with_total)},
            "Rows": {"Row": rows}}


# --- entry point ---------------------------------------------------------------------------------


def build_report(store: Any, realm_id: str, name: str, params: dict[str, str] | None = None, *,
                 row_limit: int | None = None) -> dict:
    """The report ``name`` of ``realm_id`` as QBO's JSON (a dict; the server encodes it)."""
    if name not in REPORT_NAMES:
        raise ReportError("Unsupported report", f"report {name!r} is not available; supported: "
                          + ", ".join(REPORT_NAMES), "2020")
    req = _request(store, realm_id, name, params or {}, row_limit)
    if name == "ProfitAndLoss":
        return profit_and_loss(req)
    if name == "BalanceSheet":
        return balance_sheet(req)
    if name == "TrialBalance":
        return trial_balance(req)
    if name == "GeneralLedger":
        return general_ledger(req, store)
    if name == "ProfitAndLossDetail":
        return profit_and_loss_detail(req, store)
    if name in ("AgedReceivables", "AgedPayables"):
        return aging(req)
    return cash_flow(req)
