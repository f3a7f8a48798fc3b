"""`FastRecordWriter.write_page`: records that `project` would leave as they are (compiled rows,
line Structs) are written without it, the same bytes as projected ones; query pages with
newlines are compacted before decoding, so a RECORD message is always one line."""

from __future__ import annotations

import decimal
import io
import json
from contextlib import redirect_stdout
from pathlib import Path

import msgspec

from tap_quickbooks_online.client import QueryResult, decode_envelope
from tap_quickbooks_online.fast_records import ENCODER, QboRow, RecordEnvelope, flush_stdout
from tap_quickbooks_online.tap import TapQuickBooksOnline

REFERENCE = Path("/work/shared/reference/qbo")
CONFIG = {"client_id": "c", "client_secret": "s", "refresh_token": "r", "realm_ids": ["9"]}
WIRE = msgspec.json.Encoder(decimal_format="number")


def capture(fn) -> bytes:
    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    with redirect_stdout(out):
        fn()
        flush_stdout()
    out.seek(0)
    return out.buffer.read()


def envelopes(writer, records) -> bytes:
    """One RecordEnvelope per projected record."""
    name, version, stamp = writer._stream_name, writer._version, writer._stamp  # noqa: SLF001
    return bytes(ENCODER.encode_lines([
        RecordEnvelope("RECORD", name, writer.project(r), version, stamp) for r in records]))


def rows_of(stream, body: bytes) -> list:
    rows = QueryResult(decode_envelope(body, stream.rows_decoder()).QueryResponse).rows(
        stream.entity)
    return stream.normalize_page("9", rows)


def invoices_body(pretty: bool) -> bytes:
    invoices = json.loads((REFERENCE / "entity-invoices.json").read_text(),
                          parse_float=decimal.Decimal)
    page = {"QueryResponse": {"Invoice": invoices, "startPosition": 1,
                              "maxResults": len(invoices)},
            "time": "2024-05-01T10:00:00.000-07:00"}
    # pretty: newlines between tokens (QBO's JSON is compact, but nothing says so)
    return msgspec.json.format(WIRE.encode(page), indent=2 if pretty else -1)


def test_compiled_pages_equal_projected_envelopes():
    tap = TapQuickBooksOnline(config=CONFIG)
    stream = tap.streams["invoices"]
    rows = rows_of(stream, invoices_body(False))
    assert rows and all(isinstance(r, QboRow) for r in rows)
    writer = stream.fast_writer()
    written = capture(lambda: writer.write_page(rows))
    assert written == envelopes(writer, rows)
    assert written.count(b"\n") == len(rows)


def test_pretty_pages_are_written_as_compact_lines():
    tap = TapQuickBooksOnline(config=CONFIG)
    stream = tap.streams["invoices"]
    writer = stream.fast_writer()
    compact = capture(lambda: writer.write_page(rows_of(stream, invoices_body(False))))
    pretty_rows = rows_of(stream, invoices_body(True))
    assert not any(b"\n" in bytes(r.Line) for r in pretty_rows)
    assert capture(lambda: writer.write_page(pretty_rows)) == compact  # money text kept too
    assert b'"TotalAmt":362.07' in compact


def test_line_pages_equal_projected_envelopes():
    tap = TapQuickBooksOnline(config=CONFIG)
    stream = tap.streams["invoices"]
    lines = stream.line_stream
    rows = rows_of(stream, invoices_body(False))
    records: list = []
    for row in rows:
        lines._messages_for(row, records)  # noqa: SLF001
    writer = lines.fast_writer()
    assert capture(lambda: writer.write_page(records)) == envelopes(writer, records)


def test_dict_records_still_projected():
    tap = TapQuickBooksOnline(config=CONFIG)
    writer = tap.streams["invoice_lines"].fast_writer()
    records = [{"realm_id": "9", "txn_id": "1", "line_index": None,
                "_sdc_deleted_at": "2024-01-01T00:00:00+00:00", "not_in_schema": 1}]
    written = capture(lambda: writer.write_page(records))
    assert json.loads(written)["record"] == {"realm_id": "9", "txn_id": "1", "line_index": None,
                                             "_sdc_deleted_at": "2024-01-01T00:00:00+00:00"}
    assert written == envelopes(writer, records)


def test_deselected_line_properties_are_left_out_of_line_rows_and_tombstones():
    """Line Structs are written as they are only while all their fields are selected."""
    catalog = TapQuickBooksOnline(config=CONFIG).catalog_dict
    deselected = ("_sdc_deleted_at", "description")
    for entry in catalog["streams"]:
        for md in entry["metadata"]:
            if md["breadcrumb"] == []:
                md["metadata"]["selected"] = entry["tap_stream_id"] in ("invoices",
                                                                        "invoice_lines")
            elif entry["tap_stream_id"] == "invoice_lines" and md["breadcrumb"][-1] in deselected:
                md["metadata"]["selected"] = False
    tap = TapQuickBooksOnline(config=CONFIG, catalog=catalog)
    stream = tap.streams["invoices"]
    lines = stream.line_stream
    records: list = []
    for row in rows_of(stream, invoices_body(False)):
        lines._messages_for(row, records)  # noqa: SLF001
    tombstones = [r for r in records if r.get("line_index") is None]
    assert tombstones and len(tombstones) < len(records)
    writer = lines.fast_writer()
    schema_properties = set(lines.schema["properties"])
    for written in (capture(lambda: writer.write_page(records)),
                    capture(lambda: [writer.write(r) for r in records])):
        written_records = [json.loads(line)["record"] for line in written.splitlines()]
        assert len(written_records) == len(records)
        assert all(set(r) <= schema_properties - set(deselected) for r in written_records)
        assert [r for r in written_records if r["line_index"] is None] == [
            {"realm_id": t.realm_id, "txn_id": t.txn_id, "line_index": None}
            for t in tombstones]
        assert {"amount", "line_id", "account_id"} <= set(written_records[-1])
    batch_lines: list[bytes] = []
    writer.batch = lambda chunk, count: batch_lines.append(bytes(chunk))
    writer.write_page(records)
    assert [json.loads(x) for x in b"".join(batch_lines).splitlines()] == written_records
