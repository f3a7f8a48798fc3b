"""Singer BATCH messages (`batch_config`): the files hold exactly the records RECORD mode sends,
and every STATE comes after the BATCH messages of the records it covers.

(Not QBO's /batch endpoint: that is `batch_enabled`, tested in test_paging.py.)"""

from __future__ import annotations

import decimal
import errno
import gzip
import io
import json
import logging
import os
import signal
import stat
import sys
import time
import types
import typing as t
from pathlib import Path
from urllib.parse import urlparse

import pytest
from tap_quickbooks_online import batch_output, fast_records
from singer_sdk.singerlib import StateMessage

from tap_quickbooks_online.fast_records import OUTPUT
from tap_quickbooks_online.tap import TapQuickBooksOnline

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
    ({"storage": {"root": "/tmp/x", "prefix": "nul\x00"}}, "prefix"),
    ({"storage": {"root": "/tmp/x", "prefix": "é" * 33}}, "at most 64 bytes"),
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


def _left_and_announced(root: Path, messages: list[dict]) -> tuple[set[str], set[str]]:
    left = {p.name for p in root.iterdir()} if root.exists() else set()
    announced = {Path(urlparse(u).path).name for m in messages if m["type"] == "BATCH"
                 for u in m["manifest"]}
    return left, announced


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_termination_signal_during_a_file_close_sends_no_state_and_leaves_no_file(
        qbo_sandbox, make_config, tap_run, tmp_path, monkeypatch, signum, code):
    """The tap's signal handler runs (as a signal would make it) while a batch file is being
    closed: no STATE after that point (it could cover the file's records before its BATCH
    message), the file announced or deleted, the run exits 128 + signal."""
    config = make_config(qbo_sandbox, batch_config=_batch_config(tmp_path, batch_size=50))
    real_close = batch_output._OpenFile.close  # noqa: SLF001
    seen: dict[str, t.Any] = {}

    def close_with_signal(self):
        if "file" not in seen:
            OUTPUT.flush()  # what was sent before the signal
            seen["lines"] = sys.stdout.buffer.getvalue().count(b"\n")
            seen["file"] = self.path.name
            seen["tap"]._handle_termination(signum, None)  # noqa: SLF001
        real_close(self)

    monkeypatch.setattr(batch_output._OpenFile, "close", close_with_signal)  # noqa: SLF001
    real_sync_all = TapQuickBooksOnline.sync_all

    def sync_all(self):
        seen["tap"] = self
        real_sync_all(self)

    monkeypatch.setattr(TapQuickBooksOnline, "sync_all", sync_all)
    run = tap_run(config, ["invoices", "invoice_lines", "customers"], expect_error=SystemExit)
    assert run.error.code == code
    assert "file" in seen
    after = run.messages[seen["lines"]:]
    assert [m for m in after if m["type"] == "STATE"] == []
    left, announced = _left_and_announced(tmp_path / "batches", run.messages)
    assert left == announced  # nothing unannounced, no .partial
    assert seen["file"] in announced or seen["file"] not in left


def test_a_termination_signal_between_files_exits_without_state(tmp_path):
    """Outside a close the handler stops the run at once (no STATE), and the run's clean-up
    deletes the file not announced yet."""
    messages: list[t.Any] = []
    out = batch_output.BatchOutput("tap-quickbooks-online", _batch_config(tmp_path),
                                   messages.append)
    tap = types.SimpleNamespace(batch_output=out, logger=logging.getLogger("test"))
    tap._stop_batch_run = lambda signum: TapQuickBooksOnline._stop_batch_run(tap, signum)  # noqa: SLF001
    out.write("invoices", b'{"Id":"1"}\n', 1)
    with pytest.raises(SystemExit) as stopped:
        TapQuickBooksOnline._handle_termination(tap, signal.SIGTERM, None)  # noqa: SLF001
    out.discard()
    assert stopped.value.code == 143
    assert messages == []
    assert list((tmp_path / "batches").iterdir()) == []


def test_a_signal_inside_a_state_write_is_handled_after_the_state(tmp_path, monkeypatch):
    """A signal landing while the files are closed before a STATE waits for that STATE (which
    follows every BATCH message it covers), then stops the run."""
    out = batch_output.BatchOutput("tap-quickbooks-online", _batch_config(tmp_path),
                                   lambda message: writer.write_message(message))
    writer = fast_records.SingerBytesWriter()
    stops: list[int] = []

    def stop(signum):
        stops.append(signum)
        raise SystemExit(128 + signum)

    out.on_signal = stop
    out.write("invoices", b'{"Id":"1"}\n', 1)
    real_close = batch_output._OpenFile.close  # noqa: SLF001

    def close_with_signal(self):
        assert out.defer_signal(signal.SIGTERM)  # inside the guard: kept for later
        real_close(self)

    monkeypatch.setattr(batch_output._OpenFile, "close", close_with_signal)  # noqa: SLF001
    monkeypatch.setattr(OUTPUT, "before_state", out.close_all)
    monkeypatch.setattr(OUTPUT, "state_guard", out.guard)
    buffer = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    monkeypatch.setattr(sys, "stdout", buffer)
    with pytest.raises(SystemExit) as stopped:
        writer.write_message(StateMessage(value={"bookmarks": {"invoices": {}}}))
    OUTPUT.flush()
    kinds = [json.loads(line)["type"] for line in buffer.buffer.getvalue().splitlines()]
    assert kinds == ["BATCH", "STATE"]
    assert stops == [signal.SIGTERM]
    assert stopped.value.code == 143


