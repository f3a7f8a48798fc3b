"""Publishing the local extracts of a run: overwrite or incremental, per datasource, then refresh.

Order of events for one run (called after the target core committed every local file):
1. each (datasource, stream, run) is queued `pending` in the audit DB before anything goes over the
   wire, so a crash or a refused sign-in leaves the run visibly pending;
2. one signed-in session (locked per identity) finds the project and each datasource;
3. per datasource: incremental when possible (the datasource exists, the last successful publish
   of it had the same columns and datasource id, and the changes of every pending run are known),
   else overwrite; then the pending runs it covered become `published`;
4. refreshes (datasource per `refresh`, then `refresh_workbooks`) for the datasources published.
A failed datasource does not stop the others; its runs stay pending and are retried next run.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from dataclasses import dataclass, field
from typing import Callable, Mapping

import sqlalchemy as sa
import tableauserverclient as TSC

from target_tableau_hyper.publishing import audit_tables as audit
from target_tableau_hyper.publishing.changes import ChangeSource
from target_tableau_hyper.publishing.config import PublishConfig
from target_tableau_hyper.publishing.errors import JobFailedError, PublishError, explain
from target_tableau_hyper.publishing.hyperfiles import (
    TableChange,
    build_combined,
    build_delta,
    count_rows,
    hyper_process,
    schema_signature,
)
from target_tableau_hyper.publishing.jobs import wait_for_job
from target_tableau_hyper.publishing.lookup import find_datasource, find_project
from target_tableau_hyper.publishing.refresh import refresh_datasource, refresh_workbooks
from target_tableau_hyper.publishing.session import TableauSession

logger = logging.getLogger(__name__)


@dataclass
class PublishUnit:
    """One published datasource and the local streams it holds."""

    datasource_name: str
    streams: dict[str, str]  # stream -> local .hyper path
    multi_table: bool
    shared_file: bool = False  # the target core's multi-table file holds this stream among others

    def target_table(self, stream: str) -> tuple[str, str] | None:
        if self.multi_table:
            return ("Extract", stream)
        return ("Extract", "Extract") if self.shared_file else None  # None: the local table's own name


@dataclass
class UnitResult:
    datasource_name: str
    outcome: str  # succeeded | skipped | failed
    mode: str | None = None
    reason: str | None = None
    datasource_id: str | None = None
    job_id: str | None = None
    rows_upserted: int = 0
    rows_deleted: int = 0
    file_bytes: int = 0
    bytes_sent: int = 0
    error: str | None = None
    refreshes: list[dict] = field(default_factory=list)


@dataclass
class PublishReport:
    run_id: str
    results: list[UnitResult] = field(default_factory=list)
    error: str | None = None  # a failure before any datasource (sign-in, project)

    @property
    def failed(self) -> list[UnitResult]:
        return [r for r in self.results if r.outcome == "failed"]

    @property
    def ok(self) -> bool:
        return self.error is None and not self.failed


def make_units(config: PublishConfig, hyper_files: Mapping[str, str]) -> list[PublishUnit]:
    if "{stream}" in config.datasource_name:
        paths = list(hyper_files.values())
        return [
            PublishUnit(config.datasource_name_for(stream), {stream: path}, multi_table=False,
                        shared_file=paths.count(path) > 1)
            for stream, path in sorted(hyper_files.items())
        ]
    return [PublishUnit(config.datasource_name, dict(sorted(hyper_files.items())), multi_table=True)]


class Publisher:
    def __init__(
        self,
        config: PublishConfig,
        engine: sa.Engine,
        changes: ChangeSource,
        *,
        session_factory: Callable[[PublishConfig], TableauSession] = TableauSession,
        workdir: str | None = None,
    ):
        self.config = config
        self.engine = engine
        self.changes = changes
        self.session_factory = session_factory
        self.workdir = workdir

    # --- entry point -----------------------------------------------------------------------------
    def run(self, run_id: str, hyper_files: Mapping[str, str]) -> PublishReport:
        report = PublishReport(run_id)
        missing = sorted(stream for stream, path in hyper_files.items() if not os.path.exists(path))
        if missing:  # a stream announced but never written has nothing to publish yet
            logger.info("no local file yet for %s; not published this run", ", ".join(missing))
        units = make_units(self.config, {s: p for s, p in hyper_files.items() if s not in missing})
        known_runs = getattr(self.changes, "known_runs", None)
        for unit in units:
            for stream in unit.streams:
                earlier = [r for r in known_runs(stream) if r != run_id] if known_runs else []
                audit.queue_runs(self.engine, unit.datasource_name, stream, earlier + [run_id])
        if not units:
            return report
        try:
            with self.session_factory(self.config) as session, hyper_process() as hyper, \
                    tempfile.TemporaryDirectory(prefix="tableau-publish-", dir=self.workdir) as tmp:
                project = find_project(session, self.config.project_path)
                published: list[tuple[PublishUnit, TSC.DatasourceItem]] = []
                for unit in units:
                    result, datasource = self._publish_unit(session, hyper, tmp, project, unit, run_id)
                    report.results.append(result)
                    if datasource is not None and result.outcome == "succeeded":  # skipped: nothing new
                        published.append((unit, datasource))
                self._refresh(session, project, published, report, run_id)
        except PublishError as exc:
            report.error = str(exc)
            self._record_unreached(units, report, run_id, exc)
        return report

    # --- one datasource --------------------------------------------------------------------------
    def _signature(self, hyper, unit: PublishUnit) -> str:
        """Columns and keys of every stream of the datasource: any change means overwrite."""
        out = {}
        for stream, path in unit.streams.items():
            keys = self.changes.stream_keys(stream)
            out[stream] = {"columns": json.loads(schema_signature(hyper, path, stream)),
                           "keys": [keys.key_columns, keys.scope_columns] if keys else None}
        return json.dumps(out, sort_keys=True)

    def _decide_mode(self, unit: PublishUnit, datasource, signature: str) -> tuple[str, str]:
        if self.config.publish_mode == "overwrite":
            return "overwrite", "publish_mode is overwrite"
        if datasource is None:
            return "overwrite", "the datasource does not exist yet"
        last = audit.last_successful_publish(self.engine, unit.datasource_name)
        if last is None:
            return "overwrite", "no earlier successful publish is recorded"
        if last.datasource_id and last.datasource_id != datasource.id:
            return "overwrite", "the datasource was replaced on Tableau since the last publish"
        if last.schema_signature != signature:
            return "overwrite", "the columns or keys changed since the last publish"
        for stream in unit.streams:
            if self.changes.stream_keys(stream) is None:
                return "overwrite", f"stream {stream} has no key properties"
        return "incremental", "datasource exists with the same columns"

    def _request_id(self, datasource_id: str, covered: list[str]) -> str:
        base = hashlib.sha256(json.dumps([datasource_id, sorted(covered)]).encode()).hexdigest()[:40]
        # A definite job failure consumed that id on Tableau: the retry needs a fresh one. A crash or
        # a lost response did not, and must reuse it so Tableau applies the batch at most once.
        with self.engine.connect() as conn:
            failed_jobs = conn.execute(
                sa.select(sa.func.count()).select_from(audit.publishes).where(
                    audit.publishes.c.request_id.like(base + "%"), audit.publishes.c.error_code == "job_failed"
                )
            ).scalar_one()
        return base if not failed_jobs else f"{base}-r{failed_jobs}"

    def _publish_unit(self, session, hyper, tmp, project, unit: PublishUnit, run_id: str):
        cfg = self.config
        name = unit.datasource_name
        covered = {stream: audit.pending_runs(self.engine, name, stream) for stream in unit.streams}
        covered_pairs = [f"{stream}:{run}" for stream, runs in covered.items() for run in runs]
        result = UnitResult(name, outcome="failed")
        publish_id = None
        bytes_before = session.bytes_sent
        datasource = None
        try:
            signature = self._signature(hyper, unit)
            datasource = find_datasource(session, name, project.id)
            mode, reason = self._decide_mode(unit, datasource, signature)
            touched: dict[str, list] = {}
            if mode == "incremental":
                for stream in unit.streams:
                    scopes = self.changes.touched_scopes(stream, covered[stream])
                    if scopes is None:
                        mode, reason = "overwrite", f"the changes of a pending run of {stream} are not known"
                        break
                    touched[stream] = scopes
            result.mode, result.reason = mode, reason
            request_id = self._request_id(datasource.id, covered_pairs) if mode == "incremental" else None
            publish_id = audit.start_publish(
                self.engine, run_id=run_id, datasource_name=name, datasource_id=datasource.id if datasource else None,
                project=cfg.project, streams=list(unit.streams), mode=mode, reason=reason, request_id=request_id,
                covered_run_ids=covered_pairs, schema_signature=signature,
            )
            if mode == "incremental":
                datasource, job_id = self._incremental(session, hyper, tmp, unit, datasource, touched, request_id,
                                                       result)
            else:
                datasource, job_id = self._overwrite(session, hyper, tmp, project, unit, result)
            result.job_id = job_id
            result.datasource_id = datasource.id if datasource is not None else None
            result.bytes_sent = session.bytes_sent - bytes_before
            if result.outcome != "skipped":
                result.outcome = "succeeded"
            audit.finish(
                self.engine, audit.publishes, publish_id, outcome=result.outcome, job_id=job_id,
                datasource_id=result.datasource_id, rows_upserted=result.rows_upserted,
                rows_deleted=result.rows_deleted, file_bytes=result.file_bytes, bytes_sent=result.bytes_sent,
                reason=result.reason,
            )
            for stream, runs in covered.items():
                audit.mark_published(self.engine, name, stream, runs, publish_id)
            logger.info(
                "Published %s (%s, %s): %d rows upserted, %d deleted, %d bytes sent",
                name, mode, result.outcome, result.rows_upserted, result.rows_deleted, result.bytes_sent,
            )
            return result, datasource
        except Exception as exc:  # recorded, reported, and the runs stay pending
            error = exc if isinstance(exc, PublishError) else explain(exc, server_url=cfg.server_url, site=cfg.site,
                                                                       what=f"publishing {name}")
            if not isinstance(exc, PublishError) and not isinstance(exc, (TSC.ServerResponseError, OSError)):
                logger.exception("unexpected error while publishing %s", name)
            result.outcome, result.error = "failed", str(error)
            result.bytes_sent = session.bytes_sent - bytes_before
            code = "job_failed" if isinstance(error, JobFailedError) else (error.code or error.kind)
            if publish_id is None:
                publish_id = audit.start_publish(
                    self.engine, run_id=run_id, datasource_name=name, project=cfg.project, streams=list(unit.streams),
                    mode=result.mode or cfg.publish_mode, reason=result.reason, covered_run_ids=covered_pairs,
                )
            audit.finish(self.engine, audit.publishes, publish_id, outcome="failed", error=str(error),
                         error_code=code, job_id=result.job_id, bytes_sent=result.bytes_sent)
            logger.error("Publishing %s failed: %s (its runs stay pending and are retried next run)", name, error)
            return result, None

    def _incremental(self, session, hyper, tmp, unit, datasource, touched, request_id, result):
        changes = []
        for stream, path in unit.streams.items():
            keys = self.changes.stream_keys(stream)
            assert keys is not None
            changes.append(TableChange(stream, path, unit.target_table(stream), keys.key_columns, keys.scope_columns,
                                       touched[stream], keys.replace_scope))
        delta = build_delta(hyper, changes, os.path.join(tmp, f"delta-{request_id[:12]}.hyper"))
        result.rows_upserted, result.rows_deleted = delta.rows_upserted, delta.rows_deleted
        if not delta.actions:
            result.outcome, result.reason = "skipped", "nothing changed since the last publish"
            return datasource, None
        result.file_bytes = delta.size
        job = session.call(
            f"updating data of {unit.datasource_name!r}",
            lambda srv: srv.datasources.update_hyper_data(
                datasource, request_id=request_id, actions=delta.actions, payload=delta.path
            ),
        )
        result.job_id = job.id
        wait_for_job(session, job.id, timeout_seconds=self.config.job_timeout_seconds,
                     what=f"incremental update of {unit.datasource_name!r}")
        return datasource, job.id

    def _overwrite(self, session, hyper, tmp, project, unit, result):
        if unit.multi_table or unit.shared_file:
            path = build_combined(hyper, list(unit.streams.items()), os.path.join(tmp, "publish.hyper"),
                                  single_table=not unit.multi_table)
        else:
            (path,) = unit.streams.values()
        result.rows_upserted = sum(count_rows(hyper, p, s) for s, p in unit.streams.items())
        result.file_bytes = os.path.getsize(path)
        item = TSC.DatasourceItem(project.id, name=unit.datasource_name)
        job = session.call(
            f"publishing {unit.datasource_name!r}",
            lambda srv: srv.datasources.publish(item, path, mode=TSC.Server.PublishMode.Overwrite, as_job=True),
        )
        result.job_id = job.id
        wait_for_job(session, job.id, timeout_seconds=self.config.job_timeout_seconds,
                     what=f"publishing {unit.datasource_name!r}")
        datasource = find_datasource(session, unit.datasource_name, project.id)
        if datasource is None:
            raise PublishError(f"Tableau finished publishing {unit.datasource_name!r} but the datasource is not "
                               "in the project afterwards")
        return datasource, job.id

    # --- after publishing ------------------------------------------------------------------------
    def _refresh(self, session, project, published, report: PublishReport, run_id: str) -> None:
        by_name = {r.datasource_name: r for r in report.results}
        for unit, datasource in published:
            result = by_name[unit.datasource_name]
            try:
                outcome = refresh_datasource(session, self.engine, self.config, datasource, run_id=run_id)
                if outcome:
                    result.refreshes.append(outcome)
            except PublishError as exc:
                result.refreshes.append({"target": datasource.name, "outcome": "failed", "error": str(exc)})
                report.error = report.error or f"refresh of {datasource.name!r} failed: {exc}"
        if published and self.config.refresh_workbooks:
            try:
                outcomes = refresh_workbooks(session, self.engine, self.config, self.config.refresh_workbooks,
                                             project.id, run_id=run_id)
                report.results[0].refreshes.extend(outcomes)
            except PublishError as exc:
                report.error = report.error or f"workbook refresh failed: {exc}"

    def _record_unreached(self, units, report: PublishReport, run_id: str, exc: PublishError) -> None:
        """Sign-in or project lookup failed: every datasource not attempted gets a failed attempt row."""
        attempted = {r.datasource_name for r in report.results}
        for unit in units:
            if unit.datasource_name in attempted:
                continue
            covered = [f"{s}:{r}" for s in unit.streams for r in audit.pending_runs(self.engine, unit.datasource_name, s)]
            row = audit.start_publish(self.engine, run_id=run_id, datasource_name=unit.datasource_name,
                                      project=self.config.project, streams=list(unit.streams),
                                      mode=self.config.publish_mode, covered_run_ids=covered)
            audit.finish(self.engine, audit.publishes, row, outcome="failed", error=str(exc),
                         error_code=exc.code or exc.kind)
            report.results.append(UnitResult(unit.datasource_name, outcome="failed", error=str(exc)))
