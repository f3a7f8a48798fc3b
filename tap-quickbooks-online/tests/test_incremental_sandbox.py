"""Incremental runs against the sandbox: CDC changes and hard deletes, line replacement,
resume from state, the request budget of a day's changes, and the 30-day CDC window."""

from __future__ import annotations

import pytest

STREAMS = ["invoices", "invoice_lines", "customers", "time_activities", "bills"]


pytestmark = pytest.mark.usefixtures("info_logs")  # the tests read the tap's INFO lines


def by_id(records, realm_id):
    return {r["Id"]: r for r in records if r["realm_id"] == realm_id}


def test_cdc_changes_deletes_and_line_replacement(qbo_sandbox, make_config, tap_run):
    sb = qbo_sandbox
    config = make_config(sb)
    first = tap_run(config, STREAMS)
    realm_a, realm_b = sb.realm_ids()
    invoices_a = sorted(by_id(first.records["invoices"], realm_a).values(),
                        key=lambda r: r["updated_at"])
    changed, deleted = invoices_a[10], invoices_a[20]
    current = sb.sandbox.store.get(realm_a, "Invoice", changed["Id"])
    sales_lines = [ln for ln in current["Line"] if ln["DetailType"] == "SalesItemLineDetail"]
    assert len(sales_lines) >= 2
    kept_lines = sales_lines[:1]

    sb.control("POST", "/_sandbox/clock", json={"advance": 120})
    sb.control("POST", "/_sandbox/mutate", json={
        "realm": realm_a, "entity": "Invoice", "op": "update", "id": changed["Id"],
        "data": {"Line": kept_lines}})
    sb.control("POST", "/_sandbox/mutate", json={
        "realm": realm_a, "entity": "Invoice", "op": "delete", "id": deleted["Id"]})
    customer = next(iter(by_id(first.records["customers"], realm_b).values()))
    sb.control("POST", "/_sandbox/mutate", json={
        "realm": realm_b, "entity": "Customer", "op": "update", "id": customer["Id"],
        "data": {"Notes": "changed in test"}})
    sb.control("DELETE", "/_sandbox/counters")

    second = tap_run(config, STREAMS, state=first.state)

    # changes and deletes, nothing else (no full re-read); the record(s) at exactly the old
    # bookmark come again (bookmarks are inclusive: at-least-once)
    got_a = [r for r in second.records.get("invoices", []) if r["realm_id"] == realm_a]
    boundary = first.bookmark("invoices", realm_a)
    assert {r["Id"] for r in got_a if r.get("updated_at") != boundary} == \
        {changed["Id"], deleted["Id"]}
    tombstone = next(r for r in got_a if r["Id"] == deleted["Id"])
    assert set(tombstone) == {"realm_id", "Id", "_sdc_deleted_at"}
    updated = next(r for r in got_a if r["Id"] == changed["Id"])
    assert int(updated["SyncToken"]) > int(changed["SyncToken"])
    customers_b = [r for r in second.records["customers"] if r["realm_id"] == realm_b]
    assert [r["Notes"] for r in customers_b if r["Id"] == customer["Id"]] == ["changed in test"]

    # lines: parent tombstone first, then exactly the current lines; deleted parent → tombstone only
    lines = [r for r in second.records["invoice_lines"] if r["realm_id"] == realm_a]
    changed_rows = [r for r in lines if r["txn_id"] == changed["Id"]]
    assert changed_rows[0]["line_index"] is None and changed_rows[0]["_sdc_deleted_at"]
    assert [r["detail_type"] for r in changed_rows[1:] if r["detail_type"] ==
            "SalesItemLineDetail"] == ["SalesItemLineDetail"]
    assert changed_rows[1]["amount"] == kept_lines[0]["Amount"]
    deleted_rows = [r for r in lines if r["txn_id"] == deleted["Id"]]
    assert len(deleted_rows) == 1 and deleted_rows[0]["line_index"] is None

    # a day's changes: one CDC call per realm serves invoices, customers and bills;
    # time_activities (not in CDC) is one query per realm
    counters = sb.control("GET", "/_sandbox/counters")["requests"]
    assert counters.get("cdc") == 2
    assert counters.get("query") == 2

    # bookmarks moved forward for every realm and stream, quiet ones included
    for stream in ("invoices", "customers", "bills"):
        for realm in (realm_a, realm_b):
            assert second.bookmark(stream, realm) > first.bookmark(stream, realm)

    # a third run right away reads nothing new but still costs only the same few requests
    sb.control("DELETE", "/_sandbox/counters")
    third = tap_run(config, STREAMS, state=second.state)
    assert len(third.records.get("invoices", [])) <= 2
    assert sb.control("GET", "/_sandbox/counters")["requests"].get("cdc") == 2


