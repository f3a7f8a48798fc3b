"""Singer BATCH messages (JSONL files, gzip or not) load exactly as the same records sent as
RECORD lines: same tables, same audit operations per record; files are deleted once committed;
bad files fail clearly, naming the stream, the file and the line."""

from __future__ import annotations

import gzip
import io
import json
import re
import typing as t
from pathlib import Path

import pytest

from target_tableau_hyper import audit
from target_tableau_hyper import batch_files as batch_files_mod
from target_tableau_hyper import errors
from target_tableau_hyper.errors import InputError
from target_tableau_hyper.file_names import hyper_file_name
from target_tableau_hyper.target import TargetTableauHyper

NESTED_SCHEMA = {
    "type": "object",
    "properties": {
        "realm_id": {"type": "string"}, "Id": {"type": "string"},
        "TotalAmt": {"type": ["number", "null"], "multipleOf": 0.01},
        "CustomerRef": {"type": ["object", "null"], "properties": {
            "value": {"type": ["string", "null"]}, "name": {"type": ["string", "null"]}}},
        "MetaData": {"type": ["object", "null"], "properties": {
            "LastUpdatedTime": {"type": ["string", "null"], "format": "date-time"}}},
        "updated_at": {"type": ["string", "null"], "format": "date-time"},
        "_sdc_deleted_at": {"type": ["string", "null"], "format": "date-time"},
    },
}


def _nested_text(n: int = 40, stream: str = "invoices") -> str:
    lines = [{"type": "SCHEMA", "stream": stream, "key_properties": ["realm_id", "Id"],
              "schema": NESTED_SCHEMA}]
    for i in range(n):
        lines.append({"type": "RECORD", "stream": stream, "record": {
            "realm_id": "r1", "Id": str(i % 30), "TotalAmt": f"@{i}.1{i % 10}",
            "CustomerRef": {"value": str(i), "name": f"C \"{i}\""},
            "MetaData": {"LastUpdatedTime": f"2024-01-01T00:00:{i % 60:02d}-08:00"},
            "updated_at": f"2024-01-01T08:00:{i % 60:02d}+00:00"}})
        if i == 20:
            lines.append({"type": "STATE", "value": {"bookmarks": {stream: {"at": i}}}})
    lines.append({"type": "RECORD", "stream": stream, "record": {
        "realm_id": "r1", "Id": "3", "_sdc_deleted_at": "2024-01-02T00:00:00+00:00"}})
    lines.append({"type": "STATE", "value": {"bookmarks": {stream: {"at": "end"}}}})
    return "".join(_dump(m) + "\n" for m in lines)


def _dump(message: dict) -> str:
    """Compact UTF-8 JSON (as the SDK writes: no \\u escapes), "@12.34" written as the JSON
    number 12.34 (exact)."""
    return re.sub(r'"@([0-9.]+)"', r"\1", json.dumps(message, separators=(",", ":"),
                                                      ensure_ascii=False))


