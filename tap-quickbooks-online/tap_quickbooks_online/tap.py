"""`TapQuickBooksOnline`: settings, stream registry and run-wide shared services.

Run-wide services shared by every stream (and every prefetch thread) of one run:
`token_manager` (auth.TokenManager), `limiters` (per-realm rate/concurrency limits),
`cdc_cache` (one /cdc call per realm), thread-local HTTP sessions and request counters.
"""

from __future__ import annotations

import datetime
import signal
import sys
import threading
import time
import typing as t
from functools import cached_property
from pathlib import PurePath

from singer_sdk import Tap
from singer_sdk import typing as th
from singer_sdk.exceptions import ConfigValidationError
from singer_sdk.helpers._util import read_json_file

from tap_quickbooks_online import batch_output, timeutil
from tap_quickbooks_online.batch import BatchQueryCache
from tap_quickbooks_online.catalog_input import synced_entries
from tap_quickbooks_online.cdc import CdcCache
from tap_quickbooks_online.client import API_HOSTS, ThreadLocalSessions, value
from tap_quickbooks_online.fast_records import OUTPUT, SingerBytesWriter, flush_stdout
from tap_quickbooks_online.prefetch import close_page_scheduler
from tap_quickbooks_online.rate_limit import (
    QBO_MAX_CONCURRENCY,
    QBO_MAX_REQUESTS_PER_MINUTE,
    RateLimiters,
)
from tap_quickbooks_online.streams.entities import ENTITY_STREAMS, STREAMS_BY_NAME
from tap_quickbooks_online.streams.lines import LINE_TABLE, make_line_streams
from tap_quickbooks_online.streams.reports import REPORT_STREAMS
from tap_quickbooks_online.webhooks.schema import WEBHOOK_SETTINGS

OAUTH_HOST = "https://oauth.platform.intuit.com"
#: line stream → its parent entity stream
LINE_PARENTS = dict(LINE_TABLE)

