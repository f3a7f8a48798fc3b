"""Rows that do not fit a stream's compiled row type: each takes the exact path on its own
(the rest of its page stays compiled), and every record written is the one the SDK's default
record path writes (selection, type conformance) for the same response. Also: rows compiled in
QBO's own property order, and the page pool's seam checks and keyset cursor."""

from __future__ import annotations

import copy
import decimal
import io
import json
import random
from contextlib import redirect_stdout
from pathlib import Path

import msgspec
from singer_sdk.streams.core import Stream

from tap_quickbooks_online import prefetch
from tap_quickbooks_online.client import QueryResult, decode_envelope, materialize
from tap_quickbooks_online.fast_records import QboRow, flush_stdout, wire_order
from tap_quickbooks_online.tap import TapQuickBooksOnline

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


def invoices(count: int = 12) -> list[dict]:
    """`count` invoices: the reference recordings, repeated with distinct Ids."""
    reference = json.loads((REFERENCE / "entity-invoices.json").read_text(),
                           parse_float=decimal.Decimal)
    rows = [copy.deepcopy(reference[i % len(reference)]) for i in range(count)]
    for i, row in enumerate(rows):
        row["Id"] = str(500 + i)
        row["TotalAmt"] = decimal.Decimal(AMOUNTS[i % len(AMOUNTS)])
    return rows


def page(rows: list[dict]) -> bytes:
    return WIRE.encode({"QueryResponse": {"Invoice": rows, "startPosition": 1,
                                          "maxResults": len(rows)},
                        "time": "2024-05-01T10:00:00.000-07:00"})


def records_of(text: str) -> list[dict]:
    messages = [json.loads(line, parse_float=decimal.Decimal) for line in text.splitlines()]
    assert all(m["type"] == "RECORD" for m in messages)
    return [m["record"] for m in messages]


def ours(stream, body: bytes) -> tuple[list, list[dict]]:
    """The rows as the tap decodes them, and the records its fast writer writes."""
    parsed = decode_envelope(body, stream.rows_decoder())
    rows = stream.normalize_page("9", QueryResult(parsed.QueryResponse).rows("Invoice"))
    return rows, records_of(capture(lambda: stream.fast_writer().write_page(rows)))


def sdk(stream, body: bytes) -> list[dict]:
    """The records the SDK's default path writes for the same response (generic decode,
    every value decoded, the SDK's `_write_record_message`)."""
    parsed = decode_envelope(body, None)
    rows = [stream.normalize("9", r) for r in QueryResult(parsed.QueryResponse).rows("Invoice")]
    return records_of(capture(
        lambda: [Stream._write_record_message(stream, materialize(r)) for r in rows]))


def new_stream():
    return TapQuickBooksOnline(config=CONFIG).streams["invoices"]


def test_compiled_page_writes_the_sdk_records():
    stream = new_stream()
    body = page(invoices())
    rows, records = ours(stream, body)
    assert all(isinstance(r, QboRow) for r in rows)
    assert records == sdk(new_stream(), body)


def test_unknown_property_in_one_row():
    rows = invoices()
    rows[2]["BrandNewQboField"] = {"x": 1}
    rows[2]["AnotherNewOne"] = "text"
    body = page(rows)
    stream = new_stream()
    decoded, records = ours(stream, body)
    assert all(isinstance(r, QboRow) for r in decoded)  # the odd row: compiled without them
    assert records == sdk(new_stream(), body)
    assert all("BrandNewQboField" not in r and "AnotherNewOne" not in r for r in records)
    assert stream.fast_writer().unknown_keys == {"BrandNewQboField", "AnotherNewOne"}


def test_type_mismatch_in_one_row():
    rows = invoices()
    rows[1]["AllowOnlinePayment"] = 1  # a boolean sent as a number
    rows[3]["sparse"] = 0
    body = page(rows)
    decoded, records = ours(new_stream(), body)
    assert [isinstance(r, dict) for r in decoded] == [i in (1, 3) for i in range(len(rows))]
    assert records == sdk(new_stream(), body)
    assert records[1]["AllowOnlinePayment"] is True and records[3]["sparse"] is False


