"""TargetTableauHyper: Singer records → local .hyper extracts, exactly."""

from __future__ import annotations

import collections
import concurrent.futures
import copy
import datetime
import decimal
import functools
import json
import sys
import threading
import time
import typing as t
import uuid
from pathlib import Path

import msgspec
from singer_sdk import typing as th
from singer_sdk.helpers.capabilities import PluginCapabilities
from singer_sdk.mapper import SameRecordTransform
from singer_sdk.target_base import Target

from target_tableau_hyper import publishing
from target_tableau_hyper.audit_writer import AuditWriter
from target_tableau_hyper.audit_interrupt import InterruptGuard, RunInterrupted
from target_tableau_hyper.errors import InputError, RecordBeforeSchemaError
from target_tableau_hyper.file_names import hyper_file_name
from target_tableau_hyper.flatten import compile_plan
from target_tableau_hyper.hyper_store import HyperEngine
from target_tableau_hyper.publishing.settings import PUBLISH_SETTINGS
from target_tableau_hyper.reader import RecordEnvelope, SingerInputReader
from target_tableau_hyper.sink import HyperSink
from target_tableau_hyper.types import MAX_NUMERIC_PRECISION_V2, parse_sql_numeric

if t.TYPE_CHECKING:
    from target_tableau_hyper.audit import AuditLog

#: = audit.DEFAULT_STALE_RUN_TIMEOUT_MINUTES, the setting's default. Not imported from there:
#: audit.py loads SQLAlchemy (~0.3 s of every run's start), which a run with `audit_enabled:
#: false` never needs; tests/test_start_imports.py checks that the two agree.
DEFAULT_STALE_RUN_TIMEOUT_MINUTES = 60

_RECORD_DICT = msgspec.json.Decoder(float_hook=decimal.Decimal)

CORE_SETTINGS = th.PropertiesList(
    th.Property("output_dir", th.StringType, default="output", description="Directory of the .hyper files (one `<stream>.hyper` per stream, table \"Extract\".\"Extract\")."),
    th.Property("multi_table_file", th.StringType, description="If set (e.g. `qbo.hyper`), every stream goes to this one file in `output_dir`, as table \"Extract\".\"<stream>\"."),
    th.Property(
        "load_method", th.StringType, allowed_values=["append-only", "upsert", "overwrite"],
        description="`upsert` (default for streams with key properties): last version of each key wins, deletes applied. `append-only` (default without keys): every record becomes a row. `overwrite`: the run's first batch replaces the table, then upsert.",
    ),
    th.Property("hard_delete", th.BooleanType, default=True, description="Records with `_sdc_deleted_at` delete their row (true) or keep it with the deletion time in column `_sdc_deleted_at` (false)."),
    th.Property("default_numeric_precision", th.IntegerType, default=18, description="NUMERIC precision of `number` properties (18 max with database version 2)."),
    th.Property("default_numeric_scale", th.IntegerType, default=6, description="NUMERIC scale of `number` properties without `multipleOf`/`x-sql-datatype`/override."),
    th.Property("numeric_overrides", th.ObjectType(additional_properties=th.ObjectType(additional_properties=th.StringType)), description='Per stream and column NUMERIC type, e.g. {"invoices": {"ExchangeRate": "NUMERIC(18,8)"}}.'),
    th.Property("hyper_database_version", th.IntegerType, description="Hyper file format version. Default 2 (Tableau Desktop/Server 2020.4.15+/2021.1.12+…/2022.1.2+, Prep 2022.3+); 3 automatically when a NUMERIC precision > 18 is configured (Desktop 2022.4.1+, Server 2023.1+)."),
    th.Property("hyper_log_dir", th.StringType, description="Directory for hyperd logs (default `<output_dir>/logs`)."),
    th.Property("hyper_telemetry", th.BooleanType, default=False, description="Send Hyper usage data to Tableau (off by default)."),
    th.Property("state_flush_seconds", th.IntegerType, default=60, description="On a STATE message, when this many seconds passed since the last full drain, drain (commit) every sink and emit that state. Bounds the work redone after a crash; 0 = at every STATE. The SDK's 5-minute max record age still applies."),
    th.Property("audit_enabled", th.BooleanType, default=True, description="Record runs, batches and every record loaded in the audit DB."),
    th.Property("audit_db_url", th.StringType, description="SQLAlchemy URL of the audit DB (default `sqlite:///<output_dir>/audit.sqlite`; PostgreSQL: `postgresql+psycopg://…`)."),
    th.Property("audit_hyper", th.BooleanType, default=False, description="Also keep the audit trail in `<output_dir>/_audit.hyper` (tables \"Extract\".\"runs\" and \"Extract\".\"records\", related on run_id) for Tableau, updated at each committed batch."),
    th.Property("audit_stale_run_timeout_minutes", th.IntegerType, default=DEFAULT_STALE_RUN_TIMEOUT_MINUTES, description="A run of another host (shared audit DB) still `running` with no sign of life (heartbeat, batch, state) for this many minutes is marked `abandoned` when a run starts; a run's heartbeat is written every min(timeout/6, 1 min) while it is quiet. 0 = never by age. A run of this host is marked `abandoned` as soon as its process is gone."),
)


