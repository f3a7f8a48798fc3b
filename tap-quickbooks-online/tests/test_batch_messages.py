"""Singer BATCH messages (`batch_config`): the files hold exactly the records RECORD mode sends,
and every STATE comes after the BATCH messages of the records it covers.

(Not QBO's /batch endpoint: that is `batch_enabled`, tested in test_paging.py.)"""

from __future__ import annotations

import decimal
import gzip
import json
import os
import stat
from pathlib import Path
from urllib.parse import urlparse

import pytest

from tap_quickbooks_online import batch_output, fast_records
from tap_quickbooks_online.fast_records import OUTPUT

# entity streams with lines, CDC-capable and not, a name list, and a report
STREAMS = ["invoices", "invoice_lines", "bills", "bill_lines", "customers", "tax_codes",
           "trial_balance"]


@pytest.fixture(autouse=True)
def _process_caches_kept():
    """The wire order QBO sends properties in is learnt once per process (fast_records): the
    sandbox's order learnt here must not leak into tests that check the learning itself."""
    saved = dict(fast_records._wire_orders)  # noqa: SLF001
    yield
    fast_records._wire_orders.clear()  # noqa: SLF001
    fast_records._wire_orders.update(saved)  # noqa: SLF001


def _batch_config(tmp_path, **overrides) -> dict:
    config = {"encoding": {"format": "jsonl", "compression": "none"},
              "storage": {"root": (tmp_path / "batches").as_uri(), "prefix": "t-"},
              "batch_size": 200}
    config.update(overrides)
    return config


def _read_file(url: str) -> list[bytes]:
    path = Path(urlparse(url).path)
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    return data.splitlines()


def _record_lines(raw: str) -> dict[str, list[bytes]]:
    """stream → the exact JSON text of each RECORD's `record`, in order (RECORD mode output)."""
    out: dict[str, list[bytes]] = {}
    for line in raw.splitlines():
        if not line.startswith('{"type":"RECORD"'):
            continue
        head, _, rest = line.partition(',"record":')
        stream = json.loads(head + "}")["stream"]
        # the record ends before ,"version" / ,"time_extracted" (the writer's fixed suffix)
        body = rest.rsplit(',"time_extracted":', 1)[0]
        body = body.rsplit(',"version":', 1)[0]
        out.setdefault(stream, []).append(body.encode())
    return out


def _batch_lines(messages: list[dict]) -> dict[str, list[bytes]]:
    out: dict[str, list[bytes]] = {}
    for message in messages:
        if message["type"] == "BATCH":
            for url in message["manifest"]:
                out.setdefault(message["stream"], []).extend(_read_file(url))
    return out


def _normalized(lines: dict[str, list[bytes]]) -> dict[str, list[bytes]]:
    """Report tombstones carry the time of the run: blank that one field out."""
    return {stream: [line if b'"row_key":null' not in line else
                     json.dumps({k: v for k, v in json.loads(line).items()
                                 if k != "_sdc_deleted_at"}).encode()
                     for line in found] for stream, found in lines.items()}


@pytest.mark.parametrize("compression", ["none", "gzip"])
def test_batch_files_hold_exactly_the_record_messages_records(qbo_sandbox, make_config, tap_run,
                                                              tmp_path, compression):
    config = make_config(qbo_sandbox, report_start_date="2025-01-01")
    records = tap_run(config, STREAMS)
    batch_config = _batch_config(tmp_path, encoding={"format": "jsonl",
                                                     "compression": compression})
    batched = tap_run({**config, "batch_config": batch_config}, STREAMS)

    assert not [m for m in batched.messages if m["type"] == "RECORD"]
    expected = _normalized(_record_lines(records.raw))
    got = _normalized(_batch_lines(batched.messages))
    assert set(got) == set(expected) == set(STREAMS)
    for stream in STREAMS:
        assert got[stream] == expected[stream], stream  # same bytes, same order
    # money keeps its exact text (never through float): 2 decimals as sent
    invoice = json.loads(got["invoices"][0], parse_float=decimal.Decimal)
    assert isinstance(invoice["TotalAmt"], decimal.Decimal)
    assert b'"TotalAmt":' in got["invoices"][0]
    # line streams: parent tombstone first, then the lines
    first = json.loads(got["invoice_lines"][0])
    assert first["line_index"] is None and first["_sdc_deleted_at"]
    # bookmarks for the same partitions (their values follow the sandbox's clock: the quiet
    # bookmark is the server's time minus a minute)
    def partitions(run):
        return [p["context"] for p in run.state["bookmarks"]["invoices"]["partitions"]
                if p.get("replication_key_value")]
    assert partitions(batched) == partitions(records)

    # every announced file is complete, named as documented, private; nothing partial is left
    root = tmp_path / "batches"
    files = sorted(root.iterdir())
    suffix = ".jsonl.gz" if compression == "gzip" else ".jsonl"
    assert files and all(f.name.startswith("t-tap-quickbooks-online--") and
                         f.name.endswith(suffix) for f in files)
    announced = {Path(urlparse(u).path) for m in batched.messages if m["type"] == "BATCH"
                 for u in m["manifest"]}
    assert announced == set(files)
    assert all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in files)
    assert stat.S_IMODE(root.stat().st_mode) == 0o700
    batch = next(m for m in batched.messages if m["type"] == "BATCH")
    assert batch["encoding"] == {"format": "jsonl", "compression": compression}
    # no secret in any file
    secrets = [config["client_secret"], *(r["refresh_token"] for r in config["realms"])]
    for f in files:
        text = f.read_bytes() if compression == "none" else gzip.decompress(f.read_bytes())
        assert not any(s.encode() in text for s in secrets)
    assert OUTPUT.before_state is None  # the hook does not outlive the run


