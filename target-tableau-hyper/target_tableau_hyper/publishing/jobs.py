"""Waiting for Tableau background jobs with a timeout, through the session (so a 401 mid-wait signs in
again). TSC's own `wait_for_job` cannot re-sign-in and backs off to long sleeps."""

from __future__ import annotations

import time
from xml.etree import ElementTree

import tableauserverclient as TSC

from target_tableau_hyper.publishing.errors import JobFailedError, JobTimeoutError
from target_tableau_hyper.publishing.session import TableauSession

FINISH_CODES = {0: "succeeded", 1: "failed", 2: "cancelled"}
NS = {"t": "http://tableau.com/api"}


def job_id_from_xml(content: bytes) -> str:
    """`tasks.run` returns raw XML; the job id is on its <job> element."""
    root = ElementTree.fromstring(content)
    job = root.find(".//t:job", NS)
    if job is None:
        raise JobFailedError("Tableau did not return a job for the task run")
    return job.get("id", "")


def wait_for_job(
    session: TableauSession,
    job_id: str,
    *,
    timeout_seconds: float,
    what: str,
    first_poll: float = 0.1,
    max_poll: float = 5.0,
) -> TSC.JobItem:
    deadline = time.monotonic() + timeout_seconds
    delay = first_poll
    while True:
        job = session.call(f"polling job {job_id}", lambda srv: srv.jobs.get_by_id(job_id))
        if job.completed_at is not None:
            outcome = FINISH_CODES.get(int(job.finish_code), f"finish code {job.finish_code}")
            if outcome != "succeeded" and int(job.finish_code) != 3:  # 3: TSC "Completed"
                notes = "; ".join(job.notes or []) if job.notes else ""
                raise JobFailedError(
                    f"{what}: Tableau job {job_id} {outcome}{' - ' + notes if notes else ''}", kind="job_failed"
                )
            return job
        if time.monotonic() > deadline:
            raise JobTimeoutError(
                f"{what}: Tableau job {job_id} did not finish within {timeout_seconds:g} s "
                "(it may still complete; the next run checks again)",
                kind="job_timeout",
            )
        time.sleep(delay)
        delay = min(delay * 1.5, max_poll)
