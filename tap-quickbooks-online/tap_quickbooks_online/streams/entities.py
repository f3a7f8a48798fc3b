"""Entity streams: one per QBO entity, incremental on MetaData.LastUpdatedTime, per realm.

How a stream reads one realm (`EntityStream.get_records`):

* **No bookmark** (first sync): the query endpoint from `start_date` (or everything).
* **Bookmark within CDC's 30-day window, entity covered by CDC**: the realm's shared CDC cache
  (`cdc.CdcCache`): one `/cdc` call serves every CDC entity stream of the realm; hard deletes
  arrive as records with only the keys and `_sdc_deleted_at`.
* **Bookmark older than 30 days**: a full resync from `start_date`, with a log line saying why.
* **Entities CDC does not cover** (TimeActivity, TaxAgency, TaxCode, TaxRate, CompanyInfo,
  Preferences, Exchangerate): the query endpoint from the bookmark; hard deletes of those
  are not seen (see README).

Query paging is keyset paging, stable while records change: every page asks
`WHERE Metadata.LastUpdatedTime >= <last timestamp seen> ORDERBY Metadata.LastUpdatedTime`
from position 1, and records already emitted at that timestamp are skipped by `(Id,
SyncToken)`. A record changed mid-sync moves to the end of the order and is read again in its
new version; nothing shifts under an offset. Only when more than a page of records share one
timestamp does the position advance within that timestamp. Records come out sorted by
`updated_at`, so the bookmark is resumable mid-stream.
"""

from __future__ import annotations

import datetime
import operator
import typing as t

import msgspec

from tap_quickbooks_online import timeutil
from tap_quickbooks_online.client import QuickBooksStream, value
from tap_quickbooks_online.errors import QBOAPIError
from tap_quickbooks_online.fast_records import QboRow, flush_stdout, normalize_rows, utc_text
from tap_quickbooks_online.prefetch import Prefetcher, page_scheduler, supports_offset_paging
from tap_quickbooks_online.progress import StreamProgress
from tap_quickbooks_online.schema_objects import entity_schema

if t.TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

    from tap_quickbooks_online.streams.lines import LineStream



class _MetaData(msgspec.Struct):
    LastUpdatedTime: str | None = None


_metadata_decoder = msgspec.json.Decoder(_MetaData | None)
#: state flag of a partition whose full read (first sync or resync) has not finished yet
RESYNC_MARKER = "full_read_in_progress"


def last_updated(obj: dict) -> str | None:
    """MetaData.LastUpdatedTime as QBO sent it, from a raw or decoded row."""
    meta = obj.get("MetaData")
    if isinstance(meta, msgspec.Raw):
        decoded = _metadata_decoder.decode(meta)
        return decoded.LastUpdatedTime if decoded is not None else None
    return meta.get("LastUpdatedTime") if meta else None


def _bookmark_of(record: t.Any) -> str:
    """What a record moves the bookmark to (see `_increment_stream_state`), for `max`."""
    if isinstance(record, QboRow):
        return record.updated_at or ""
    return record.get("updated_at") or record.get("_sdc_deleted_at") or ""


_updated_at = operator.attrgetter("updated_at")


def latest_bookmark(page: list) -> str:
    """The latest bookmark value of a page's records (`_bookmark_of`, one C loop for a page of
    compiled rows that all have `updated_at`)."""
    try:
        return max(map(_updated_at, page))
    except (AttributeError, TypeError):  # dict rows, or a row without updated_at (None)
        return max(map(_bookmark_of, page))


class _RealmPlan:
    """How one realm is read in this run: its pages, and what is known up to when."""

    def __init__(self, pages: t.Iterable[list[dict]], *, full_read: bool,
                 server_time: datetime.datetime | None = None,
                 started: list[datetime.datetime] | None = None,
                 closer: t.Any = None) -> None:
        self.pages = pages
        self.full_read = full_read
        self.closer = closer
        self.cap_time: datetime.datetime | None = None
        self._server_time = server_time
        self._started = started

    def read_until(self) -> datetime.datetime | None:
        """Every change before this server time has been read (None: unknown)."""
        if self._server_time is not None:
            moment = self._server_time
        elif self._started:
            moment = self._started[0]
        else:
            return None
        return min(moment, self.cap_time) if self.cap_time is not None else moment


