"""Incremental publish vs full overwrite of a 1,000,000-row datasource with 1% of rows changed.

Both are measured in the same run against the local Tableau sandbox (Server flavor): bytes sent over
HTTP (every request body, as counted by the publishing session) and wall time of the publish step
(building the delta or not, upload, waiting for the job). The stored datasource is checked against
the local file after each publish.

    .venv/bin/python bench/bench_publish.py [--rows 1000000] [--changed-percent 1]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from decimal import Decimal

from tableauhyperapi import Connection, CreateMode, Inserter, TableName

from tableau_sandbox.testing import TableauSandboxServer
from target_tableau_hyper.publishing import audit_tables as audit
from target_tableau_hyper.publishing.changes import StreamKeys
from target_tableau_hyper.publishing.config import PublishConfig
from target_tableau_hyper.publishing.hyperfiles import hyper_process
from target_tableau_hyper.publishing.publisher import Publisher
from target_tableau_hyper.publishing.session import TableauSession
from target_tableau_hyper.publishing.testing import INVOICE_COLUMNS, RecordedChanges, sandbox_config, write_extract


def build_local(hyper, path: str, rows: int) -> None:
    write_extract(hyper, path, [], INVOICE_COLUMNS)
    with Connection(hyper.endpoint, path, CreateMode.NONE) as conn:
        conn.execute_command(
            'INSERT INTO "Extract"."Extract" SELECT \'r1\', CAST(i AS TEXT), \'INV-\' || CAST(i AS TEXT), '
            f"CAST(i AS NUMERIC(18,2)) / 100 FROM generate_series(1, {rows}) AS s(i)"
        )


def change_local(hyper, path: str, rows: int, changed: int) -> list[tuple[str, str]]:
    """Update 80%, delete 10%, insert 10% of `changed` rows; returns the touched keys."""
    updates, deletes, inserts = int(changed * 0.8), changed // 10, changed - int(changed * 0.8) - changed // 10
    step = rows // (updates + deletes)
    touched_ids = list(range(1, rows + 1, step))[: updates + deletes]
    updated, deleted = touched_ids[:updates], touched_ids[updates:]
    new = list(range(rows + 1, rows + 1 + inserts))
    with Connection(hyper.endpoint, path, CreateMode.NONE) as conn:
        conn.execute_command("CREATE TEMPORARY TABLE ids (i BIGINT, kind TEXT)")
        with Inserter(conn, TableName("ids")) as ins:
            ins.add_rows([[i, "u"] for i in updated] + [[i, "d"] for i in deleted])
            ins.execute()
        conn.execute_command('UPDATE "Extract"."Extract" SET "TotalAmt" = "TotalAmt" + 1, "DocNumber" = '
                             '"DocNumber" || \'-v2\' WHERE CAST("Id" AS BIGINT) IN (SELECT i FROM ids WHERE kind = \'u\')')
        conn.execute_command('DELETE FROM "Extract"."Extract" WHERE CAST("Id" AS BIGINT) IN '
                             '(SELECT i FROM ids WHERE kind = \'d\')')
        with Inserter(conn, TableName("Extract", "Extract")) as ins:
            ins.add_rows([["r1", str(i), f"INV-{i}", Decimal(i).scaleb(-2)] for i in new])
            ins.execute()
    return [("r1", str(i)) for i in updated + deleted + new]


def same_as_local(sb, hyper, datasource_id: str, local: str) -> bool:
    stored = sb.download_hyper(datasource_id)
    with Connection(hyper.endpoint) as conn:
        conn.catalog.attach_database(local, alias="l")
        conn.catalog.attach_database(str(stored), alias="s")
        diff = conn.execute_scalar_query(
            'SELECT (SELECT COUNT(*) FROM (SELECT * FROM l."Extract"."Extract" EXCEPT ALL '
            'SELECT * FROM s."Extract"."Extract") a) + (SELECT COUNT(*) FROM (SELECT * FROM s."Extract"."Extract" '
            'EXCEPT ALL SELECT * FROM l."Extract"."Extract") b)')
    os.remove(stored)
    return diff == 0


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--changed-percent", type=float, default=1.0)
    args = parser.parse_args()
    changed = int(args.rows * args.changed_percent / 100)

    with TableauSandboxServer(flavor="server") as sb, hyper_process() as hyper, \
            tempfile.TemporaryDirectory(prefix="bench-publish-") as tmp:
        local = os.path.join(tmp, "invoices.hyper")
        build_local(hyper, local, args.rows)
        engine = audit.make_engine(f"sqlite:///{tmp}/audit.sqlite")
        changes = RecordedChanges(keys={"invoices": StreamKeys(["realm_id", "Id"], ["realm_id", "Id"], False)})
        base = sandbox_config(sb, job_timeout_seconds=1800)

        def publish(run_id: str, mode: str):
            config = PublishConfig.from_mapping({**base, "publish_mode": mode})
            start = time.perf_counter()
            report = Publisher(config, engine, changes,
                               session_factory=lambda c: TableauSession(c)).run(run_id, {"invoices": local})
            elapsed = time.perf_counter() - start
            assert report.ok, report
            return report.results[0], elapsed

        changes.touched[("invoices", "initial")] = []
        first, first_s = publish("initial", "overwrite")
        print(f"local file: {args.rows:,} rows, {os.path.getsize(local) / 1e6:.1f} MB; initial publish "
              f"{first_s:.2f} s")

        changes.touched[("invoices", "incremental")] = change_local(hyper, local, args.rows, changed)
        incremental, incremental_s = publish("incremental", "incremental")
        assert incremental.mode == "incremental"
        ok_incremental = same_as_local(sb, hyper, incremental.datasource_id, local)

        changes.touched[("invoices", "overwrite")] = []
        overwrite, overwrite_s = publish("overwrite", "overwrite")
        ok_overwrite = same_as_local(sb, hyper, overwrite.datasource_id, local)

        print(f"changed rows: {changed:,} ({args.changed_percent:g}%): {incremental.rows_upserted:,} upserted, "
              f"{incremental.rows_deleted:,} deleted")
        print(f"{'':12} {'file uploaded':>14} {'bytes sent':>14} {'wall time':>10}  stored == local")
        print(f"{'incremental':12} {incremental.file_bytes:>14,} {incremental.bytes_sent:>14,} "
              f"{incremental_s:>9.2f}s  {ok_incremental}")
        print(f"{'overwrite':12} {overwrite.file_bytes:>14,} {overwrite.bytes_sent:>14,} "
              f"{overwrite_s:>9.2f}s  {ok_overwrite}")
        print(f"ratio overwrite/incremental: bytes {overwrite.bytes_sent / incremental.bytes_sent:.1f}x, "
              f"wall time {overwrite_s / incremental_s:.1f}x")
        # Loopback has no bandwidth limit, so the measured wall times hide the upload. For scale only
        # (computed from the measured bytes, not measured): the upload at a 50 Mbit/s uplink.
        mbit = 50e6 / 8
        print(f"(derived, not measured) upload at 50 Mbit/s: incremental {incremental.bytes_sent / mbit:.2f}s, "
              f"overwrite {overwrite.bytes_sent / mbit:.2f}s")
        return 0 if ok_incremental and ok_overwrite else 1


if __name__ == "__main__":
    sys.exit(main())
