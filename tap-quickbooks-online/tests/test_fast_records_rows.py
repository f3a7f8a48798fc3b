"""Compiled query rows (fast_records.QboRow) and the page-at-a-time sync loop: same records,
exact money text, schema projection, fallbacks, and exact STATE messages."""

from __future__ import annotations

import copy
import datetime
import decimal
import io
import json
import random
from contextlib import redirect_stdout
from pathlib import Path

import msgspec
import pytest
from singer_sdk.streams.core import Stream

from tap_quickbooks_online.client import QueryResult, decode_envelope, materialize
from tap_quickbooks_online.fast_records import QboRow, flush_stdout, utc_text
from tap_quickbooks_online.tap import TapQuickBooksOnline
from tap_quickbooks_online.timeutil import to_utc_iso

REFERENCE = Path("/work/shared/reference/qbo")
CONFIG = {"client_id": "c", "client_secret": "s", "refresh_token": "r", "realm_ids": ["9"]}
WIRE = msgspec.json.Encoder(decimal_format="number")  # Decimal → its exact text, as QBO sends
#: amounts whose float round trip would change their text
AMOUNTS = ["0.30000000000000004", "1234567890123456.78", "0.10", "100.00", "99999999999.99"]


def capture(fn) -> str:
    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    with redirect_stdout(out):
        fn()
        flush_stdout()
    out.seek(0)
    return out.read()


def reference_invoices() -> list[dict]:
    return json.loads((REFERENCE / "entity-invoices.json").read_text(),
                      parse_float=decimal.Decimal)


def page(rows: list[dict], entity: str = "Invoice") -> bytes:
    """A query response body as QBO sends it."""
    return WIRE.encode({"QueryResponse": {entity: rows, "startPosition": 1,
                                          "maxResults": len(rows)},
                        "time": "2024-05-01T10:00:00.000-07:00"})


def decoded_rows(stream, body: bytes) -> list:
    parsed = decode_envelope(body, stream.rows_decoder())
    rows = QueryResult(parsed.QueryResponse).rows(stream.entity)
    return [stream.normalize("9", row) for row in rows]


def records_of(text: str) -> list[dict]:
    messages = [json.loads(line, parse_float=decimal.Decimal) for line in text.splitlines()]
    assert all(m["type"] == "RECORD" for m in messages)
    return [m["record"] for m in messages]


def with_amounts(invoices: list[dict]) -> list[dict]:
    rows = copy.deepcopy(invoices)
    for i, row in enumerate(rows):
        row["TotalAmt"] = decimal.Decimal(AMOUNTS[i % len(AMOUNTS)])
        row["Balance"] = decimal.Decimal(AMOUNTS[(i + 1) % len(AMOUNTS)])
        row["Line"][0]["Amount"] = decimal.Decimal(AMOUNTS[(i + 2) % len(AMOUNTS)])
    return rows


def test_compiled_rows_write_what_the_sdk_path_writes():
    stream = TapQuickBooksOnline(config=CONFIG).streams["invoices"]
    body = page(with_amounts(reference_invoices()))
    rows = decoded_rows(stream, body)
    assert rows and all(isinstance(r, QboRow) for r in rows)
    fast_page = capture(lambda: stream.fast_writer().write_page(rows))
    fast_single = capture(lambda: [stream._write_record_message(r) for r in rows])
    sdk = capture(lambda: [Stream._write_record_message(stream, materialize(r)) for r in rows])
    assert records_of(fast_page) == records_of(fast_single) == records_of(sdk)
    for record, source in zip(records_of(fast_page), reference_invoices(), strict=True):
        assert record["realm_id"] == "9"
        assert record["Id"] == source["Id"]
        assert record["updated_at"] == to_utc_iso(source["MetaData"]["LastUpdatedTime"])
        assert set(record) <= set(stream.schema["properties"])