def _write_private(path: Path, data: bytes) -> None:
    """As the tap writes its files: 0600 in a 0700 directory (the target deletes only such)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.parent.chmod(0o700)
    path.write_bytes(data)
    path.chmod(0o600)


def to_batch(text: str, folder: Path, *, compression: str = "none", per_file: int = 10**9,
             url: bool = True, file_name: t.Callable[[str, int], str] | None = None,
             ) -> tuple[str, list[Path]]:
    """The same Singer text with each run of RECORD lines of a stream replaced by BATCH messages
    (files of at most `per_file` records, the records' exact JSON text). Files are named
    `file_name(stream, n)` (default `<n>`), plus the suffix."""
    folder.mkdir(parents=True, exist_ok=True)
    out: list[str] = []
    files: list[Path] = []
    run: list[bytes] = []
    run_stream = None

    def flush() -> None:
        nonlocal run
        for start in range(0, len(run), per_file):
            part = run[start:start + per_file]
            suffix = ".jsonl.gz" if compression == "gzip" else ".jsonl"
            name = file_name(run_stream, len(files)) if file_name else f"{len(files):04d}"
            path = folder / f"{name}{suffix}"
            data = b"".join(line + b"\n" for line in part)
            _write_private(path, gzip.compress(data) if compression == "gzip" else data)
            files.append(path)
            out.append(json.dumps({"type": "BATCH", "stream": run_stream,
                                   "encoding": {"format": "jsonl", "compression": compression},
                                   "manifest": [path.as_uri() if url else str(path)]}))
        run = []

    for line in text.splitlines():
        if not line.strip():
            continue
        if line.startswith('{"type":"RECORD"') or line.startswith('{"type": "RECORD"'):
            stream = json.loads(line)["stream"]
            if stream != run_stream and run:
                flush()
            run_stream = stream
            head = line.index('"record":') + len('"record":')
            record = line[head:].strip()
            run.append(record[:-1].strip().encode())  # the record's own text, as sent
        else:
            if run:
                flush()
            out.append(line)
    if run:
        flush()
    return "".join(line + "\n" for line in out), files


def _run(text: str, out: Path, **config) -> TargetTableauHyper:
    target = TargetTableauHyper(config={"output_dir": str(out), **config})
    target.listen_safely(io.BytesIO(text.encode()))
    return target


def _audit_ops(out: Path, run_id: str, stream: str) -> list[tuple]:
    """Each audited record's key, operation, source time and sync token, in order."""
    engine = audit.make_engine(audit.default_url(str(out)))
    with engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(audit.run_record_rows(conn, run_id, stream))]
    engine.dispose()
    return [(r["record_key"], r["operation"], r["source_updated_at"], r["sync_token"])
            for r in rows]


def _extract(out: Path, stream: str, config: dict) -> tuple[Path, str]:
    """(file, table) of a stream's extract."""
    if config.get("multi_table_file"):
        return out / config["multi_table_file"], stream
    return out / hyper_file_name(stream), "Extract"


def _compare(hyper_reader, text: str, tmp_path: Path, streams: list[str], *,
             compression: str = "none", per_file: int = 10**9,
             file_name: t.Callable[[str, int], str] | None = None,
             **config) -> tuple:
    records_target = _run(text, tmp_path / "records", **config)
    batch_text, files = to_batch(text, tmp_path / "files", compression=compression,
                                 per_file=per_file, file_name=file_name)
    assert '"type": "BATCH"' in batch_text and '"RECORD"' not in batch_text
    batch_target = _run(batch_text, tmp_path / "batch", **config)
    for stream in streams:
        expected = hyper_reader(*_extract(tmp_path / "records", stream, config))
        got = hyper_reader(*_extract(tmp_path / "batch", stream, config))
        assert got["columns"] == expected["columns"]
        strip = [c for c in got["columns"] if c.startswith("_sdc_") and c != "_sdc_deleted_at"]
        rows = lambda found: sorted((tuple(v for k, v in r.items() if k not in strip)  # noqa: E731
                                     for r in found["rows"]), key=repr)
        assert rows(got) == rows(expected), stream
        if config.get("audit_enabled", True):
            assert _audit_ops(tmp_path / "batch", batch_target.run_id, stream) == \
                _audit_ops(tmp_path / "records", records_target.run_id, stream)
    assert batch_target.counts == records_target.counts
    return batch_target, files


@pytest.mark.parametrize("compression", ["none", "gzip"])
def test_batch_files_load_like_record_lines_nested_flattened(hyper_reader, tmp_path, compression):
    _target, files = _compare(hyper_reader, _nested_text(), tmp_path, ["invoices"],
                              compression=compression, per_file=7,
                              flattening_enabled=True, flattening_max_depth=3)
    assert not [f for f in files if f.exists()]  # deleted once committed


@pytest.mark.parametrize("name", ["parent_replace.singer", "upsert.singer", "types_all.singer"])
def test_batch_files_load_like_record_lines(hyper_reader, singer_resource, tmp_path, name):
    text = singer_resource(name)
    streams = sorted({json.loads(line)["stream"] for line in text.splitlines()
                      if '"SCHEMA"' in line})
    _compare(hyper_reader, text, tmp_path, streams, per_file=2)


#: stream names that are no safe file names (stream map aliases, other taps' streams)
ODD_STREAMS = ["crm/Kunden Übersicht 😀", 'a"b\\c', "sp ace.v2", "invoices"]


