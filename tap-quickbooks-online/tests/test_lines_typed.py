"""Line rows of compiled parent rows (`lines.typed_rows`): exactly the rows of the generic
`LineStream.rows`, and the generic path whenever the typed Structs cannot tell."""

from __future__ import annotations

import copy
import decimal
import io
import json
import typing as t
from contextlib import redirect_stdout
from pathlib import Path

import msgspec
import pytest

from tap_quickbooks_online.client import QueryResult, decode_envelope
from tap_quickbooks_online.fast_records import ENCODER, QboRow, flush_stdout
from tap_quickbooks_online.streams.lines import ParentTombstone, typed_rows
from tap_quickbooks_online.tap import TapQuickBooksOnline

REFERENCE = Path("/work/shared/reference/qbo")
CONFIG = {"client_id": "c", "client_secret": "s", "refresh_token": "r", "realm_ids": ["9"]}
WIRE = msgspec.json.Encoder(decimal_format="number")  # Decimal → its exact text, as QBO sends
PARENTS = {"invoice_lines": ("entity-invoices.json", "Invoice"),
           "bill_lines": ("entity-bills.json", "Bill"),
           "payment_lines": ("entity-payments.json", "Payment"),
           "journal_entry_lines": ("entity-journal_entries.json", "JournalEntry"),
           "deposit_lines": ("entity-deposits.json", "Deposit"),
           "purchase_lines": ("entity-purchases.json", "Purchase"),
           "sales_receipt_lines": ("entity-sales_receipts.json", "SalesReceipt"),
           "credit_memo_lines": ("entity-credit_memos.json", "CreditMemo"),
           "estimate_lines": ("entity-estimates.json", "Estimate"),
           "bill_payment_lines": ("entity-bill_payments.json", "BillPayment"),
           "purchase_order_lines": ("entity-purchase_orders.json", "PurchaseOrder"),
           "refund_receipt_lines": ("entity-refund_receipts.json", "RefundReceipt")}


def load(name: str) -> list[dict]:
    return json.loads((REFERENCE / name).read_text(), parse_float=decimal.Decimal)


def compiled(tap, line_stream_name: str, objects: list[dict]) -> tuple[t.Any, list]:
    """The parents as the tap reads a query page of them: compiled rows, normalized."""
    line_stream = tap.streams[line_stream_name]
    parent = tap.streams[line_stream.parent_stream_type.name]
    entity = parent.entity
    body = WIRE.encode({"QueryResponse": {entity: objects, "startPosition": 1,
                                          "maxResults": len(objects)},
                        "time": "2024-05-01T10:00:00.000-07:00"})
    rows = QueryResult(decode_envelope(body, parent.rows_decoder()).QueryResponse).rows(entity)
    return line_stream, parent.normalize_page("9", rows)


def generic(line_stream, row) -> list:
    return list(line_stream.rows(row))


def emitted_text(line_stream, rows) -> str:
    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    with redirect_stdout(out):
        line_stream.emit_for_parents(rows)
        flush_stdout()
    out.seek(0)
    return "".join(line for line in out.read().splitlines(keepends=True)
                   if line.startswith('{"type":"RECORD"'))



@pytest.mark.parametrize("line_stream_name", sorted(PARENTS))
def test_reference_parents_typed_equal_generic(line_stream_name):
    tap = TapQuickBooksOnline(config=CONFIG)
    file_name, _ = PARENTS[line_stream_name]
    line_stream, rows = compiled(tap, line_stream_name, load(file_name))
    assert rows and all(isinstance(row, QboRow) for row in rows)
    for row in rows:
        typed = typed_rows(row, line_stream.parent_entity)
        assert typed is not None, row.Id
        expected = generic(line_stream, row)
        assert typed == expected
        assert ENCODER.encode(typed) == ENCODER.encode(expected)


def invoice_variant(change) -> dict:
    invoice = copy.deepcopy(load("entity-invoices.json")[0])
    change(invoice)
    return invoice


def _set_line(index, **values):
    def change(invoice):
        invoice["Line"][index].update(values)
    return change


def _set_detail(index, **values):
    def change(invoice):
        line = invoice["Line"][index]
        line.setdefault(line["DetailType"], {}).update(values)
    return change


def _foreign(invoice):
    invoice["CurrencyRef"] = {"value": "EUR", "name": "Euro"}
    invoice["ExchangeRate"] = decimal.Decimal("1.23456")
    invoice["Line"][0]["Amount"] = decimal.Decimal("0.30000000000000004")


def _entity_customer(invoice):
    invoice.pop("CustomerRef", None)
    invoice["EntityRef"] = {"value": "58", "name": "Someone", "type": "Customer"}


def _entity_vendor_blank(invoice):
    invoice["EntityRef"] = {}


