"""The whole pipeline through the real Meltano CLI: QBO sandbox → tap → target → .hyper (→ Tableau sandbox).

One module-scoped project walks the life of a deployment, each step checked against the sandbox's
own books: a full sync reconciles to the cent; changes in QBO travel alone and leave the extracts
equal to QBO again; faults (5xx/429 bursts, token expiry and rotation, a killed target, a failed
Tableau job) are survived and every rerun converges; and no secret lands anywhere it should not.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter, defaultdict
from decimal import Decimal
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
from e2e_support import MELTANO, MeltanoProject, sandbox_env  # noqa: E402
from reconcile import _summaries, extract_totals, ledger_period, open_hyper, qbo_report_totals  # noqa: E402

pytestmark = pytest.mark.slow

TABLE = '"Extract"."Extract"'
# stream → QBO entity, for every entity stream the sandbox serves
ENTITIES = {
    "accounts": "Account", "bill_payments": "BillPayment", "bills": "Bill", "budgets": "Budget",
    "classes": "Class", "credit_memos": "CreditMemo", "customers": "Customer", "departments": "Department",
    "deposits": "Deposit", "employees": "Employee", "estimates": "Estimate", "invoices": "Invoice",
    "items": "Item", "journal_entries": "JournalEntry", "payment_methods": "PaymentMethod",
    "payments": "Payment", "purchase_orders": "PurchaseOrder", "purchases": "Purchase",
    "refund_receipts": "RefundReceipt", "sales_receipts": "SalesReceipt", "tax_agencies": "TaxAgency",
    "tax_codes": "TaxCode", "tax_rates": "TaxRate", "terms": "Term", "time_activities": "TimeActivity",
    "transfers": "Transfer", "vendor_credits": "VendorCredit", "vendors": "Vendor",
}
MONEY_FIELDS = {"invoices": ("TotalAmt", "Balance"), "bills": ("TotalAmt", "Balance"), "payments": ("TotalAmt",),
                "purchases": ("TotalAmt",), "credit_memos": ("TotalAmt", "Balance"), "journal_entries": ("TotalAmt",),
                "sales_receipts": ("TotalAmt",), "deposits": ("TotalAmt",), "vendor_credits": ("TotalAmt",)}
LINE_STREAMS = {"invoice_lines": "Invoice", "bill_lines": "Bill", "journal_entry_lines": "JournalEntry",
                "payment_lines": "Payment", "purchase_lines": "Purchase"}


# --- fixtures --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def qbo():
    from qbo_sandbox.testing import QboSandboxServer

    with QboSandboxServer(realms=2, size="demo", seed=7) as sb:
        yield sb


@pytest.fixture(scope="module")
def tableau():
    from tableau_sandbox.testing import TableauSandboxServer

    with TableauSandboxServer(flavor="cloud") as sb:
        yield sb


@pytest.fixture(scope="module")
def project(installed_project_template, tmp_path_factory, qbo, tableau) -> MeltanoProject:
    import shutil

    root = tmp_path_factory.mktemp("e2e") / "project"
    shutil.copytree(installed_project_template, root, symlinks=True)
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith(("TAP_", "TARGET_", "MELTANO_"))}
    proj = MeltanoProject(root=root, env={**env, "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false"})
    sandbox_env(proj, qbo, tableau)
    return proj


@pytest.fixture(scope="module")
def hyper(tmp_path_factory):
    with open_hyper(tmp_path_factory.mktemp("hyper-logs")) as hp:
        yield hp


def reader_api(qbo, realm: str):
    """An API client on its own authorization (like a second app connection), so the test's reads
    never rotate or spend the refresh token the tap holds in its token store."""
    creds = qbo.credentials()
    redirect = creds["redirect_uris"][0]
    code = qbo.sandbox.oauth.issue_code(creds["client_id"], redirect, realm, "com.intuit.quickbooks.accounting")
    token = qbo.sandbox.oauth.exchange_code(code, redirect, creds["client_id"])["access_token"]
    return qbo.api(realm, token=token)


def run_pipeline(project: MeltanoProject, check: bool = True) -> subprocess.CompletedProcess:
    return project.run("run", "tap-quickbooks-online", "target-tableau-hyper", check=check)


def query(hyper, project: MeltanoProject, stream: str, sql: str) -> list[list]:
    from tableauhyperapi import Connection

    with Connection(hyper.endpoint, str(project.output_dir / f"{stream}.hyper")) as conn:
        return conn.execute_list_query(sql.replace("{t}", TABLE))


# --- what "equal to the books" means -----------------------------------------------------------


def assert_extracts_equal_books(hyper, project: MeltanoProject, qbo) -> None:
    store = qbo.sandbox.store
    realms = store.realms()
    for stream, entity in ENTITIES.items():
        truth = {(r, str(o["Id"])) for r in realms for o in store.iter_entities(r, entity)}
        rows = query(hyper, project, stream, 'SELECT realm_id, "Id" FROM {t}')
        keys = [tuple(row) for row in rows]
        assert len(keys) == len(set(keys)), f"{stream}: duplicate keys in the extract"
        assert set(keys) == truth, f"{stream}: {len(set(keys) - truth)} extra, {len(truth - set(keys))} missing"

    for stream, fields in MONEY_FIELDS.items():
        entity = ENTITIES[stream]
        for field in fields:
            for realm in realms:
                expected = sum((Decimal(str(o.get(field, 0))) for o in store.iter_entities(realm, entity)), Decimal(0))
                got = query(hyper, project, stream, f"SELECT COALESCE(SUM(\"{field}\"), 0) FROM {{t}} WHERE realm_id = '{realm}'")
                assert Decimal(got[0][0]) == expected, f"{stream}.{field} realm {realm}: {got[0][0]} != {expected}"

    for stream, entity in LINE_STREAMS.items():
        for realm in realms:
            lines = [line for o in store.iter_entities(realm, entity) for line in o.get("Line", [])]
            expected = sum((Decimal(str(line.get("Amount", 0))) for line in lines), Decimal(0))
            got = query(hyper, project, stream,
                        f"SELECT COUNT(*), COALESCE(SUM(amount), 0) FROM {{t}} WHERE realm_id = '{realm}'")
            assert got[0][0] == len(lines), f"{stream} realm {realm}: {got[0][0]} rows, QBO has {len(lines)} lines"
            assert Decimal(got[0][1]) == expected, f"{stream} realm {realm}: line amounts differ"


def assert_ledger_matches_reports(hyper, project: MeltanoProject, qbo) -> None:
    start, end = ledger_period(hyper, project.output_dir)
    for realm in qbo.realm_ids():
        api = reader_api(qbo, realm)
        # Summary totals: AR, AP, revenue, expenses.
        assert extract_totals(hyper, project.output_dir, realm, start, end) == qbo_report_totals(api, start, end)
        # General ledger summed per account == TrialBalance, every account, to the cent.
        # As QBO closes the books: income and expense accounts show the fiscal year to date (the
        # demo companies' fiscal year is the calendar year), balance-sheet accounts everything,
        # and Retained Earnings the net income of the years before plus its own postings.
        year_start = f"{end[:4]}-01-01"
        gl = dict(query(hyper, project, "general_ledger", f"""
            SELECT account_id, SUM(CASE WHEN account_classification IN ('Revenue', 'Expense')
                                         AND txn_date < DATE '{year_start}' THEN 0 ELSE home_amount END)
            FROM {{t}} WHERE realm_id = '{realm}' GROUP BY 1"""))
        prior_net_income = query(hyper, project, "general_ledger", f"""
            SELECT COALESCE(-SUM(home_amount), 0) FROM {{t}} WHERE realm_id = '{realm}'
            AND account_classification IN ('Revenue', 'Expense') AND txn_date < DATE '{year_start}'""")[0][0]
        retained = query(hyper, project, "accounts",
                         f"SELECT \"Id\" FROM {{t}} WHERE realm_id = '{realm}' AND \"AccountSubType\" = 'RetainedEarnings'")
        retained_id = retained[0][0] if retained else None
        tb = api.get("/reports/TrialBalance", start_date=start, end_date=end).json()
        checked = 0
        for account_id, debit, credit in _trial_balance_rows(tb):
            expected = debit - credit
            ours = Decimal(gl.get(account_id, 0))
            if account_id == retained_id:
                ours -= Decimal(prior_net_income)
            assert ours == expected, f"account {account_id} realm {realm}: GL {ours} != TB {expected}"
            checked += 1
        assert checked >= 20
        # P&L per month: net income of each month from GL rows == the ProfitAndLoss report's column.
        pl = api.get("/reports/ProfitAndLoss", start_date=start, end_date=end, summarize_column_by="Month").json()
        monthly = _net_income_by_month(pl)
        ours = dict(query(hyper, project, "general_ledger", f"""
            SELECT TO_CHAR(txn_date, 'YYYY-MM'), -SUM(home_amount) FROM {{t}}
            WHERE realm_id = '{realm}' AND account_classification IN ('Revenue', 'Expense') GROUP BY 1"""))
        assert monthly, "the P&L report has no month columns"
        for month, amount in monthly.items():
            assert Decimal(ours.get(month, 0)) == amount, f"net income {month} realm {realm}"


def _trial_balance_rows(report: dict):
    def walk(rows):
        for row in rows:
            if row.get("type") == "Data" and row["ColData"][0].get("id"):
                cells = row["ColData"]
                yield cells[0]["id"], Decimal(cells[1]["value"] or 0), Decimal(cells[2]["value"] or 0)
            yield from walk(row.get("Rows", {}).get("Row", []))

    yield from walk(report["Rows"]["Row"])


def _net_income_by_month(report: dict) -> dict[str, Decimal]:
    columns = report["Columns"]["Column"]
    months = {}
    for i, col in enumerate(columns):
        meta = {m["Name"]: m["Value"] for m in col.get("MetaData", [])}
        if "StartDate" in meta and col.get("ColTitle") != "Total":
            months[i] = meta["StartDate"][:7]
    for row in report["Rows"]["Row"]:
        if row.get("group") == "NetIncome":
            cells = row["Summary"]["ColData"]
            return {month: Decimal(cells[i]["value"] or 0) for i, month in months.items()}
    return {}


# --- the life of a deployment -------------------------------------------------------------------


@pytest.fixture(scope="module")
def first_run(project, qbo):
    qbo.control("DELETE", "/_sandbox/counters")
    run_pipeline(project)
    return qbo.control("GET", "/_sandbox/counters")


def test_full_sync_reconciles_to_the_cent(first_run, project, qbo, hyper):
    assert_extracts_equal_books(hyper, project, qbo)
    assert_ledger_matches_reports(hyper, project, qbo)
    assert project.state()["singer_state"]["bookmarks"]["invoices"]["partitions"]


def test_only_changes_travel_and_extracts_equal_qbo_again(first_run, project, qbo, hyper):
    first, second = qbo.realm_ids()
    api1, api2 = reader_api(qbo, first), reader_api(qbo, second)
    candidates = api1.query("SELECT * FROM Invoice WHERE Balance > '0' MAXRESULTS 100").json()["QueryResponse"]["Invoice"]
    # an invoice with several item lines, so cutting it to one really drops lines
    invoice = next(inv for inv in candidates
                   if sum(line["DetailType"] == "SalesItemLineDetail" for line in inv["Line"]) >= 2)
    one_line = [line for line in invoice["Line"] if line["DetailType"] == "SalesItemLineDetail"][:1]
    bill = api2.query("SELECT * FROM Bill MAXRESULTS 1").json()["QueryResponse"]["Bill"][0]
    payment = api2.query("SELECT * FROM Payment MAXRESULTS 1").json()["QueryResponse"]["Payment"][0]
    voided = api1.query("SELECT * FROM SalesReceipt MAXRESULTS 1").json()["QueryResponse"]["SalesReceipt"][0]
    vendor = api2.query("SELECT * FROM Vendor WHERE Active = true MAXRESULTS 1").json()["QueryResponse"]["Vendor"][0]
    changes = [
        {"realm": first, "entity": "Invoice", "op": "create", "data": {"CustomerRef": invoice["CustomerRef"], "Line": one_line}},
        {"realm": first, "entity": "Invoice", "op": "update", "id": invoice["Id"], "data": {"Line": one_line}},
        {"realm": second, "entity": "Bill", "op": "update", "id": bill["Id"], "data": {"PrivateNote": "re-coded"}},
        {"realm": second, "entity": "Payment", "op": "delete", "id": payment["Id"]},
        {"realm": first, "entity": "SalesReceipt", "op": "void", "id": voided["Id"]},
        {"realm": second, "entity": "Vendor", "op": "inactivate", "id": vendor["Id"]},
    ]
    for body in changes:
        qbo.control("POST", "/_sandbox/mutate", json=body)
    qbo.control("DELETE", "/_sandbox/counters")

    run_pipeline(project)

    counters = qbo.control("GET", "/_sandbox/counters")["requests"]
    entity_requests = sum(n for endpoint, n in counters.items() if not endpoint.startswith("reports/"))
    first_entity_requests = sum(n for endpoint, n in first_run["requests"].items() if not endpoint.startswith("reports/"))
    # A day's changes across ~30 entity streams and two realms: a handful of requests, not one per stream.
    assert entity_requests <= 12, counters
    assert entity_requests < first_entity_requests / 3, (counters, first_run["requests"])

    assert_extracts_equal_books(hyper, project, qbo)
    assert_ledger_matches_reports(hyper, project, qbo)
    lines = query(hyper, project, "invoice_lines",
                  f"SELECT COUNT(*) FROM {{t}} WHERE realm_id = '{first}' AND txn_id = '{invoice['Id']}'")
    now_lines = len(qbo.sandbox.store.get(first, "Invoice", invoice["Id"])["Line"])  # QBO re-adds its subtotal line
    assert now_lines < len(invoice["Line"])
    assert lines[0][0] == now_lines, "the changed invoice's old lines must not survive"
    gone = query(hyper, project, "payments", f"SELECT COUNT(*) FROM {{t}} WHERE realm_id = '{second}' AND \"Id\" = '{payment['Id']}'")
    assert gone[0][0] == 0
    active = query(hyper, project, "vendors", f"SELECT \"Active\" FROM {{t}} WHERE realm_id = '{second}' AND \"Id\" = '{vendor['Id']}'")
    assert active == [[False]]


def test_faults_bursts_token_rotation_and_killed_target_converge(first_run, project, qbo, hyper):
    first, second = qbo.realm_ids()
    # 5xx and 429 bursts on the API, every refresh rotates the refresh token, access tokens expire.
    # (Each burst stays below the tap's retry budget for one request: a longer outage fails the
    # run, by design, and the next scheduled run resumes from the state.)
    qbo.control("POST", "/_sandbox/faults", json={"kind": "5xx", "status": 503, "count": 3, "rate": 1.0, "path": "cdc"})
    qbo.control("POST", "/_sandbox/faults", json={"kind": "429", "count": 3, "rate": 1.0, "path": "query"})
    qbo.control("POST", "/_sandbox/faults", json={"kind": "5xx", "status": 502, "count": 3, "rate": 1.0, "path": "reports"})
    qbo.control("POST", "/_sandbox/oauth", json={"rotation_period": 0, "grace_period": 0, "expire_access_tokens": True})
    for n in range(3):
        qbo.control("POST", "/_sandbox/mutate", json={
            "realm": second, "entity": "Customer", "op": "create", "data": {"DisplayName": f"Fault-time customer {n}"}})
    run_pipeline(project)
    fired = qbo.control("GET", "/_sandbox/faults")["faults"]
    assert sum(rule.get("fired", 0) for rule in fired) >= 9, fired
    assert_extracts_equal_books(hyper, project, qbo)

    # A killed target: start a run, kill -9 the target mid-load, rerun, and the data is exact.
    for n in range(40):
        qbo.control("POST", "/_sandbox/mutate", json={
            "realm": first, "entity": "Customer", "op": "create", "data": {"DisplayName": f"Kill-time customer {n}"}})
    proc = subprocess.Popen([MELTANO, "run", "tap-quickbooks-online", "target-tableau-hyper"], cwd=project.root,
                            env=project.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    killed = _kill_target_when_loading(project, proc)
    out = proc.communicate(timeout=900)[0]
    project.logs.append(out)
    assert killed, "the target was never seen running"
    assert proc.returncode != 0
    run_pipeline(project)
    assert_extracts_equal_books(hyper, project, qbo)
    assert_ledger_matches_reports(hyper, project, qbo)


def _kill_target_when_loading(project: MeltanoProject, proc: subprocess.Popen) -> bool:
    import psutil

    deadline = time.monotonic() + 600
    me = str(project.root)
    while time.monotonic() < deadline and proc.poll() is None:
        for p in psutil.process_iter(["cmdline"]):
            cmd = " ".join(p.info["cmdline"] or [])
            if "target-tableau-hyper" in cmd and me in cmd and "--config" in cmd:
                time.sleep(2.0)  # let it load part of the stream
                try:
                    p.send_signal(signal.SIGKILL)
                except psutil.NoSuchProcess:
                    return False
                return True
        time.sleep(0.2)
    return False


def test_failed_tableau_job_is_retried_and_audited(first_run, project, qbo, tableau, hyper):
    first, _ = qbo.realm_ids()
    qbo.control("POST", "/_sandbox/mutate", json={
        "realm": first, "entity": "Customer", "op": "create", "data": {"DisplayName": "Publish-fault customer"}})
    tableau.control("POST", "/_sandbox/faults", json={"jobs": {"fail": {"type": "UpdateUploadedFile", "count": 100}}})
    failed = run_pipeline(project, check=False)
    assert failed.returncode != 0, "a failed publish must be visible to the operator"
    tableau.control("DELETE", "/_sandbox/faults")
    run_pipeline(project)
    audit = sqlite3.connect(project.output_dir / "audit.sqlite")
    tables = {row[0] for row in audit.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    publish_table = next(t for t in tables if t.endswith("publishes"))
    outcomes = [row[0] for row in audit.execute(f"SELECT outcome FROM {publish_table}")]
    assert any("fail" in str(o).lower() for o in outcomes) and any("succe" in str(o).lower() for o in outcomes), outcomes
    # Tableau shows what the extract holds: the customer made before the failure reached it.
    rows = tableau.control("GET", "/_sandbox/state")
    assert any(ds["name"] == "QBO customers" for ds in rows["datasources"])


def test_no_secret_anywhere(first_run, project, qbo, tableau):
    creds, tcreds = qbo.credentials(), tableau.credentials()
    token_store = Path(project.env["TAP_QUICKBOOKS_ONLINE_TOKEN_STORE"])
    secrets = {creds["client_secret"], tcreds["pat"]["token_secret"], *(r["refresh_token"] for r in creds["realms"])}
    secrets |= _strings_in(json.loads(token_store.read_text())) - {"", None}
    secrets = {s for s in secrets if isinstance(s, str) and len(s) >= 16}
    assert len(secrets) >= 4

    haystacks = {"meltano logs": "\n".join(project.logs), "state": json.dumps(project.state())}
    for path in project.root.rglob("*"):
        if not path.is_file() or path == token_store or "/venv/" in str(path) or path.suffix == ".hyper":
            continue
        if path.name.endswith(".config.json"):
            continue  # Meltano's own generated plugin config, deleted after each run
        try:
            haystacks[str(path)] = path.read_bytes().decode("utf-8", "replace")
        except OSError:
            continue
    leaks = [(where, s[:6] + "…") for where, text in haystacks.items() for s in secrets if s in text]
    assert not leaks, leaks


def _strings_in(value) -> set[str]:
    if isinstance(value, dict):
        return set().union(*(_strings_in(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(_strings_in(v) for v in value)) if value else set()
    return {value} if isinstance(value, str) else set()


def test_meltano_config_test_reaches_every_company_and_explains_failures(project, qbo):
    ok = project.run("--environment=dev", "config", "test", "tap-quickbooks-online")
    assert "Plugin configuration is valid" in ok.stdout + ok.stderr
    # The same check with a secret that Intuit refuses answers in plain words, without the secret.
    bad = project.run("--environment=dev", "config", "test", "tap-quickbooks-online", check=False,
                      extra_env={"TAP_QUICKBOOKS_ONLINE_CLIENT_SECRET": "not-the-secret-0123456789",
                                 "TAP_QUICKBOOKS_ONLINE_TOKEN_STORE": str(project.root / "empty-tokens.json")})
    output = bad.stdout + bad.stderr
    assert bad.returncode != 0
    assert "client" in output.lower() and "not-the-secret-0123456789" not in output
