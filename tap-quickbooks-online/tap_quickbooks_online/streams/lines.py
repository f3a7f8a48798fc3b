"""Line streams (`invoice_lines`, `bill_lines`, ...): one row per transaction line.

Lines come from the parent's payload (no extra requests): the parent entity stream calls
`LineStream.emit_for_parent(record)` for every parent record it reads, including CDC deletes.

Parent-scoped replace (docs/architecture.md): for every parent emitted, first a *parent
tombstone* — `realm_id` and `txn_id` set, `line_index` null, `_sdc_deleted_at` set (the
parent's change or deletion time) — then the parent's current lines (none for a deleted
parent). The target deletes all rows of a tombstoned parent and inserts the lines that follow,
so a changed transaction's removed lines never survive.

Keys: `realm_id, txn_id, line_index` (the line's position in the parent's `Line` array).
The schema is flat: parent id, type, date, doc number, currency and exchange rate; the line's
detail type, amount and home-currency amount, posting type, and the ids and names of its
account, class, department, item, customer and vendor (from the line detail, falling back to
the parent's header refs where QBO puts them there).
"""

from __future__ import annotations

import typing as t
from decimal import ROUND_HALF_UP, Decimal

import msgspec

from tap_quickbooks_online.client import QuickBooksStream, value
from tap_quickbooks_online.fast_records import QboRow
from tap_quickbooks_online.schema_objects import line_schema

if t.TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

CENT = Decimal("0.01")
ONE = Decimal(1)


class LineRow(msgspec.Struct, gc=False):
    """One output row; a Struct encodes ~2x faster than the equivalent dict (no key checks)."""

    realm_id: str
    txn_id: str
    updated_at: t.Any
    txn_type: str
    txn_date: t.Any
    doc_number: t.Any
    currency: t.Any
    exchange_rate: t.Any
    line_index: int
    _sdc_deleted_at: None
    line_id: t.Any
    line_num: t.Any
    description: t.Any
    detail_type: t.Any
    amount: t.Any
    home_amount: t.Any
    posting_type: t.Any
    quantity: t.Any
    unit_price: t.Any
    account_id: t.Any
    account_name: t.Any
    class_id: t.Any
    class_name: t.Any
    department_id: t.Any
    department_name: t.Any
    item_id: t.Any
    item_name: t.Any
    customer_id: t.Any
    customer_name: t.Any
    vendor_id: t.Any
    vendor_name: t.Any
    tax_code_id: t.Any
    billable_status: t.Any
    linked_txn_id: t.Any
    linked_txn_type: t.Any

    def get(self, key: str, default: t.Any = None) -> t.Any:
        return getattr(self, key, default)

    def keys(self) -> tuple[str, ...]:
        return self.__struct_fields__


class ParentTombstone(msgspec.Struct, gc=False):
    """A parent tombstone record (fields in the order the record was always written in)."""

    realm_id: t.Any
    txn_id: str
    line_index: None
    _sdc_deleted_at: t.Any

    def get(self, key: str, default: t.Any = None) -> t.Any:
        return getattr(self, key, default)

    def keys(self) -> tuple[str, ...]:
        return self.__struct_fields__


def _ref(ref: t.Any) -> tuple[t.Any, t.Any]:
    if isinstance(ref, dict):
        return ref.get("value"), ref.get("name")
    return None, None


