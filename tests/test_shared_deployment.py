"""The deployment for many realms or several machines, through the real Meltano CLI.

Nothing lives in a local file that another worker would need: Meltano's system database (run
history, per-realm state) and the tap's token store are both on PostgreSQL, and each realm runs as
its own job (`meltano run --state-id-suffix realm-<id>`) with only its realm configured — two of
them at the same time on two workers (two checkouts of the project: within one checkout Meltano
4.4 writes a tap's catalog to one shared file, meltano/meltano#8763, so parallel runs race there). Then QBO rotates every refresh token and expires the
access tokens, one realm changes, and only that realm's job runs: it starts from its own state in
PostgreSQL, spends the rotated token from the shared store, and moves nothing but the change.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from e2e_support import MELTANO, MeltanoProject, failure_lines, sandbox_env  # noqa: E402

pytestmark = pytest.mark.slow

STATE_ID = "dev:tap-quickbooks-online-to-target-tableau-hyper:realm-{realm}"
# A few streams are enough to prove where state and tokens live; the full pipeline is test_e2e_pipeline's.
SELECTED = ["invoices.*", "invoice_lines.*", "customers.*"]


@pytest.fixture
def qbo():
    from qbo_sandbox.testing import QboSandboxServer

    with QboSandboxServer(realms=2, size="demo", seed=11) as sb:
        yield sb


def realm_env(project: MeltanoProject, realm: str) -> dict[str, str]:
    """What the per-realm Airflow task sets (orchestrate/README.md): this realm only, its own output."""
    return {
        "TAP_QUICKBOOKS_ONLINE_REALM_IDS": json.dumps([realm]),
        "TAP_QUICKBOOKS_ONLINE_REALMS": "[]",
        "TARGET_TABLEAU_HYPER_OUTPUT_DIR": str(project.env["SHARED_OUTPUT"] + f"/realm-{realm}"),
    }


def start_realm_job(project: MeltanoProject, realm: str) -> subprocess.Popen:
    return subprocess.Popen(
        [MELTANO, "run", "--state-id-suffix", f"realm-{realm}", "tap-quickbooks-online", "target-tableau-hyper"],
        cwd=project.root, env={**project.env, **realm_env(project, realm)},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


def finish(project: MeltanoProject, proc: subprocess.Popen) -> None:
    out = proc.communicate(timeout=900)[0]
    project.logs.append(out)
    assert proc.returncode == 0, failure_lines(out)


def extract(project: MeltanoProject, realm: str, stream: str, column: str) -> dict:
    """Id → column value of a realm's extract, checking it holds only that realm's rows."""
    from tableauhyperapi import Connection, HyperProcess, Telemetry

    path = Path(project.env["SHARED_OUTPUT"]) / f"realm-{realm}" / f"{stream}.hyper"
    with HyperProcess(Telemetry.DO_NOT_SEND_USAGE_DATA_TO_TABLEAU,
                      parameters={"log_dir": str(project.root)}) as hp, Connection(hp.endpoint, str(path)) as conn:
        rows = conn.execute_list_query(f'SELECT "Id", realm_id, "{column}" FROM "Extract"."Extract"')
    assert {row[1] for row in rows} == {realm}, f"{stream}: a realm's job loaded another realm's rows"
    assert len(rows) == len({row[0] for row in rows}), f"{stream}: duplicate keys"
    return {row[0]: row[2] for row in rows}


def hyper_invoices(project: MeltanoProject, realm: str) -> dict:
    return extract(project, realm, "invoices", "TotalAmt")


def books_invoices(qbo, realm: str) -> dict:
    from decimal import Decimal

    return {str(o["Id"]): Decimal(str(o["TotalAmt"]))
            for o in qbo.sandbox.store.iter_entities(realm, "Invoice")}


def meltano_states(meltano_db: str) -> dict[str, dict]:
    import psycopg

    with psycopg.connect(meltano_db) as conn:
        rows = conn.execute("SELECT state_id, completed_state FROM state").fetchall()
    # a JSON column in Meltano's schema, text on older migrations
    return {state_id: json.loads(done) if isinstance(done, str) else done for state_id, done in rows}


def second_worker(project: MeltanoProject, installed_project_template: Path, tmp_path: Path) -> MeltanoProject:
    """Another machine: its own checkout and plugin venvs, the same environment and databases."""
    import shutil

    root = tmp_path / "worker-2"
    shutil.copytree(installed_project_template, root, symlinks=True)
    return MeltanoProject(root=root, env=project.env)  # the same dict: one configuration for both


def test_per_realm_jobs_keep_state_and_rotating_tokens_in_postgres(
        meltano_project, installed_project_template, tmp_path, postgres_cluster, qbo):
    project = meltano_project
    meltano_db = postgres_cluster.create_database("meltano_system")
    tokens_db = postgres_cluster.create_database("qbo_tokens")
    sandbox_env(project, qbo)
    project.env.update({
        # psycopg 3 (meltano[postgres]); a bare postgresql:// would ask SQLAlchemy for psycopg2
        "MELTANO_DATABASE_URI": meltano_db.replace("postgresql://", "postgresql+psycopg://"),
        "TAP_QUICKBOOKS_ONLINE_TOKEN_STORE": tokens_db,
        "TAP_QUICKBOOKS_ONLINE__SELECT": json.dumps(SELECTED),
        "SHARED_OUTPUT": str(tmp_path / "extracts"),  # where each realm's job writes (a shared volume)
    })
    first, second = qbo.realm_ids()
    consented = {r["realm_id"]: r["refresh_token"] for r in qbo.credentials()["realms"]}

    # Onboarding, once: the connection check with both consents stores both realms' tokens.
    checked = project.run("--environment=dev", "config", "test", "tap-quickbooks-online")
    assert "Plugin configuration is valid" in checked.stdout + checked.stderr
    # From here on no consent is configured: each realm's job finds its token in PostgreSQL.
    del project.env["TAP_QUICKBOOKS_ONLINE_REALMS"]

    worker_2 = second_worker(project, installed_project_template, tmp_path)
    jobs = [start_realm_job(project, first), start_realm_job(worker_2, second)]
    for proc in jobs:
        finish(project, proc)
    for realm in (first, second):
        assert hyper_invoices(project, realm) == books_invoices(qbo, realm)

    states = meltano_states(meltano_db)
    assert set(states) == {STATE_ID.format(realm=first), STATE_ID.format(realm=second)}
    second_state_before = states[STATE_ID.format(realm=second)]
    for realm in (first, second):
        partitions = states[STATE_ID.format(realm=realm)]["singer_state"]["bookmarks"]["invoices"]["partitions"]
        assert [p["context"]["realm_id"] for p in partitions] == [realm]
    assert not (project.root / ".meltano" / "meltano.db").exists() or "realm-" not in \
        (project.root / ".meltano" / "meltano.db").read_bytes().decode("latin-1"), "state went to SQLite"

    # QBO now rotates the refresh token at every refresh and access tokens expire; one realm changes.
    qbo.control("POST", "/_sandbox/oauth", json={"rotation_period": 0, "grace_period": 0, "expire_access_tokens": True})
    invoice = next(iter(qbo.sandbox.store.iter_entities(first, "Invoice")))
    qbo.control("POST", "/_sandbox/mutate", json={
        "realm": first, "entity": "Invoice", "op": "update", "id": invoice["Id"], "data": {"PrivateNote": "re-coded"}})
    qbo.control("POST", "/_sandbox/mutate", json={
        "realm": first, "entity": "Customer", "op": "create", "data": {"DisplayName": "Shared-deployment customer"}})
    qbo.control("DELETE", "/_sandbox/counters")

    for _ in range(2):  # the second run spends the token the first one rotated and stored
        finish(project, start_realm_job(project, first))
    requests = qbo.control("GET", "/_sandbox/counters")["requests"]
    assert sum(requests.values()) <= 10, f"an incremental per-realm run should be a handful of requests: {requests}"

    from tap_quickbooks_online.token_store import open_token_store

    store = open_token_store(tokens_db)
    assert set(store.realm_ids()) == {first, second}
    rotated = store.load(first).refresh_token
    assert rotated != consented[first], "the rotated refresh token was not persisted to the shared store"
    assert store.load(second).refresh_token == consented[second]  # the other realm did not run

    states = meltano_states(meltano_db)
    assert states[STATE_ID.format(realm=second)] == second_state_before
    assert hyper_invoices(project, first) == books_invoices(qbo, first)
    every_state = json.dumps(states)
    assert rotated not in every_state and consented[first] not in every_state
    names = extract(project, first, "customers", "DisplayName")
    assert names == {str(c["Id"]): c["DisplayName"] for c in qbo.sandbox.store.iter_entities(first, "Customer")}
    assert "Shared-deployment customer" in names.values()