class EntityStream(QuickBooksStream):
    """A QBO entity read through `query` (and `cdc` for incremental runs)."""

    entity: str = ""
    name_list: bool = False  # has `Active`: include inactive records explicitly
    cdc_capable: bool = True
    #: entities a company may not have (multicurrency off, no attachments feature): a 400
    #: "unknown entity" on the first query means "no records", not a failed run
    optional_entity: bool = False
    primary_keys: t.ClassVar[list[str]] = ["realm_id", "Id"]
    replication_key = "updated_at"
    is_sorted = True
    line_stream: LineStream | None = None

    def __init__(self, tap: t.Any) -> None:
        super().__init__(tap, name=self.name, schema=entity_schema(self.entity),
                         path=f"/v3/company/{{realm_id}}/query?{self.entity}")
        self.progress: StreamProgress | None = None
        self._lines_out: LineStream | None = None  # the selected line stream, during a sync
        self._requests_at_start = 0
        self._ahead: dict[str, _RealmPlan] = {}

    # ---- sync plumbing -------------------------------------------------------------------
    #: realms whose query pages are fetched ahead while an earlier realm is being written
    realms_ahead: int = 3

    def get_records(self, context: Context | None) -> t.Iterable[dict]:
        for page in self.get_record_pages(context):
            yield from page

    def get_record_pages(self, context: Context | None) -> t.Iterator[list[dict]]:
        """The realm's records, page by page (`get_records` flattens them)."""
        realm_id = (context or {})["realm_id"]
        if self.progress is None:
            self.progress = StreamProgress(self.name, self.logger,
                                           interval=self._tap.progress_interval)
            self._requests_at_start = self._tap.total_requests()
        self._start_realms_ahead(realm_id)
        plan = self._ahead.pop(realm_id, None) or self._plan(realm_id)
        emitted = False
        try:
            for page in plan.pages:
                emitted = True
                yield page
                self.progress.advance(len(page))
        except QBOAPIError as exc:
            if not (self.optional_entity and exc.status == 400 and not emitted):
                raise
            self.logger.warning("%s: realm %s does not serve %s, so the stream has no records "
                                "there (%s)", self.name, realm_id, self.entity, exc)
            return
        self._advance_quiet_bookmark(plan.read_until(), context)
        if plan.full_read:
            self.get_context_state(context).pop(RESYNC_MARKER, None)

    def _start_realms_ahead(self, realm_id: str) -> None:
        """Plan this realm and start fetching pages of the next few realms concurrently."""
        if not self._tap.prefetch_enabled:
            return
        realms = self._tap.realm_ids
        if realm_id not in realms:
            return
        position = realms.index(realm_id)
        for other in realms[position:position + 1 + self.realms_ahead]:
            if other not in self._ahead:
                self._ahead[other] = self._plan(other)

    def _plan(self, realm_id: str) -> _RealmPlan:
        """Decide how to read one realm (see module docstring); query pages start fetching."""
        context = {"realm_id": realm_id}
        state = self.get_context_state(context)
        bookmark = state.get("replication_key_value")
        start_date = self.config.get("start_date")
        lookback = datetime.timedelta(seconds=int(self.config.get("lookback_seconds", 0) or 0))

        if bookmark is None:
            since = timeutil.parse(start_date) if start_date else None
        elif state.get(RESYNC_MARKER):
            # An initial sync or full resync was interrupted: resume it where it stopped.
            since = timeutil.parse(bookmark)
            self.logger.info("%s realm %s: resuming an interrupted full read from %s",
                             self.name, realm_id, bookmark)
        elif not self.cdc_capable:
            since = self.query_since(realm_id)
        else:
            since = timeutil.parse(bookmark) - lookback
            if self.cdc_capable:
                changes = self._tap.cdc_cache.changes(self, realm_id, since)
                if changes is not None:
                    server_time = self._tap.cdc_cache.server_time(realm_id)
                    if self._tap.cdc_cache.deletes_only(self, realm_id):
                        return self._query_then_deletes(realm_id, since, changes, server_time)
                    return _RealmPlan(list(self._cdc_pages(realm_id, changes)),
                                      full_read=False, server_time=server_time)
                if self._tap.cdc_cache.outside_window(self, realm_id, since):
                    self.logger.warning(
                        "%s realm %s: bookmark %s is older than QBO's 30-day CDC window, so "
                        "hard deletes since then cannot be read; doing a full resync from %s",
                        self.name, realm_id, bookmark, start_date or "the beginning",
                    )
                    since = timeutil.parse(start_date) if start_date else None
        full_read = self.cdc_capable
        if full_read:
            state[RESYNC_MARKER] = True
        started: list[datetime.datetime] = []
        literal = timeutil.qbo_literal(since) if since else None
        if self._tap.prefetch_enabled and supports_offset_paging(self):
            # pages fetched concurrently within the realm's limits (prefetch.PageScheduler)
            pages: t.Iterable[list[dict]] = page_scheduler(self._tap).read(
                self, realm_id, literal, started)
        elif self._tap.prefetch_enabled:
            pages = Prefetcher(lambda: self._raw_query_pages(realm_id, literal, started),
                               depth=2, name=f"{self.name}-{realm_id}").start()
        else:
            pages = self._raw_query_pages(realm_id, literal, started)
        return _RealmPlan(pages, full_read=full_read, started=started)

    def query_since(self, realm_id: str) -> datetime.datetime | None:
        """Lower bound of the query-path read of a stream CDC does not cover."""
        state = self.get_context_state({"realm_id": realm_id})
        bookmark = state.get("replication_key_value")
        start_date = self.config.get("start_date")
        if bookmark is None:
            return timeutil.parse(start_date) if start_date else None
        lookback = datetime.timedelta(seconds=int(self.config.get("lookback_seconds", 0) or 0))
        return timeutil.parse(bookmark) - lookback

    def first_statement(self, realm_id: str) -> str | None:
        """The first query this (non-CDC) stream will send for the realm in this run."""
        since = self.query_since(realm_id)
        literal = timeutil.qbo_literal(since) if since else None
        return self.select(literal, 1, int(self.config.get("page_size", 1000)))

    def _query_then_deletes(self, realm_id: str, since: datetime.datetime,
                            deletions: list[dict], server_time: datetime.datetime | None
                            ) -> _RealmPlan:
        """A large backlog: changed records by query (streamed), then CDC's deletions.

        Deletions come last so that a bookmark written mid-way never passes records not yet
        read; an interrupted run starts over from that bookmark and sees them again."""
        started: list[datetime.datetime] = []
        literal = timeutil.qbo_literal(since)
        prefetcher = Prefetcher(lambda: self._raw_query_pages(realm_id, literal, started),
                                depth=2, name=f"{self.name}-{realm_id}")
        if self._tap.prefetch_enabled:
            prefetcher.start()

        def pages() -> t.Iterator[list[dict]]:
            yield from prefetcher
            yield from self._cdc_pages(realm_id, deletions)

        plan = _RealmPlan(pages(), full_read=False, started=started, closer=prefetcher)
        plan.cap_time = server_time
        return plan

    def _close_ahead(self) -> None:
        for plan in self._ahead.values():
            for closable in (plan.pages, plan.closer):
                close = getattr(closable, "close", None)
                if close:
                    close()
        self._ahead.clear()

    def _advance_quiet_bookmark(self, server_time: datetime.datetime | None,
                                context: Context | None) -> None:
        """Every change up to `server_time` has been read (the CDC response time, or the
        server time of the first query page: later changes get later timestamps and are read
        by the next run). Move the bookmark up to just before it, so a quiet entity's bookmark
        never ages out of the 30-day CDC window (which would force a full resync)."""
        if server_time is None:
            return
        floor = timeutil.iso((server_time - datetime.timedelta(seconds=60)).replace(microsecond=0))
        self._increment_stream_state({"updated_at": floor}, context=context)

    def _cdc_pages(self, realm_id: str, changes: list[dict]) -> t.Iterator[list[dict]]:
        self.progress.add_total(realm_id, len(changes))
        page: list[dict] = []
        deleted = 0
        for obj in changes:
            if obj.get("status") == "Deleted":
                deleted += 1
                page.append(self.deleted_record(realm_id, obj))
            else:
                page.append(self.normalize(realm_id, obj))
        self.progress.deleted += deleted
        if page:
            yield page

    # ---- query paging ----------------------------------------------------------------------
    def where_clauses(self) -> list[str]:
        return ["Active IN (true, false)"] if self.name_list else []

    def select(self, since: str | None, start: int, page_size: int) -> str:
        clauses = self.where_clauses()
        if since is not None:
            clauses.append(f"Metadata.LastUpdatedTime >= '{since}'")
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        return (f"SELECT * FROM {self.entity}{where} ORDERBY Metadata.LastUpdatedTime "
                f"STARTPOSITION {start} MAXRESULTS {page_size}")

    def count(self, realm_id: str, since: str | None) -> int | None:
        clauses = self.where_clauses()
        if since is not None:
            clauses.append(f"Metadata.LastUpdatedTime >= '{since}'")
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        response = self.query(realm_id, f"SELECT COUNT(*) FROM {self.entity}{where}")
        total = response.get("totalCount")
        return int(total) if total is not None else None

    def _raw_query_pages(self, realm_id: str, since: str | None,
                         started: list | None = None) -> t.Iterator[list[dict]]:
        """Keyset pages of normalized records (runs in the prefetch thread)."""
        page_size = int(self.config.get("page_size", 1000))
        cursor = since  # QBO literal of the lowest timestamp still to read
        cursor_utc = timeutil.to_utc_iso(cursor) if cursor else None
        seen_at_cursor: set[tuple[str, str]] = set()
        skip = 0  # records at `cursor` already read, used only for > page_size ties
        first = True
        while True:
            statement = self.select(cursor, skip + 1, page_size)
            response = None
            if first and not self.cdc_capable and self._tap.batch_enabled:
                response = self._tap.batch_cache.take(self, realm_id, statement)
            if response is None:
                response = self.query(realm_id, statement)
            raw = response.rows(self.entity)
            if first:
                first = False
                now, from_server = self._tap.server_now_estimate(realm_id)
                if started is not None and from_server:
                    started.append(now)
                total = len(raw) if len(raw) < page_size else self.count(realm_id, since)
                self.progress.add_total(realm_id, total)
            page = self.normalize_page(realm_id, raw)
            if seen_at_cursor:
                page = [record for record in page if record["updated_at"] != cursor_utc or
                        (record["Id"], record.get("SyncToken")) not in seen_at_cursor]
            if page:
                yield page
            if len(raw) < page_size:
                return
            last = last_updated(raw[-1])
            last_utc = timeutil.to_utc_iso(last)
            if last_utc != cursor_utc:
                cursor, cursor_utc, skip = last, last_utc, 0
                seen_at_cursor = set()
            else:
                skip += len(raw)  # a full page of one timestamp: move on within it
            for obj in raw:
                if obj["updated_at"] == cursor_utc:
                    seen_at_cursor.add((obj["Id"], obj.get("SyncToken")))

    # ---- record shaping --------------------------------------------------------------------
    def query(self, realm_id: str, statement: str,
              rows_decoder: msgspec.json.Decoder | None = None) -> t.Any:
        """A query; this stream's own row queries (`SELECT * FROM <entity> ...`) are decoded
        straight into the stream's compiled row type when the fast writer can use it."""
        if rows_decoder is None and statement.startswith(self._select_all):
            rows_decoder = self.rows_decoder()
        return super().query(realm_id, statement, rows_decoder)

    @property
    def _select_all(self) -> str:
        return f"SELECT * FROM {self.entity} "

    def rows_decoder(self) -> msgspec.json.Decoder | None:
        """Decoder of this stream's query pages into compiled rows (None: dict rows)."""
        return (self._fast_writer or self.fast_writer()).page_decoder(self.entity)

    def normalize_page(self, realm_id: str, rows: list) -> list:
        """`normalize` of every row of a query page (one loop for a page of compiled rows)."""
        if type(self).normalize is EntityStream.normalize and rows and \
                all(issubclass(kind, QboRow) for kind in set(map(type, rows))):
            return normalize_rows(realm_id, rows)
        return [self.normalize(realm_id, obj) for obj in rows]

    def normalize(self, realm_id: str, obj: dict) -> dict:
        """Add `realm_id` and `updated_at`; decode the few raw values the tap itself reads."""
        if isinstance(obj, QboRow):  # compiled row: Id and SyncToken are already text
            obj.realm_id = realm_id
            if obj.Id is msgspec.UNSET:
                obj.Id = None
            meta = obj.MetaData  # fast_records.RowMetaData
            updated = meta.LastUpdatedTime if meta else None
            obj.updated_at = utc_text(updated) if updated else None
            return obj
        obj["realm_id"] = realm_id
        obj["Id"] = value(obj, "Id")
        if "SyncToken" in obj:
            obj["SyncToken"] = value(obj, "SyncToken")
        updated = last_updated(obj)
        obj["updated_at"] = timeutil.to_utc_iso(updated) if updated else None
        return obj

    @staticmethod
    def deleted_record(realm_id: str, obj: dict) -> dict:
        meta = obj.get("MetaData") or {}
        when = meta.get("LastUpdatedTime")
        return {
            "realm_id": realm_id,
            "Id": str(obj["Id"]),
            "_sdc_deleted_at": timeutil.to_utc_iso(when) if when else None,
        }

    # ---- children (lines) and end-of-stream ----------------------------------------------
    def _selected_lines(self) -> LineStream | None:
        line_stream = self.line_stream
        return line_stream if line_stream is not None and line_stream.selected else None

    def _process_record(self, record: dict, child_context: Context | None = None,
                        partition_context: Context | None = None) -> None:
        lines = self._lines_out
        if lines is not None:
            lines.emit_for_parent(record)

    def _sync_records(self, context: Context | None = None, *, write_messages: bool = True
                      ) -> t.Generator[dict, t.Any, t.Any]:
        self._lines_out = self._selected_lines()  # read once: `selected` is a mask lookup
        if write_messages and self._lines_out is not None:
            self._lines_out.announce()
        self.progress = None
        try:
            if write_messages and self.ABORT_AT_RECORD_COUNT is None and \
                    self.fast_writer().enabled:
                yield from self._sync_pages(context)
            else:  # stream maps, nested deselection or a dry run: the SDK's record loop
                yield from super()._sync_records(context, write_messages=write_messages)
        finally:
            flush_stdout()  # records written so far, also when the sync fails
            self._close_ahead()
            if self.progress is not None:
                requests = self._tap.total_requests() - self._requests_at_start
                self.logger.info("%s", self.progress.summary(requests))
                unknown = self._fast_writer.unknown_keys if self._fast_writer else set()
                if unknown:
                    self.logger.warning("%s: properties not in the schema were dropped: %s",
                                        self.name, ", ".join(sorted(unknown)))
            if self.line_stream is not None:
                self.line_stream.flush_counts()
            self._tap.cdc_cache.release(self)

    def get_child_context(self, record: dict, context: Context | None) -> dict:
        return {"realm_id": record.get("realm_id")}

    def _sync_pages(self, context: Context | None) -> t.Generator[dict, t.Any, t.Any]:
        """The SDK's `_sync_records` loop, a page at a time (fast writer only).

        Same messages in the same order as the record loop with the fast writer: each
        record's lines (tombstone, then rows; a page's lines written in one go) before the
        records of its page, the bookmark
        advanced over every record, a STATE message after the page in which every
        `STATE_MSG_FREQUENCY`-th record falls (so a STATE always covers exactly the records
        written before it), the same metrics and state finalization. Records are not yielded
        back (the SDK's `sync` only drains this generator)."""
        record_counter = self.get_record_counter()
        timer = self.get_sync_timer()
        record_index = 0
        context_list = [context] if context is not None else self.partitions
        selected = self.selected
        writer = self.fast_writer()
        frequency = self.STATE_MSG_FREQUENCY
        lines = self._lines_out
        increment = self._increment_stream_state
        with record_counter, timer:
            for context_element in context_list or [{}]:
                record_counter.with_context(context_element)
                timer.with_context(context_element)
                current_context = context_element or None
                state_partition_context = self._get_state_partition_context(current_context)
                self._write_starting_replication_value(current_context)
                for page in self.get_record_pages(current_context):
                    if lines is not None:
                        lines.emit_for_parents(page)
                    before = record_index // frequency
                    record_index += len(page)
                    if selected:
                        writer.write_page(page)
                        self.state_manager.is_flushed = False
                        # the bookmark only moves forward: the page's latest record sets it
                        increment({"updated_at": latest_bookmark(page)},
                                  context=current_context)
                        if record_index // frequency != before:
                            self._write_state_message()
                        record_counter.increment(len(page))
                if current_context == state_partition_context:
                    self._finalize_state(self.get_context_state(current_context))
        if not context:
            self._finalize_state(self.stream_state)
        self._write_state_message()
        yield from ()