class LineStream(QuickBooksStream):
    """Child of one entity stream; never requests anything itself."""

    parent_entity: str = ""
    primary_keys: t.ClassVar[list[str]] = ["realm_id", "txn_id", "line_index"]
    replication_key = None
    state_partitioning_keys: t.ClassVar[list[str]] = []
    #: its dict records are the tap's own parent tombstones (text and nulls, all in the schema)
    conform_dict_records = False

    def __init__(self, tap: t.Any) -> None:
        super().__init__(tap, name=self.name, schema=line_schema(),
                         path=f"/v3/company/{{realm_id}}/query?{self.parent_entity}#lines")
        self._announced = False
        self._last_line_count = 0
        self.emitted_lines = 0
        self.emitted_tombstones = 0

    def get_records(self, context: Context | None) -> t.Iterable[dict]:
        return iter(())  # rows are pushed by the parent stream (emit_for_parent)

    def _generate_schema_messages(self) -> t.Iterator[t.Any]:
        # The SDK's catalog round-trip drops unknown schema keywords; the target needs this one.
        for message in super()._generate_schema_messages():
            message.schema = {**message.schema, "x-parent-key": ["realm_id", "txn_id"]}
            yield message

    # ---- output -----------------------------------------------------------------------
    def announce(self) -> None:
        if not self._announced:
            self._announced = True
            self._write_schema_message()

    def emit_for_parent(self, parent: dict) -> None:
        self.emit_for_parents((parent,))

    def emit_for_parents(self, parents: t.Iterable[dict]) -> None:
        """Each parent's tombstone then its lines, in order; with the fast writer, a whole
        page of parents is written in one go."""
        if not self._announced:
            self.announce()
        writer = self._fast_writer or self.fast_writer()
        messages: list[t.Any] = []
        for parent in parents:
            self._messages_for(parent, messages)
        if writer.enabled:
            writer.write_page(messages)
            self.state_manager.is_flushed = False
        else:
            for message in messages:
                self._write_record_message(message)

    def _messages_for(self, parent: dict, messages: list[t.Any]) -> None:
        realm_id = parent["realm_id"]
        txn_id = str(parent["Id"])
        deleted_at = parent.get("_sdc_deleted_at")
        messages.append(ParentTombstone(realm_id, txn_id, None,
                                        deleted_at or parent.get("updated_at")))
        self.emitted_tombstones += 1
        if not deleted_at:
            fast = typed_rows(parent, self.parent_entity) if isinstance(parent, QboRow) \
                else None
            if fast is not None:
                messages.extend(fast)
                self.emitted_lines += len(fast)
            else:
                messages.extend(self.rows(parent))
                self.emitted_lines += self._last_line_count

    def flush_counts(self) -> None:
        if self.emitted_tombstones:
            self.logger.info("summary %s: %d lines for %d parents", self.name,
                             self.emitted_lines, self.emitted_tombstones)
        self.emitted_lines = self.emitted_tombstones = 0

    # ---- shaping ------------------------------------------------------------------------
    def rows(self, parent: dict) -> t.Iterator[dict]:
        lines = value(parent, "Line") or ()
        self._last_line_count = len(lines)
        currency = (value(parent, "CurrencyRef") or {}).get("value")
        rate = value(parent, "ExchangeRate")
        realm_id = parent["realm_id"]
        txn_id = str(parent["Id"])
        updated_at = parent.get("updated_at")
        txn_type = self.parent_entity
        txn_date = value(parent, "TxnDate")
        doc_number = value(parent, "DocNumber")
        parent_class = _ref(value(parent, "ClassRef"))
        parent_department = _ref(value(parent, "DepartmentRef"))
        parent_customer = _ref(value(parent, "CustomerRef"))
        parent_vendor = _ref(value(parent, "VendorRef"))
        entity = value(parent, "EntityRef")
        if isinstance(entity, dict) and parent_vendor == (None, None) and \
                entity.get("type") in (None, "Vendor"):
            parent_vendor = _ref(entity)
        elif isinstance(entity, dict) and entity.get("type") == "Customer" and \
                parent_customer == (None, None):
            parent_customer = _ref(entity)

        for index, line in enumerate(lines):
            detail_type = line.get("DetailType")
            detail = line.get(detail_type) if detail_type else None
            if not isinstance(detail, dict):
                detail = {}
            account = _ref(detail.get("AccountRef") or detail.get("ItemAccountRef")
                           or detail.get("DiscountAccountRef"))
            item = _ref(detail.get("ItemRef") or detail.get("GroupItemRef"))
            klass = _ref(detail.get("ClassRef"))
            if klass == (None, None):
                klass = parent_class
            department = _ref(detail.get("DepartmentRef"))
            if department == (None, None):
                department = parent_department
            customer = _ref(detail.get("CustomerRef"))
            vendor = (None, None)
            line_entity = detail.get("Entity")
            if isinstance(line_entity, dict):
                entity_type = line_entity.get("Type") or line_entity.get("type")
                entity_ref = _ref(line_entity.get("EntityRef") or line_entity)
                if entity_type == "Vendor":
                    vendor = entity_ref
                elif entity_type == "Customer":
                    customer = entity_ref
            if customer == (None, None):
                customer = parent_customer
            if vendor == (None, None):
                vendor = parent_vendor
            amount = line.get("Amount")
            if amount is not None and rate is not None and rate != ONE:
                home_amount = (Decimal(amount) * Decimal(rate)).quantize(CENT, ROUND_HALF_UP)
            else:
                home_amount = amount
            linked = line.get("LinkedTxn") or ()
            first_link = linked[0] if linked and isinstance(linked[0], dict) else {}
            tax_code = detail.get("TaxCodeRef")
            yield LineRow(
                realm_id, txn_id, updated_at, txn_type, txn_date, doc_number, currency, rate,
                index, None, line.get("Id"), line.get("LineNum"), line.get("Description"),
                detail_type, amount, home_amount, detail.get("PostingType"),
                detail.get("Qty", detail.get("Quantity")), detail.get("UnitPrice"),
                account[0], account[1], klass[0], klass[1], department[0], department[1],
                item[0], item[1], customer[0], customer[1], vendor[0], vendor[1],
                tax_code.get("value") if isinstance(tax_code, dict) else None,
                detail.get("BillableStatus"), first_link.get("TxnId"),
                first_link.get("TxnType"),
            )


