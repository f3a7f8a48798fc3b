"""Signature, payload parsing, settings and queue of the QBO webhook receiver (no servers)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tap_quickbooks_online.webhooks.event_queue import EventQueue
from tap_quickbooks_online.webhooks.events import ChangeEvent, PayloadError, parse_notification
from tap_quickbooks_online.webhooks.settings import DEFAULT_COMMAND, SettingsError, WebhookSettings, config_from_env
from tap_quickbooks_online.webhooks.signature import sign, verify

REFERENCE = Path("/work/shared/reference/qbo")


@pytest.fixture(scope="module")
def vector() -> dict:
    return json.loads((REFERENCE / "webhook-signature-vector.json").read_text())


def test_intuit_test_vector_verifies(vector):
    body = vector["payload"].encode("utf-8")
    assert sign(body, vector["verifier_token"]) == vector["intuit_signature"]
    assert verify(body, vector["intuit_signature"], vector["verifier_token"])


@pytest.mark.parametrize("signature", ["1234", "", None, "JC2GUwciPmRBwEO7WvrRmKqu9tGOKL8FFallocTFi8Q",
                                       "jc2guwciPmRBwEO7WvrRmKqu9tGOKL8FFallocTFi8Q=", "é" * 44])
def test_wrong_signatures_rejected(vector, signature):
    assert not verify(vector["payload"].encode(), signature, vector["verifier_token"])


def test_signature_binds_body_and_token(vector):
    body = vector["payload"].encode()
    assert not verify(body + b" ", vector["intuit_signature"], vector["verifier_token"])
    assert not verify(body.replace(b'"1"', b'"2"'), vector["intuit_signature"], vector["verifier_token"])
    assert not verify(body, vector["intuit_signature"], vector["verifier_token"] + "x")
    assert not verify(body, vector["intuit_signature"], "")


def test_legacy_payload_parsed(vector):
    [event] = parse_notification(vector["payload"].encode())
    assert event == ChangeEvent("1185883450", "Customer", "1", "Create", "2015-10-05T21:42:19.000000Z")


def test_cloudevents_payload_parsed():
    [event] = parse_notification((REFERENCE / "webhook-cloudevents.json").read_bytes())
    assert event == ChangeEvent("310687", "Class", "1234", "Create", "2025-10-07T19:59:07.034359Z")


def test_cloudevents_entity_and_verb_spelling():
    body = json.dumps([{"specversion": "1.0", "id": "x", "source": "s", "type": "qbo.journalentry.voided.v1",
                        "time": "2026-01-02T03:04:05Z", "intuitentityid": 7, "intuitaccountid": "9"}]).encode()
    assert parse_notification(body) == [ChangeEvent("9", "JournalEntry", "7", "Void", "2026-01-02T03:04:05.000000Z")]


def test_same_change_same_key_in_both_formats():
    legacy = {"eventNotifications": [{"realmId": "9", "dataChangeEvent": {"entities": [
        {"name": "Invoice", "id": "42", "operation": "Update", "lastUpdated": "2026-01-02T00:00:00-0800"}]}}]}
    cloud = [{"specversion": "1.0", "id": "u", "source": "s", "type": "qbo.invoice.updated.v1",
              "time": "2026-01-02T08:00:00Z", "intuitentityid": "42", "intuitaccountid": "9"}]
    [a] = parse_notification(json.dumps(legacy).encode())
    [b] = parse_notification(json.dumps(cloud).encode())
    assert a.dedup_key == b.dedup_key
    assert a.dedup_key != ChangeEvent("9", "Invoice", "42", "Delete", a.last_updated).dedup_key


@pytest.mark.parametrize("body", [
    b"", b"not json", b"\xff\xfe", b"{}", b"[1]", b"null", b'{"eventNotifications": {}}',
    b'{"eventNotifications": [{"realmId": "1"}]}',
    b'{"eventNotifications": [{"realmId": "1", "dataChangeEvent": {"entities": [{"name": "Invoice", "id": "1"}]}}]}',
    b'{"eventNotifications": [{"realmId": "1", "dataChangeEvent": {"entities": [{"name": "Invoice", "id": "1",'
    b' "operation": "Update", "lastUpdated": "yesterday"}]}}]}',
    b'[{"type": "other.invoice.updated.v1", "time": "2026-01-01T00:00:00Z", "intuitentityid": "1", "intuitaccountid": "2"}]',
    json.dumps([{"type": "qbo.invoice.updated.v1", "time": "2026-01-01T00:00:00Z", "intuitentityid": "1" * 500,
                 "intuitaccountid": "2"}]).encode(),
])
def test_malformed_payloads_refused(body):
    with pytest.raises(PayloadError):
        parse_notification(body)


def test_settings_defaults_and_validation(tmp_path):
    s = WebhookSettings.from_config({"webhook_verifier_token": " tok ", "realm_ids": ["1"],
                                     "realms": [{"realm_id": "2", "refresh_token": "r"}]},
                                    environ={"MELTANO_PROJECT_ROOT": str(tmp_path)})
    assert s.verifier_token == "tok" and s.command == DEFAULT_COMMAND and s.command_cwd == str(tmp_path)
    assert s.queue_url == f"sqlite:///{tmp_path}/.meltano/run/tap-quickbooks-online/webhooks.db"
    assert s.realm_ids == {"1", "2"} and s.debounce_s == 5 and s.max_delay_s == 30
    assert "tok" not in repr(s)
    assert WebhookSettings.from_config({"webhook_verifier_token": "t", "webhook_command": "sh -c 'echo a b'"},
                                       environ={}).command == ("sh", "-c", "echo a b")
    assert WebhookSettings.from_config({"webhook_verifier_token": "t", "webhook_command": '["a", "b c"]'},
                                       environ={}).command == ("a", "b c")
    for bad in ({}, {"webhook_verifier_token": ""}, {"webhook_verifier_token": "t", "webhook_debounce_seconds": "x"},
                {"webhook_verifier_token": "t", "webhook_debounce_seconds": 10, "webhook_max_delay_seconds": 5},
                {"webhook_verifier_token": "t", "webhook_queue_url": "webhooks.db"},
                {"webhook_verifier_token": "t", "webhook_command": []}):
        with pytest.raises(SettingsError) as err:
            WebhookSettings.from_config(bad, environ={})
        assert "webhook_" in str(err.value)


def test_settings_from_meltano_env():
    env = {"TAP_QUICKBOOKS_ONLINE_WEBHOOK_VERIFIER_TOKEN": "secret", "TAP_QUICKBOOKS_ONLINE_REALM_IDS": '["5"]',
           "TAP_QUICKBOOKS_ONLINE_WEBHOOK_DEBOUNCE_SECONDS": "2", "TAP_QUICKBOOKS_ONLINE_CLIENT_SECRET": "no"}
    config = config_from_env(env)
    assert config == {"webhook_verifier_token": "secret", "realm_ids": ["5"], "webhook_debounce_seconds": "2"}
    assert WebhookSettings.from_config(config, environ={}).debounce_s == 2.0


def test_queue_dedups_and_marks_done_up_to_watermark(tmp_path):
    queue = EventQueue.from_url(f"sqlite:///{tmp_path}/q.db")
    a = ChangeEvent("1", "Invoice", "10", "Update", "2026-01-01T00:00:00.000000Z")
    b = ChangeEvent("1", "Customer", "3", "Create", "2026-01-01T00:00:01.000000Z")
    assert queue.enqueue([a, a, b]).queued == 2
    assert queue.enqueue([a, b]).duplicates == 2
    batch = queue.next_batch()
    assert batch.events == 2 and batch.changes == {"1": ["Customer", "Invoice"]}
    run_id = queue.start_run(batch)
    late = ChangeEvent("2", "Bill", "4", "Delete", "2026-01-01T00:00:02.000000Z")
    queue.enqueue([late])  # arrives during the run: not covered by it
    assert queue.finish_run(run_id, batch, 1) == 0 and queue.waiting_count() == 3  # failed: all wait
    run_id = queue.start_run(batch)
    assert queue.finish_run(run_id, batch, 0) == 2
    assert queue.next_batch().changes == {"2": ["Bill"]}
    assert [r["status"] for r in queue.runs()] == ["failed", "succeeded"]
    # a done event is still recognised (retry / replay), until purged after the retention
    assert queue.enqueue([a]).duplicates == 1
    assert queue.purge_done(older_than_s=-1) == 2
    assert queue.enqueue([a]).queued == 1


def test_cli_accepts_options_in_any_order():
    from tap_quickbooks_online.webhooks.cli import build_parser

    for argv in (["--config", "a.json", "serve", "--port", "0"], ["serve", "--config", "a.json", "--port", "0"]):
        args = build_parser().parse_args(argv)
        assert (args.action, args.config, args.port) == ("serve", ["a.json"], 0)


def test_cli_refuses_to_start_without_a_verifier_token(tmp_path, monkeypatch, capsys):
    from tap_quickbooks_online.webhooks.cli import main

    for name in list(__import__("os").environ):
        if name.startswith("TAP_QUICKBOOKS_ONLINE_"):
            monkeypatch.delenv(name)
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"client_id": "x", "webhook_queue_url": f"sqlite:///{tmp_path}/q.db"}))
    assert main(["--config", str(config), "serve"]) == 2
    assert "webhook_verifier_token is required" in capsys.readouterr().err
    config.write_text("[1]")
    assert main(["serve", "--config", str(config)]) == 2
    monkeypatch.setenv("TAP_QUICKBOOKS_ONLINE_WEBHOOK_VERIFIER_TOKEN", "from-env")
    monkeypatch.setenv("TAP_QUICKBOOKS_ONLINE_WEBHOOK_DEBOUNCE_SECONDS", "soon")
    assert main(["serve", "--config", "ENV"]) == 2
    err = capsys.readouterr().err
    assert "webhook_debounce_seconds must be a number" in err and "from-env" not in err


def test_cli_status_prints_the_queue(tmp_path, monkeypatch, capsys):
    from tap_quickbooks_online.webhooks.cli import main

    url = f"sqlite:///{tmp_path}/q.db"
    queue = EventQueue.from_url(url)
    queue.enqueue([ChangeEvent("7", "Invoice", "1", "Update", "2026-01-01T00:00:00.000000Z")])
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"webhook_verifier_token": "secret-token", "webhook_queue_url": url}))
    assert main(["--config", str(config), "status"]) == 0
    out = capsys.readouterr().out
    assert json.loads(out) == {"waiting": 1, "changes": {"7": ["Invoice"]}, "runs": []}
    assert "secret-token" not in out