def test_bookmark_older_than_30_days_resyncs_with_reason(qbo_sandbox, make_config, tap_run):
    sb = qbo_sandbox
    config = make_config(sb)
    first = tap_run(config, ["bills"])
    sb.control("POST", "/_sandbox/clock", json={"advance": 40 * 86400})
    second = tap_run(config, ["bills"], state=first.state)
    assert len(second.records["bills"]) == len(first.records["bills"])
    assert "older than QBO's 30-day CDC window" in second.logs
    assert "full resync" in second.logs


class Interrupted(Exception):
    """Stands in for a crash (killed process, lost network) in the middle of a sync."""


def test_resume_mid_stream_after_interruption(qbo_sandbox, make_config, tap_run, monkeypatch):
    from tap_quickbooks_online.streams.entities import EntityStream  # noqa: PLC0415

    sb = qbo_sandbox
    config = make_config(sb, page_size=100)
    monkeypatch.setattr(EntityStream, "STATE_MSG_FREQUENCY", 50)
    original_query = EntityStream.query
    calls = {"n": 0}
    realm_a = sb.realm_ids()[0]

    def failing_query(self, realm_id, statement):
        if realm_id == realm_a:
            calls["n"] += 1
            if calls["n"] == 8:  # realm A, 8th request (COUNT + 7 pages read)
                raise Interrupted("connection lost")
        return original_query(self, realm_id, statement)

    monkeypatch.setattr(EntityStream, "query", failing_query)
    broken = tap_run(config, ["invoices"], expect_error=Interrupted)
    read_before = {r["Id"] for r in broken.records["invoices"] if r["realm_id"] == realm_a}
    mark = broken.bookmark("invoices", realm_a)
    assert mark and 500 <= len(read_before) < 800

    monkeypatch.setattr(EntityStream, "query", original_query)
    resumed = tap_run(config, ["invoices"], state=broken.state)
    assert "resuming an interrupted full read" in resumed.logs
    got = [r for r in resumed.records["invoices"] if r["realm_id"] == realm_a]
    # it starts at the bookmark (not from scratch) and together the two runs miss nothing
    assert min(r["updated_at"] for r in got) >= mark
    total = sum(1 for _ in sb.sandbox.store.iter_entities(realm_a, "Invoice"))
    assert len(read_before | {r["Id"] for r in got}) == total
    assert len(got) < total


def test_cdc_window_split_when_an_entity_hits_1000(qbo_sandbox_factory, make_config, tap_run):
    """A large company: 10 days of invoices are more than CDC's 1000 per call."""
    import datetime  # noqa: PLC0415

    sb = qbo_sandbox_factory(realms=1, size="large", seed=3)
    realm_id = sb.realm_ids()[0]
    now = datetime.datetime.fromisoformat(sb.control("GET", "/_sandbox/clock")["now"])
    since = (now - datetime.timedelta(days=10)).astimezone(datetime.timezone.utc)
    since_text = since.replace(microsecond=0).isoformat()
    expected = sb.api(realm_id).query(
        "SELECT COUNT(*) FROM Invoice WHERE Metadata.LastUpdatedTime >= "
        f"'{since_text}'").json()["QueryResponse"]["totalCount"]
    assert expected > 1000
    state = {"bookmarks": {"invoices": {"partitions": [
        {"context": {"realm_id": realm_id}, "replication_key": "updated_at",
         "replication_key_value": since_text}]}}}
    sb.control("DELETE", "/_sandbox/counters")
    run = tap_run(make_config(sb), ["invoices"], state=state)
    ids = [r["Id"] for r in run.records["invoices"]]
    assert len(ids) == len(set(ids))
    # every current invoice changed in the window, plus the deletions CDC reports
    live = [r for r in run.records["invoices"] if not r.get("_sdc_deleted_at")]
    assert len(live) == expected
    calls = sb.control("GET", "/_sandbox/counters")["requests"]
    assert calls.get("cdc", 0) >= 2 and "query" not in calls
    assert "hit the 1000-object cap; splitting the window" in run.logs
    stamps = [r.get("updated_at") or r["_sdc_deleted_at"] for r in run.records["invoices"]]
    assert stamps == sorted(stamps)