def _journal_entity(invoice):
    line = invoice["Line"][0]
    line["DetailType"] = "JournalEntryLineDetail"
    line["JournalEntryLineDetail"] = {
        "PostingType": "Credit", "AccountRef": {"value": "7", "name": "Cash"},
        "Entity": {"Type": "Vendor", "EntityRef": {"value": "31", "name": "Acme"}}}


def _quantity_only(invoice):
    line = invoice["Line"][0]
    line[line["DetailType"]].pop("Qty", None)
    line[line["DetailType"]]["Quantity"] = decimal.Decimal("3.25")


def _no_lines(invoice):
    invoice["Line"] = []


def _null_header_refs(invoice):
    invoice["CurrencyRef"] = None
    invoice["DepartmentRef"] = {}
    invoice["ClassRef"] = {"value": "3"}


#: variants the typed path must shape itself, equal to the generic rows
TYPED = {
    "foreign currency, exact amounts": _foreign,
    "Qty null wins over Quantity": _set_detail(0, Qty=None, Quantity=decimal.Decimal("2.5")),
    "Quantity when Qty absent": _quantity_only,
    "description only": _set_line(0, DetailType="DescriptionOnly"),
    "no DetailType": lambda inv: inv["Line"][0].pop("DetailType"),
    "detail null": _set_line(0, SalesItemLineDetail=None),
    "blank ref, nothing after it": _set_detail(0, ItemRef={}),
    "class from the parent": _set_detail(0, ClassRef={"value": None}),
    "linked transactions": _set_line(0, LinkedTxn=[{"TxnId": "12", "TxnType": "Estimate",
                                                   "TxnLineId": "1"}, {"TxnId": "13"}]),
    "entity ref customer": _entity_customer,
    "entity ref blank": _entity_vendor_blank,
    "journal entity vendor": _journal_entity,
    "no lines": _no_lines,
    "header refs null, blank, partial": _null_header_refs,
    "unknown keys ignored": _set_line(0, ProjectRef={"value": "1"}, CustomField=[]),
}

#: variants only the generic path can shape exactly (typed_rows says so with None)
GENERIC = {
    "blank ref before a given one": _set_detail(0, ItemRef={}, GroupItemRef={"value": "9"}),
    "null-valued ref before a given one": _set_detail(0, AccountRef={"value": None},
                                                      ItemAccountRef={"value": "4"}),
    "unknown DetailType": _set_line(0, DetailType="FancyNewLineDetail",
                                    FancyNewLineDetail={"AccountRef": {"value": "1"}}),
    "ref of another shape": _set_detail(0, ItemRef="6"),
    "link that is not an object": _set_line(0, LinkedTxn=["12"]),
    "tax code of another shape": _set_detail(0, TaxCodeRef="TAX"),
}


@pytest.mark.parametrize("label", sorted(TYPED))
def test_variants_typed_equal_generic(label):
    tap = TapQuickBooksOnline(config=CONFIG)
    line_stream, rows = compiled(tap, "invoice_lines", [invoice_variant(TYPED[label])])
    typed = typed_rows(rows[0], "Invoice")
    assert typed is not None
    expected = generic(line_stream, rows[0])
    assert typed == expected
    assert ENCODER.encode(typed) == ENCODER.encode(expected)


@pytest.mark.parametrize("label", sorted(GENERIC))
def test_variants_left_to_generic(label):
    tap = TapQuickBooksOnline(config=CONFIG)
    line_stream, rows = compiled(tap, "invoice_lines", [invoice_variant(GENERIC[label])])
    assert typed_rows(rows[0], "Invoice") is None
    # what the stream writes is the generic rows after the tombstone
    text = emitted_text(line_stream, rows)
    tombstone = {"realm_id": "9", "txn_id": rows[0]["Id"], "line_index": None,
                 "_sdc_deleted_at": rows[0]["updated_at"]}
    records = [json.loads(line, parse_float=decimal.Decimal)["record"]
               for line in text.splitlines()]
    assert records[0] == tombstone
    assert records[1:] == [msgspec.to_builtins(r, builtin_types=(decimal.Decimal,))
                           for r in generic(line_stream, rows[0])]


def test_foreign_amount_text_and_home_amount():
    tap = TapQuickBooksOnline(config=CONFIG)
    line_stream, rows = compiled(tap, "invoice_lines", [invoice_variant(_foreign)])
    text = emitted_text(line_stream, rows)
    assert '"amount":0.30000000000000004' in text
    expected = (decimal.Decimal("0.30000000000000004") * decimal.Decimal("1.23456")).quantize(
        decimal.Decimal("0.01"), rounding=decimal.ROUND_HALF_UP)
    assert f'"home_amount":{expected}' in text


def test_tombstone_struct_encodes_as_the_dict_did():
    tombstone = ParentTombstone("9", "266", None, "2020-09-29T13:02:35+00:00")
    assert ENCODER.encode(tombstone) == ENCODER.encode(
        {"realm_id": "9", "txn_id": "266", "line_index": None,
         "_sdc_deleted_at": "2020-09-29T13:02:35+00:00"})