# ---- typed fast path ------------------------------------------------------------------------
# A compiled parent row (fast_records.QboRow) keeps its values as raw JSON. Its lines and the
# header values they copy are decoded in one msgspec call into the Structs below, instead of
# ten generic decodes into dicts and a dict lookup per value. Values stay what the generic
# decode gives (`t.Any` fields, fractions as Decimal; an absent key reads as None, as `.get`
# does), so `typed_rows` returns exactly the rows `LineStream.rows` yields. A parent the Structs
# cannot describe exactly (a value of another shape, a DetailType without a field here, a blank
# reference where `rows` would look further) gets None: `rows` shapes it.
UNSET = msgspec.UNSET


class _Ref(msgspec.Struct, gc=False):
    """A reference object (`rows` reads it as a dict through `_ref`)."""

    value: t.Any = None
    name: t.Any = None
    type: t.Any = None


class _Link(msgspec.Struct, gc=False):
    TxnId: t.Any = None
    TxnType: t.Any = None


class _Detail(msgspec.Struct, gc=False):
    """The keys `rows` reads from a line's detail object (others are not read)."""

    AccountRef: _Ref | None = None
    ItemAccountRef: _Ref | None = None
    DiscountAccountRef: _Ref | None = None
    ItemRef: _Ref | None = None
    GroupItemRef: _Ref | None = None
    ClassRef: _Ref | None = None
    DepartmentRef: _Ref | None = None
    CustomerRef: _Ref | None = None
    Entity: t.Any = None
    PostingType: t.Any = None
    Qty: t.Any = UNSET  # (`rows` reads Quantity only when Qty is absent)
    Quantity: t.Any = None
    UnitPrice: t.Any = None
    TaxCodeRef: _Ref | None = None
    BillableStatus: t.Any = None


_DetailField = _Detail | None
_NO_DETAIL = _Detail()


