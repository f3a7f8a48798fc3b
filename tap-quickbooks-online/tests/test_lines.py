"""Line rows from the parent's payload, and the parent-scoped replace contract."""

from __future__ import annotations

import decimal
import io
import json
from contextlib import redirect_stdout
from pathlib import Path

from tap_quickbooks_online.fast_records import flush_stdout
from tap_quickbooks_online.tap import TapQuickBooksOnline

REFERENCE = Path("/work/shared/reference/qbo")
CONFIG = {"client_id": "c", "client_secret": "s", "refresh_token": "r", "realm_ids": ["9"]}


def load(name):
    return json.loads((REFERENCE / name).read_text(), parse_float=decimal.Decimal)


def emitted(stream_name, parents):
    tap = TapQuickBooksOnline(config=CONFIG)
    line_stream = tap.streams[stream_name]
    parent_stream = tap.streams[line_stream.parent_stream_type.name]
    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    with redirect_stdout(out):
        for obj in parents:
            if obj.get("status") == "Deleted":
                record = parent_stream.deleted_record("9", obj)
            else:
                record = parent_stream.normalize("9", obj)
            line_stream.emit_for_parent(record)
        flush_stdout()  # the tap buffers its output until a STATE message (or a flush)
    out.seek(0)
    return [json.loads(line, parse_float=decimal.Decimal) for line in out.read().splitlines()]


def test_invoice_lines_tombstone_then_lines():
    invoices = load("entity-invoices.json")
    messages = emitted("invoice_lines", invoices)
    assert messages[0]["type"] == "SCHEMA"
    schema = messages[0]
    assert schema["key_properties"] == ["realm_id", "txn_id", "line_index"]
    assert schema["schema"]["x-parent-key"] == ["realm_id", "txn_id"]
    records = [m["record"] for m in messages if m["type"] == "RECORD"]
    position = 0
    for invoice in invoices:
        tombstone = records[position]
        assert tombstone["txn_id"] == invoice["Id"] and tombstone["realm_id"] == "9"
        assert tombstone["line_index"] is None and tombstone["_sdc_deleted_at"]
        lines = records[position + 1: position + 1 + len(invoice["Line"])]
        assert [r["line_index"] for r in lines] == list(range(len(invoice["Line"])))
        for row, line in zip(lines, invoice["Line"], strict=True):
            assert row["txn_id"] == invoice["Id"]
            assert row["amount"] == line["Amount"]
            assert row["detail_type"] == line["DetailType"]
            assert row["doc_number"] == invoice.get("DocNumber")
            assert row["txn_date"] == invoice["TxnDate"]
            assert row["currency"] == invoice["CurrencyRef"]["value"]
            assert row["customer_id"] == invoice["CustomerRef"]["value"]
            assert row["_sdc_deleted_at"] is None
            detail = line.get("SalesItemLineDetail")
            if detail:
                assert row["item_id"] == detail["ItemRef"]["value"]
                assert row["item_name"] == detail["ItemRef"]["name"]
        position += 1 + len(invoice["Line"])
    assert position == len(records)


def test_money_text_is_exact_on_the_wire():
    invoices = load("entity-invoices.json")
    tap = TapQuickBooksOnline(config=CONFIG)
    stream = tap.streams["invoice_lines"]
    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    with redirect_stdout(out):
        stream.emit_for_parent(tap.streams["invoices"].normalize("9", invoices[0]))
        flush_stdout()
    out.seek(0)
    text = out.read()
    amounts = [str(line["Amount"]) for line in invoices[0]["Line"]]
    for amount in amounts:
        assert f'"amount":{amount}' in text


def test_journal_entry_posting_type_and_accounts():
    entries = load("entity-journal_entries.json")
    records = [m["record"] for m in emitted("journal_entry_lines", entries) if m["type"] == "RECORD"]
    lines = [r for r in records if r["line_index"] is not None]
    source = [line for entry in entries for line in entry["Line"]]
    assert len(lines) == len(source)
    for row, line in zip(lines, source, strict=True):
        detail = line["JournalEntryLineDetail"]
        assert row["posting_type"] == detail["PostingType"]
        assert row["account_id"] == detail["AccountRef"]["value"]
    debits = sum(r["amount"] for r in lines if r["posting_type"] == "Debit")
    credits = sum(r["amount"] for r in lines if r["posting_type"] == "Credit")
    assert debits == credits


def test_deleted_parent_emits_only_tombstone():
    deleted = {"domain": "QBO", "status": "Deleted", "Id": "266",
               "MetaData": {"LastUpdatedTime": "2020-09-29T06:02:35-07:00"}}
    records = [m["record"] for m in emitted("invoice_lines", [deleted]) if m["type"] == "RECORD"]
    assert records == [{"realm_id": "9", "txn_id": "266", "line_index": None,
                        "_sdc_deleted_at": "2020-09-29T13:02:35+00:00"}]


def test_home_currency_amount():
    bill = load("entity-bills.json")[0]
    bill["ExchangeRate"] = decimal.Decimal("1.2345")
    bill["CurrencyRef"] = {"value": "EUR", "name": "Euro"}
    records = [m["record"] for m in emitted("bill_lines", [bill]) if m["type"] == "RECORD"]
    row = records[1]
    expected = (bill["Line"][0]["Amount"] * decimal.Decimal("1.2345")).quantize(
        decimal.Decimal("0.01"), rounding=decimal.ROUND_HALF_UP)
    assert row["home_amount"] == expected
    assert row["currency"] == "EUR" and row["exchange_rate"] == decimal.Decimal("1.2345")