class SingletonStream(EntityStream):
    """CompanyInfo and Preferences: one object per realm, no `Active`, not in CDC."""

    cdc_capable = False

    def select(self, since: str | None, start: int, page_size: int) -> str:
        return f"SELECT * FROM {self.entity} STARTPOSITION {start} MAXRESULTS {page_size}"

    def count(self, realm_id: str, since: str | None) -> int | None:
        return None


class ExchangeRateStream(EntityStream):
    """Exchangerate has no Id: `Id` is `<source>-<target>-<as of date>`."""

    cdc_capable = False

    def select(self, since: str | None, start: int, page_size: int) -> str:
        return f"SELECT * FROM exchangerate STARTPOSITION {start} MAXRESULTS {page_size}"

    def count(self, realm_id: str, since: str | None) -> int | None:
        return None

    def normalize(self, realm_id: str, obj: dict) -> dict:
        if "Id" not in obj:
            obj["Id"] = "-".join(str(value(obj, k) or "") for k in
                                 ("SourceCurrencyCode", "TargetCurrencyCode", "AsOfDate"))
        return super().normalize(realm_id, obj)

    def _raw_query_pages(self, realm_id: str, since: str | None,
                         started: list | None = None) -> t.Iterator[list[dict]]:
        # Ordered by nothing QBO can sort on: read all pages, then emit sorted by updated_at.
        page_size = int(self.config.get("page_size", 1000))
        start, records = 1, []
        while True:
            statement = self.select(None, start, page_size)
            response = None
            if start == 1 and self._tap.batch_enabled:
                response = self._tap.batch_cache.take(self, realm_id, statement)
            if response is None:
                response = self.query(realm_id, statement)
            raw = response.rows("ExchangeRate") or response.rows("Exchangerate")
            records.extend(self.normalize(realm_id, obj) for obj in raw)
            if len(raw) < page_size:
                break
            start += page_size
        since_utc = timeutil.to_utc_iso(since) if since else None
        records = [r for r in records if not since_utc or (r["updated_at"] or "") >= since_utc]
        records.sort(key=lambda r: r["updated_at"] or "")
        self.progress.add_total(realm_id, len(records))
        if records:
            yield records


