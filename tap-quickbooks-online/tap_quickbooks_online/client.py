"""HTTP layer shared by every stream: auth header, limits, retries, Fault handling, exact JSON.

All QBO calls go through `QuickBooksStream.api_get` so that every request, whichever thread
issues it (prefetch workers, the CDC cache), gets the same treatment:

* Bearer token from the run's `TokenManager`; a 401 with code 3200 invalidates the token and
  retries once.
* The per-realm limiter (≤ `requests_per_minute`, ≤ `max_concurrency` in flight).
* The SDK's backoff hooks (`request_decorator`, `backoff_wait_generator`, `backoff_handler`):
  exponential backoff with jitter on 429, 5xx, timeouts, connection resets and truncated or
  non-JSON bodies; a `Retry-After` header sets the wait instead.
* JSON decoded with msgspec, fractions as `Decimal`, so money keeps its exact text.
* Faults (either JSON envelope or XML) raised as `QBOAPIError` naming code, message, detail and
  `intuit_tid`.
"""

from __future__ import annotations

import decimal
import random
import threading
import time
import typing as t
from urllib.parse import urlencode

import msgspec
import requests
from singer_sdk.exceptions import FatalAPIError, RetriableAPIError
from singer_sdk.streams import RESTStream

from tap_quickbooks_online.errors import (
    TOKEN_EXPIRED_CODE,
    QBOAPIError,
    QBORetriableError,
    QBOTokenRejected,
    describe_fault,
    parse_fault,
    redact,
)
from tap_quickbooks_online.fast_records import ENCODER, FastRecordWriter, QboRow

if t.TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

API_HOSTS = {
    "production": "https://quickbooks.api.intuit.com",
    "sandbox": "https://sandbox-quickbooks.api.intuit.com",
}

_json_decoder = msgspec.json.Decoder(float_hook=decimal.Decimal)
RETRY_STATUSES = {429, 500, 502, 503, 504}


def decode_json(content: bytes | msgspec.Raw) -> t.Any:
    """Decode JSON with fractions as Decimal (exact money)."""
    return _json_decoder.decode(content)


def value(obj: t.Mapping, key: str, default: t.Any = None) -> t.Any:
    """`obj[key]` decoded: query rows keep their property values as raw JSON (msgspec.Raw)."""
    found = obj.get(key, default)
    if isinstance(found, msgspec.Raw):
        return _json_decoder.decode(found)
    return found


def materialize(record: t.Any) -> dict:
    """A record with every raw JSON value decoded (for the SDK's generic record path)."""
    if isinstance(record, QboRow):  # a compiled query row (fast_records)
        return record.to_record()
    if not isinstance(record, dict):  # a msgspec Struct row
        return msgspec.to_builtins(record, builtin_types=(decimal.Decimal,))
    return {k: (_json_decoder.decode(v) if isinstance(v, msgspec.Raw) else v)
            for k, v in record.items()}


class QueryEnvelope(msgspec.Struct):
    """A query/CDC response read lazily: entity arrays stay raw until a stream asks for them."""

    QueryResponse: dict[str, msgspec.Raw] = {}
    time: t.Any = None
    Fault: t.Any = None
    fault: t.Any = None


_envelope_decoder = msgspec.json.Decoder(QueryEnvelope, float_hook=decimal.Decimal)
_rows_decoder = msgspec.json.Decoder(list[dict[str, msgspec.Raw]])


def compact_json(content: bytes) -> bytes:
    """`content` without whitespace between tokens when it has a newline. Raw JSON values of a
    query page are written out as they came (RECORD messages, batch files' lines): a newline
    in one would split a line-delimited message. QBO sends compact JSON, so this is one byte
    search a page; strings and number texts are kept as they are."""
    if b"\n" in content:
        return msgspec.json.format(content, indent=-1)
    return content


def decode_envelope(content: bytes, rows_decoder: msgspec.json.Decoder | None) -> t.Any:
    """A query response: rows already typed by `rows_decoder` (`fast_records.page_decoder`)
    when they fit it, else left raw (`QueryEnvelope`)."""
    content = compact_json(content)
    if rows_decoder is not None:
        try:
            return rows_decoder.decode(content)
        except msgspec.ValidationError:
            pass  # a row the compiled type does not cover: the generic path below
    return _envelope_decoder.decode(content)


class QueryResult:
    """`QueryResponse` of one query: rows as dicts of raw JSON values (decoded on demand), or
    as compiled row Structs (`fast_records.QboRow`) when the query asked for them."""

    __slots__ = ("_response",)

    def __init__(self, response: t.Any) -> None:
        self._response = response if response is not None else {}

    def rows(self, entity: str) -> list[t.Any]:
        response = self._response
        if not isinstance(response, dict):  # typed response
            return getattr(response, entity, None) or []
        raw = response.get(entity)
        return _rows_decoder.decode(raw) if raw is not None else []

    def get(self, key: str, default: t.Any = None) -> t.Any:
        response = self._response
        if not isinstance(response, dict):
            found = getattr(response, key, None)
            return default if found is None else found
        return value(response, key, default)

    def __contains__(self, key: str) -> bool:
        response = self._response
        if not isinstance(response, dict):
            return getattr(response, key, None) is not None
        return key in response