def test_a_file_whose_close_fails_is_deleted(tmp_path, monkeypatch):
    messages: list[t.Any] = []
    out = batch_output.BatchOutput("tap-quickbooks-online", _batch_config(tmp_path),
                                   messages.append)
    out.write("invoices", b'{"Id":"1"}\n', 1)
    found = out._open["invoices"]  # noqa: SLF001

    def disk_full():
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(found.raw, "close", disk_full)
    with pytest.raises(OSError, match="No space"):
        out.close_all()
    assert messages == []
    assert list((tmp_path / "batches").iterdir()) == []
    assert out._open == {}  # noqa: SLF001


def test_a_file_whose_batch_message_fails_is_deleted(tmp_path):
    def target_gone(message):
        raise BrokenPipeError(errno.EPIPE, "Broken pipe")

    out = batch_output.BatchOutput("tap-quickbooks-online", _batch_config(tmp_path, batch_size=2),
                                   target_gone)
    with pytest.raises(BrokenPipeError):
        out.write("invoices", b'{"Id":"1"}\n{"Id":"2"}\n', 2)
    out.discard()
    assert list((tmp_path / "batches").iterdir()) == []
    assert out.files_written == 0


def test_close_is_idempotent(tmp_path):
    out = batch_output.BatchOutput("tap-quickbooks-online", _batch_config(tmp_path), print)
    out.write("invoices", b'{"Id":"1"}\n', 1)
    found = out._open["invoices"]  # noqa: SLF001
    found.close()
    found.close()
    assert found.path.read_bytes() == b'{"Id":"1"}\n'


def test_an_existing_open_root_is_made_private(tmp_path):
    root = tmp_path / "batches"
    root.mkdir()
    os.chmod(root, 0o777)
    batch_output.BatchOutput("tap-quickbooks-online", _batch_config(tmp_path), print)
    assert stat.S_IMODE(os.stat(root).st_mode) == 0o700
    nested = tmp_path / "a" / "b"
    batch_output.BatchOutput("tap-quickbooks-online",
                             _batch_config(tmp_path, storage={"root": str(nested)}), print)
    assert stat.S_IMODE(os.stat(nested).st_mode) == 0o700


def test_a_root_of_another_user_is_refused(tmp_path, monkeypatch):
    root = tmp_path / "batches"
    root.mkdir(mode=0o700)
    monkeypatch.setattr(os, "getuid", lambda: os.stat(root).st_uid + 1)
    with pytest.raises(ValueError, match="batch_config.storage.root") as refused:
        batch_output.BatchOutput("tap-quickbooks-online", _batch_config(tmp_path), print)
    assert "another user" in str(refused.value) or "not by this user" in str(refused.value)


def test_start_up_deletes_only_this_taps_old_leftover_files(tmp_path):
    root = tmp_path / "batches"
    root.mkdir(mode=0o700)
    old = time.time() - batch_output.STALE_AFTER_SECONDS - 60
    names = {
        "old_partial": "t-tap-quickbooks-online--invoices-abc-00001.jsonl.partial",
        "old_jsonl": "t-tap-quickbooks-online--invoices-abc-00002.jsonl",
        "old_gz": "t-tap-quickbooks-online--bills-abc-00001.jsonl.gz",
        "recent": "t-tap-quickbooks-online--invoices-def-00001.jsonl",
        "other_prefix": "x-tap-quickbooks-online--invoices-abc-00001.jsonl",
        "other_tap": "t-tap-other--invoices-abc-00001.jsonl",
        "other_suffix": "t-tap-quickbooks-online--notes.txt",
    }
    for key, name in names.items():
        path = root / name
        path.write_bytes(b"{}\n")
        if key != "recent":
            os.utime(path, (old, old))
    batch_output.BatchOutput("tap-quickbooks-online", _batch_config(tmp_path), print)
    left = {p.name for p in root.iterdir()}
    assert left == {names[k] for k in ("recent", "other_prefix", "other_tap", "other_suffix")}


# --- stream names that are not safe file names -------------------------------------------------

