"""The fast RECORD writer produces what the SDK's default path produces (same JSON value,
exact decimal text), and falls back to the SDK path when stream maps are configured."""

from __future__ import annotations

import copy
import decimal
import io
import json
from contextlib import redirect_stdout
from pathlib import Path

from singer_sdk.streams.core import Stream

from tap_quickbooks_online.fast_records import flush_stdout
from tap_quickbooks_online.tap import TapQuickBooksOnline

REFERENCE = Path("/work/shared/reference/qbo")
CONFIG = {"client_id": "c", "client_secret": "s", "refresh_token": "r", "realm_ids": ["9"]}


def capture(fn):
    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    with redirect_stdout(out):
        fn()
        flush_stdout()  # the tap buffers its output until a STATE message (or a flush)
    out.seek(0)
    return out.read()


def invoices():
    rows = json.loads((REFERENCE / "entity-invoices.json").read_text(), parse_float=decimal.Decimal)
    for row in rows:
        row["NotInSchema"] = {"x": 1}  # dropped by both paths
    return rows


def test_fast_path_matches_sdk_path():
    tap = TapQuickBooksOnline(config=CONFIG)
    stream = tap.streams["invoices"]
    records = [stream.normalize("9", row) for row in invoices()]
    fast = capture(lambda: [stream._write_record_message(copy.deepcopy(r)) for r in records])
    assert stream._fast_writer.enabled
    sdk = capture(lambda: [Stream._write_record_message(stream, copy.deepcopy(r)) for r in records])
    fast_msgs = [json.loads(line, parse_float=decimal.Decimal) for line in fast.splitlines()]
    sdk_msgs = [json.loads(line, parse_float=decimal.Decimal) for line in sdk.splitlines()]
    assert len(fast_msgs) == len(sdk_msgs) == len(records)
    for a, b in zip(fast_msgs, sdk_msgs, strict=True):
        a.pop("time_extracted"), b.pop("time_extracted")
        assert a == b
        assert "NotInSchema" not in a["record"]
    # exact money text on the wire
    assert f'"TotalAmt":{records[0]["TotalAmt"]}' in fast
    assert str(records[0]["TotalAmt"]).count(".") == 1


def test_stream_maps_fall_back_to_sdk_path():
    config = {**CONFIG, "stream_maps": {"invoices": {"DocNumber": None}}}
    tap = TapQuickBooksOnline(config=config)
    stream = tap.streams["invoices"]
    record = stream.normalize("9", invoices()[0])
    text = capture(lambda: stream._write_record_message(record))
    assert not stream._fast_writer.enabled
    assert '"DocNumber"' not in text and '"TotalAmt"' in text