def _merged_settings() -> dict:
    schema = CORE_SETTINGS.to_dict()
    for name, prop in PUBLISH_SETTINGS.to_dict()["properties"].items():
        schema["properties"].setdefault(name, prop)
    return schema


class TargetTableauHyper(Target):
    """Loads Singer streams into Tableau Hyper extracts with upserts, deletes and an audit trail. Accepts Singer BATCH messages: jsonl encoding, compression gzip or none, local files (paths or file:// URLs); parquet and remote URLs are refused."""

    name = "target-tableau-hyper"
    #: the SDK's defaults plus `batch`: BATCH messages are read (batch_files.py). What they may
    #: hold is said in the description above (`--about`), not in a `batch_config` setting: a
    #: target reads each message's own encoding and file URLs, it has nothing to configure
    #: (see `append_builtin_config`).
    capabilities: t.ClassVar[list] = [*Target.capabilities, PluginCapabilities.BATCH]
    config_jsonschema = _merged_settings()
    default_sink_class = HyperSink
    message_reader_class = SingerInputReader
    #: loader threads (batches of different .hyper files load side by side) and the most
    #: batches handed over and not yet committed (bounds the memory they hold)
    LOADER_THREADS = 2
    LOADS_IN_FLIGHT = 3
    #: a sink quiet over a whole STATE interval and for this long loads before the input ends
    IDLE_DRAIN_SECONDS = 1.0

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        cfg = self.config
        self.run_id = (
            datetime.datetime.now(tz=datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
            + "-" + uuid.uuid4().hex[:8]
        )
        self.output_dir = Path(cfg.get("output_dir") or "output")
        self.staging_dir = self.output_dir / ".staging"
        self.overwritten: set[str] = set()
        self.hyper_files: dict[str, str] = {}
        self.counts: dict[str, dict[str, int]] = {}
        self._fast_sinks: dict[str, HyperSink] = {}
        self._engine: HyperEngine | None = None
        self._audit: AuditLog | None = None
        self._audit_started = False
        self._finished = False
        self._interrupts = InterruptGuard()  # SIGTERM/SIGINT → RunInterrupted while listening
        # Batches are loaded by background threads so that reading and decoding the next
        # records overlaps with Hyper work, and batches of different files load side by side.
        # The batches of one file load one after another in submission order (each waits for
        # the previous one of its file; see `submit_load`). At most LOADS_IN_FLIGHT batches.
        self._loader = concurrent.futures.ThreadPoolExecutor(
            max_workers=self.LOADER_THREADS, thread_name_prefix="hyper-load"
        )
        # Staging (Arrow parse, classify, staged file) runs on its own thread, in load order: batch
        # N+1 is staged while batch N is in Hyper (HyperSink.process_batch).
        self.stager = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="hyper-stage")
        self._loads: collections.deque[concurrent.futures.Future] = collections.deque()
        self._setups: collections.deque[concurrent.futures.Future] = collections.deque()  # table set-ups
        self._pending_setups: dict[str, list] = {}  # file → set-ups no job or load has taken yet
        self._hyperd_started = False
        self._last_load: dict[str, concurrent.futures.Future] = {}  # file → its latest job
        self._loads_lock = threading.Lock()
        self._draining: str | None = None  # file of the sink being drained (main thread)
        # stream → (records read as of the last STATE, when that number last changed)
        self._records_at_state: dict[str, tuple[int, float]] = {}
        self.audit_writer = AuditWriter()  # per-record audit rows, written behind the loads
        self.max_parallelism = 1  # drains only enqueue; the loader thread does the work
        #: files of Singer BATCH messages read in this run (batch_files.py), once there is one
        self.batch_files_state: t.Any = None

    # --- resources ----------------------------------------------------------------------------
    @property
    def database_version(self) -> int:
        if self.config.get("hyper_database_version"):
            return int(self.config["hyper_database_version"])
        precisions = [int(self.config.get("default_numeric_precision", 18))]
        for columns in (self.config.get("numeric_overrides") or {}).values():
            precisions += [parse_sql_numeric(v)[0] for v in columns.values()]
        return 3 if max(precisions) > MAX_NUMERIC_PRECISION_V2 else 2

    @property
    def engine(self) -> HyperEngine:
        if self._engine is None:
            self._engine = HyperEngine(
                log_dir=self.config.get("hyper_log_dir") or self.output_dir / "logs",
                telemetry=bool(self.config.get("hyper_telemetry", False)),
                database_version=self.database_version,
            )
            self._engine.defer = self._submit_setup
        return self._engine

    @property
    def audit(self) -> AuditLog | None:
        if not self.config.get("audit_enabled", True):
            return None
        if self._audit is None:
            from target_tableau_hyper.audit import AuditLog, default_url

            self.output_dir.mkdir(parents=True, exist_ok=True)
            mirror = None
            if self.config.get("audit_hyper", False):
                from target_tableau_hyper.audit_hyper import FILE_NAME, AuditHyper

                mirror = AuditHyper(self.engine, self.output_dir.resolve() / FILE_NAME, self.staging_dir)
            self._audit = AuditLog(
                self.config.get("audit_db_url") or default_url(str(self.output_dir)),
                self.run_id,
                output_dir=str(self.output_dir.resolve()),
                mirror=mirror,
                stale_run_timeout_minutes=self.config.get(
                    "audit_stale_run_timeout_minutes", DEFAULT_STALE_RUN_TIMEOUT_MINUTES
                ),
            )
        return self._audit

    def hyper_location(self, stream: str) -> tuple[str, str]:
        """(file path, table name) of a stream."""
        combined = self.config.get("multi_table_file")
        if combined:
            path = str((self.output_dir / combined).resolve())
            return path, stream
        return str((self.output_dir / hyper_file_name(stream)).resolve()), "Extract"

    def register_stream(self, stream: str, path: str, table_label: str) -> None:
        self.hyper_files[stream] = path
        self.counts.setdefault(stream, {"inserted": 0, "updated": 0, "deleted": 0})
        if self.audit is not None:
            self.audit.register_stream(stream, path, table_label)

    def add_counts(self, stream: str, inserted: int, updated: int, deleted: int) -> None:
        c = self.counts.setdefault(stream, {"inserted": 0, "updated": 0, "deleted": 0})
        c["inserted"] += inserted
        c["updated"] += updated
        c["deleted"] += deleted

    # --- background loading -----------------------------------------------------------------------
    def drain_one(self, sink: t.Any) -> None:  # type: ignore[misc]  # SDK marks it final
        """The SDK's drain_one, remembering which file the batch handed over belongs to."""
        self._draining = getattr(sink, "hyper_path", None)
        try:
            super().drain_one(sink)
        finally:
            self._draining = None

    def submit_load(self, fn: t.Callable[[], None]) -> None:
        """Hand a batch load to the loader threads.

        Order: a batch starts after the previous batch of the same file has finished (a
        batch of unknown file waits for every earlier batch), so each file sees its batches
        in submission order, as with a single loader thread; a failed batch fails the ones
        queued behind it. No deadlock: the pool starts jobs in submission order, so whatever
        a job waits for is already running or done."""
        self._submit(self._draining, fn, self._loads)

    def _submit_setup(self, path: str, fn: t.Callable[[t.Any], None]) -> None:
        """A table's creation/evolution (`HyperTable.ensure`, `fn(conn)`): kept for the file's
        next load, which runs it inside its own attach (`take_setups`); a file with no load
        before the next barrier gets a job of its own then (`_flush_setups`), queued like a
        load of its file but not counted in LOADS_IN_FLIGHT (it holds no records)."""
        with self._loads_lock:
            self._pending_setups.setdefault(path, []).append(fn)
            if not self._hyperd_started:
                # hyperd starts now, on a loader thread, while records are read (as when the
                # set-up itself ran then), not with the first load (a failure to start is
                # raised again by the load that needs it)
                self._hyperd_started = True
                self._loader.submit(lambda: self.engine.endpoint)

    def take_setups(self, path: str) -> list[t.Callable[[t.Any], None]]:
        """The set-ups of file `path` deferred so far (main thread, when a batch of the file is
        handed over: its load runs them first, so the order stays set-ups then batches)."""
        with self._loads_lock:
            return self._pending_setups.pop(path, [])

    def _flush_setups(self) -> None:
        """A job per file whose set-ups no load took (streams without records so far)."""
        with self._loads_lock:
            pending, self._pending_setups = self._pending_setups, {}
        for path, setups in pending.items():
            self._submit(path, functools.partial(self.engine.run_setups, path, setups), self._setups)

    def _submit(self, key: str | None, fn: t.Callable[[], None], queue: collections.deque) -> None:
        with self._loads_lock:
            for pending in (self._loads, self._setups):
                while pending and pending[0].done():
                    pending.popleft().result()  # re-raises a failed load
            while len(self._loads) >= self.LOADS_IN_FLIGHT:
                self._loads.popleft().result()
            if key is None:
                before = [*self._setups, *self._loads]
            else:
                previous = self._last_load.get(key)
                before = [previous] if previous is not None else []  # a failed one fails this
            future = self._loader.submit(_after, before, fn)
            queue.append(future)
            if key is not None:
                self._last_load[key] = future

    def wait_for_loads(self) -> None:
        """Barrier: every submitted batch committed and audited, every table set up (raises the
        first failure)."""
        self._flush_setups()
        with self._loads_lock:
            for pending in (self._setups, self._loads):
                while pending:
                    pending.popleft().result()
            self._last_load.clear()
        self.audit_writer.wait()  # loads are done: every audit write is queued

    def _abandon_loads(self) -> None:
        with self._loads_lock:
            for pending in (self._setups, self._loads):
                while pending:
                    try:
                        pending.popleft().result()
                    except BaseException:  # noqa: BLE001 - already failing; let in-flight work end
                        pass
        self.audit_writer.wait(ignore_errors=True)

    # --- messages --------------------------------------------------------------------------------
    def _process_schema_message(self, message_dict: dict) -> None:
        stream = message_dict.get("stream")
        super()._process_schema_message(message_dict)
        self._refresh_fast_path(stream)

    def _refresh_fast_path(self, stream: str) -> None:
        # Records of a stream whose only map is the SDK's identity map (flattened or not) go
        # straight from raw JSON to the sink's compiled model; others take the SDK mapper path.
        maps = self.mapper.stream_maps.get(stream) or []
        fast = self.message_reader.fast_streams
        # the name as json/simplejson write it (non-ASCII escaped) and as msgspec/orjson do (UTF-8)
        keys = tuple(dict.fromkeys((stream.encode(), json.dumps(stream)[1:-1].encode())))
        for key in keys:
            fast.pop(key, None)
        self._fast_sinks.pop(stream, None)
        sink = self._sinks_active.get(stream)
        if sink is not None:
            sink.model.flattened = None
        if not (
            len(maps) == 1
            and type(maps[0]) is SameRecordTransform
            and maps[0].stream_alias == stream
            and sink is not None
            and '"' not in stream
            and "\\" not in stream
        ):
            self.message_reader.on_tick = self._handle_max_record_age
            return
        line_decoder, arrow = sink.model.line_decoder, sink.model.arrow_line_schema is not None
        if maps[0].flattening_enabled:
            plan = compile_plan(maps[0], sink.model)  # None: the schema needs the SDK flattener
            if plan is None:
                self.message_reader.on_tick = self._handle_max_record_age
                return
            sink.model.flattened = plan
            line_decoder = plan.line_decoder
            arrow = True  # raw runs: the plan's Arrow path, else exact per-record decoding
        self._fast_sinks[stream] = sink
        if sink.model.full_validator is None:
            prefixes = ()
            if arrow:
                prefixes = tuple(p for key in keys for p in (
                    b'{"type":"RECORD","stream":"' + key + b'","record":{',
                    b'{"type": "RECORD", "stream": "' + key + b'", "record": {',
                ))
            for key in keys:
                fast[key] = (line_decoder, sink, self.drain_one, prefixes)
        self.message_reader.on_tick = self._handle_max_record_age

    def _process_record_message(self, message: t.Any) -> None:
        line = self.message_reader.line_number if hasattr(self.message_reader, "line_number") else None
        if isinstance(message, RecordEnvelope):
            stream, raw = message.stream, message.record
            sink = self._fast_sinks.get(stream)
            if sink is not None and self._sinks_active.get(stream) is sink:
                decoder = sink.model.flattened or sink.model
                sink.add_row(decoder.decode(raw, line), line)
                if sink.is_full:
                    self.drain_one(sink)
                self._handle_max_record_age()
                return
            try:
                record = _RECORD_DICT.decode(raw)
            except msgspec.DecodeError as exc:
                raise InputError(f"malformed record JSON: {exc}", stream=stream, line=line) from None
        else:
            stream, record = message["stream"], message["record"]
        if not isinstance(record, dict):
            raise InputError("'record' must be a JSON object", stream=stream, line=line)
        if stream not in self.mapper.stream_maps:
            raise RecordBeforeSchemaError("RECORD before its SCHEMA", stream=stream, line=line)
        for stream_map in self.mapper.stream_maps[stream]:
            transformed = stream_map.transform(copy.copy(record))
            if transformed is None:
                continue
            alias = stream_map.stream_alias
            if alias not in self._sinks_active:
                raise RecordBeforeSchemaError("RECORD before its SCHEMA", stream=alias, line=line)
            sink = self._sinks_active[alias]
            sink.add_row(sink.model.convert(transformed, line), line)
            if sink.is_full:
                self.drain_one(sink)
        self._handle_max_record_age()

    def _process_batch_message(self, message_dict: dict) -> None:
        # the SDK would fail with a bare KeyError on a stream without SCHEMA
        stream = message_dict.get("stream")
        line = getattr(self.message_reader, "line_number", None)
        maps = self.mapper.stream_maps.get(stream) if isinstance(stream, str) else None
        if not maps:
            raise RecordBeforeSchemaError("BATCH before its SCHEMA", stream=stream, line=line)
        for stream_map in maps:
            if stream_map.stream_alias not in self._sinks_active:
                raise RecordBeforeSchemaError("BATCH before its SCHEMA", stream=stream_map.stream_alias,
                                              line=line)
        super()._process_batch_message(message_dict)

    def _process_state_message(self, message_dict: dict) -> None:
        super()._process_state_message(message_dict)
        flush_after = float(self.config.get("state_flush_seconds", 60))
        if self._latest_state and self._max_record_age_in_minutes * 60 >= flush_after:
            self.drain_all()  # commits every sink, then emits this state (SDK order)
        else:
            self._drain_idle_sinks()

    def _drain_idle_sinks(self) -> None:
        """Hand over the batch of every sink that got no record since the previous STATE and
        for at least IDLE_DRAIN_SECONDS.

        A tap syncs its streams one after another and writes a STATE at the end of each: a
        stream that stayed quiet over a whole STATE interval is most likely done, so its batch
        loads now, behind the streams still being read, instead of with every other stream
        after the input ends. The time floor keeps a tap that interleaves streams with a STATE
        after every few records from turning each record into its own batch. Only loads move
        earlier: each batch is still its own transaction and no STATE leaves before every sink
        is drained and committed (`drain_all`)."""
        seen = self._records_at_state
        now = time.monotonic()
        for name, sink in list(self._sinks_active.items()):
            total = sink._total_records_read  # noqa: SLF001 - the SDK's own counter
            before = seen.get(name)
            if before is None or before[0] != total:
                seen[name] = (total, now)
            elif sink.current_size and now - before[1] >= self.IDLE_DRAIN_SECONDS:
                self.drain_one(sink)

    def _write_state_message(self, state: dict) -> None:
        # drain_all calls this after handing every sink's batch over; wait until they are
        # committed and detached (durable) before the state leaves the target.
        self.wait_for_loads()
        with self._interrupts.deferred():  # a state is recorded in the audit only if emitted
            if self.audit is not None:
                self.audit.record_state(state)
            super()._write_state_message(state)
        if self.batch_files_state is not None:
            self.batch_files_state.state_emitted()  # their records are committed: delete the files

    # --- end of run -------------------------------------------------------------------------------
    def process_endofpipe(self) -> None:
        try:
            super().process_endofpipe()  # drains every sink, then emits the last state
            self.wait_for_loads()
            publishing.publish_after_run(target=self, run_id=self.run_id, hyper_files=dict(self.hyper_files))
        except BaseException as exc:
            self.finish(error=_describe(exc), interrupted=isinstance(exc, RunInterrupted))
            raise
        self.finish()

    def finish(self, *, error: str | None = None, interrupted: bool = False) -> None:
        """Record the run's end and stop Hyper (idempotent). In-flight batches finish first."""
        if self._finished:
            return
        self._finished = True
        self._interrupts.stop_raising()  # a late signal must not cut the bookkeeping short
        self._abandon_loads()
        self._loader.shutdown(wait=True)
        self.stager.shutdown(wait=True)
        self.audit_writer.close()
        try:
            if self._audit is not None:
                self._audit.finish(error=error, status="interrupted" if interrupted else None)
                self._audit.close()
        finally:
            if self._engine is not None:
                self._engine.close()
            if self.batch_files_state is not None:
                self.batch_files_state.run_ended(success=error is None and not interrupted)
        outcome = "interrupted" if interrupted else "failed" if error else "done"
        self.logger.info("Run %s %s: %s", self.run_id, outcome, json.dumps(self.counts))

    def listen_safely(self, file_input: t.IO | None = None) -> None:
        """listen(), recording a failed run (and stopping Hyper) when input is bad, and an
        `interrupted` run on SIGTERM/SIGINT (see audit_interrupt.py)."""
        self._interrupts.install()
        try:
            self.listen(file_input)
        except BaseException as exc:
            self.finish(error=_describe(exc), interrupted=isinstance(exc, RunInterrupted))
            raise
        finally:
            self._interrupts.restore()

    @classmethod
    def append_builtin_config(cls, config_jsonschema: dict) -> None:
        """The SDK's built-in settings, without the `batch_config` its `batch` capability adds:
        that schema is a tap's (where to write files, parquet allowed); this target takes the
        encoding and files from each BATCH message and would ignore such a setting."""
        had_batch_config = "batch_config" in config_jsonschema["properties"]
        super().append_builtin_config(config_jsonschema)
        if not had_batch_config:
            config_jsonschema["properties"].pop("batch_config", None)

    @classmethod
    def invoke(cls, *, about: bool = False, about_format: str | None = None, config: t.Any = None, file_input: t.IO | None = None) -> None:  # type: ignore[override]
        from singer_sdk.plugin_base import _ConfigInput

        super(Target, cls).invoke(about=about, about_format=about_format)
        cls.print_version(print_fn=cls.logger.info)
        config = config or _ConfigInput()
        target = cls(config=config.config, validate_config=True, parse_env_config=config.parse_env)
        if file_input is not None and hasattr(file_input, "buffer"):
            file_input = file_input.buffer
        try:
            target.listen_safely(file_input)
        except RunInterrupted as exc:
            cls.logger.warning("Run %s %s: recorded as interrupted", target.run_id, exc)
            sys.exit(exc.exit_code)


def _after(before: list[concurrent.futures.Future], fn: t.Callable[[], None]) -> None:
    for future in before:
        future.result()  # the earlier batch of this file (raises its failure)
    fn()


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"