def test_daily_run_of_every_entity_stream_costs_two_requests_per_realm(
        qbo_sandbox, make_config, tap_run):
    from tap_quickbooks_online.streams.entities import ENTITY_STREAMS  # noqa: PLC0415
    from tap_quickbooks_online.streams.lines import LINE_TABLE  # noqa: PLC0415

    sb = qbo_sandbox
    streams = [cls.name for cls in ENTITY_STREAMS] + [name for name, _ in LINE_TABLE]
    config = make_config(sb)
    first = tap_run(config, streams)
    realm_a = sb.realm_ids()[0]
    # (less than the access-token lifetime: a sandbox clock jump the tap's own clock does not
    # see would otherwise add one 401-and-refresh per realm to the count)
    sb.control("POST", "/_sandbox/clock", json={"advance": 1800})
    some_bill = next(r for r in first.records["bills"] if r["realm_id"] == realm_a)
    sb.control("POST", "/_sandbox/mutate", json={
        "realm": realm_a, "entity": "Bill", "op": "update", "id": some_bill["Id"],
        "data": {"PrivateNote": "next day"}})
    sb.control("DELETE", "/_sandbox/counters")
    second = tap_run(config, streams, state=first.state)
    requests = sb.control("GET", "/_sandbox/counters")["requests"]
    # per realm: one CDC call for all CDC entities, one batch with the first page of every
    # other entity stream
    assert requests == {"cdc": 2, "batch": 2}
    assert [r["PrivateNote"] for r in second.records["bills"]
            if r["Id"] == some_bill["Id"] and r["realm_id"] == realm_a] == ["next day"]
    assert second.records["company_info"]  # singletons are re-read whole (one row)
    assert "tax_codes" not in second.records  # unchanged since the bookmark
    assert second.bookmark("tax_codes", realm_a) >= first.bookmark("tax_codes", realm_a)


def test_large_backlog_reads_changes_by_query_and_deletions_by_cdc(
        qbo_sandbox_factory, make_config, tap_run, monkeypatch):
    """Memory stays bounded: past MAX_OBJECTS_KEPT changes, CDC keeps deletions only."""
    import datetime  # noqa: PLC0415

    from tap_quickbooks_online import cdc  # noqa: PLC0415

    monkeypatch.setattr(cdc, "MAX_OBJECTS_KEPT", 1000)
    sb = qbo_sandbox_factory(realms=1, size="large", seed=3)
    realm_id = sb.realm_ids()[0]
    now = datetime.datetime.fromisoformat(sb.control("GET", "/_sandbox/clock")["now"])
    since_text = (now - datetime.timedelta(days=10)).astimezone(
        datetime.timezone.utc).replace(microsecond=0).isoformat()
    expected = sb.api(realm_id).query(
        "SELECT COUNT(*) FROM Invoice WHERE Metadata.LastUpdatedTime >= "
        f"'{since_text}'").json()["QueryResponse"]["totalCount"]
    state = {"bookmarks": {"invoices": {"partitions": [
        {"context": {"realm_id": realm_id}, "replication_key": "updated_at",
         "replication_key_value": since_text}]}}}
    sb.control("DELETE", "/_sandbox/counters")
    run = tap_run(make_config(sb), ["invoices"], state=state)
    live = [r for r in run.records["invoices"] if not r.get("_sdc_deleted_at")]
    deleted = [r for r in run.records["invoices"] if r.get("_sdc_deleted_at")]
    assert len(live) == len({r["Id"] for r in live}) == expected
    assert deleted and all(set(r) == {"realm_id", "Id", "_sdc_deleted_at"} for r in deleted)
    assert run.records["invoices"][-len(deleted):] == deleted  # deletions come last
    calls = sb.control("GET", "/_sandbox/counters")["requests"]
    assert calls.get("cdc", 0) >= 2 and calls.get("query", 0) >= 2
    assert "CDC is kept for deletions" in run.logs