class _Line(msgspec.Struct, gc=False):
    """A line: the keys `rows` reads, and a field for each DetailType QBO documents (the
    detail is found by its name; a line of another DetailType takes `rows`)."""

    Id: t.Any = None
    LineNum: t.Any = None
    Description: t.Any = None
    Amount: t.Any = None
    DetailType: t.Any = None
    LinkedTxn: list[_Link] | None = None
    SalesItemLineDetail: _DetailField = None
    GroupLineDetail: _DetailField = None
    DescriptionOnly: _DetailField = None
    DescriptionLineDetail: _DetailField = None
    DiscountLineDetail: _DetailField = None
    SubTotalLineDetail: _DetailField = None
    TaxLineDetail: _DetailField = None
    AccountBasedExpenseLineDetail: _DetailField = None
    ItemBasedExpenseLineDetail: _DetailField = None
    JournalEntryLineDetail: _DetailField = None
    DepositLineDetail: _DetailField = None
    PaymentLineDetail: _DetailField = None
    ReimburseLineDetail: _DetailField = None
    TDSLineDetail: _DetailField = None
    ItemReceiptLineDetail: _DetailField = None


_DETAIL_NAMES = frozenset(_Line.__struct_fields__[6:])


class _Header(msgspec.Struct, array_like=True, gc=False):
    """The parent values `rows` reads, in `HEADER` order (one JSON array)."""

    Line: list[_Line] | None
    CurrencyRef: _Ref | None
    ExchangeRate: t.Any
    TxnDate: t.Any
    DocNumber: t.Any
    ClassRef: _Ref | None
    DepartmentRef: _Ref | None
    CustomerRef: _Ref | None
    VendorRef: _Ref | None
    EntityRef: _Ref | None


HEADER = _Header.__struct_fields__
_header_decoder = msgspec.json.Decoder(_Header, float_hook=Decimal)
_Raw = msgspec.Raw
_NONE2 = (None, None)


class _Ambiguous(Exception):  # noqa: N818 - control flow, never raised out of this module
    """A blank reference object: `{}` (where `rows` looks at the next reference) or one with
    null values or unknown keys only (where it stops); which one is not kept."""


def _first(*refs: _Ref | None) -> tuple[t.Any, t.Any]:
    """`_ref(a or b or ...)`: the first non-empty reference's (value, name)."""
    for position, ref in enumerate(refs):
        if ref is None:
            continue
        if ref.value is not None or ref.name is not None:
            return ref.value, ref.name
        if any(later is not None for later in refs[position + 1:]):
            raise _Ambiguous
        return _NONE2
    return _NONE2


def _pair(ref: _Ref | None) -> tuple[t.Any, t.Any]:
    return _NONE2 if ref is None else (ref.value, ref.name)


