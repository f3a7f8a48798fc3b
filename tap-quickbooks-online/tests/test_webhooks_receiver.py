"""The webhook receiver against the QBO sandbox's real, signed deliveries, with a fake pipeline command.

The fake command records each invocation (the `QBO_WEBHOOK_CHANGES` it got, whether another run
was still going) in a JSON-lines file; it can be held on a gate file and made to fail.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import sys
import time
from pathlib import Path

import pytest
import requests

from tap_quickbooks_online.webhooks.signature import sign
from tap_quickbooks_online.webhooks.testing import WebhookReceiverServer

FAKE_COMMAND = r'''
import json, os, sys, time
from pathlib import Path
log, sleep_s, gate, fail = Path(sys.argv[1]), float(sys.argv[2]), sys.argv[3], sys.argv[4]
lock = log.with_suffix(".running")
try:
    os.close(os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    overlap = False
except FileExistsError:
    overlap = True
with log.open("a") as f:
    f.write(json.dumps({"pid": os.getpid(), "run_id": os.environ.get("QBO_WEBHOOK_RUN_ID"), "overlap": overlap,
                        "changes": json.loads(os.environ["QBO_WEBHOOK_CHANGES"])}) + "\n")
time.sleep(sleep_s)
while gate != "-" and not Path(gate).exists():
    time.sleep(0.02)
if not overlap:
    lock.unlink()
sys.exit(1 if fail != "-" and Path(fail).exists() else 0)
'''


class FakePipeline:
    def __init__(self, tmp_path: Path, sleep_s: float = 0.0, gate: bool = False):
        self.script = tmp_path / "fake_pipeline.py"
        self.script.write_text(FAKE_COMMAND)
        self.log = tmp_path / "runs.jsonl"
        self.gate = tmp_path / "gate" if gate else None
        self.fail_flag = tmp_path / "fail"
        self.command = [sys.executable, str(self.script), str(self.log), str(sleep_s),
                        str(self.gate) if self.gate else "-", str(self.fail_flag)]

    def invocations(self) -> list[dict]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]


def receiver_config(tmp_path: Path, token: str, fake: FakePipeline, realms: list[str], **extra) -> dict:
    return {"webhook_verifier_token": token, "webhook_queue_url": f"sqlite:///{tmp_path}/webhooks.db",
            "webhook_command": fake.command, "webhook_debounce_seconds": 0.3, "webhook_max_delay_seconds": 30,
            "webhook_retry_seconds": 0.2, "webhook_retry_max_seconds": 1, "realm_ids": realms, **extra}


def register(qbo, url: str, **extra) -> dict:
    body = {"url": url, "format": "legacy", "batch_window_s": 0.05, "max_attempts": 2, "backoff_s": 0.05, **extra}
    return qbo.control("POST", "/_sandbox/webhooks", json=body)


def invoice_ids(qbo, realm: str, n: int) -> list[str]:
    return [o["Id"] for o in itertools.islice(qbo.sandbox.store.iter_entities(realm, "Invoice"), n)]


def update_invoice(qbo, realm: str, invoice_id: str, note: str) -> None:
    qbo.control("POST", "/_sandbox/mutate", json={"realm": realm, "entity": "Invoice", "op": "update",
                                                  "id": invoice_id, "data": {"PrivateNote": note}})


def deliveries(qbo) -> list[dict]:
    return qbo.control("GET", "/_sandbox/webhooks/deliveries")["deliveries"]


def wait_for(predicate, timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return bool(predicate())


@pytest.fixture
def creds(qbo_sandbox) -> dict:
    return qbo_sandbox.credentials()


@pytest.mark.parametrize("fmt", ["legacy", "cloudevents"])
def test_signed_delivery_is_queued_run_and_marked_done(qbo_sandbox, creds, tmp_path, fmt):
    realms = [r["realm_id"] for r in creds["realms"]]
    fake = FakePipeline(tmp_path)
    config = receiver_config(tmp_path, creds["webhook_verifier_token"], fake, realms)
    with WebhookReceiverServer(config) as rx:
        register(qbo_sandbox, rx.url, format=fmt)
        [inv] = invoice_ids(qbo_sandbox, realms[0], 1)
        update_invoice(qbo_sandbox, realms[0], inv, "changed by webhook test")
        qbo_sandbox.control("POST", "/_sandbox/mutate", json={"realm": realms[1], "entity": "Customer", "op": "update",
                                                                "id": "1", "data": {"Notes": "x"}})
        assert wait_for(lambda: rx.queue.waiting_count() == 0 and rx.trigger.runs_succeeded >= 1)
        assert requests.get(rx.base_url + "/healthz", timeout=10).json() == {"ok": True, "waiting": 0, "running": False}
        sent = deliveries(qbo_sandbox)
        assert sent and all(d["ok"] and d["status"] == 200 for d in sent)
        rows = rx.queue.events()
    keys = {(r["realm_id"], r["entity"], r["entity_id"], r["operation"]) for r in rows}
    assert (realms[0], "Invoice", inv, "Update") in keys and (realms[1], "Customer", "1", "Update") in keys
    assert all(r["done_at"] is not None and r["run_id"] for r in rows)
    changes: dict[str, set] = {}
    for call in fake.invocations():
        assert not call["overlap"]
        for realm, entities in call["changes"].items():
            changes.setdefault(realm, set()).update(entities)
    assert "Invoice" in changes[realms[0]] and "Customer" in changes[realms[1]]


def test_forged_deliveries_rejected_and_never_acted_on(qbo_sandbox, creds, tmp_path, caplog):
    realms = [r["realm_id"] for r in creds["realms"]]
    fake = FakePipeline(tmp_path)
    with WebhookReceiverServer(receiver_config(tmp_path, creds["webhook_verifier_token"], fake, realms)) as rx:
        # The sandbox signs with another app's verifier token: every attempt (and QBO's retry) is a 401.
        register(qbo_sandbox, rx.url, verifier_token="not-the-right-token")
        [inv] = invoice_ids(qbo_sandbox, realms[0], 1)
        update_invoice(qbo_sandbox, realms[0], inv, "forged")
        assert wait_for(lambda: len(deliveries(qbo_sandbox)) >= 2)
        sent = deliveries(qbo_sandbox)
        assert [d["status"] for d in sent] == [401, 401]
        body = sent[0]["body"].encode()
        token = creds["webhook_verifier_token"]
        attempts = {
            "unsigned": ({}, body, 401),
            "signature of another body": ({"intuit-signature": sign(body + b" ", token)}, body, 401),
            "garbage signature": ({"intuit-signature": "1234"}, body, 401),
            "signed but not JSON": ({"intuit-signature": sign(b"{oops", token)}, b"{oops", 400),
            "signed but not a notification": ({"intuit-signature": sign(b'{"a": 1}', token)}, b'{"a": 1}', 400),
            "oversized": ({"intuit-signature": sign(b"x" * 2_000_000, token)}, b"x" * 2_000_000, 413),
        }
        for name, (headers, data, status) in attempts.items():
            r = requests.post(rx.url, data=data, headers={"Content-Type": "application/json", **headers}, timeout=10)
            assert r.status_code == status, name
            assert r.json()["outcome"] == "rejected"
        chunked = requests.post(rx.url, data=(b"x" * 65536 for _ in range(40)), timeout=10,  # no Content-Length
                                headers={"intuit-signature": sign(b"x" * 65536 * 40, token)})
        assert chunked.status_code == 413
        assert requests.get(rx.url, timeout=10).status_code == 405
        time.sleep(0.5)  # longer than the debounce: a run would have started by now
        assert rx.queue.events() == [] and rx.queue.runs() == [] and fake.invocations() == []
    assert any("invalid intuit-signature" in m for m in caplog.messages)
    assert all(token not in m for m in caplog.messages)


def test_replayed_delivery_is_acknowledged_but_not_queued_again(qbo_sandbox, creds, tmp_path):
    realms = [r["realm_id"] for r in creds["realms"]]
    fake = FakePipeline(tmp_path)
    token = creds["webhook_verifier_token"]
    with WebhookReceiverServer(receiver_config(tmp_path, token, fake, realms)) as rx:
        register(qbo_sandbox, rx.url)
        ids = invoice_ids(qbo_sandbox, realms[0], 3)
        for i in ids:
            update_invoice(qbo_sandbox, realms[0], i, "replay me")
        assert wait_for(lambda: rx.queue.waiting_count() == 0 and len(rx.queue.events()) == 3
                        and rx.trigger.runs_succeeded >= 1)
        runs_before, events_before = rx.queue.runs(), rx.queue.events()
        # Replay every captured delivery byte for byte with its valid signature (as an attacker, or QBO's retry).
        for delivery in deliveries(qbo_sandbox):
            body = delivery["body"].encode()
            r = requests.post(rx.url, data=body, headers={"intuit-signature": sign(body, token)}, timeout=10)
            assert r.status_code == 200  # QBO must stop retrying …
            assert r.json()["queued"] == 0 and r.json()["duplicates"] == r.json()["events"] > 0  # … nothing new
        time.sleep(0.6)
        assert rx.queue.runs() == runs_before and rx.queue.events() == events_before
        assert len(fake.invocations()) == len(runs_before)


def test_events_of_other_realms_are_ignored(qbo_sandbox, creds, tmp_path):
    realms = [r["realm_id"] for r in creds["realms"]]
    fake = FakePipeline(tmp_path)
    with WebhookReceiverServer(receiver_config(tmp_path, creds["webhook_verifier_token"], fake, realms[:1])) as rx:
        register(qbo_sandbox, rx.url)
        update_invoice(qbo_sandbox, realms[1], invoice_ids(qbo_sandbox, realms[1], 1)[0], "not ours")
        assert wait_for(lambda: len(deliveries(qbo_sandbox)) >= 1)
        assert deliveries(qbo_sandbox)[0]["status"] == 200
        time.sleep(0.5)
        assert rx.queue.events() == [] and fake.invocations() == []


def test_burst_of_1000_events_coalesces_into_few_runs(qbo_sandbox, creds, tmp_path):
    """1,000 change events, delivered by the sandbox in many signed batches, cost a handful of runs.

    The events are emitted through the sandbox's change listener (what every store change calls),
    so the deliveries are the sandbox's real signed POSTs; the data itself is not changed (an update
    through the API costs ~70 ms here, which would only slow the test down).
    """
    realms = [r["realm_id"] for r in creds["realms"]]
    fake = FakePipeline(tmp_path, sleep_s=0.2)
    config = receiver_config(tmp_path, creds["webhook_verifier_token"], fake, realms,
                             webhook_debounce_seconds=2.0, webhook_max_delay_seconds=60)
    with WebhookReceiverServer(config) as rx:
        register(qbo_sandbox, rx.url, batch_window_s=0.02)
        emit = qbo_sandbox.sandbox.webhooks.on_change
        entities = ["Invoice", "Bill", "Customer", "Payment"]
        for n in range(1000):
            emit(realms[n % 2], entities[n % 4], str(1000 + n), "Update", 1_767_225_600 + n)
            if n % 10 == 9:
                time.sleep(0.04)  # spread the burst over many deliveries
        assert wait_for(lambda: len(rx.queue.events()) == 1000 and rx.queue.waiting_count() == 0, timeout=120)
        sent = [d for d in deliveries(qbo_sandbox) if d["ok"]]
        runs = rx.queue.runs()
    calls = fake.invocations()
    assert sum(d["events"] for d in sent) == 1000 and len(sent) >= 10
    # One run is expected (deliveries come every few ms, the debounce is 2 s); a stalled machine may
    # split the burst, so allow a couple more — still bounded, never one per delivery.
    assert 1 <= len(runs) <= 3, f"{len(runs)} runs for {len(sent)} deliveries"
    assert len(calls) == len(runs) and not any(c["overlap"] for c in calls)
    assert all(r["status"] == "succeeded" for r in runs)
    seen = {(realm, e) for c in calls for realm, ents in c["changes"].items() for e in ents}
    assert seen == {(realms[n % 2], entities[n % 4]) for n in range(4)}


def test_events_during_a_run_cause_exactly_one_follow_up(qbo_sandbox, creds, tmp_path):
    realms = [r["realm_id"] for r in creds["realms"]]
    fake = FakePipeline(tmp_path, gate=True)
    config = receiver_config(tmp_path, creds["webhook_verifier_token"], fake, realms, webhook_debounce_seconds=0.2)
    with WebhookReceiverServer(config) as rx:
        register(qbo_sandbox, rx.url)
        emit = qbo_sandbox.sandbox.webhooks.on_change
        emit(realms[0], "Invoice", "1", "Update", 1_767_225_600)
        assert wait_for(lambda: len(fake.invocations()) == 1)  # run 1 started and is held on the gate
        for n in range(300):  # many deliveries while run 1 is running
            emit(realms[n % 2], "Bill", str(n), "Create", 1_767_225_601 + n)
            if n % 30 == 29:
                time.sleep(0.1)
        assert wait_for(lambda: len(rx.queue.events()) == 301)
        time.sleep(0.5)
        assert len(fake.invocations()) == 1  # never two at once
        fake.gate.touch()
        assert wait_for(lambda: rx.queue.waiting_count() == 0)
        time.sleep(0.5)
        runs = rx.queue.runs()
    assert [r["events"] for r in runs] == [1, 300]
    assert len(fake.invocations()) == 2 and not any(c["overlap"] for c in fake.invocations())


def test_failed_run_keeps_events_and_retries_with_backoff(qbo_sandbox, creds, tmp_path):
    realms = [r["realm_id"] for r in creds["realms"]]
    fake = FakePipeline(tmp_path)
    fake.fail_flag.touch()
    with WebhookReceiverServer(receiver_config(tmp_path, creds["webhook_verifier_token"], fake, realms)) as rx:
        register(qbo_sandbox, rx.url)
        qbo_sandbox.sandbox.webhooks.on_change(realms[0], "Invoice", "5", "Update", 1_767_225_600)
        assert wait_for(lambda: rx.trigger.runs_failed >= 2)
        assert rx.queue.waiting_count() == 1  # failed runs mark nothing done
        fake.fail_flag.unlink()
        assert wait_for(lambda: rx.queue.waiting_count() == 0)
        runs = rx.queue.runs()
    assert [r["status"] for r in runs][-1] == "succeeded"
    assert {r["status"] for r in runs[:-1]} == {"failed"} and len(runs) >= 3
    failed = [r for r in runs if r["status"] == "failed"]
    gaps = [b["started_at"] - a["finished_at"] for a, b in zip(runs, runs[1:])]
    assert all(g >= 0.15 for g in gaps[: len(failed)])  # waited (retry_s=0.2) before each retry


def test_killed_receiver_finishes_queued_events_after_restart(qbo_sandbox, creds, tmp_path):
    realms = [r["realm_id"] for r in creds["realms"]]
    fake = FakePipeline(tmp_path, gate=True)  # the first run hangs: the receiver dies during it
    config = receiver_config(tmp_path, creds["webhook_verifier_token"], fake, realms)
    rx = WebhookReceiverServer(config, subprocess_mode=True).start()
    try:
        register(qbo_sandbox, rx.url, max_attempts=1)
        ids = invoice_ids(qbo_sandbox, realms[0], 3)
        for i in ids:
            update_invoice(qbo_sandbox, realms[0], i, "before the crash")
        assert wait_for(lambda: len(fake.invocations()) == 1 and len(rx.queue.events()) == 3)
        os.killpg(rx.process.pid, signal.SIGKILL)  # receiver and its running command, no clean-up
        rx.process.wait()
    finally:
        rx.stop()
    assert rx.queue.waiting_count() == 3 and [r["status"] for r in rx.queue.runs()] == ["running"]

    fake.gate.touch()
    (fake.log.with_suffix(".running")).unlink(missing_ok=True)  # the killed run's marker
    with WebhookReceiverServer(config, subprocess_mode=True) as rx2:
        assert wait_for(lambda: rx2.queue.waiting_count() == 0)
        runs = rx2.queue.runs()
        events = rx2.queue.events()
    assert [r["status"] for r in runs] == ["interrupted", "succeeded"]
    assert {e["entity_id"] for e in events} == set(ids) and all(e["run_id"] == runs[1]["run_id"] for e in events)
    assert fake.invocations()[-1]["changes"] == {realms[0]: ["Invoice"]}


def test_restarted_receiver_waits_for_a_run_left_running_by_its_predecessor(qbo_sandbox, creds, tmp_path):
    """SIGKILL of the receiver alone orphans its `meltano run`: the new receiver must not run beside it."""
    realms = [r["realm_id"] for r in creds["realms"]]
    fake = FakePipeline(tmp_path, gate=True)
    config = receiver_config(tmp_path, creds["webhook_verifier_token"], fake, realms)
    rx = WebhookReceiverServer(config, subprocess_mode=True).start()
    try:
        register(qbo_sandbox, rx.url, max_attempts=1)
        qbo_sandbox.sandbox.webhooks.on_change(realms[0], "Invoice", "7", "Update", 1_767_225_600)
        assert wait_for(lambda: len(fake.invocations()) == 1)
        orphan = fake.invocations()[0]["pid"]
        os.kill(rx.process.pid, signal.SIGKILL)  # the receiver only: its run goes on
        rx.process.wait()
        os.kill(orphan, 0)  # still running
        with WebhookReceiverServer(config, subprocess_mode=True) as rx2:
            time.sleep(1.5)  # several debounce periods: a run would have started by now
            assert len(fake.invocations()) == 1 and rx2.queue.waiting_count() == 1
            fake.gate.touch()  # the orphan finishes; then the new receiver runs the waiting event
            assert wait_for(lambda: rx2.queue.waiting_count() == 0)
            runs = rx2.queue.runs()
            log_text = "".join(rx2.output)
    finally:
        rx.stop()
    calls = fake.invocations()
    assert len(calls) == 2 and not any(c["overlap"] for c in calls)
    assert [r["status"] for r in runs] == ["interrupted", "succeeded"]
    assert f"waiting for run process {orphan}" in log_text
