"""Webhook path: delay from a change in QBO to the row in the `.hyper` file, and what a burst costs.

Side by side in one run, against the local QBO sandbox and a temporary copy of this Meltano project
(the hourly job's extractor `tap-quickbooks-online--entities`, every entity stream, no reports):
1. a baseline full sync (the scheduled run that comes first);
2. one scheduled incremental poll with nothing changed — the cost of polling, per poll;
3. a burst of N invoice changes delivered as signed webhooks to the real receiver process
   (`tap-quickbooks-online webhooks serve`), whose debounced trigger runs the same `meltano run`.
   Delay of a change = finish of the run that covered its event − the moment it was changed (the
   row is in the `.hyper` once that run succeeded; every changed row is then checked in the file).
Requests are the sandbox's own counters (every `/v3/...` call the tap made).
4. how fast the receiver acknowledges a delivery (what QBO waits for): signed deliveries of 1 and
   of 100 events POSTed to an in-process receiver whose queue is a SQLite file (fsync per commit).

    .venv/bin/python bench/bench_webhooks.py [--changes 5] [--spacing 0.5] [--debounce 2]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from e2e_support import MELTANO, MeltanoProject, _copy_project, sandbox_env  # noqa: E402

from qbo_sandbox.testing import QboSandboxServer  # noqa: E402
from tap_quickbooks_online.webhooks.testing import WebhookReceiverServer  # noqa: E402

EXTRACTOR = "tap-quickbooks-online--entities"


def hyper_notes(path: Path, realm: str, ids: list[str], log_dir: Path) -> dict[str, str]:
    from tableauhyperapi import Connection, HyperProcess, Telemetry

    log_dir.mkdir(parents=True, exist_ok=True)
    with HyperProcess(Telemetry.DO_NOT_SEND_USAGE_DATA_TO_TABLEAU, parameters={"log_dir": str(log_dir)}) as hp:
        with Connection(hp.endpoint, str(path)) as conn:
            id_list = ", ".join(f"'{i}'" for i in ids)
            rows = conn.execute_list_query(f'SELECT "Id", "PrivateNote" FROM "Extract"."Extract" '
                                           f"WHERE realm_id = '{realm}' AND \"Id\" IN ({id_list})")
    return {r[0]: r[1] for r in rows}


def ack_latency(work: Path, events_per_delivery: int, deliveries: int = 40) -> list[float]:
    import requests

    from tap_quickbooks_online.webhooks.signature import sign

    config = {"webhook_verifier_token": "bench-token", "webhook_queue_url": f"sqlite:///{work}/ack-{events_per_delivery}.db",
              "webhook_command": ["true"], "webhook_debounce_seconds": 60, "webhook_max_delay_seconds": 60}
    times = []
    with WebhookReceiverServer(config) as rx, requests.Session() as http:
        for d in range(deliveries):
            body = json.dumps({"eventNotifications": [{"realmId": "1", "dataChangeEvent": {"entities": [
                {"name": "Invoice", "id": str(d * events_per_delivery + i), "operation": "Update",
                 "lastUpdated": "2026-01-02T03:04:05-0800"} for i in range(events_per_delivery)]}}]}).encode()
            started = time.perf_counter()
            r = http.post(rx.url, data=body, headers={"intuit-signature": sign(body, "bench-token")}, timeout=30)
            times.append(time.perf_counter() - started)
            assert r.status_code == 200 and r.json()["queued"] == events_per_delivery
    return sorted(times)


def timed_run(project: MeltanoProject) -> float:
    started = time.monotonic()
    project.run("run", EXTRACTOR, "target-tableau-hyper")
    return time.monotonic() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--changes", type=int, default=5, help="invoices changed in the burst")
    parser.add_argument("--spacing", type=float, default=0.5, help="seconds between two changes of the burst")
    parser.add_argument("--debounce", type=float, default=2.0, help="webhook_debounce_seconds")
    parser.add_argument("--realms", type=int, default=2)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-webhooks-"))
    try:
        root = work / "project"
        root.mkdir()
        _copy_project(root)
        base_env = {k: v for k, v in os.environ.items() if not k.startswith(("TAP_", "TARGET_", "MELTANO_"))}
        project = MeltanoProject(root=root, env={**base_env, "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
                                                 "MELTANO_ENVIRONMENT": "dev"})
        print("installing plugins …", flush=True)
        subprocess.run([MELTANO, "install", "tap-quickbooks-online", EXTRACTOR, "target-tableau-hyper"], cwd=root,
                       env=project.env, check=True, capture_output=True, timeout=900)
        with QboSandboxServer(realms=args.realms, size="demo", seed=5) as qbo:
            sandbox_env(project, qbo)
            creds = qbo.credentials()
            realm = creds["realms"][0]["realm_id"]

            qbo.control("DELETE", "/_sandbox/counters")
            full_s = timed_run(project)
            full_requests = qbo.control("GET", "/_sandbox/counters")["requests_total"]

            qbo.control("DELETE", "/_sandbox/counters")
            poll_s = timed_run(project)
            poll = qbo.control("GET", "/_sandbox/counters")

            config = {"webhook_verifier_token": creds["webhook_verifier_token"],
                      "webhook_queue_url": f"sqlite:///{work}/webhooks.db",
                      "webhook_command": [MELTANO, "run", EXTRACTOR, "target-tableau-hyper"],
                      "webhook_command_cwd": str(root), "webhook_debounce_seconds": args.debounce,
                      "webhook_max_delay_seconds": max(args.debounce, 20)}
            ids = [o["Id"] for o in itertools.islice(qbo.sandbox.store.iter_entities(realm, "Invoice"), 10,
                                                     10 + args.changes)]
            with WebhookReceiverServer(config, subprocess_mode=True, env=project.env) as rx:
                qbo.control("POST", "/_sandbox/webhooks", json={"url": rx.url, "format": "legacy",
                                                                "batch_window_s": 0.5})
                qbo.control("DELETE", "/_sandbox/counters")
                changed_at: dict[str, float] = {}
                for n, invoice_id in enumerate(ids):
                    if n:
                        time.sleep(args.spacing)
                    qbo.control("POST", "/_sandbox/mutate", json={
                        "realm": realm, "entity": "Invoice", "op": "update", "id": invoice_id,
                        "data": {"PrivateNote": f"bench change {n}"}})
                    changed_at[invoice_id] = time.time()  # after the mutation returned: the change exists
                ok = rx.wait_until(lambda: len(rx.queue.events()) >= len(ids) and rx.queue.waiting_count() == 0
                                   and not any(r["status"] == "running" for r in rx.queue.runs()),
                                   timeout=600, interval=0.2)
                if not ok:
                    print("".join(rx.output)[-4000:], file=sys.stderr)
                    raise SystemExit("the webhook path did not finish")
                runs = {r["run_id"]: r for r in rx.queue.runs()}
                events = [e for e in rx.queue.events() if e["entity"] == "Invoice" and e["entity_id"] in ids]
                burst = qbo.control("GET", "/_sandbox/counters")
            notes = hyper_notes(project.output_dir / "invoices.hyper", realm, ids, work / "hyper-logs")
        acks = {n: ack_latency(work, n) for n in (1, 100)}
    finally:
        shutil.rmtree(work, ignore_errors=True)

    assert all(notes.get(i) == f"bench change {n}" for n, i in enumerate(ids)), notes
    delays = sorted(runs[e["run_id"]]["finished_at"] - changed_at[e["entity_id"]] for e in events)
    webhook_runs = [r for r in runs.values()]
    print(f"\nrealms={args.realms}  extractor={EXTRACTOR}  burst: {len(ids)} invoice changes {args.spacing}s apart, "
          f"debounce {args.debounce}s")
    print(f"baseline full sync        : {full_s:6.1f} s  {full_requests:5d} QBO requests")
    print(f"scheduled poll, no change : {poll_s:6.1f} s  {poll['requests_total']:5d} QBO requests  {poll['requests']}")
    print(f"webhook burst             : {len(webhook_runs)} run(s) ({', '.join(r['status'] for r in webhook_runs)}), "
          f"{burst['requests_total']} QBO requests  {burst['requests']}")
    print(f"change → row in .hyper    : median {statistics.median(delays):.1f} s, max {max(delays):.1f} s "
          f"(run time alone ≈ {poll_s:.1f} s)")
    print(f"requests: burst / one poll = {burst['requests_total'] / max(poll['requests_total'], 1):.2f};  "
          f"polling every minute for an hour = {60 * poll['requests_total']} requests vs this burst's "
          f"{burst['requests_total']}")
    for n, times in acks.items():
        print(f"receiver ack, {n:3d} event(s)/delivery : median {1000 * statistics.median(times):.1f} ms, "
              f"max {1000 * max(times):.1f} ms over {len(times)} deliveries")
    return 0


if __name__ == "__main__":
    sys.exit(main())