@pytest.mark.parametrize("layout", ["file per stream", "multi_table_file"])
def test_odd_stream_names_load_like_record_lines_whatever_the_file_names(hyper_reader, tmp_path,
                                                                          layout):
    """Stream names with '/', quotes, backslashes, spaces, unicode: the BATCH message's stream
    decides where records go, never the file name. Here every file is named after ANOTHER
    stream (the last one's file "invoices-…" carries records of "crm/…")."""
    text = "".join(_nested_text(12, stream) for stream in ODD_STREAMS)
    misnamed = lambda stream, n: f"{ODD_STREAMS[ODD_STREAMS.index(stream) - 1]}-{n}".replace(  # noqa: E731
        "/", "_")
    config = {"multi_table_file": "all.hyper"} if layout == "multi_table_file" else {}
    _target, files = _compare(hyper_reader, text, tmp_path, ODD_STREAMS, per_file=5,
                              file_name=misnamed, flattening_enabled=True,
                              flattening_max_depth=3, **config)
    assert len(files) == 4 * 3 and not [f for f in files if f.exists()]
    for stream in ODD_STREAMS:
        rows = hyper_reader(*_extract(tmp_path / "batch", stream, config))["rows"]
        assert sorted(r["Id"] for r in rows) == sorted(str(i) for i in range(12) if i != 3)


def test_large_file_read_in_chunks_across_sink_drains(hyper_reader, tmp_path, monkeypatch):
    """A file bigger than a read chunk and than the sink's batch: same table, same audit rows."""
    monkeypatch.setattr(batch_files_mod, "CHUNK", 300)
    _compare(hyper_reader, _nested_text(60), tmp_path, ["invoices"], batch_size_rows=7,
             flattening_enabled=True, flattening_max_depth=3)


def test_stream_outside_the_fast_path_goes_record_by_record(hyper_reader, tmp_path):
    """A stream map (a filter): the records go through the SDK mapper once each."""
    maps = {"stream_maps": {"invoices": {"__filter__": "Id != '5'"}}}
    target, _files = _compare(hyper_reader, _nested_text(), tmp_path, ["invoices"],
                              flattening_enabled=True, flattening_max_depth=3, **maps)
    rows = hyper_reader(tmp_path / "batch" / "invoices.hyper")["rows"]
    assert "5" not in {r["Id"] for r in rows} and len(rows) == 28  # 30 keys, 5 filtered, 3 deleted


def _single_batch(tmp_path: Path, lines: list[bytes], *, gz: bool = False,
                  name: str = "x.jsonl") -> tuple[str, Path]:
    schema = {"type": "SCHEMA", "stream": "invoices", "key_properties": ["realm_id", "Id"],
              "schema": NESTED_SCHEMA}
    path = tmp_path / "files" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    data = b"".join(line + b"\n" for line in lines)
    _write_private(path, gzip.compress(data) if gz else data)
    batch = {"type": "BATCH", "stream": "invoices",
             "encoding": {"format": "jsonl", "compression": "gzip" if gz else "none"},
             "manifest": [path.as_uri()]}
    return json.dumps(schema) + "\n" + json.dumps(batch) + "\n", path


GOOD = b'{"realm_id":"r1","Id":"1","TotalAmt":1.10}'


def test_record_violating_the_schema_names_file_and_line(tmp_path):
    text, path = _single_batch(tmp_path, [GOOD, GOOD.replace(b"1.10", b'"lots"')])
    with pytest.raises(InputError) as err:
        _run(text, tmp_path / "out")
    message = str(err.value)
    assert f"line 2 of batch file {path}" in message and "stream 'invoices'" in message
    assert "TotalAmt" in message
    assert path.exists()  # the run stopped while reading it: kept, with a warning
    assert errors.line_source is None  # the run's hook does not outlive it


def test_malformed_line_names_file_and_line(tmp_path):
    text, path = _single_batch(tmp_path, [GOOD, GOOD, b'{"realm_id": "r1", "Id": '], gz=True,
                               name="x.jsonl.gz")
    with pytest.raises(InputError) as err:
        _run(text, tmp_path / "out")
    assert f"line 3 of batch file {path}" in str(err.value)