CONFIG_SCHEMA = th.PropertiesList(
    th.Property("client_id", th.StringType, required=True,
                description="Intuit app client id (developer.intuit.com → Keys & credentials)."),
    th.Property("client_secret", th.StringType, required=True, secret=True,
                description="Intuit app client secret."),
    th.Property("refresh_token", th.StringType, secret=True,
                description="Initial refresh token of a one-realm setup; rotated tokens are "
                            "kept in `token_store`, not here."),
    th.Property("realm_ids", th.ArrayType(th.StringType),
                description="QBO company ids (realm ids) to extract."),
    th.Property("realms", th.ArrayType(th.ObjectType(
        th.Property("realm_id", th.StringType, required=True),
        th.Property("refresh_token", th.StringType, secret=True),
    )), description="Alternative to realm_ids + refresh_token: one entry per realm."),
    th.Property("environment", th.StringType, default="production",
                allowed_values=["production", "sandbox"],
                description="`sandbox` for Intuit sandbox companies (different API host)."),
    th.Property("api_base_url", th.StringType,
                description="Override the API host (e.g. the local QBO sandbox)."),
    th.Property("oauth_base_url", th.StringType,
                description="Override the OAuth token host (e.g. the local QBO sandbox)."),
    th.Property("redirect_uri", th.StringType,
                description="OAuth redirect URI registered with the Intuit app (authorize)."),
    th.Property("start_date", th.DateTimeType,
                description="Earliest MetaData.LastUpdatedTime to extract on a first sync."),
    th.Property("token_store", th.StringType,
                description="Where rotated refresh tokens are kept: a file path or a "
                            "SQLAlchemy URL."),
    th.Property("minor_version", th.IntegerType(minimum=1), default=75,
                description="QBO API minorversion."),
    th.Property("page_size", th.IntegerType(minimum=1, maximum=1000), default=1000,
                description="Rows per query page (QBO maximum 1000)."),
    th.Property("max_concurrency", th.IntegerType(minimum=1, maximum=QBO_MAX_CONCURRENCY),
                default=QBO_MAX_CONCURRENCY, description="Concurrent requests per realm (QBO limit 10)."),
    th.Property("requests_per_minute",
                th.IntegerType(minimum=1, maximum=QBO_MAX_REQUESTS_PER_MINUTE),
                default=QBO_MAX_REQUESTS_PER_MINUTE,
                description="Requests per minute per realm (QBO limit 500; lower it when other apps share the company)."),
    th.Property("lookback_seconds", th.IntegerType(minimum=0), default=0,
                description="Re-read this many seconds before each bookmark (overlap)."),
    th.Property("report_start_date", th.DateType,
                description="First date of report periods."),
    th.Property("accounting_method", th.StringType, default="Accrual",
                allowed_values=["Accrual", "Cash"], description="Report accounting basis."),
    th.Property("report_window_months", th.IntegerType(minimum=1), default=12,
                description="Months per report request window."),
    th.Property("user_agent", th.StringType, description="User-Agent header for API calls."),
    # Singer BATCH messages (the SDK's `batch` capability; not QBO's /batch endpoint)
    th.Property("batch_config", th.ObjectType(
        th.Property("encoding", th.ObjectType(
            th.Property("format", th.StringType, allowed_values=list(batch_output.FORMATS),
                        description="Format of the batch files: `jsonl` (one record per line, "
                                    "exact decimals)."),
            th.Property("compression", th.StringType,
                        allowed_values=list(batch_output.COMPRESSIONS),
                        description="`none` (default; fastest on one machine) or `gzip`."),
        ), description="Format and compression of the batch files."),
        th.Property("storage", th.ObjectType(
            th.Property("root", th.StringType,
                        description="Local directory (path or file:// URL) of the batch files, "
                                    "read by the target on the same machine (default "
                                    "`$MELTANO_PROJECT_ROOT/.meltano/run/tap-quickbooks-online/"
                                    "batches`)."),
            th.Property("prefix", th.StringType, description="File name prefix."),
        ), description="Where the batch files are written."),
        th.Property("batch_size", th.IntegerType(minimum=1),
                    description="Most records per file (default "
                                f"{batch_output.DEFAULT_BATCH_SIZE:,}); every STATE message "
                                "also closes the open files."),
    ), description="Send records as Singer BATCH messages: JSONL files (one per stream and "
                   "`batch_size` records) instead of RECORD messages. The target deletes each "
                   "file once its records are committed."),
    *WEBHOOK_SETTINGS.wrapped.values(),
).to_dict()