class QuickBooksStream(RESTStream):
    """Base for every QBO stream: one state partition per realm (`{"realm_id": ...}`)."""

    records_jsonpath = "$[*]"  # unused: records come from `get_records`
    #: base of the exponential backoff in seconds (tests lower it)
    backoff_base_seconds: float = 1.0
    backoff_cap_seconds: float = 60.0
    #: longest Retry-After honoured as sent (a server asking for more gets this)
    retry_after_cap_seconds: float = 300.0
    max_tries: int = 6
    #: dict records are conformed the SDK's way by the fast writer (`FastRecordWriter.conform`);
    #: off for streams whose dict records the tap builds itself, already conformed
    conform_dict_records: bool = True

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        self._fast_writer: FastRecordWriter | None = None

    # ---- identity / config -------------------------------------------------------------
    @property
    def url_base(self) -> str:
        return self._tap.api_base_url

    @property
    def partitions(self) -> list[dict]:
        return [{"realm_id": realm_id} for realm_id in self._tap.realm_ids]

    @property
    def timeout(self) -> int:
        return 120

    def get_new_paginator(self) -> None:
        return None

    def parse_response(self, response: requests.Response) -> t.Iterable[dict]:
        yield from ()

    # ---- requests ----------------------------------------------------------------------
    def api_get(self, realm_id: str, path: str, params: dict[str, t.Any] | None = None,
                *, envelope: bool | msgspec.json.Decoder = False) -> t.Any:
        """GET `{base}/v3/company/{realm}/{path}` and return the decoded JSON body.

        With `envelope=True` the body is read as a `QueryEnvelope` (rows left raw); with a
        decoder (`fast_records.page_decoder`) as typed rows when they fit it.
        """
        params = dict(params or {})
        params.setdefault("minorversion", self.config.get("minor_version", 75))
        url = f"{self.url_base}/v3/company/{realm_id}/{path}?{urlencode(params)}"
        send = self.request_decorator(self._send_once)
        try:
            return send(realm_id, url, path, envelope)
        except QBOTokenRejected as exc:
            # The token was rejected before its expiry (revoked, rotated elsewhere): refresh once.
            self._tap.token_manager.invalidate(realm_id, exc.access_token)
            return send(realm_id, url, path, envelope)

    def api_post(self, realm_id: str, path: str, body: t.Any) -> bytes:
        """POST JSON to `{base}/v3/company/{realm}/{path}`; returns the raw JSON body."""
        params = {"minorversion": self.config.get("minor_version", 75)}
        url = f"{self.url_base}/v3/company/{realm_id}/{path}?{urlencode(params)}"
        payload = msgspec.json.encode(body)
        send = self.request_decorator(self._send_once)
        try:
            return send(realm_id, url, path, False, payload)
        except QBOTokenRejected as exc:
            self._tap.token_manager.invalidate(realm_id, exc.access_token)
            return send(realm_id, url, path, False, payload)

    def _send_once(self, realm_id: str, url: str, path: str, envelope: bool,
                   payload: bytes | None = None) -> t.Any:
        tap = self._tap
        token = tap.token_manager.access_token(realm_id)
        headers = {
            "Authorization": f"Bearer {token}",
            "Accept": "application/json",
            "User-Agent": self.user_agent,
        }
        with tap.limiters.for_realm(realm_id):  # the body is read within the limit too
            if payload is None:
                response = tap.http_session().get(url, headers=headers, timeout=self.timeout,
                                                  stream=True)
            else:
                headers["Content-Type"] = "application/json"
                response = tap.http_session().post(url, data=payload, headers=headers,
                                                   timeout=self.timeout, stream=True)
            _read_body(response)
        tap.count_request(realm_id)
        if payload is not None:
            self._check_response(response, realm_id, path, token, False)
            return response.content
        return self._check_response(response, realm_id, path, token, envelope)

    def _check_response(self, response: requests.Response, realm_id: str, path: str,
                        token: str, envelope: bool = False) -> t.Any:
        status = response.status_code
        tid = response.headers.get("intuit_tid")
        secrets = (token, *self._tap.secret_values())
        where = f"/v3/company/{realm_id}/{path}"
        if status < 400:
            try:
                if envelope:
                    parsed = decode_envelope(response.content,
                                             envelope if envelope is not True else None)
                    body = {"Fault": parsed.Fault or parsed.fault, "time": parsed.time,
                            "QueryResponse": parsed}
                else:
                    body = decode_json(response.content)
            except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                msg = (
                    f"QBO GET {where} returned HTTP {status} with a truncated or non-JSON body "
                    f"({len(response.content)} bytes, content-type "
                    f"{response.headers.get('Content-Type', 'n/a')}): {exc}; intuit_tid={tid or 'n/a'}"
                )
                raise QBORetriableError(msg, response) from None
            if not isinstance(body, dict):
                raise QBORetriableError(
                    f"QBO GET {where} returned an unexpected JSON body; intuit_tid={tid}", response
                )
            fault = parse_fault(body) if (body.get("Fault") or body.get("fault")) else None
            if fault is not None:
                raise QBOAPIError(
                    describe_fault(fault, status=status, method="GET", path=where,
                                   intuit_tid=tid, secrets=secrets),
                    fault=fault, status=status, intuit_tid=tid,
                )
            self._tap.note_server_time(realm_id, body.get("time"))
            return QueryResult(body["QueryResponse"].QueryResponse) if envelope else body

        fault = parse_fault(response.content)
        if fault is not None and response.content[:1] == b"{":
            try:
                error_body = decode_json(response.content)
                self._tap.note_server_time(realm_id, error_body.get("time"))
            except (msgspec.DecodeError, AttributeError):
                pass
        message = describe_fault(fault, status=status, method="GET", path=where,
                                 intuit_tid=tid, secrets=secrets)
        if fault is None and response.content:
            snippet = response.content[:300].decode("utf-8", "replace")
            message += f"; body: {redact(snippet, secrets)}"
        if status in RETRY_STATUSES:
            raise QBORetriableError(message, response, retry_after=_retry_after(response))
        if status == 401 and fault is not None and TOKEN_EXPIRED_CODE in fault.codes:
            rejected = QBOTokenRejected(message, fault=fault, status=status, intuit_tid=tid)
            rejected.access_token = token
            raise rejected
        raise QBOAPIError(message, fault=fault, status=status, intuit_tid=tid)

    # ---- SDK backoff hooks ---------------------------------------------------------------
    def backoff_max_tries(self) -> int:
        return self.max_tries

    def backoff_wait_generator(self) -> t.Generator[float, t.Any, None]:
        """Exponential backoff with jitter; `Retry-After` (seconds) takes precedence."""
        base, cap = self.backoff_base_seconds, self.backoff_cap_seconds
        exc = yield  # type: ignore[misc]
        attempt = 0
        while True:
            retry_after = getattr(exc, "retry_after", None)
            if retry_after is not None:
                wait = min(float(retry_after), self.retry_after_cap_seconds) + \
                    random.uniform(0, base / 4)  # noqa: S311
            else:
                ceiling = min(cap, base * (2**attempt))
                wait = random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter, not crypto
            attempt += 1
            exc = yield wait

    def backoff_jitter(self, value: float) -> float:
        return value  # jitter is applied in backoff_wait_generator (Retry-After stays a floor)

    def backoff_handler(self, details: t.Mapping[str, t.Any]) -> None:
        exc = details.get("exception")
        self.logger.warning(
            "Retrying QBO request in %.2fs (attempt %d of %d): %s",
            details.get("wait") or 0.0, details.get("tries") or 0, self.max_tries,
            redact(str(exc), self._tap.secret_values()) if exc else "no detail",
        )

    def request_decorator(self, func: t.Callable) -> t.Callable:
        import backoff  # noqa: PLC0415 - the SDK's own retry library

        return backoff.on_exception(
            self.backoff_wait_generator,
            (
                ConnectionResetError,
                RetriableAPIError,
                requests.exceptions.Timeout,
                requests.exceptions.ConnectionError,
                requests.exceptions.ChunkedEncodingError,
                requests.exceptions.ContentDecodingError,
            ),
            max_tries=self.backoff_max_tries,
            on_backoff=self.backoff_handler,
            on_giveup=self._give_up,
            jitter=self.backoff_jitter,
            logger=None,
        )(func)

    def _give_up(self, details: t.Mapping[str, t.Any]) -> None:
        self.logger.error("Giving up on QBO request after %d attempts", details.get("tries") or 0)

    # ---- query helpers -----------------------------------------------------------------
    def query(self, realm_id: str, statement: str,
              rows_decoder: msgspec.json.Decoder | None = None) -> QueryResult:
        """Run a QBO query; rows come back as dicts of raw JSON values (see `value`), or typed
        by `rows_decoder` (see `fast_records.page_decoder`)."""
        return self.api_get(realm_id, "query", {"query": statement},
                            envelope=rows_decoder or True)

    # ---- fast record output ------------------------------------------------------------
    def fast_writer(self) -> FastRecordWriter:
        """This stream's compiled RECORD writer (recompiled after each SCHEMA message)."""
        writer = self._fast_writer
        if writer is None:
            writer = FastRecordWriter.for_stream(self)
            writer.enabled = writer.enabled and self._tap.fast_output
            writer.rows_usable = writer.rows_usable and writer.enabled
            writer.conform_dicts = self.conform_dict_records
            output = self._tap.batch_output
            writer.batch = output.writer_for(self.name) if output is not None else None
            self._fast_writer = writer
        return writer

    def _write_record_message(self, record: dict) -> None:
        writer = self._fast_writer or self.fast_writer()
        if writer.enabled:
            writer.write(record)
            self.state_manager.is_flushed = False
        elif self._tap.batch_output is not None:
            # the SDK's record path (stream maps, flattening): each mapped RECORD's `record`
            # goes to its output stream's batch file, encoded as the RECORD message would be
            output = self._tap.batch_output
            for message in self._generate_record_messages(materialize(record)):
                line = bytearray()
                ENCODER.encode_into(message.record, line, -1)
                line += b"\n"
                output.write(message.stream, line, 1)
            self.state_manager.is_flushed = False
        else:
            super()._write_record_message(materialize(record))

    def get_batch_config(self, config: t.Mapping) -> t.Any:
        """The raw `batch_config` setting (checked by the tap; see `batch_output`), or None."""
        return config.get("batch_config") or None

    def _sync_batches(self, batch_config: t.Any, context: Context | None = None) -> None:
        """Batch mode (`batch_config` set): the usual record loop, the fast writer sending the
        records to batch files (`batch_output`) instead of stdout; BATCH messages are written as
        files close, always before the STATE messages that cover their records. (The SDK's own
        batch path would re-read records without the fast writer, its conformance and the line
        streams.)"""
        for _ in self._sync_records(context=context):
            pass

    def _write_schema_message(self) -> None:
        self._fast_writer = None  # selection/maps are final now: recompile on first record
        self.__dict__.pop("_partition_states", None)  # state dicts may have been replaced
        super()._write_schema_message()

    def _increment_stream_state(self, latest_record: dict, *, context: Context | None = None) -> None:
        """Advance the bookmark only forward; deletes count at their deletion time.

        Records re-read through the `lookback_seconds` overlap are older than the bookmark and
        must neither move it back nor trip the SDK's sort check. Records arrive sorted by
        `updated_at` (keyset paging, sorted CDC changes), so this is the SDK's sorted-stream
        bookmark, written straight into the partition's state dict: the SDK's generic path
        looks the partition up again for every record (~30 µs each).
        """
        if isinstance(latest_record, QboRow):  # a compiled query row: never a delete
            value = latest_record.updated_at
        else:
            value = latest_record.get("updated_at") or latest_record.get("_sdc_deleted_at")
        if not value:
            return
        realm_id = (context or {}).get("realm_id")
        cache = self.__dict__.setdefault("_partition_states", {})
        state = cache.get(realm_id)
        if state is None:
            state = cache[realm_id] = self.get_context_state(context)
        current = state.get("replication_key_value")
        if current is not None and value <= current:
            return
        state["replication_key"] = self.replication_key
        state["replication_key_value"] = value