def test_every_state_follows_the_batch_messages_of_the_records_it_covers(
        qbo_sandbox, make_config, tap_run, tmp_path):
    config = make_config(qbo_sandbox, batch_config=_batch_config(tmp_path, batch_size=40))
    run = tap_run(config, ["invoices", "invoice_lines", "customers"])
    batches = [m for m in run.messages if m["type"] == "BATCH"]
    # small files: batch_size is respected (a page is split across files)
    sizes = [len(_read_file(m["manifest"][0])) for m in batches if m["stream"] == "customers"]
    assert len(sizes) > 1 and max(sizes) <= 40
    seen: dict[str, set[str]] = {}  # stream → ids in announced files
    for message in run.messages:
        if message["type"] == "BATCH":
            for line in _read_file(message["manifest"][0]):
                record = json.loads(line)
                key = record.get("Id") or record.get("txn_id")
                seen.setdefault(message["stream"], set()).add((record["realm_id"], key))
        elif message["type"] == "STATE":
            # every invoice at or before the bookmark is in an announced file, and its lines
            for partition in message["value"].get("bookmarks", {}).get("invoices", {}).get(
                    "partitions", []):
                mark = partition.get("replication_key_value")
                realm = partition["context"]["realm_id"]
                if mark is None:
                    continue
                invoices = [r for r in _all_invoices(run) if r["realm_id"] == realm and
                            r["updated_at"] <= mark]
                assert {(r["realm_id"], r["Id"]) for r in invoices} <= seen.get("invoices", set())
                assert {(r["realm_id"], r["Id"]) for r in invoices} <= \
                    seen.get("invoice_lines", set())
    # nothing after the last STATE but the end
    last_state = max(i for i, m in enumerate(run.messages) if m["type"] == "STATE")
    assert not [m for m in run.messages[last_state:] if m["type"] == "BATCH"]


def _all_invoices(run) -> list[dict]:
    return [json.loads(line) for m in run.messages if m["type"] == "BATCH" and
            m["stream"] == "invoices" for line in _read_file(m["manifest"][0])]


def test_incremental_batch_run_sends_cdc_deletes_and_changes(qbo_sandbox, make_config, tap_run,
                                                             tmp_path):
    """A second run (CDC): changed and deleted invoices, as RECORD mode sends them."""
    config = make_config(qbo_sandbox)
    first = tap_run(config, ["invoices", "invoice_lines"])
    realm = config["realms"][0]["realm_id"]
    invoices = first.records["invoices"]
    victim = next(r for r in invoices if r["realm_id"] == realm)
    qbo_sandbox.control("POST", "/_sandbox/clock", json={"advance": 120})
    qbo_sandbox.control("POST", "/_sandbox/mutate", json={
        "realm": realm, "entity": "Invoice", "op": "delete", "id": victim["Id"]})
    record_run = tap_run(config, ["invoices", "invoice_lines"], state=first.state)
    batched = tap_run({**config, "batch_config": _batch_config(tmp_path)},
                      ["invoices", "invoice_lines"], state=first.state)
    expected = _record_lines(record_run.raw)
    got = _batch_lines(batched.messages)
    assert got == expected
    deletes = [json.loads(line) for line in got["invoices"] if b"_sdc_deleted_at" in line]
    assert [d["Id"] for d in deletes] == [victim["Id"]]
    tombstones = [json.loads(line) for line in got["invoice_lines"]]
    assert {"txn_id": victim["Id"], "line_index": None} in [
        {"txn_id": t["txn_id"], "line_index": t["line_index"]} for t in tombstones]


def test_a_failed_run_leaves_no_unannounced_file(qbo_sandbox, make_config, tap_run, tmp_path):
    config = make_config(qbo_sandbox, batch_config=_batch_config(tmp_path, batch_size=100_000))
    # every request fails after the first pages: the sync stops mid-stream
    qbo_sandbox.control("POST", "/_sandbox/faults", json={
        "kind": "5xx", "status": 500, "count": 10_000, "path": "Customer"})
    run = tap_run(config, ["invoices", "invoice_lines", "customers"], expect_error=Exception)
    root = tmp_path / "batches"
    left = sorted(p.name for p in root.iterdir()) if root.exists() else []
    announced = {Path(urlparse(u).path).name for m in run.messages if m["type"] == "BATCH"
                 for u in m["manifest"]}
    assert not [name for name in left if name.endswith(".partial")]
    assert set(left) == announced
    assert OUTPUT.before_state is None


@pytest.mark.parametrize(("setting", "message"), [
    ({"encoding": {"format": "parquet"}}, "use jsonl"),
    ({"encoding": {"compression": "bzip2"}}, "compression"),
    ({"storage": {"root": "s3://bucket/x"}}, "only local"),
    ({"storage": {"root": "/tmp/x", "prefix": "a/b"}}, "prefix"),
    ({"batch_size": 0}, "positive"),
])
def test_bad_batch_config_is_refused_clearly(setting, message):
    errors = batch_output.config_errors(setting)
    assert errors and message in " ".join(errors)


def test_default_root_is_the_meltano_run_directory(monkeypatch, tmp_path):
    monkeypatch.setenv("MELTANO_PROJECT_ROOT", str(tmp_path))
    assert batch_output.default_root() == str(
        tmp_path / ".meltano" / "run" / "tap-quickbooks-online" / "batches")
    monkeypatch.delenv("MELTANO_PROJECT_ROOT")
    assert batch_output.default_root() == os.path.join(os.getcwd(), "tap-quickbooks-online",
                                                       "batches")
