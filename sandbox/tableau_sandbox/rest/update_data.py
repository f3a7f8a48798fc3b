"""Update Data in Hyper Data Source: PATCH .../data with an action batch, idempotent per RequestID."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from starlette.responses import Response

from tableau_sandbox import errors
from tableau_sandbox.elements import job_el
from tableau_sandbox.hyperfiles import ActionError, validate_actions
from tableau_sandbox.state import Job
from tableau_sandbox.rest.base import Ctx, check_permission, site_item, endpoint


@endpoint("tableau:datasources:update")
async def update_hyper_data(ctx: Ctx) -> Response:
    ds_id = ctx.request.path_params["datasource_id"]
    request_id = ctx.request.headers.get("requestid")
    if not request_id:
        raise errors.bad_request("The RequestID header is required.")
    try:
        body = json.loads(await ctx.request.body() or b"null")
    except json.JSONDecodeError as exc:
        raise errors.bad_request(f"The request body is not valid JSON: {exc.msg}.") from None
    actions = body.get("actions") if isinstance(body, dict) else None
    if not isinstance(actions, list) or not actions:
        raise errors.bad_request("The body must be a JSON object with a non-empty 'actions' list.")
    upload_id = ctx.request.query_params.get("uploadSessionId")
    with ctx.store.lock:
        ds = site_item(ctx, ctx.store.datasources, ds_id, errors.NOT_FOUND_DATASOURCE, "Datasource")
        conn_id = ctx.request.path_params.get("connection_id")
        if conn_id is not None and conn_id != ds.connection_id:
            raise errors.not_found(errors.NOT_FOUND_CONNECTION, "Connection", conn_id)
        check_permission(ctx, ds.project_id, "Write")
        if ds.file_ext != "hyper":
            raise errors.bad_request("Only live-to-Hyper data sources (published .hyper files) can be updated.")
        previous = ctx.store.update_requests.get((ds.id, request_id))
        if previous is not None and previous in ctx.store.jobs:
            # Tableau runs a RequestID once: a repeated request returns the original job and changes nothing.
            ctx.store.count("update_data:duplicate_request")
            root = ctx.root()
            job_el(root, ctx.store, ctx.store.jobs[previous])
            return ctx.xml(root, 202)
        payload_path: Path | None = None
        if upload_id:
            up = ctx.store.uploads.get(upload_id)
            if up is None or up.site_id != ctx.site.id:
                raise errors.not_found(errors.NOT_FOUND_UPLOAD, "Upload session", upload_id)
        try:
            validate_actions(actions, bool(upload_id))
        except ActionError as exc:
            raise errors.bad_request(f"Invalid action batch: {exc}") from None
        if upload_id:
            ctx.store.uploads.pop(upload_id)
            payload_path = up.path.with_suffix(".hyper")
            shutil.move(up.path, payload_path)
        job = ctx.sb.runner.new_job(ctx.site.id, "UpdateUploadedFile", "updateUploadedFileJob",
                                    datasource_id=ds.id, connection_id=ds.connection_id)
        ctx.store.update_requests[(ds.id, request_id)] = job.id
    sb = ctx.sb

    def work(j: Job) -> None:
        try:
            results = sb.hyper.apply_actions(ds.file_path, payload_path, actions)
        finally:
            if payload_path is not None:
                payload_path.unlink(missing_ok=True)
        with sb.store.lock:
            ds.updated_at = sb.store.clock.now()
            ds.size = ds.file_path.stat().st_size
            j.notes.append("Applied " + json.dumps(results))

    def done(j: Job) -> None:
        if j.finish_code == 0:
            sb.notifier.fire(ds.site_id, "DatasourceUpdated", ds.id, ds.name)

    sb.runner.submit(job, work, done)
    root = ctx.root()
    job_el(root, ctx.store, job)
    return ctx.xml(root, 202)