def typed_rows(parent: QboRow, parent_entity: str) -> list[LineRow] | None:
    """`list(LineStream.rows(parent))` of a compiled row, or None when only `rows` can."""
    parts = []
    for name in HEADER:
        found = getattr(parent, name, UNSET)
        if found is UNSET:
            parts.append(b"null")
        elif type(found) is _Raw:
            parts.append(found)
        else:
            return None
    try:
        header = _header_decoder.decode(b"[" + b",".join(parts) + b"]")
    except msgspec.ValidationError:
        return None
    lines = header.Line
    if not lines:
        return []
    currency_ref = header.CurrencyRef
    currency = currency_ref.value if currency_ref is not None else None
    rate = header.ExchangeRate
    realm_id = parent["realm_id"]
    txn_id = str(parent["Id"])
    updated_at = parent.get("updated_at")
    txn_date, doc_number = header.TxnDate, header.DocNumber
    parent_class = _pair(header.ClassRef)
    parent_department = _pair(header.DepartmentRef)
    parent_customer = _pair(header.CustomerRef)
    parent_vendor = _pair(header.VendorRef)
    entity = header.EntityRef
    if entity is not None:  # (a dict for `rows`, blank or not)
        if parent_vendor == _NONE2 and entity.type in (None, "Vendor"):
            parent_vendor = (entity.value, entity.name)
        elif entity.type == "Customer" and parent_customer == _NONE2:
            parent_customer = (entity.value, entity.name)
    home = rate is not None and rate != ONE
    out = []
    append = out.append
    try:
        for index, line in enumerate(lines):
            detail_type = line.DetailType
            if not detail_type:
                detail = _NO_DETAIL
            elif type(detail_type) is str and detail_type in _DETAIL_NAMES:
                detail = getattr(line, detail_type) or _NO_DETAIL
            else:
                return None  # the detail is under a key these Structs do not keep
            ref = detail.AccountRef
            if ref is not None and (ref.value is not None or ref.name is not None):
                account = (ref.value, ref.name)
            elif ref is None and detail.ItemAccountRef is None and \
                    detail.DiscountAccountRef is None:
                account = _NONE2
            else:
                account = _first(ref, detail.ItemAccountRef, detail.DiscountAccountRef)
            ref = detail.ItemRef
            item = (ref.value, ref.name) if ref is not None and (
                ref.value is not None or ref.name is not None) else _first(ref, detail.GroupItemRef)
            ref = detail.ClassRef
            klass = parent_class if ref is None or (ref.value is None and ref.name is None) \
                else (ref.value, ref.name)
            ref = detail.DepartmentRef
            department = parent_department if ref is None or (
                ref.value is None and ref.name is None) else (ref.value, ref.name)
            ref = detail.CustomerRef
            customer = _NONE2 if ref is None else (ref.value, ref.name)
            vendor = _NONE2
            line_entity = detail.Entity
            if line_entity is not None and isinstance(line_entity, dict):
                entity_type = line_entity.get("Type") or line_entity.get("type")
                entity_ref = _ref(line_entity.get("EntityRef") or line_entity)
                if entity_type == "Vendor":
                    vendor = entity_ref
                elif entity_type == "Customer":
                    customer = entity_ref
            if customer == _NONE2:
                customer = parent_customer
            if vendor == _NONE2:
                vendor = parent_vendor
            amount = line.Amount
            if home and amount is not None:
                home_amount = (Decimal(amount) * Decimal(rate)).quantize(CENT, ROUND_HALF_UP)
            else:
                home_amount = amount
            linked = line.LinkedTxn
            link = linked[0] if linked else None
            tax_code = detail.TaxCodeRef
            quantity = detail.Qty
            if quantity is UNSET:
                quantity = detail.Quantity
            append(LineRow(
                realm_id, txn_id, updated_at, parent_entity, txn_date, doc_number, currency,
                rate, index, None, line.Id, line.LineNum, line.Description, detail_type,
                amount, home_amount, detail.PostingType, quantity, detail.UnitPrice,
                account[0], account[1], klass[0], klass[1], department[0], department[1],
                item[0], item[1], customer[0], customer[1], vendor[0], vendor[1],
                tax_code.value if tax_code is not None else None, detail.BillableStatus,
                link.TxnId if link is not None else None,
                link.TxnType if link is not None else None,
            ))
    except _Ambiguous:
        return None
    return out


# line stream name → parent stream name
LINE_TABLE: list[tuple[str, str]] = [
    ("invoice_lines", "invoices"),
    ("sales_receipt_lines", "sales_receipts"),
    ("credit_memo_lines", "credit_memos"),
    ("refund_receipt_lines", "refund_receipts"),
    ("estimate_lines", "estimates"),
    ("bill_lines", "bills"),
    ("purchase_lines", "purchases"),
    ("purchase_order_lines", "purchase_orders"),
    ("vendor_credit_lines", "vendor_credits"),
    ("journal_entry_lines", "journal_entries"),
    ("deposit_lines", "deposits"),
    ("payment_lines", "payments"),
    ("bill_payment_lines", "bill_payments"),
]


def make_line_streams(parents: dict[str, type]) -> list[type[LineStream]]:
    classes = []
    for name, parent_name in LINE_TABLE:
        parent_cls = parents[parent_name]
        class_name = "".join(part.title() for part in name.split("_")) + "Stream"
        classes.append(type(class_name, (LineStream,), {
            "name": name,
            "parent_entity": parent_cls.entity,
            "parent_stream_type": parent_cls,
            "__module__": __name__,
        }))
    return classes