def test_missing_file_damaged_gzip_other_format_remote_url(tmp_path):
    text, path = _single_batch(tmp_path, [GOOD])
    path.unlink()
    with pytest.raises(InputError, match=r"line 2, stream 'invoices': BATCH file .*x.jsonl does not exist"):
        _run(text, tmp_path / "out")

    text, path = _single_batch(tmp_path, [GOOD] * 50, gz=True, name="y.jsonl.gz")
    path.write_bytes(path.read_bytes()[:-20])  # cut short
    with pytest.raises(InputError, match=r"BATCH file .*y.jsonl.gz is damaged"):
        _run(text, tmp_path / "out2")
    assert path.exists()  # the run stopped in it: kept

    for encoding, manifest, expected in (
        ({"format": "parquet"}, ["file:///tmp/x.parquet"], "only jsonl"),
        ({"format": "jsonl"}, ["s3://bucket/x.jsonl"], "only local files"),
    ):
        schema = {"type": "SCHEMA", "stream": "invoices", "key_properties": ["realm_id", "Id"],
                  "schema": NESTED_SCHEMA}
        batch = {"type": "BATCH", "stream": "invoices", "encoding": encoding, "manifest": manifest}
        with pytest.raises(InputError, match=expected):
            _run(json.dumps(schema) + "\n" + json.dumps(batch) + "\n", tmp_path / "out3")


def test_blank_and_crlf_lines_and_no_final_newline(hyper_reader, tmp_path):
    text, path = _single_batch(tmp_path, [GOOD + b"\r", b"", GOOD.replace(b'"1"', b'"2"')])
    path.write_bytes(path.read_bytes().rstrip(b"\n"))
    _run(text, tmp_path / "out", audit_enabled=False)
    rows = hyper_reader(tmp_path / "out" / "invoices.hyper")["rows"]
    assert sorted(r["Id"] for r in rows) == ["1", "2"]
    assert not path.exists()


def test_failed_run_then_rerun_converges(hyper_reader, tmp_path):
    """A bad file stops the run after earlier batches committed; the tap's rerun (new files,
    the records again) ends with exactly the RECORD-mode table, nothing duplicated."""
    text = _nested_text()
    _run(text, tmp_path / "expected", audit_enabled=False)
    batch_text, files = to_batch(text, tmp_path / "files1", per_file=8)
    # files 0-2 hold the records before the first STATE; a bad record after it fails the run
    files[3].write_bytes(b'{"realm_id": 1}\n')
    with pytest.raises(InputError):
        _run(batch_text, tmp_path / "out", audit_enabled=False, state_flush_seconds=0)
    committed = hyper_reader(tmp_path / "out" / "invoices.hyper")["rows"]
    assert len(committed) == 21  # the batch before the STATE is committed
    # files 0-2 are deleted after the STATE; file 3, the one the run stopped in, is kept
    assert not any(f.exists() for f in files[:3]) and files[3].exists()
    rerun_text, _ = to_batch(text, tmp_path / "files2", per_file=8, url=False)
    _run(rerun_text, tmp_path / "out", audit_enabled=False)
    got = hyper_reader(tmp_path / "out" / "invoices.hyper", order_by='"Id"')["rows"]
    want = hyper_reader(tmp_path / "expected" / "invoices.hyper", order_by='"Id"')["rows"]
    strip = ("_sdc_batched_at", "_sdc_received_at", "_sdc_sync_started_at")
    assert [{k: v for k, v in r.items() if k not in strip} for r in got] == \
        [{k: v for k, v in r.items() if k not in strip} for r in want]


def test_files_are_deleted_only_after_the_state_that_follows_them(tmp_path, capsys):
    text, files = to_batch(_nested_text(), tmp_path / "files", per_file=5)
    target = TargetTableauHyper(config={"output_dir": str(tmp_path / "out"),
                                        "state_flush_seconds": 0, "audit_enabled": False})
    seen: list[tuple[str, list[bool]]] = []
    write_state = TargetTableauHyper._write_state_message

    def spy(self, state):
        seen.append((json.dumps(state), [f.exists() for f in files]))
        write_state(self, state)

    TargetTableauHyper._write_state_message = spy
    try:
        target.listen_safely(io.BytesIO(text.encode()))
    finally:
        TargetTableauHyper._write_state_message = write_state
    # at the first STATE (after record 21: files 0-4 read), every file still exists
    assert seen and all(seen[0][1])
    # at the last STATE the files read before the first STATE are gone
    assert not any(seen[-1][1][:4])
    assert not any(f.exists() for f in files)