# stream name → (QBO entity, name list, covered by CDC)
ENTITY_TABLE: list[tuple[str, str, bool, bool]] = [
    ("accounts", "Account", True, True),
    ("attachables", "Attachable", False, True),
    ("bill_payments", "BillPayment", False, True),
    ("bills", "Bill", False, True),
    ("budgets", "Budget", True, False),
    ("classes", "Class", True, True),
    ("credit_memos", "CreditMemo", False, True),
    ("currencies", "CompanyCurrency", True, True),
    ("customer_types", "CustomerType", True, True),
    ("customers", "Customer", True, True),
    ("departments", "Department", True, True),
    ("deposits", "Deposit", False, True),
    ("employees", "Employee", True, True),
    ("estimates", "Estimate", False, True),
    ("invoices", "Invoice", False, True),
    ("items", "Item", True, True),
    ("journal_entries", "JournalEntry", False, True),
    ("payment_methods", "PaymentMethod", True, True),
    ("payments", "Payment", False, True),
    ("purchase_orders", "PurchaseOrder", False, True),
    ("purchases", "Purchase", False, True),
    ("refund_receipts", "RefundReceipt", False, True),
    ("sales_receipts", "SalesReceipt", False, True),
    ("tax_agencies", "TaxAgency", False, False),
    ("tax_codes", "TaxCode", True, False),
    ("tax_rates", "TaxRate", True, False),
    ("terms", "Term", True, True),
    ("time_activities", "TimeActivity", False, False),
    ("transfers", "Transfer", False, True),
    ("vendor_credits", "VendorCredit", False, True),
    ("vendors", "Vendor", True, True),
]


def _make(name: str, entity: str, name_list: bool, cdc: bool,
          base: type[EntityStream] = EntityStream) -> type[EntityStream]:
    class_name = "".join(part.title() for part in name.split("_")) + "Stream"
    return type(class_name, (base,), {"name": name, "entity": entity, "name_list": name_list,
                                      "cdc_capable": cdc, "__module__": __name__})


OPTIONAL_ENTITIES = {"Attachable", "CompanyCurrency", "CustomerType", "Exchangerate"}
ENTITY_STREAMS: list[type[EntityStream]] = [_make(*row) for row in ENTITY_TABLE] + [
    _make("company_info", "CompanyInfo", False, False, SingletonStream),
    _make("preferences", "Preferences", False, False, SingletonStream),
    _make("exchange_rates", "Exchangerate", False, False, ExchangeRateStream),
]
for _cls in ENTITY_STREAMS:
    _cls.optional_entity = _cls.entity in OPTIONAL_ENTITIES
STREAMS_BY_NAME = {cls.name: cls for cls in ENTITY_STREAMS}