def test_money_keeps_its_source_text():
    stream = TapQuickBooksOnline(config=CONFIG).streams["invoices"]
    body = page(with_amounts(reference_invoices()))
    text = capture(lambda: stream.fast_writer().write_page(decoded_rows(stream, body)))
    lines = text.splitlines()
    assert len(lines) == len(reference_invoices())
    for i, line in enumerate(lines):  # amounts set by with_amounts()
        assert f'"TotalAmt":{AMOUNTS[i % len(AMOUNTS)]},' in line
        assert f'"Balance":{AMOUNTS[(i + 1) % len(AMOUNTS)]},' in line
        assert f'"Amount":{AMOUNTS[(i + 2) % len(AMOUNTS)]},' in line  # nested, in Line
    # the float round trip the tap avoids would have changed these
    assert str(float("1234567890123456.78")) != "1234567890123456.78"
    for record in records_of(text):
        assert str(record["TotalAmt"]) in AMOUNTS


def test_a_property_outside_the_schema_is_dropped_from_its_row_only():
    stream = TapQuickBooksOnline(config=CONFIG).streams["invoices"]
    rows = reference_invoices()
    rows[1]["BrandNewQboField"] = {"x": 1}
    parsed_rows = decoded_rows(stream, page(rows))
    assert all(isinstance(r, QboRow) for r in parsed_rows)  # the other rows stay compiled
    assert "BrandNewQboField" not in parsed_rows[1].__struct_fields__
    text = capture(lambda: stream.fast_writer().write_page(parsed_rows))
    records = records_of(text)
    assert len(records) == len(rows)
    assert all("BrandNewQboField" not in r for r in records)
    assert stream.fast_writer().unknown_keys == {"BrandNewQboField"}
    # the same records as the compiled path writes for the page without the extra property
    del rows[1]["BrandNewQboField"]
    typed = capture(lambda: stream.fast_writer().write_page(decoded_rows(stream, page(rows))))
    assert records_of(typed) == records


def test_a_boolean_sent_as_a_number_takes_the_exact_path_for_its_row():
    stream = TapQuickBooksOnline(config=CONFIG).streams["invoices"]
    rows = reference_invoices()
    rows[0]["AllowIPNPayment"] = 0
    parsed = decoded_rows(stream, page(rows))
    assert isinstance(parsed[0], dict)
    assert all(isinstance(r, QboRow) for r in parsed[1:])
    records = records_of(capture(lambda: stream.fast_writer().write_page(parsed)))
    assert records[0]["AllowIPNPayment"] is False  # conformed as the SDK does, not 0


def test_deselected_property_means_dict_rows_without_it():
    tap = TapQuickBooksOnline(config=CONFIG)
    catalog = tap.catalog_dict
    for entry in catalog["streams"]:
        for md in entry["metadata"]:
            if entry["tap_stream_id"] == "invoices" and md["breadcrumb"] == \
                    ["properties", "PrivateNote"]:
                md["metadata"]["selected"] = False
    stream = TapQuickBooksOnline(config=CONFIG, catalog=catalog).streams["invoices"]
    assert stream.rows_decoder() is None
    rows = reference_invoices()
    rows[0]["PrivateNote"] = "internal"
    text = capture(lambda: stream.fast_writer().write_page(decoded_rows(stream, page(rows))))
    records = records_of(text)
    assert len(records) == len(rows) and all("PrivateNote" not in r for r in records)
    assert all("TotalAmt" in r for r in records)


def test_stream_maps_disable_compiled_rows():
    config = {**CONFIG, "stream_maps": {"invoices": {"DocNumber": None}}}
    stream = TapQuickBooksOnline(config=config).streams["invoices"]
    assert stream.rows_decoder() is None
    assert not stream.fast_writer().enabled


