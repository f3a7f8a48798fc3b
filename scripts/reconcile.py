"""Reconcile the Hyper extracts with QBO's own reports, to the cent.

The extract side is computed from transaction-level rows (the `general_ledger` table: one row per
posting, as Tableau would sum them); the QBO side is QBO's summary reports (BalanceSheet,
ProfitAndLoss) fetched from the API. The two paths share nothing but the books, so equal totals
mean the pipeline moved every posting exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from tableauhyperapi import Connection, HyperProcess, Telemetry

TABLE = '"Extract"."Extract"'
REVENUE_TYPES = ("Income", "Other Income")
EXPENSE_TYPES = ("Cost of Goods Sold", "Expense", "Other Expense")


@dataclass(frozen=True)
class Totals:
    accounts_receivable: Decimal
    accounts_payable: Decimal
    revenue: Decimal
    expenses: Decimal

    def rows(self) -> list[tuple[str, Decimal]]:
        return [
            ("Accounts receivable", self.accounts_receivable),
            ("Accounts payable", self.accounts_payable),
            ("Revenue", self.revenue),
            ("Expenses", self.expenses),
        ]


def open_hyper(log_dir: Path) -> HyperProcess:
    log_dir.mkdir(parents=True, exist_ok=True)
    return HyperProcess(Telemetry.DO_NOT_SEND_USAGE_DATA_TO_TABLEAU, parameters={"log_dir": str(log_dir)})


def stream_extracts(output_dir: Path) -> list[Path]:
    """One file per stream; `_audit.hyper` (the target's optional audit copy) is not a stream."""
    return [path for path in sorted(output_dir.glob("*.hyper")) if not path.name.startswith("_")]


def row_counts(hyper: HyperProcess, output_dir: Path) -> dict[str, int]:
    counts = {}
    for path in stream_extracts(output_dir):
        with Connection(hyper.endpoint, str(path)) as conn:
            counts[path.stem] = conn.execute_scalar_query(f"SELECT COUNT(*) FROM {TABLE}")
    return counts


def ledger_period(hyper: HyperProcess, output_dir: Path) -> tuple[str, str]:
    with Connection(hyper.endpoint, str(output_dir / "general_ledger.hyper")) as conn:
        start, end = conn.execute_list_query(f"SELECT MIN(window_start), MAX(window_end) FROM {TABLE}")[0]
    return str(start), str(end)


def extract_totals(hyper: HyperProcess, output_dir: Path, realm_id: str, start: str, end: str) -> Totals:
    """Balances as of `end` and income/expense over [start, end], summed from GL posting rows."""

    def natural_sum(where: str, *params: str) -> Decimal:
        # home_amount is debit-positive in the home currency (natural_amount of a foreign-currency
        # account is in that currency); flip credit-natural accounts to read as QBO prints them.
        natural_home = (
            "CASE WHEN account_classification IN ('Asset', 'Expense') THEN home_amount ELSE -home_amount END"
        )
        sql = (
            f"SELECT COALESCE(SUM({natural_home}), 0) FROM {TABLE} "
            f"WHERE realm_id = {_lit(realm_id)} AND {where}"
        )
        for p in params:
            sql = sql.replace("?", _lit(p), 1)
        return Decimal(conn.execute_scalar_query(sql))

    with Connection(hyper.endpoint, str(output_dir / "general_ledger.hyper")) as conn:
        return Totals(
            accounts_receivable=natural_sum("account_type = 'Accounts Receivable' AND txn_date <= DATE ?", end),
            accounts_payable=natural_sum("account_type = 'Accounts Payable' AND txn_date <= DATE ?", end),
            revenue=natural_sum(f"account_type IN {REVENUE_TYPES} AND txn_date BETWEEN DATE ? AND DATE ?", start, end),
            expenses=natural_sum(f"account_type IN {EXPENSE_TYPES} AND txn_date BETWEEN DATE ? AND DATE ?", start, end),
        )


def qbo_report_totals(api, start: str, end: str) -> Totals:
    """The same four numbers from QBO's BalanceSheet and ProfitAndLoss reports."""
    bs = _summaries(api.get("/reports/BalanceSheet", start_date=start, end_date=end).json())
    pl = _summaries(api.get("/reports/ProfitAndLoss", start_date=start, end_date=end).json())
    return Totals(
        accounts_receivable=bs.get("AR", Decimal(0)),
        accounts_payable=bs.get("AP", Decimal(0)),
        revenue=pl.get("Income", Decimal(0)) + pl.get("OtherIncome", Decimal(0)),
        expenses=pl.get("COGS", Decimal(0)) + pl.get("Expenses", Decimal(0)) + pl.get("OtherExpenses", Decimal(0)),
    )


def _summaries(report: dict) -> dict[str, Decimal]:
    """Section group → the amount in its Summary row (first amount column)."""
    found: dict[str, Decimal] = {}

    def walk(rows: list[dict]) -> None:
        for row in rows:
            if row.get("type") == "Section":
                cols = row.get("Summary", {}).get("ColData", [])
                if row.get("group") and len(cols) > 1 and cols[1].get("value"):
                    found[row["group"]] = Decimal(cols[1]["value"])
                walk(row.get("Rows", {}).get("Row", []))

    walk(report.get("Rows", {}).get("Row", []))
    return found


def _lit(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def print_summary(root: Path, qbo, tableau, env: dict[str, str]) -> bool:
    """The finance-readable end of `make demo`; returns True when every total matches."""
    output_dir = root / "output" / "dev"
    all_equal = True
    with open_hyper(root / ".meltano" / "run" / "hyper-logs") as hyper:
        counts = row_counts(hyper, output_dir)
        print("\nRows in the extracts (per stream):")
        for stream, n in counts.items():
            print(f"  {stream:<24} {n:>9,}")
        start, end = ledger_period(hyper, output_dir)
        for realm in qbo.credentials()["realms"]:
            ours = extract_totals(hyper, output_dir, realm["realm_id"], start, end)
            theirs = qbo_report_totals(qbo.api(realm["realm_id"]), start, end)
            print(f"\n{realm['company_name']} (realm {realm['realm_id']}), {start} to {end}, home currency:")
            print(f"  {'':<22}{'Tableau extract':>18}{'QBO report':>18}")
            for (label, a), (_, b) in zip(ours.rows(), theirs.rows()):
                mark = "equal" if a == b else "DIFFERENT"
                all_equal &= a == b
                print(f"  {label:<22}{a:>18,.2f}{b:>18,.2f}  {mark}")
    print("\nExtracts:")
    for path in stream_extracts(output_dir)[:3]:
        print(f"  {path}")
    print(f"  … {len(counts)} files in {output_dir}")
    _print_tableau(tableau, env)
    print(f"\nAudit trail: {output_dir / 'audit.sqlite'} — `meltano invoke target-tableau-hyper:audit runs`")
    print("\nEvery total equal to QBO's reports." if all_equal else "\nSOME TOTALS DIFFER (see above).")
    return all_equal


def _print_tableau(tableau, env: dict[str, str]) -> None:
    import tableauserverclient as TSC

    creds = tableau.credentials()
    server = TSC.Server(tableau.base_url, use_server_version=True)
    auth = TSC.PersonalAccessTokenAuth(creds["pat"]["token_name"], creds["pat"]["token_secret"], creds["site_content_url"])
    with server.auth.sign_in(auth):
        datasources = list(TSC.Pager(server.datasources))
        jobs = list(TSC.Pager(server.jobs))
    print(f"\nPublished to Tableau ({tableau.base_url}): {len(datasources)} datasources")
    for ds in sorted(datasources, key=lambda d: d.name)[:5]:
        print(f"  {ds.name:<32} project {ds.project_name}, updated {ds.updated_at}")
    if len(datasources) > 5:
        print(f"  … and {len(datasources) - 5} more")
    outcomes: dict[str, int] = {}
    for job in jobs:
        key = f"{job.type} → {job.status}"
        outcomes[key] = outcomes.get(key, 0) + 1
    for key, n in sorted(outcomes.items()):
        print(f"  jobs: {key}: {n}")
