"""Publishing local .hyper extracts to Tableau Server / Tableau Cloud.

Contract with the target core:
- `PUBLISH_SETTINGS` (settings.py) is merged into the target's `config_jsonschema`.
- `publish_after_run(target, run_id, hyper_files)` is called once per run, after every sink
  has drained and committed (local durability first). It is a no-op when `publish` is off.

Failure policy (finance users must see a failed publish): the local files and the Singer state
are already committed when this runs, so a failed publish loses nothing; its runs stay `pending`
in the audit DB (`tableau_publish_runs`) and the next run publishes them too. When
`publish_failure_fails_run` is true (default) `publish_after_run` then raises `PublishFailedError`
after recording everything, so the target exits non-zero (after STATE was emitted) and the
orchestrator shows the run as failed; set it to false to only log the error.
"""

from __future__ import annotations

import logging
from typing import Any, Mapping

from target_tableau_hyper.publishing.errors import PublishFailedError

__all__ = ["PublishFailedError", "publish_after_run"]

logger = logging.getLogger(__name__)


def publish_after_run(target: Any, run_id: str, hyper_files: Mapping[str, str]) -> Any:
    """Publish what this run (and any earlier run whose publish failed) changed.

    Returns the `PublishReport` (None when publishing is off); raises `PublishFailedError` when
    something failed and `publish_failure_fails_run` is on.
    """
    config_map = target.config
    if not config_map.get("publish"):
        return None
    from target_tableau_hyper.publishing.audit_tables import make_engine
    from target_tableau_hyper.publishing.config import PublishConfig, audit_db_url
    from target_tableau_hyper.publishing.publisher import Publisher
    from target_tableau_hyper.publishing.audit_changes import change_source_for, pending_streams

    config = PublishConfig.from_mapping(config_map)
    engine = make_engine(audit_db_url(config_map))
    try:
        files = dict(hyper_files)
        files.update(pending_streams(engine, files))  # earlier failures of streams absent this run
        report = Publisher(config, engine, change_source_for(target, engine)).run(run_id, files)
    finally:
        engine.dispose()
    for result in report.results:
        if result.outcome == "failed":
            logger.error("Tableau publish of %s FAILED: %s", result.datasource_name, result.error)
        else:
            logger.info(
                "Tableau publish of %s: %s (%s), %d rows upserted, %d deleted, %d bytes sent",
                result.datasource_name, result.outcome, result.mode, result.rows_upserted, result.rows_deleted,
                result.bytes_sent,
            )
    if not report.ok:
        if config.failure_fails_run:
            raise PublishFailedError(report)
        logger.error("Tableau publishing failed (publish_failure_fails_run is off): %s",
                     report.error or [r.error for r in report.failed])
    return report