#: Singer stream names are arbitrary strings (a stream map alias, another tap's stream):
#: separators, traversal, spaces, unicode, names that sanitize alike, a name mimicking a file name
ODD_STREAMS = ["crm/customers", "crm_customers", "crm customers", "../escape", "..", ".",
               "/etc/passwd", "Kunden-Übersicht 😀", "a\\b", "x" * 300, "", "nul\x00byte",
               "invoices-000000000000-001-00001"]


def test_any_stream_name_gives_a_distinct_file_inside_the_root(tmp_path):
    messages: list[t.Any] = []
    out = batch_output.BatchOutput("tap-quickbooks-online", _batch_config(tmp_path, batch_size=1),
                                   messages.append)
    for n, stream in enumerate(ODD_STREAMS):
        out.write(stream, b'{"n":%d}\n' % n, 1)
    out.close_all()
    root = (tmp_path / "batches").resolve()
    announced = {m.stream: m.manifest for m in messages}
    assert set(announced) == set(ODD_STREAMS)  # each message carries the stream's exact name
    paths = [Path(urlparse(manifest[0]).path) for manifest in announced.values()]
    assert len(set(paths)) == len(ODD_STREAMS)  # no two streams share a file
    for stream, manifest in announced.items():
        path = Path(urlparse(manifest[0]).path)
        assert path.parent == root, stream  # no traversal, no subdirectory
        assert path.name.startswith("t-tap-quickbooks-online--") and path.name.endswith(".jsonl")
        assert len(path.name.encode()) <= 255 and path.name.isascii()
        assert path.read_bytes() == b'{"n":%d}\n' % ODD_STREAMS.index(stream)
    assert sorted(p.resolve() for p in root.iterdir()) == sorted(paths)
    assert not (tmp_path / "escape").exists() and not list(tmp_path.glob("*.jsonl*"))


def test_files_of_streams_that_sanitize_alike_stay_apart_across_many_files(tmp_path):
    messages: list[t.Any] = []
    out = batch_output.BatchOutput("tap-quickbooks-online", _batch_config(tmp_path, batch_size=2),
                                   messages.append)
    for n in range(5):  # interleaved, several files each
        for stream in ("a/b", "a_b", "a b", "a.b"):
            out.write(stream, b'{"s":%s,"n":%d}\n' % (json.dumps(stream).encode(), n), 1)
    out.close_all()
    by_stream: dict[str, list[dict]] = {}
    for message in messages:
        for url in message.manifest:
            by_stream.setdefault(message.stream, []).extend(json.loads(x) for x in _read_file(url))
    assert {s: [r["n"] for r in rows] for s, rows in by_stream.items()} == {
        s: [0, 1, 2, 3, 4] for s in ("a/b", "a_b", "a b", "a.b")}
    assert all(r["s"] == s for s, rows in by_stream.items() for r in rows)
    assert len({u for m in messages for u in m.manifest}) == len(messages) == 12


def test_the_start_up_sweep_finds_files_of_odd_stream_names(tmp_path):
    out = batch_output.BatchOutput("tap-quickbooks-online", _batch_config(tmp_path),
                                   lambda message: None)
    for stream in ODD_STREAMS:
        out.write(stream, b"{}\n", 1)
    out.close_all()
    old = time.time() - batch_output.STALE_AFTER_SECONDS - 60
    for path in (tmp_path / "batches").iterdir():
        os.utime(path, (old, old))
    batch_output.BatchOutput("tap-quickbooks-online", _batch_config(tmp_path), print)
    assert list((tmp_path / "batches").iterdir()) == []


def test_a_stream_map_alias_with_a_slash_runs_in_batch_mode(qbo_sandbox, make_config, tap_run,
                                                           tmp_path):
    """Aliases with '/' and '..' (the SDK's record path): each record in its alias' file,
    inside the root, the BATCH message naming the alias."""
    maps = {"customers": {"__alias__": "'crm/customers'"}, "terms": {"__alias__": "'../terms'"}}
    config = make_config(qbo_sandbox, stream_maps=maps,
                         batch_config=_batch_config(tmp_path, batch_size=7))
    batched = tap_run(config, ["customers", "terms"])
    records = tap_run(make_config(qbo_sandbox, stream_maps=maps), ["customers", "terms"])
    got = _batch_lines(batched.messages)
    expected = _record_lines(records.raw)
    assert set(got) == {"crm/customers", "../terms"}
    assert [json.loads(x)["Id"] for x in got["crm/customers"]] == \
        [json.loads(x)["Id"] for x in expected["crm/customers"]]
    assert [json.loads(x)["Id"] for x in got["../terms"]] == \
        [json.loads(x)["Id"] for x in expected["../terms"]]
    root = (tmp_path / "batches").resolve()
    assert {Path(urlparse(u).path).parent for m in batched.messages if m["type"] == "BATCH"
            for u in m["manifest"]} == {root}
    assert not (tmp_path / "terms").exists() and not (root / "crm").exists()
