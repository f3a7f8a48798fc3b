"""File uploads: initiate a session, append chunks (multipart/mixed)."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from tableau_sandbox import errors
from tableau_sandbox.multipart import parse_multipart
from tableau_sandbox.state import UploadSession, new_id
from tableau_sandbox.xmlresp import sub
from tableau_sandbox.rest.base import Ctx, MB, endpoint


@endpoint("tableau:file_uploads:create")
async def initiate_upload(ctx: Ctx) -> Response:
    up = UploadSession(f"{ctx.store.next_num()}:{new_id().replace('-', '')}-1:0", ctx.site.id,
                       ctx.session.user_id, ctx.store.data_dir / "uploads" / f"{new_id()}.part")
    up.path.write_bytes(b"")
    with ctx.store.lock:
        ctx.store.uploads[up.id] = up
    root = ctx.root()
    sub(root, "fileUpload", {"uploadSessionId": up.id, "fileSize": 0})
    return ctx.xml(root, 201)


@endpoint("tableau:file_uploads:create")
async def append_upload(ctx: Ctx) -> Response:
    upload_id = ctx.request.path_params["upload_id"]
    with ctx.store.lock:
        up = ctx.store.uploads.get(upload_id)
        if up is None or up.site_id != ctx.site.id:
            raise errors.not_found(errors.NOT_FOUND_UPLOAD, "Upload session", upload_id)
    parts = parse_multipart(ctx.request.headers.get("content-type"), await ctx.request.body())
    chunk = parts.get("tableau_file")
    if chunk is None:
        raise errors.bad_request("The tableau_file part is missing.", "400011")
    def append() -> int:
        with ctx.sb.hyper.file_lock(up.path):  # chunks of one session are appended in arrival order
            with open(up.path, "ab") as fh:
                fh.write(chunk.data)
            with ctx.store.lock:
                up.size += len(chunk.data)
                return up.size

    size_mb = -(-(await run_in_threadpool(append)) // MB)
    root = ctx.root()
    sub(root, "fileUpload", {"uploadSessionId": up.id, "fileSize": size_mb})
    return ctx.xml(root)