def test_rows_read_like_records():
    stream = TapQuickBooksOnline(config=CONFIG).streams["invoices"]
    row = decoded_rows(stream, page(reference_invoices()[:1]))[0]
    assert row["Id"] == row.get("Id") == reference_invoices()[0]["Id"]
    assert "Id" in row and "ShipDate" not in row
    assert row.get("ShipDate", "absent") == "absent"
    record = materialize(row)
    assert record["TotalAmt"] == reference_invoices()[0]["TotalAmt"]
    assert record["Line"] == reference_invoices()[0]["Line"]
    assert record["MetaData"] == reference_invoices()[0]["MetaData"]
    assert set(record) == set(row.keys())


def test_utc_text_matches_to_utc_iso():
    rng = random.Random(20240501)
    offsets = [-12, -8, -7, -3.5, 0, 1, 5.5, 5.75, 9, 14]
    base = datetime.datetime(2000, 1, 1)
    for _ in range(20000):
        moment = base + datetime.timedelta(seconds=rng.randrange(0, 10**9))
        zone = datetime.timezone(datetime.timedelta(hours=rng.choice(offsets)))
        text = moment.replace(tzinfo=zone).isoformat()
        if text.endswith("+00:00") and rng.random() < 0.5:
            text = text[:-6] + "Z"
        assert utc_text(text) == to_utc_iso(text), text
    for text in ("2024-01-01T10:00:00.123-08:00", "2024-01-01", "2024-01-01T10:00:00"):
        assert utc_text(text) == to_utc_iso(text)
    with pytest.raises(ValueError):
        utc_text("2024-01-01T10:61:00-08:00")


def _records_by_key(run, stream):
    return sorted(run.records.get(stream, []), key=lambda r: (
        r["realm_id"], str(r.get("Id") or r.get("txn_id")), str(r.get("line_index"))))


def test_page_loop_writes_what_the_sdk_record_loop_writes(qbo_sandbox, make_config, tap_run,
                                                         monkeypatch):
    from tap_quickbooks_online.streams.entities import EntityStream  # noqa: PLC0415

    monkeypatch.setattr(EntityStream, "STATE_MSG_FREQUENCY", 7)
    config = make_config(qbo_sandbox, page_size=20)
    streams = ["invoices", "invoice_lines", "customers"]
    fast = tap_run(config, streams)
    monkeypatch.setattr(TapQuickBooksOnline, "fast_output", False)
    sdk = tap_run(config, streams)
    for stream in streams:
        assert _records_by_key(fast, stream) == _records_by_key(sdk, stream), stream
        assert fast.records[stream]
    # final bookmarks: past every record written (the realm's end moves a bookmark up to just
    # before the server's time, which differs between the two runs)
    for realm_id in qbo_sandbox.realm_ids():
        for stream in ("invoices", "customers"):
            written = max(r["updated_at"] for r in fast.records[stream]
                          if r["realm_id"] == realm_id)
            assert fast.bookmark(stream, realm_id) >= written
            assert sdk.bookmark(stream, realm_id) >= written

    # every STATE covers exactly the records written before it: for the realm being read,
    # its bookmark is the latest `updated_at` written so far (never past an unwritten record)
    latest: dict[tuple[str, str], str] = {}
    realm_in_progress = None
    states = 0
    for message in fast.messages:
        if message["type"] == "RECORD" and message["stream"] == "invoices":
            record = message["record"]
            realm_in_progress = record["realm_id"]
            key = ("invoices", realm_in_progress)
            latest[key] = max(latest.get(key, ""), record["updated_at"])
        elif message["type"] == "STATE" and realm_in_progress is not None:
            partitions = message["value"]["bookmarks"]["invoices"]["partitions"]
            bookmark = next(p["replication_key_value"] for p in partitions
                            if p["context"] == {"realm_id": realm_in_progress})
            assert bookmark >= latest[("invoices", realm_in_progress)]
            if bookmark != latest[("invoices", realm_in_progress)]:
                # only the realm's end moves it further (to just before the server time)
                continue
            states += 1
    assert states >= 2  # STATE messages inside the stream, not just at its end