def test_a_file_not_private_to_this_user_is_loaded_but_kept(hyper_reader, tmp_path, caplog):
    """A BATCH message naming a user's file (0644, or 0600 in a shared directory) loads it but
    never deletes it; the warning names the file."""
    text, path = _single_batch(tmp_path, [GOOD])
    path.chmod(0o644)
    _run(text, tmp_path / "out", audit_enabled=False)
    assert path.exists() and len(hyper_reader(tmp_path / "out" / "invoices.hyper")["rows"]) == 1
    assert any(f"BATCH file {path} kept" in r.getMessage() for r in caplog.records)

    text, path = _single_batch(tmp_path, [GOOD], name="in_shared_dir.jsonl")
    path.parent.chmod(0o755)
    _run(text, tmp_path / "out2", audit_enabled=False)
    assert path.exists()


def test_symlink_and_fifo_are_refused_without_blocking(tmp_path):
    import os
    import threading

    text, path = _single_batch(tmp_path, [GOOD])
    link = path.with_name("link.jsonl")
    link.symlink_to(path)
    with pytest.raises(InputError, match=r"line 2, stream 'invoices': BATCH file .*link.jsonl is a symbolic link"):
        _run(text.replace(path.as_uri(), link.as_uri()), tmp_path / "out", audit_enabled=False)
    assert path.exists()  # the link's target is not touched

    fifo = path.with_name("fifo.jsonl")
    os.mkfifo(fifo)
    outcome: list[BaseException] = []

    def run() -> None:
        try:
            _run(text.replace(path.as_uri(), fifo.as_uri()), tmp_path / "out2", audit_enabled=False)
        except BaseException as exc:  # noqa: BLE001 - checked below
            outcome.append(exc)

    reading = threading.Thread(target=run, daemon=True)
    reading.start()
    reading.join(60)  # a guard, not a speed check: a blocking open never returns
    blocked = reading.is_alive()
    if blocked:  # unblock the old behaviour's open() so the thread ends
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        reading.join(60)
    assert not blocked
    assert len(outcome) == 1 and "is not a regular file" in str(outcome[0])


def test_batch_before_its_schema_names_stream_and_line(tmp_path):
    _text, path = _single_batch(tmp_path, [GOOD])
    batch = {"type": "BATCH", "stream": "invoices", "encoding": {"format": "jsonl"},
             "manifest": [path.as_uri()]}
    with pytest.raises(errors.RecordBeforeSchemaError, match=r"line 1, stream 'invoices': BATCH before its SCHEMA"):
        _run(json.dumps(batch) + "\n", tmp_path / "out", audit_enabled=False)


def test_same_file_twice_in_a_run_is_refused(hyper_reader, tmp_path):
    text, path = _single_batch(tmp_path, [GOOD])
    batch_line = text.splitlines()[1]  # again, as line 4 (the record was line 3)
    with pytest.raises(InputError, match=r"line 4, stream 'invoices': BATCH file .*x.jsonl was already read in this run"):
        _run(text + batch_line + "\n", tmp_path / "out", audit_enabled=False)


@pytest.mark.parametrize("bad", [
    GOOD[:-1] + b'},"record":{"realm_id":"r1","Id":"2","TotalAmt":999}',  # B would load
    GOOD + b',"stream":"other"',
    GOOD + b" " + GOOD,
    b"[1, 2]",
    b"7",
])
@pytest.mark.parametrize("mapped", [False, True])
def test_line_that_is_not_exactly_one_json_object_is_refused(hyper_reader, tmp_path, bad, mapped):
    text, path = _single_batch(tmp_path, [GOOD, b"", GOOD.replace(b'"1"', b'"3"'), bad])
    maps = {"stream_maps": {"invoices": {"__filter__": "True"}}} if mapped else {}
    with pytest.raises(InputError) as err:
        _run(text, tmp_path / "out", audit_enabled=False, **maps)
    assert f"line 4 of batch file {path}" in str(err.value)  # the blank line counts
    assert "line 6 " in str(err.value)
    out = tmp_path / "out" / "invoices.hyper"
    assert not out.exists() or "2" not in {r["Id"] for r in hyper_reader(out)["rows"]}