class TapQuickBooksOnline(Tap):
    """Singer tap for QuickBooks Online."""

    name = "tap-quickbooks-online"
    config_jsonschema = CONFIG_SCHEMA
    message_writer_class = SingerBytesWriter
    #: seconds between progress lines per stream
    progress_interval: float = 10.0
    #: overlap page fetch with record output (a worker thread per stream and realm)
    prefetch_enabled: bool = True
    #: first pages of the streams CDC does not cover come in one /batch request per realm
    batch_enabled: bool = True
    #: write RECORD messages with the compiled msgspec writer (False: the SDK's own path,
    #: used by bench/bench_tap.py as the baseline)
    fast_output: bool = True

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        self._server_times: dict[str, tuple[datetime.datetime, float]] = {}
        self.request_counts: dict[str, int] = {}
        self._sessions = ThreadLocalSessions()
        self._lock = threading.Lock()
        #: batch mode's files (`batch_config` set), during `sync_all`
        self.batch_output: batch_output.BatchOutput | None = None
        catalog = kwargs.get("catalog")
        if isinstance(catalog, (str, PurePath)):
            catalog = read_json_file(catalog)
        if isinstance(catalog, dict):  # (the CLI's --catalog)
            kwargs["catalog"] = synced_entries(catalog, LINE_PARENTS)
        super().__init__(*args, **kwargs)

    # ---- settings ------------------------------------------------------------------------
    def _validate_config(self, *, raise_errors: bool = True) -> list[str]:
        errors = list(super()._validate_config(raise_errors=False))
        errors.extend(self._semantic_config_errors())
        if errors and raise_errors:
            raise ConfigValidationError("Config validation failed", errors=errors,
                                        schema=self.config_jsonschema)
        return errors

    def _semantic_config_errors(self) -> list[str]:
        config = self.config
        errors: list[str] = []
        if not config:
            return errors  # --about / --discover without a config
        has_realms = bool(config.get("realm_ids") or config.get("realms"))
        if not has_realms and not config.get("token_store"):
            errors.append("realm_ids: no realm configured; set `realm_ids` (with "
                          "`refresh_token`), `realms`, or a `token_store` filled by "
                          "`tap-quickbooks-online authorize`")
        if config.get("realm_ids") and not (
            config.get("refresh_token") or config.get("realms") or config.get("token_store")
        ):
            errors.append("refresh_token: required with `realm_ids` unless `realms` or a "
                          "`token_store` provides the realm's tokens (run "
                          "`tap-quickbooks-online authorize`)")
        for key in ("start_date", "report_start_date"):
            value = config.get(key)
            if value:
                try:
                    timeutil.parse(str(value))
                except ValueError:
                    errors.append(f"{key}: {value!r} is not an ISO-8601 date or date-time")
        for key in ("api_base_url", "oauth_base_url"):
            value = config.get(key)
            if value and not str(value).startswith(("http://", "https://")):
                errors.append(f"{key}: must start with http:// or https://")
        errors.extend(batch_output.config_errors(config.get("batch_config")))
        return errors

    @property
    def api_base_url(self) -> str:
        override = self.config.get("api_base_url")
        if override:
            return str(override).rstrip("/")
        return API_HOSTS[self.config.get("environment") or "production"]

    def secret_values(self) -> tuple[str, ...]:
        config = self.config
        values = [config.get("client_secret"), config.get("refresh_token")]
        values += [r.get("refresh_token") for r in config.get("realms") or []]
        return tuple(v for v in values if v)

    # ---- streams -----------------------------------------------------------------------
    def discover_streams(self) -> list:
        streams = [cls(self) for cls in ENTITY_STREAMS]
        by_name = {stream.name: stream for stream in streams}
        line_streams = [cls(self) for cls in make_line_streams(STREAMS_BY_NAME)]
        for line in line_streams:
            parent = by_name[line.parent_stream_type.name]
            parent.line_stream = line
        streams += line_streams
        streams += [cls(self) for cls in REPORT_STREAMS]
        return streams

    # ---- shared services ---------------------------------------------------------------
    @cached_property
    def token_manager(self) -> t.Any:
        from tap_quickbooks_online.auth import TokenManager  # noqa: PLC0415 - auth is optional at import

        return TokenManager(self.config, self.logger)

    @cached_property
    def realm_ids(self) -> list[str]:
        config = self.config
        realms = list(config.get("realm_ids") or [])
        realms += [r["realm_id"] for r in config.get("realms") or [] if r.get("realm_id")]
        if not realms:
            realms = list(self.token_manager.realm_ids())
        return list(dict.fromkeys(str(r) for r in realms))

    @cached_property
    def limiters(self) -> RateLimiters:
        return RateLimiters(
            int(self.config.get("requests_per_minute") or QBO_MAX_REQUESTS_PER_MINUTE),
            int(self.config.get("max_concurrency") or QBO_MAX_CONCURRENCY),
        )

    @cached_property
    def cdc_cache(self) -> CdcCache:
        return CdcCache(self)

    @cached_property
    def batch_cache(self) -> BatchQueryCache:
        return BatchQueryCache(self)

    def http_session(self) -> t.Any:
        return self._sessions.get()

    def count_request(self, realm_id: str) -> None:
        with self._lock:
            self.request_counts[realm_id] = self.request_counts.get(realm_id, 0) + 1

    def total_requests(self) -> int:
        return sum(self.request_counts.values())

    def note_server_time(self, realm_id: str, value: t.Any) -> None:
        """Remember the server clock: the `time` field of QBO bodies (ISO text, or epoch
        milliseconds in the lowercase `fault` envelope)."""
        try:
            if isinstance(value, str):
                server = timeutil.parse(value)
            elif isinstance(value, (int, float)) and not isinstance(value, bool):
                server = datetime.datetime.fromtimestamp(value / 1000, datetime.timezone.utc)
            else:
                return
        except (ValueError, OverflowError):
            return
        self._server_times[realm_id] = (server, time.monotonic())

    def server_now_estimate(self, realm_id: str) -> tuple[datetime.datetime, bool]:
        """(The server's current time for a realm, whether it was seen from the server).

        Falls back to the local clock until a response from that realm has been seen."""
        known = self._server_times.get(realm_id)
        if known is None:
            return datetime.datetime.now(datetime.timezone.utc), False
        server, at = known
        return server + datetime.timedelta(seconds=time.monotonic() - at), True

    def server_now(self, stream: t.Any, realm_id: str) -> datetime.datetime:
        """The server's current time for a realm (one cheap request if none seen yet)."""
        if realm_id not in self._server_times:
            stream.query(realm_id, "SELECT * FROM CompanyInfo")
        return self.server_now_estimate(realm_id)[0]

    # ---- runs ---------------------------------------------------------------------------
    def sync_all(self) -> None:
        raw_batch = self.config.get("batch_config")
        if raw_batch:
            self.batch_output = batch_output.BatchOutput(self.name, raw_batch, self.write_message)
            self.batch_output.on_signal = self._stop_batch_run
            OUTPUT.before_state = self.batch_output.close_all
            OUTPUT.state_guard = self.batch_output.guard
            self.logger.info("batch mode: records go to %s files under %s, %d records a file",
                             self.batch_output.compression == "gzip" and "gzipped JSONL"
                             or "JSONL", self.batch_output.root, self.batch_output.batch_size)
        succeeded = False
        try:
            super().sync_all()
            if self.batch_output is not None:
                self.batch_output.close_all()  # files no STATE followed (e.g. report streams)
            succeeded = True
        finally:
            if self.batch_output is not None:
                OUTPUT.before_state = None
                OUTPUT.state_guard = None
                if not succeeded:
                    self.batch_output.discard()
            close_page_scheduler(self)  # pages still being fetched ahead are not needed
            flush_stdout()
            self._sessions.close()

    def _handle_termination(self, signum: int, frame: t.Any) -> None:
        """SIGTERM/SIGINT. RECORD mode: the SDK's (a last STATE, exit 0). Batch mode: no STATE
        here (it could cover records of a file not announced yet; the last STATE sent is
        consistent), exit 128 + signal; inside a close/announce/STATE (`BatchOutput.guard`)
        only once that is done."""
        output = self.batch_output
        if output is None:
            super()._handle_termination(signum, frame)
            return
        if not output.defer_signal(signum):
            self._stop_batch_run(signum)

    def _stop_batch_run(self, signum: int) -> t.NoReturn:
        try:
            name = signal.Signals(signum).name
        except ValueError:
            name = str(signum)
        self.logger.warning("batch mode: %s received: stopping without a final STATE message "
                            "(the last one sent covers only announced files); files not "
                            "announced yet are deleted", name)
        sys.exit(128 + signum)

    def map_streams_left_out(self) -> None:
        """Stream maps for the streams whose catalog entries were left out (`catalog_input`):
        a run that selects every stream (the connection test, `--test=schema`) syncs them too."""
        mapper = self.mapper
        for stream in self.streams.values():
            if stream.name not in mapper.stream_maps:
                mapper.register_raw_stream_schema(stream.name, stream.schema,
                                                  stream.primary_keys or [])

    def write_schemas(self) -> None:
        """The SDK's SCHEMA of every stream, the left-out ones' stream maps registered first."""
        self.map_streams_left_out()
        super().write_schemas()

    def run_connection_test(self) -> bool:
        """Reach every realm (read its CompanyInfo), then the SDK's one-record-per-stream run."""
        self.map_streams_left_out()
        probe = next(iter(self.streams.values()))
        for realm_id in self.realm_ids:
            info = probe.query(realm_id, "SELECT * FROM CompanyInfo")
            companies = info.rows("CompanyInfo")
            if not companies:
                msg = f"realm {realm_id}: connected but CompanyInfo returned no record"
                raise RuntimeError(msg)
            self.logger.info("realm %s reachable: %s", realm_id,
                             value(companies[0], "CompanyName", "(no name)"))
        result = super().run_connection_test()
        flush_stdout()
        return result


if __name__ == "__main__":
    TapQuickBooksOnline.cli()
