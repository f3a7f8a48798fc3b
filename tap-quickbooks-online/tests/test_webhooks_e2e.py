"""End to end through the webhook path: a change in the QBO sandbox reaches the `.hyper` file.

QBO sandbox → signed webhook → receiver (started as Meltano starts it: `meltano invoke
tap-quickbooks-online:webhooks`, settings from `TAP_QUICKBOOKS_ONLINE_*`) → durable queue → debounced trigger → real `meltano run tap-quickbooks-online target-tableau-hyper`
in a temporary copy of this project → `invoices.hyper`. Only the invoices stream is selected
(`TAP_QUICKBOOKS_ONLINE__SELECT`) to keep the runs short.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tap_quickbooks_online.webhooks.testing import WebhookReceiverServer

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
from e2e_support import MELTANO, MeltanoProject, _copy_project, sandbox_env  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def project_template(tmp_path_factory) -> Path:
    template = tmp_path_factory.mktemp("webhooks-meltano-template")
    _copy_project(template)
    env = {**os.environ, "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false"}
    proc = subprocess.run([MELTANO, "install", "tap-quickbooks-online", "target-tableau-hyper"], cwd=template,
                          env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-8000:]
    return template


def hyper_rows(path: Path, sql: str, log_dir: Path) -> list[list]:
    from tableauhyperapi import Connection, HyperProcess, Telemetry

    log_dir.mkdir(parents=True, exist_ok=True)
    with HyperProcess(Telemetry.DO_NOT_SEND_USAGE_DATA_TO_TABLEAU, parameters={"log_dir": str(log_dir)}) as hp:
        with Connection(hp.endpoint, str(path)) as conn:  # closed at once: the target must be able to write it
            return conn.execute_list_query(sql)


def test_change_in_qbo_reaches_hyper_through_webhook(project_template, tmp_path):
    from qbo_sandbox.testing import QboSandboxServer

    root = tmp_path / "project"
    shutil.copytree(project_template, root, symlinks=True)
    base_env = {k: v for k, v in os.environ.items() if not k.startswith(("TAP_", "TARGET_", "MELTANO_"))}
    project = MeltanoProject(root=root, env={**base_env, "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
                                             "MELTANO_ENVIRONMENT": "dev",
                                             "TAP_QUICKBOOKS_ONLINE__SELECT": json.dumps(["invoices.*"])})
    with QboSandboxServer(realms=1, size="demo", seed=11) as qbo:
        sandbox_env(project, qbo)
        creds = qbo.credentials()
        realm = creds["realms"][0]["realm_id"]
        project.run("run", "tap-quickbooks-online", "target-tableau-hyper")  # the scheduled baseline sync
        invoices = project.output_dir / "invoices.hyper"
        invoice_id = next(itertools.islice(qbo.sandbox.store.iter_entities(realm, "Invoice"), 5, 6))["Id"]
        note = f"changed at {time.time():.0f} via webhook"
        select_note = f'SELECT "PrivateNote" FROM "Extract"."Extract" WHERE realm_id = \'{realm}\' AND "Id" = \'{invoice_id}\''
        assert hyper_rows(invoices, select_note, tmp_path / "hyper-logs") != [[note]]

        # Only the settings without a default are given; queue and working directory are the defaults
        # under $MELTANO_PROJECT_ROOT (`meltano` itself is not on this test's PATH, so the command is).
        command = [MELTANO, "run", "tap-quickbooks-online", "target-tableau-hyper"]
        receiver_env = {**project.env,
                        "TAP_QUICKBOOKS_ONLINE_WEBHOOK_VERIFIER_TOKEN": creds["webhook_verifier_token"],
                        "TAP_QUICKBOOKS_ONLINE_WEBHOOK_COMMAND": json.dumps(command),
                        "TAP_QUICKBOOKS_ONLINE_WEBHOOK_DEBOUNCE_SECONDS": "1",
                        "TAP_QUICKBOOKS_ONLINE_WEBHOOK_MAX_DELAY_SECONDS": "10"}
        config = {"webhook_verifier_token": "-",
                  "webhook_queue_url": f"sqlite:///{root}/.meltano/run/tap-quickbooks-online/webhooks.db"}
        launch = [MELTANO, "invoke", "tap-quickbooks-online:webhooks", "--host", "127.0.0.1", "--port", "0"]
        with WebhookReceiverServer(config, subprocess_mode=True, env=receiver_env, launch=launch, cwd=str(root)) as rx:
            qbo.control("POST", "/_sandbox/webhooks", json={"url": rx.url, "format": "legacy", "batch_window_s": 0.2})
            qbo.control("DELETE", "/_sandbox/counters")
            qbo.control("POST", "/_sandbox/mutate", json={"realm": realm, "entity": "Invoice", "op": "update",
                                                          "id": invoice_id, "data": {"PrivateNote": note}})
            done = rx.wait_until(lambda: any(r["status"] != "running" for r in rx.queue.runs())
                                 and rx.queue.waiting_count() == 0, timeout=180, interval=0.5)
            runs = rx.queue.runs()
            assert done, f"runs: {runs}\n{''.join(rx.output)[-4000:]}"
        counters = qbo.control("GET", "/_sandbox/counters")

    assert [r["status"] for r in runs] == ["succeeded"] and runs[0]["events"] == 1
    assert hyper_rows(invoices, select_note, tmp_path / "hyper-logs") == [[note]]
    # The webhook-triggered run is the tap's incremental sync: CDC, not a re-read of every invoice.
    assert counters["requests"].get("cdc", 0) >= 1
    assert counters["requests_total"] < 20, counters["requests"]