def test_page_mixing_both_and_nested_surprises():
    rows = invoices(40)
    rng = random.Random(7)
    kinds = {}
    for i, row in enumerate(rows):
        kind = rng.choice(["plain", "unknown", "mismatch", "both"])
        kinds[i] = kind
        if kind in ("unknown", "both"):
            row["NotInSchema"] = [1, 2]
        if kind in ("mismatch", "both"):
            row["AllowIPNPayment"] = rng.choice([0, 1])
            # the SDK drops a nested property outside the schema of a conformed row
            row["Line"][0]["NestedNewField"] = "x"
    assert set(kinds.values()) == {"plain", "unknown", "mismatch", "both"}
    body = page(rows)
    stream = new_stream()
    decoded, records = ours(stream, body)
    for i, row in enumerate(decoded):
        assert isinstance(row, dict) == (kinds[i] in ("mismatch", "both")), (i, kinds[i])
    assert records == sdk(new_stream(), body)
    for i, record in enumerate(records):
        assert "NotInSchema" not in record
        assert str(record["TotalAmt"]) == AMOUNTS[i % len(AMOUNTS)]
    assert {"NotInSchema", "Line.NestedNewField"} <= stream.fast_writer().unknown_keys


def test_money_text_exact_on_the_fallback_rows():
    rows = invoices()
    for row in rows:
        row["AllowIPNPayment"] = 0  # every row takes the exact path
    stream = new_stream()
    decoded, _ = ours(stream, page(rows))
    assert all(isinstance(r, dict) for r in decoded)
    text = capture(lambda: stream.fast_writer().write_page(decoded))
    for i, line in enumerate(text.splitlines()):
        assert f'"TotalAmt":{AMOUNTS[i % len(AMOUNTS)]}' in line


def test_a_page_that_is_not_a_query_page_is_read_the_generic_way():
    stream = new_stream()
    body = b'{"QueryResponse": {"Invoice": {"not": "a list"}}, "time": "x"}'
    parsed = decode_envelope(body, stream.rows_decoder())
    assert isinstance(parsed.QueryResponse, dict)  # the generic envelope


def test_rows_are_compiled_in_qbo_property_order():
    rows = invoices()
    body = page(rows)
    order = wire_order(body, "Invoice")
    assert order[:len(rows[0])] == list(rows[0]) or set(rows[0]) <= set(order)
    stream = new_stream()
    decoded, records = ours(stream, body)
    fields = type(decoded[0]).__struct_fields__
    wire = [name for name in order if name in fields]
    assert list(fields[:len(wire)]) == wire
    assert records == sdk(new_stream(), body)


# ---- the page pool's seam checks and keyset cursor ----------------------------------------
def _row(i: int, stamp: str, token: str = "0") -> dict:
    return {"Id": str(i), "SyncToken": token, "updated_at": stamp}


def _old_seam_page(previous: list, rows: list) -> tuple[bool, list]:
    """What the full identity sets said: is the page's first row on the previous page, and
    which rows are new."""
    seen = {prefetch._identity(r) for r in previous}
    return prefetch._identity(rows[0]) in seen, [r for r in rows if prefetch._identity(r)
                                                 not in seen]


def _new_seam_page(previous: list, rows: list) -> tuple[bool, list]:
    seen, checked = prefetch._seam(previous, prefetch._stamps(previous), rows,
                                   prefetch._stamps(rows))
    return prefetch._identity(rows[0]) in seen, \
        [r for r in rows[:checked] if prefetch._identity(r) not in seen] + rows[checked:]