def test_blank_lines_count_in_error_line_numbers(tmp_path, monkeypatch):
    monkeypatch.setattr(batch_files_mod, "CHUNK", 50)  # blank lines across chunk boundaries
    lines = [GOOD, b"", b"  ", GOOD, b"", GOOD.replace(b"1.10", b'"lots"')]
    text, path = _single_batch(tmp_path, lines)
    with pytest.raises(InputError) as err:
        _run(text, tmp_path / "out", audit_enabled=False)
    assert f"line 8 (line 6 of batch file {path})" in str(err.value)


def test_target_methods_are_not_replaced_at_run_time(tmp_path):
    """Deleting after a STATE and at the end is called from target.py, not monkeypatched in."""
    text, path = _single_batch(tmp_path, [GOOD])
    target = _run(text, tmp_path / "out", audit_enabled=False)
    assert "_write_state_message" not in vars(target) and "finish" not in vars(target)
    assert not path.exists() and errors.line_source is None


def test_failed_run_deletes_files_read_to_their_end_keeps_the_one_it_stopped_in(tmp_path, caplog):
    """No emitted state covers the failed run's files: those read to their end are deleted (the
    tap's rerun writes new ones); the file the run stopped in, even a private one, is kept (it may
    not be a batch file at all: a private key named by mistake must survive failing to parse)."""
    schema = {"type": "SCHEMA", "stream": "invoices", "key_properties": ["realm_id", "Id"],
              "schema": NESTED_SCHEMA}
    folder = tmp_path / "files"
    read, secret = folder / "read.jsonl", folder / "id_rsa"
    _write_private(read, GOOD + b"\n")
    _write_private(secret, b"-----BEGIN OPENSSH PRIVATE KEY-----\n")
    text = "".join(json.dumps(m) + "\n" for m in (
        schema,
        {"type": "STATE", "value": {"at": 0}},
        {"type": "BATCH", "stream": "invoices", "encoding": {"format": "jsonl"},
         "manifest": [read.as_uri(), secret.as_uri()]},
    ))
    with pytest.raises(InputError, match=r"line 1 of batch file .*id_rsa.*not exactly one JSON object"):
        _run(text, tmp_path / "out", audit_enabled=False)
    assert not read.exists() and secret.exists()
    assert any(f"BATCH file {secret} kept: the run stopped" in r.getMessage() for r in caplog.records)


# --- what --about says ----------------------------------------------------------------------------


def _about(fmt: str | None = None) -> str:
    import subprocess
    import sys

    exe = Path(sys.executable).with_name("target-tableau-hyper")
    return subprocess.run([str(exe), "--about", *([f"--format={fmt}"] if fmt else [])],
                          capture_output=True, text=True, check=True).stdout


def test_about_says_batch_messages_are_accepted_jsonl_gzip_or_none():
    about = json.loads(_about("json"))
    assert "batch" in about["capabilities"]
    description = about["description"]
    assert "BATCH messages: jsonl encoding, compression gzip or none" in description
    assert "parquet and remote URLs are refused" in description
    # no `batch_config` setting: the target takes encoding and files from each message (the
    # SDK's tap-side schema, with parquet and a storage root, would promise what is not done)
    assert "batch_config" not in about["settings"]["properties"]
    text = _about()  # (what it says is what the tests above check it does)
    assert "\n  - batch\n" in text and "compression gzip or none" in text


def test_meltano_yml_declares_only_capabilities_the_target_has():
    from ruamel.yaml import YAML

    project = YAML(typ="safe").load((Path(__file__).resolve().parents[2] / "meltano.yml").read_text())
    loader = next(p for p in project["plugins"]["loaders"] if p["name"] == "target-tableau-hyper")
    assert set(loader["capabilities"]) <= set(json.loads(_about("json"))["capabilities"])
