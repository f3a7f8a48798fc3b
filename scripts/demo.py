"""`make demo`: start both sandboxes, run the Meltano pipeline, print a summary a finance person can read.

Steps: start the QBO sandbox (2 companies) and the Tableau sandbox (Cloud flavor) on free ports,
export their URLs and demo credentials as Meltano settings, `meltano install`, then
`meltano run tap-quickbooks-online target-tableau-hyper` (the first time a full sync, later
runs incremental from the state in Meltano's system database), change a few records in QBO and
run again to show that only the changes travel, print the reconciliation, stop the sandboxes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

from reconcile import print_summary  # noqa: E402

MELTANO = str(Path(sys.executable).with_name("meltano"))
STATE_ID = "dev:tap-quickbooks-online-to-target-tableau-hyper"


def meltano(*args: str, env: dict[str, str]) -> None:
    started = time.monotonic()
    print(f"\n$ meltano {' '.join(args)}", flush=True)
    proc = subprocess.run([MELTANO, *args], cwd=ROOT, env=env, capture_output=True, text=True)
    log = ROOT / ".meltano" / "run" / f"demo-{'-'.join(args[:2])}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-6000:])
        raise SystemExit(f"meltano {args[0]} failed (exit {proc.returncode}); full log: {log}")
    print(f"  ok in {time.monotonic() - started:.1f}s (log: {log.relative_to(ROOT)})", flush=True)


def pipeline_env(qbo, tableau) -> dict[str, str]:
    """The dev environment reads the sandboxes' URLs and the demo app's credentials from here."""
    qbo_creds = qbo.credentials()
    tab_creds = tableau.credentials()
    token_store = ROOT / ".meltano" / "run" / "tap-quickbooks-online" / "demo-tokens.json"
    # Tokens issued by an earlier sandbox process mean nothing to this one.
    token_store.unlink(missing_ok=True)
    realms = [{"realm_id": r["realm_id"], "refresh_token": r["refresh_token"]} for r in qbo_creds["realms"]]
    import json

    return {
        **os.environ,
        "MELTANO_ENVIRONMENT": "dev",
        "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
        "QBO_SANDBOX_URL": qbo.base_url,
        "TAP_QUICKBOOKS_ONLINE_CLIENT_ID": qbo_creds["client_id"],
        "TAP_QUICKBOOKS_ONLINE_CLIENT_SECRET": qbo_creds["client_secret"],
        "TAP_QUICKBOOKS_ONLINE_REALMS": json.dumps(realms),
        "TAP_QUICKBOOKS_ONLINE_TOKEN_STORE": str(token_store),
        "TARGET_TABLEAU_HYPER_PUBLISH": "true",
        "TARGET_TABLEAU_HYPER_REFRESH": "auto",
        "TARGET_TABLEAU_HYPER_TABLEAU_SERVER_URL": tableau.base_url,
        "TARGET_TABLEAU_HYPER_TABLEAU_SITE": tab_creds["site_content_url"],
        "TARGET_TABLEAU_HYPER_TABLEAU_PROJECT": tab_creds["project"],
        "TARGET_TABLEAU_HYPER_TABLEAU_TOKEN_NAME": tab_creds["pat"]["token_name"],
        "TARGET_TABLEAU_HYPER_TABLEAU_TOKEN_SECRET": tab_creds["pat"]["token_secret"],
    }


def change_the_books(qbo) -> list[str]:
    """What a bookkeeper might do between two syncs, across both companies."""
    first, second = qbo.realm_ids()[:2]
    api = qbo.api(first)
    invoice = api.query("SELECT * FROM Invoice WHERE Balance > '0' MAXRESULTS 1").json()["QueryResponse"]["Invoice"][0]
    one_line = [line for line in invoice["Line"] if line["DetailType"] == "SalesItemLineDetail"][:1]
    payment = qbo.api(second).query("SELECT * FROM Payment MAXRESULTS 1").json()["QueryResponse"]["Payment"][0]
    voided = qbo.api(second).query("SELECT * FROM Invoice STARTPOSITION 20 MAXRESULTS 1").json()["QueryResponse"]["Invoice"][0]
    customer = api.query("SELECT * FROM Customer WHERE Active = true MAXRESULTS 1").json()["QueryResponse"]["Customer"][0]
    changes = [
        ({"realm": first, "entity": "Invoice", "op": "create", "data": {"CustomerRef": invoice["CustomerRef"], "Line": one_line}},
         "created an invoice"),
        ({"realm": first, "entity": "Invoice", "op": "update", "id": invoice["Id"], "data": {"Line": one_line}},
         f"cut invoice {invoice['DocNumber']} down to one line"),
        ({"realm": second, "entity": "Payment", "op": "delete", "id": payment["Id"]}, f"deleted payment {payment['Id']}"),
        ({"realm": second, "entity": "Invoice", "op": "void", "id": voided["Id"]}, f"voided invoice {voided.get('DocNumber')}"),
        ({"realm": first, "entity": "Customer", "op": "inactivate", "id": customer["Id"]},
         f"made customer {customer['DisplayName']} inactive"),
    ]
    for body, _ in changes:
        qbo.control("POST", "/_sandbox/mutate", json=body)
    return [what for _, what in changes]


def main() -> None:
    from qbo_sandbox.testing import QboSandboxServer
    from tableau_sandbox.testing import TableauSandboxServer

    with QboSandboxServer(realms=2, size="demo", seed=42) as qbo, TableauSandboxServer(flavor="cloud") as tableau:
        print(f"QBO sandbox:     {qbo.base_url}\nTableau sandbox: {tableau.base_url}", flush=True)
        env = pipeline_env(qbo, tableau)
        meltano("install", "tap-quickbooks-online", "tap-quickbooks-online--entities", "target-tableau-hyper", env=env)
        # Each demo starts a new sandbox company, so the dev state and extracts of an earlier demo
        # describe books that no longer exist: start the dev environment afresh.
        meltano("state", "clear", "--force", STATE_ID, env=env)
        shutil.rmtree(ROOT / "output" / "dev", ignore_errors=True)

        print("\n== Run 1: full sync of both companies, publish to Tableau", flush=True)
        meltano("run", "tap-quickbooks-online", "target-tableau-hyper", env=env)
        requests_first = qbo.control("GET", "/_sandbox/counters")["requests_total"]

        print("\n== Meanwhile in QuickBooks:", flush=True)
        for what in change_the_books(qbo):
            print(f"  - {what}")
        qbo.control("DELETE", "/_sandbox/counters")

        print("\n== Run 2: incremental (state from run 1)", flush=True)
        meltano("run", "tap-quickbooks-online", "target-tableau-hyper", env=env)
        requests_second = qbo.control("GET", "/_sandbox/counters")["requests_total"]
        print(f"  QBO API requests: run 1 {requests_first}, run 2 {requests_second} (only the changes travel)")

        equal = print_summary(ROOT, qbo, tableau, env)
    if not equal:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