def test_seam_checks_only_the_overlap_and_agree_with_full_sets():
    rng = random.Random(11)
    for _ in range(400):
        # a sorted read with ties, cut into two overlapping pages, rows shifted either way
        stamps = sorted(f"2024-01-01T00:{rng.randrange(6):02d}:{rng.randrange(60):02d}+00:00"
                        for _ in range(60))
        records = [_row(i, stamp) for i, stamp in enumerate(stamps)]
        cut = rng.randrange(5, 55)
        previous = records[:cut + rng.randrange(0, 5)]
        rows = records[max(0, cut - rng.randrange(0, 8)):]
        if rng.random() < 0.3:  # records moved away between the two reads
            rows = [r for r in rows if rng.random() > 0.1] or rows[:1]
        assert _new_seam_page(previous, rows) == _old_seam_page(previous, rows)
        unsorted = rows[::-1]
        assert _new_seam_page(previous, unsorted) == _old_seam_page(previous, unsorted)


def test_cursor_advance_keeps_the_trailing_run():
    def old_advance(cursor, records):
        for record in records:
            if record["updated_at"] != cursor.utc:
                cursor.utc, cursor.literal, cursor.seen = \
                    record["updated_at"], record["updated_at"], set()
            cursor.seen.add(prefetch._identity(record))

    rng = random.Random(5)
    for _ in range(300):
        old, new = prefetch._Cursor(None), prefetch._Cursor(None)
        for _ in range(rng.randrange(1, 5)):
            batch = [_row(rng.randrange(50), f"t{rng.randrange(3)}", str(rng.randrange(2)))
                     for _ in range(rng.randrange(0, 6))]
            if rng.random() < 0.5:
                batch.sort(key=lambda r: r["updated_at"])
            old_advance(old, batch)
            new.advance(batch)
            assert (old.utc, old.literal, old.seen) == (new.utc, new.literal, new.seen)


def test_dict_records_write_the_sdk_records():
    """Dict records (CDC rows: every value decoded, deletes with only their keys) take the
    compiled row when they fit it, else the SDK's conformance: the same records either way."""
    stream = new_stream()
    rows = [stream.normalize("9", row) for row in invoices()]
    rows[1]["AllowIPNPayment"] = 1  # conformed, and so is its nested property outside the schema
    rows[1]["Line"][0]["NestedNewField"] = "dropped"
    rows.append(stream.deleted_record("9", {"Id": "77", "MetaData": {
        "LastUpdatedTime": "2024-05-01T10:00:00-07:00"}}))
    written = records_of(capture(
        lambda: stream.fast_writer().write_page(copy.deepcopy(rows))))
    expected = records_of(capture(
        lambda: [Stream._write_record_message(new_stream(), r) for r in copy.deepcopy(rows)]))
    assert written == expected
    assert written[1]["AllowIPNPayment"] is True
    assert "NestedNewField" not in written[1]["Line"][0]
    assert written[-1] == {"realm_id": "9", "Id": "77",
                           "_sdc_deleted_at": "2024-05-01T17:00:00+00:00"}
    assert str(written[0]["TotalAmt"]) == AMOUNTS[0]


def test_a_page_normalized_in_one_loop_matches_row_by_row():
    from tap_quickbooks_online.fast_records import utc_text  # noqa: PLC0415

    rows = invoices(10)
    stamps = ["2024-03-10T01:59:59-08:00", "2024-03-10T03:00:00-07:00", "2024-01-01T00:00:00Z",
              "2024-01-01T05:30:00+05:30", "2024-01-01T10:00:00.123-08:00", None]
    for i, row in enumerate(rows):
        stamp = stamps[i % len(stamps)]
        if stamp is None:
            del row["MetaData"]
        else:
            row["MetaData"]["LastUpdatedTime"] = stamp
    rows[7]["MetaData"] = None
    stream = new_stream()
    page_rows, _ = ours(stream, page(rows))
    assert all(isinstance(r, QboRow) for r in page_rows)
    generic = [stream.normalize("9", r) for r in
               QueryResult(decode_envelope(page(rows), None).QueryResponse).rows("Invoice")]
    assert [r.updated_at for r in page_rows] == [r["updated_at"] for r in generic]
    assert [r.realm_id for r in page_rows] == ["9"] * len(rows)
    assert page_rows[0].updated_at == utc_text(stamps[0]) == "2024-03-10T09:59:59+00:00"
    assert page_rows[5].updated_at is None and page_rows[7].updated_at is None