#: body reads of 1 MiB: `Response.content` reads 10 KiB at a time, which costs a 2.5 MB query
#: page about 2 ms more CPU (~2 µs a record) in urllib3/http.client calls
_BODY_CHUNK = 1 << 20


def _read_body(response: requests.Response) -> None:
    """`response.content` (same errors: `iter_content` maps them as `content` does), read in
    `_BODY_CHUNK` pieces; `response.content` then returns it."""
    if getattr(response, "_content", None) is False and not response._content_consumed and \
            response.status_code != 0 and response.raw is not None:  # noqa: SLF001 - unread
        try:
            response._content = b"".join(response.iter_content(_BODY_CHUNK)) or b""  # noqa: SLF001
        except BaseException:
            response.close()  # a broken body: let the connection go (the request is retried)
            raise
        response._content_consumed = True  # noqa: SLF001


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        from email.utils import parsedate_to_datetime  # noqa: PLC0415

        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


class ThreadLocalSessions:
    """One `requests.Session` per thread (sessions are not safe to share across threads)."""

    def __init__(self) -> None:
        self._local = threading.local()
        self._all: list[requests.Session] = []
        self._lock = threading.Lock()

    def get(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=16)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            self._local.session = session
            with self._lock:
                self._all.append(session)
        return session

    def close(self) -> None:
        with self._lock:
            for session in self._all:
                session.close()
            self._all.clear()


__all__ = ["API_HOSTS", "FatalAPIError", "QuickBooksStream", "ThreadLocalSessions", "decode_json"]
