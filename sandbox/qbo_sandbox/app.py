"""The sandbox ASGI app: QBO Accounting API v3, Intuit OAuth 2.0 and the ``/_sandbox`` control API.

``build_app(Sandbox(...))`` returns the ASGI callable. ``Sandbox`` holds the state: clock,
store, OAuth server, limits, faults, counters and webhooks (see README for the control API).
"""
from __future__ import annotations

import asyncio
import base64
import bisect
from concurrent.futures import ThreadPoolExecutor
import html
import random
import re
import socket
import struct
import threading
from collections import defaultdict, deque
from operator import itemgetter
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from . import query as q_mod
from .clock import SandboxClock
from .generator import SLOT_POS
from .mutations import MutationError, Mutator
from .oauth import OAuthError, OAuthServer
from .store import ALL_ENTITIES, NAME_ENTITIES, PATH_ENTITY, BaseRec, Store, base_recs
from .webhooks import WebhookDispatcher
from .wire import (auth_fault_body, decode, encode, fault_body, intuit_tid, parse_timestamp, qbo_time_ms,
                   throttle_json, throttle_xml)

JSON_CT = "application/json;charset=utf-8"
CDC_UNSUPPORTED = {"TimeActivity", "TaxAgency", "TaxCode", "TaxRate", "ExchangeRate"}
CDC_MAX_PER_ENTITY = 1000
CDC_MAX_AGE_DAYS = 30
DEFAULT_REDIRECTS = ["http://localhost:8080/callback", "http://127.0.0.1:8080/callback",
                     "http://localhost:5000/callback", "https://developer.intuit.com/v2/OAuth2Playground/RedirectUrl"]


class Limits:
    def __init__(self):
        self.requests_per_minute = 500
        self.concurrent = 10
        self.throttle_format = "json"  # json | xml | mixed (alternates, as QBO sometimes answers XML)
        self.enabled = True

    def as_dict(self):
        return {"requests_per_minute": self.requests_per_minute, "concurrent": self.concurrent,
                "throttle_format": self.throttle_format, "enabled": self.enabled}


class Latency:
    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.base_ms = 150.0
        self.per_row_ms = 0.85
        self.prefetch = True  # generate the next page's documents in the background after a full page

    def as_dict(self):
        return {"enabled": self.enabled, "base_ms": self.base_ms, "per_row_ms": self.per_row_ms,
                "prefetch": self.prefetch}


class Sandbox:
    def __init__(self, realms: int = 2, size: str = "demo", seed: int = 42, latency: bool = False,
                 now: float | None = None, as_of: float | None = None, redirect_uris: list[str] | None = None):
        self.clock = SandboxClock(now)
        self.seed, self.size = seed, size
        self.store = Store(realms, size, seed, as_of=as_of, clock=self.clock)
        self.oauth = OAuthServer(self.clock, seed, redirect_uris or DEFAULT_REDIRECTS)
        self.mutator = Mutator(self.store, self.clock)
        self.initial_refresh = {r: self.oauth.initial_refresh_token(r) for r in self.store.realms()}
        self.limits: dict[str, Limits] = {r: Limits() for r in self.store.realms()}
        self.latency = Latency(latency)
        self.faults: list[dict] = []
        self._fault_rng = random.Random(seed)
        self.counters: dict = {"requests": defaultdict(int), "status": defaultdict(int), "throttled_429": 0,
                               "faults_injected": defaultdict(int), "per_realm": defaultdict(int)}
        self._window: dict[str, deque] = defaultdict(deque)
        self._inflight: dict[str, int] = defaultdict(int)
        self._throttle_flip = 0
        self.webhooks = WebhookDispatcher(self.oauth.webhook_verifier_token)
        self.store.listeners.append(self.webhooks.on_change)
        self.base_url = ""
        self._prefetch_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="qbo-prefetch")
        self._prefetch_lock = threading.Lock()
        self._prefetching: set = set()
        # Account/customer/vendor balances: computed in the background so the first request is fast.
        if size == "demo":  # large: computed when first needed (a full pass over every transaction)
            threading.Thread(target=self._warm, daemon=True).start()

    def prefetch(self, realm, entity: str, last, n: int) -> None:
        """Generate the base documents of the next page (``n`` after ``last``: a page's last row or
        base index) in the background.

        A client spends time between pages (parsing, writing); generating the next page's
        documents then turns a cold page into a warm one. One job per (realm, entity) at a time.
        """
        if isinstance(last, BaseRec):
            last = last.i
        if not self.latency.prefetch or not isinstance(last, int) or entity not in SLOT_POS:
            return
        key = (realm.id, entity)
        with self._prefetch_lock:
            if key in self._prefetching:
                return
            self._prefetching.add(key)

        def job(start_i=last, n=n):
            try:
                arr = realm.base_live(entity)
                pos = bisect.bisect_right(arr, start_i)
                realm.base_bytes_many(arr[pos:pos + n])
            finally:
                with self._prefetch_lock:
                    self._prefetching.discard(key)
        self._prefetch_pool.submit(job)

    def _warm(self):
        for r in self.store.realms():
            try:
                self.store.realm(r).ensure_balances()
            except Exception:  # noqa: BLE001 - a failure shows up on the request that needs it
                pass

    def close(self) -> None:
        """Stop the background threads (webhook delivery, prefetch)."""
        self.webhooks.stop()
        self._prefetch_pool.shutdown(wait=False, cancel_futures=True)

    def credentials(self) -> dict:
        return {"client_id": self.oauth.client_id, "client_secret": self.oauth.client_secret,
                "redirect_uris": list(self.oauth.redirect_uris),
                "webhook_verifier_token": self.oauth.webhook_verifier_token,
                "realms": [{"realm_id": r, "company_name": self.store.realm(r).company_name,
                            "refresh_token": self.initial_refresh[r]} for r in self.store.realms()]}


# --------------------------------------------------------------------------------------------------
# helpers

class Page:
    """A query page's body unjoined: ``head``, the documents' bytes (comma-separated on the wire)
    and ``tail``. A 1000-row page is ~2.5 MB: the cached per-object bytes go to the socket in
    joins of ``GROUP`` documents (~250 KB writes), with no Python step per document.

    The head goes out with the first group and the tail with the last: sent as its own ~80-byte
    write after ~2.5 MB, the tail waited ~40 ms (the client's delayed-ACK timer, both processes
    idle: strace of the server) for 16-25 of 100 cached pages read by ``http.client``; joined to the
    last group, 0 of 300."""
    __slots__ = ("head", "docs", "tail")
    GROUP = 100

    def __init__(self, head: bytes, docs: list[bytes], tail: bytes):
        self.head, self.docs, self.tail = head, docs, tail

    def size(self) -> int:
        return len(self.head) + sum(map(len, self.docs)) + len(self.docs) - 1 + len(self.tail)

    def chunks(self):
        """The body in writes: groups of documents (from the second on, led by their comma), the
        head joined to the first and the tail to the last (no tiny write of its own)."""
        docs, step, n = self.docs, self.GROUP, len(self.docs)
        if not n:
            yield self.head + self.tail
        for k in range(0, n, step):
            group = docs[k:k + step]
            if k:
                group.insert(0, b"")
            else:
                group[0] = self.head + group[0]
            if k + step >= n:
                group[-1] += self.tail
            yield b",".join(group)

    def join(self) -> bytes:
        return b"".join((self.head, b",".join(self.docs), self.tail))


class PartsResponse(Response):
    """A query ``Page`` sent in writes of ~256 KB without joining the page first."""

    def __init__(self, page: Page, status_code: int = 200, headers: dict | None = None):
        self.page = page
        super().__init__(None, status_code=status_code, media_type=JSON_CT, headers=headers)
        self.headers["content-length"] = str(page.size())

    async def __call__(self, scope, receive, send):
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        chunks = self.page.chunks()  # joined one at a time: ~250 KB in memory, not the whole page again
        body = next(chunks)
        for following in chunks:
            await send({"type": "http.response.body", "body": body, "more_body": True})
            body = following
        await send({"type": "http.response.body", "body": body, "more_body": False})


def _json(body, status: int = 200, headers: dict | None = None) -> Response:
    h = {"intuit_tid": intuit_tid()}
    if headers:
        h.update(headers)
    if isinstance(body, Page):
        return PartsResponse(body, status_code=status, headers=h)
    return Response(body, status_code=status, media_type=JSON_CT, headers=h)


def _fault(sb: Sandbox, status: int, message: str, detail: str, code: str, ftype: str = "ValidationFault"):
    return _json(fault_body([(message, detail, code)], ftype, sb.clock.now()), status)


def _query_fault(sb: Sandbox, detail: str):
    return _fault(sb, 400, "Error parsing query", detail, "4000")


def _parse_client(request: Request, form: dict) -> tuple[str | None, str | None]:
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("basic "):
        try:
            raw = base64.b64decode(auth[6:].strip()).decode()
            cid, _, secret = raw.partition(":")
            return cid, secret
        except Exception:  # noqa: BLE001
            return None, None
    return form.get("client_id"), form.get("client_secret")


async def _form(request: Request) -> dict:
    body = await request.body()
    ct = request.headers.get("content-type", "")
    if "json" in ct:
        try:
            d = decode(body)
            return {k: str(v) for k, v in d.items()} if isinstance(d, dict) else {}
        except Exception:  # noqa: BLE001
            return {}
    return {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}


def _entity_from_path(seg: str) -> str | None:
    return PATH_ENTITY.get(seg.lower())


# --------------------------------------------------------------------------------------------------
# OAuth endpoints

def _discovery(sb: Sandbox):
    async def h(request: Request):
        base = str(request.base_url).rstrip("/")
        return JSONResponse({
            "issuer": "https://oauth.platform.intuit.com/op/v1",
            "authorization_endpoint": f"{base}/connect/oauth2",
            "token_endpoint": f"{base}/oauth2/v1/tokens/bearer",
            "userinfo_endpoint": f"{base}/v1/openid_connect/userinfo",
            "revocation_endpoint": f"{base}/v2/oauth2/tokens/revoke",
            "jwks_uri": f"{base}/op/v1/jwks",
            "response_types_supported": ["code"], "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "email", "profile", "address", "phone"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
            "claims_supported": ["aud", "exp", "iat", "iss", "realmid", "sub"]})
    return h


def _authorize(sb: Sandbox):
    async def h(request: Request):
        params = dict(request.query_params)
        if request.method == "POST":
            params.update(await _form(request))
        client_id, redirect_uri = params.get("client_id"), params.get("redirect_uri")
        try:
            sb.oauth.check_redirect(client_id, redirect_uri)
        except OAuthError as e:
            return HTMLResponse(f"<html><body><h1>Error</h1><p>{html.escape(e.error)}: "
                                f"{html.escape(e.description or '')}</p></body></html>", status_code=400)
        state = params.get("state")
        if params.get("response_type", "code") != "code":
            return _redirect(redirect_uri, {"error": "unsupported_response_type", "state": state})
        scope = params.get("scope", "com.intuit.quickbooks.accounting")
        consent = (params.get("consent") or "").lower()
        if consent in ("approve", "deny"):
            if consent == "deny":
                return _redirect(redirect_uri, {"error": "access_denied", "state": state})
            realm_id = params.get("realm_id") or params.get("realmId") or sb.store.realms()[0]
            if not sb.store.has_realm(realm_id):
                return HTMLResponse("<html><body><h1>Error</h1><p>Unknown company</p></body></html>", 400)
            code = sb.oauth.issue_code(client_id, redirect_uri, realm_id, scope)
            return _redirect(redirect_uri, {"code": code, "state": state, "realmId": realm_id})
        options = "".join(
            f'<label><input type="radio" name="realm_id" value="{r}"{" checked" if k == 0 else ""}> '
            f"{html.escape(sb.store.realm(r).company_name)} ({r})</label><br>"
            for k, r in enumerate(sb.store.realms()))
        hidden = "".join(f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
                         for k, v in params.items() if k not in ("consent", "realm_id"))
        page = (f"<html><head><title>Connect to QuickBooks (sandbox)</title></head><body>"
                f"<h1>Connect your QuickBooks company</h1><p>The app <b>{html.escape(client_id)}</b> asks for "
                f"access ({html.escape(scope)}).</p><form method='post' action='/connect/oauth2'>{hidden}{options}"
                f"<button name='consent' value='approve'>Connect</button> "
                f"<button name='consent' value='deny'>Cancel</button></form></body></html>")
        return HTMLResponse(page)
    return h


def _redirect(uri: str, params: dict) -> Response:
    parts = urlsplit(uri)
    qs = parts.query + ("&" if parts.query else "") + urlencode({k: v for k, v in params.items() if v is not None})
    return RedirectResponse(urlunsplit(parts._replace(query=qs)), status_code=302)


def _token(sb: Sandbox):
    async def h(request: Request):
        form = await _form(request)
        cid, secret = _parse_client(request, form)
        try:
            sb.oauth.check_client(cid, secret)
            grant = form.get("grant_type")
            if grant == "authorization_code":
                if not form.get("code"):
                    raise OAuthError("invalid_request")
                body = sb.oauth.exchange_code(form.get("code"), form.get("redirect_uri"), cid)
            elif grant == "refresh_token":
                if not form.get("refresh_token"):
                    raise OAuthError("invalid_request")
                body = sb.oauth.refresh_grant(form.get("refresh_token"), cid)
            else:
                raise OAuthError("unsupported_grant_type")
        except OAuthError as e:
            err = {"error": e.error}
            return JSONResponse(err, status_code=e.status, headers={"intuit_tid": intuit_tid()})
        return JSONResponse(body, headers={"intuit_tid": intuit_tid(), "Cache-Control": "no-store",
                                           "Pragma": "no-cache"})
    return h


def _revoke(sb: Sandbox):
    async def h(request: Request):
        form = await _form(request)
        cid, secret = _parse_client(request, form)
        try:
            sb.oauth.check_client(cid, secret)
        except OAuthError:
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        if not form.get("token"):
            return JSONResponse({"error": "invalid_request"}, status_code=400)
        sb.oauth.revoke(form.get("token"))
        return Response(b"", status_code=200)
    return h


def _userinfo(sb: Sandbox):
    async def h(request: Request):
        auth = request.headers.get("authorization", "")
        rec = sb.oauth.access.get(auth[7:].strip()) if auth.lower().startswith("bearer ") else None
        if rec is None or rec.grant.revoked or rec.expires_at <= sb.clock.now():
            return JSONResponse({"error": "invalid_token"}, status_code=401)
        return JSONResponse({"sub": f"sandbox-user-{rec.grant.realm_id}", "email": "owner@example.com",
                             "emailVerified": True, "givenName": "Sandbox", "familyName": "Owner"})
    return h


# --------------------------------------------------------------------------------------------------
# API endpoints

async def _latency(sb: Sandbox, rows: int) -> None:
    if sb.latency.enabled:
        await asyncio.sleep((sb.latency.base_ms + sb.latency.per_row_ms * rows) / 1000.0)


def _query_response(sb: Sandbox, realm, text: str, as_parts: bool = False) -> tuple[bytes | Page, int]:
    q = q_mod.parse(text)
    if q.entity in ("Account", "Customer", "Vendor"):
        realm.ensure_balances()
    q_mod.validate_properties(q, sb.mutator.known_fields(realm, q.entity))
    res = q_mod.execute(realm, q)
    now = sb.clock.now()
    if res.count is not None:
        return encode({"QueryResponse": {"totalCount": res.count}, "time": qbo_time_ms(now)}), 0
    indices = res.base_indices
    rows = res.rows if indices is None else None
    n = len(indices) if indices is not None else len(rows)
    if not n:
        return b'{"QueryResponse":{},"time":"' + qbo_time_ms(now).encode() + b'"}', 0
    if n == q.max_results and not q.fields:
        sb.prefetch(realm, q.entity, indices[-1] if indices is not None else rows[-1], n)
    if q.fields:
        if indices is not None:
            rows = base_recs(realm, indices)
        datas = [encode(_project(r.obj, q.fields)) for r in rows]
    elif indices is not None:  # base documents straight from the byte cache, mapped in C (misses in runs)
        datas = realm.base_bytes_many(indices)
    elif set(map(type, rows)) == {BaseRec}:
        datas = realm.base_bytes_many(list(map(_REC_INDEX, rows)))
    else:
        datas = [r.data for r in rows]
    page = Page(b'{"QueryResponse":{"' + q.entity.encode() + b'":[', datas,
                b'],"startPosition":' + str(res.start).encode() + b',"maxResults":' + str(n).encode()
                + b'},"time":"' + qbo_time_ms(now).encode() + b'"}')
    return (page if as_parts else page.join()), n


_REC_INDEX = itemgetter(1)  # BaseRec(realm, i)[1] == i


def _project(obj: dict, fields: list[str]) -> dict:
    want = {f.lower() for f in fields}
    out = {k: v for k, v in obj.items() if k.lower() in want}
    out.update({"domain": "QBO", "sparse": True, "Id": obj["Id"]})
    return out


def _api_query(sb: Sandbox):
    async def h(request: Request):
        realm = sb.store.realm(request.path_params["realm"])
        text = request.query_params.get("query")
        if request.method == "POST" and not text:
            text = (await request.body()).decode("utf-8", "replace")
        try:
            body, rows = _query_response(sb, realm, text or "", as_parts=True)
        except q_mod.QueryError as e:
            return _query_fault(sb, e.detail)
        await _latency(sb, rows)
        return _json(body)
    return h


def _api_read(sb: Sandbox):
    async def h(request: Request):
        realm = sb.store.realm(request.path_params["realm"])
        entity = _entity_from_path(request.path_params["entity"])
        if entity is None:
            return _fault(sb, 400, "Unsupported Operation", f"Operation Read is not supported for "
                          f"{request.path_params['entity']}", "500")
        if entity in ("Account", "Customer", "Vendor"):
            realm.ensure_balances()
        rec = realm.get_rec(entity, request.path_params["id"])
        if rec is None:
            return _fault(sb, 400, "Object Not Found", "Object Not Found : Something you're trying to use has "
                          "been made inactive. Check the fields with accounts, customers, items, vendors or "
                          "employees.", "610")
        await _latency(sb, 1)
        return _json(b'{"' + entity.encode() + b'":' + rec.data + b',"time":"'
                     + qbo_time_ms(sb.clock.now()).encode() + b'"}')
    return h


def _api_single(sb: Sandbox, entity: str):
    async def h(request: Request):
        realm = sb.store.realm(request.path_params["realm"])
        if request.method == "POST":
            return await _write(sb, request, realm, entity)
        rec = next(iter(realm.iter_recs(entity)))
        return _json(b'{"' + entity.encode() + b'":' + rec.data + b',"time":"'
                     + qbo_time_ms(sb.clock.now()).encode() + b'"}')
    return h


async def _write(sb: Sandbox, request: Request, realm, entity: str, body=None):
    op = (request.query_params.get("operation") or "").lower()
    if body is None:
        raw = await request.body()
        try:
            body = decode(raw) if raw.strip() else {}
        except Exception:  # noqa: BLE001 - msgspec.DecodeError and friends
            return _fault(sb, 400, "Request has invalid or unsupported property",
                          "Error parsing object: the request body is not valid JSON", "2010")
    try:
        out, status = apply_write(sb, realm, entity, op, body)
    except MutationError as e:
        return _fault(sb, e.status, e.message, e.detail, e.code, e.fault_type)
    return _json(encode({entity: out, "time": qbo_time_ms(sb.clock.now())}))


def apply_write(sb: Sandbox, realm, entity: str, op: str, body) -> tuple[dict, int]:
    m = sb.mutator
    with realm.lock:
        if op == "delete":
            return m.delete(realm, entity, body), 200
        if op == "void":
            return m.void(realm, entity, body), 200
        if op not in ("", "update", "create"):
            raise MutationError(400, "Unsupported Operation", f"Operation {op} is not supported.", "500")
        if isinstance(body, dict) and body.get("Id") is not None:
            return m.update(realm, entity, body), 200
        if entity in ("CompanyInfo", "Preferences"):
            raise MutationError(400, "Unsupported Operation", f"Operation Create is not supported for {entity}.",
                                "500")
        return m.create(realm, entity, body), 200


def _api_entity(sb: Sandbox):
    async def h(request: Request):
        realm = sb.store.realm(request.path_params["realm"])
        entity = _entity_from_path(request.path_params["entity"])
        if entity is None:
            return _fault(sb, 400, "Unsupported Operation",
                          f"Operation {request.path_params['entity']} is not supported.", "500")
        return await _write(sb, request, realm, entity)
    return h


def _api_companyinfo(sb: Sandbox):
    async def h(request: Request):
        realm = sb.store.realm(request.path_params["realm"])
        rec = next(iter(realm.iter_recs("CompanyInfo")))
        return _json(b'{"CompanyInfo":' + rec.data + b',"time":"' + qbo_time_ms(sb.clock.now()).encode() + b'"}')
    return h


def _api_cdc(sb: Sandbox):
    async def h(request: Request):
        realm = sb.store.realm(request.path_params["realm"])
        ents = [e.strip() for e in (request.query_params.get("entities") or "").split(",") if e.strip()]
        since_text = request.query_params.get("changedSince")
        if not ents:
            return _fault(sb, 400, "Required param missing, need to supply the required value for the API",
                          "Required parameter entities is missing in the request", "2020")
        if not since_text:
            return _fault(sb, 400, "Required param missing, need to supply the required value for the API",
                          "Required parameter changedSince is missing in the request", "2020")
        try:
            since = parse_timestamp(since_text)
        except ValueError:
            return _fault(sb, 400, "Invalid Date", f"Invalid date format for changedSince: {since_text}", "2040")
        now = sb.clock.now()
        if since < now - CDC_MAX_AGE_DAYS * 86400:
            return _fault(sb, 400, "Operation Could not be performed",
                          f"Operation cdc with changedSince date {since_text} which is older than fixed days "
                          f"is not supported.", "4001")
        resolved = []
        for e in ents:
            entity = _entity_from_path(e)
            if entity is None or entity in CDC_UNSUPPORTED or entity in ("CompanyInfo", "Preferences", "Budget"):
                return _fault(sb, 400, "Unsupported Operation",
                              f"Operation CDC is not supported for entity {entity or e}.", "500")
            resolved.append(entity)
        parts = []
        total_rows = 0
        for entity in resolved:
            objs = cdc_changes(sb, realm, entity, since)
            total_rows += len(objs)
            if objs:
                parts.append(b'{"' + entity.encode() + b'":[' + b",".join(objs) + b'],"startPosition":1,'
                             b'"maxResults":' + str(len(objs)).encode() + b"}")
            else:
                parts.append(b'{"startPosition":1,"maxResults":0}')
        body = (b'{"CDCResponse":[{"QueryResponse":[' + b",".join(parts) + b']}],"time":"'
                + qbo_time_ms(now).encode() + b'"}')
        await _latency(sb, total_rows)
        return _json(body)
    return h


def cdc_changes(sb: Sandbox, realm, entity: str, since: float) -> list[bytes]:
    """Objects of one entity changed (or deleted) at or after ``since``: oldest first, at most 1000."""
    from .store import BaseRec
    items: list[tuple[float, int, bytes]] = []
    key = q_mod._sort_key(["MetaData", "LastUpdatedTime"])
    if entity in NAME_ENTITIES:
        if entity in ("Account", "Customer", "Vendor"):
            realm.ensure_balances()
        for rec in realm.iter_recs(entity):
            t = key(rec.obj)[1]
            if t >= since:
                items.append((t, 0, rec.data))
    else:
        g = realm.gen
        lo = max(0, g.index_at_or_after(since) - 1)  # a deletion comes half a step after its creation
        for i in range(lo, g.N):
            if len(items) > 4 * CDC_MAX_PER_ENTITY:
                break  # base changes come in time order: later ones cannot make the first 1000
            if g.entity_of(i) != entity:
                continue
            id_ = g.txn_id(i)
            if (entity, id_) in realm.overlay or (entity, id_) in realm.deleted:
                continue
            if g.is_deleted(i):
                dt_ = g.deleted_time(i)
                if dt_ < since:
                    continue
                items.append((dt_, i, encode({"domain": "QBO", "status": "Deleted", "Id": id_,
                                               "MetaData": {"LastUpdatedTime": _ts(dt_)}})))
            elif g.time_of(i) >= since:
                items.append((g.time_of(i), i, BaseRec(realm, i).data))
        for (e, id_), rec in list(realm.overlay.items()):
            if e == entity and (e, id_) not in realm.deleted:
                t = key(rec.obj)[1]
                if t >= since:
                    items.append((t, int(id_) if id_.isdigit() else 0, rec.data))
        for (e, id_), when in list(realm.deleted.items()):
            if e == entity and when >= since:
                items.append((when, int(id_) if id_.isdigit() else 0,
                              encode({"domain": "QBO", "status": "Deleted", "Id": id_,
                                      "MetaData": {"LastUpdatedTime": _ts(when)}})))
    items.sort(key=lambda x: (x[0], x[1]))
    return [b for _t, _i, b in items[:CDC_MAX_PER_ENTITY]]


def _ts(epoch: float) -> str:
    from .wire import qbo_timestamp
    return qbo_timestamp(epoch)


def _api_batch(sb: Sandbox):
    async def h(request: Request):
        realm = sb.store.realm(request.path_params["realm"])
        try:
            body = decode(await request.body())
            items = body["BatchItemRequest"]
            assert isinstance(items, list)
        except Exception:  # noqa: BLE001
            return _fault(sb, 400, "Request has invalid or unsupported property",
                          "The batch request must be {\"BatchItemRequest\": [...]}", "2010")
        if len(items) > 30:
            return _fault(sb, 400, "Request has invalid or unsupported property",
                          f"Batch request has {len(items)} items; at most 30 are allowed", "2010")
        out = []
        rows = 0
        for item in items:
            bid = str(item.get("bId", ""))
            try:
                if "Query" in item:
                    raw, n = _query_response(sb, realm, item["Query"])
                    rows += n
                    d = decode(raw)
                    d.pop("time", None)
                    resp = {"QueryResponse": d["QueryResponse"]}
                else:
                    op = (item.get("operation") or "create").lower()
                    entity = next((k for k in item if k in ALL_ENTITIES), None)
                    if entity is None:
                        raise MutationError(400, "Request has invalid or unsupported property",
                                            "Batch item names no entity", "2010")
                    obj, _ = apply_write(sb, realm, entity, "" if op in ("create", "update") else op, item[entity])
                    resp = {entity: obj}
            except q_mod.QueryError as e:
                resp = {"Fault": {"Error": [{"Message": "Error parsing query", "Detail": e.detail, "code": "4000"}],
                                  "type": "ValidationFault"}}
            except MutationError as e:
                resp = {"Fault": {"Error": [{"Message": e.message, "Detail": e.detail, "code": e.code}],
                                  "type": e.fault_type}}
            resp["bId"] = bid
            out.append(resp)
        await _latency(sb, rows)
        return _json(encode({"BatchItemResponse": out, "time": qbo_time_ms(sb.clock.now())}))
    return h


def _api_report(sb: Sandbox):
    async def h(request: Request):
        realm_id = request.path_params["realm"]
        name = request.path_params["name"]
        try:
            from . import reports  # written alongside (ledger.py/reports.py)
        except ImportError:
            return _fault(sb, 400, "Unsupported Operation", f"Report {name} is not available in this sandbox "
                          f"(qbo_sandbox.reports is missing)", "500")
        params = dict(request.query_params)
        params.pop("minorversion", None)
        try:
            result = await asyncio.to_thread(reports.build_report, sb.store, realm_id, name, params)
        except reports.ReportError as e:  # bad date, parameter or report name: QBO's own 400 Fault
            return _fault(sb, 400, e.message, e.detail, e.code)
        except (KeyError, ValueError, NotImplementedError) as e:
            return _fault(sb, 400, "Unsupported Operation", f"Report {name}: {e}", "500")
        await _latency(sb, 1)
        if isinstance(result, (bytes, bytearray)):
            return _json(bytes(result))
        if isinstance(result, str):
            return _json(result.encode())
        return _json(encode(result))
    return h


# --------------------------------------------------------------------------------------------------
# control API

def _control_routes(sb: Sandbox) -> list[Route]:
    def j(data, status=200):
        return JSONResponse(data, status_code=status)

    async def body_of(request: Request) -> dict:
        raw = await request.body()
        if not raw.strip():
            return {}
        return decode(raw)

    async def credentials(request: Request):
        return j(sb.credentials())

    async def health(request: Request):
        return j({"ok": True, "realms": sb.store.realms(), "size": sb.size, "seed": sb.seed})

    async def clock(request: Request):
        if request.method == "POST":
            b = await body_of(request)
            if "advance" in b or "advance_seconds" in b:
                sb.clock.advance(float(b.get("advance", b.get("advance_seconds"))))
            elif "set" in b:
                v = b["set"]
                sb.clock.set(parse_timestamp(v) if isinstance(v, str) else float(v))
            else:
                return j({"error": "give 'advance' (seconds) or 'set' (ISO date-time or epoch seconds)"}, 400)
        now = sb.clock.now()
        return j({"now": qbo_time_ms(now), "epoch": now})

    async def limits(request: Request):
        realm = request.query_params.get("realm")
        targets = [realm] if realm else sb.store.realms()
        if request.method == "POST":
            b = await body_of(request)
            realm = b.get("realm") or realm
            targets = [realm] if realm else sb.store.realms()
            for r in targets:
                lim = sb.limits[r]
                for k in ("requests_per_minute", "concurrent", "throttle_format", "enabled"):
                    if k in b:
                        setattr(lim, k, b[k] if k in ("throttle_format", "enabled") else int(b[k]))
                if b.get("reset_window"):
                    sb._window[r].clear()
        return j({r: sb.limits[r].as_dict() for r in targets})

    async def latency(request: Request):
        if request.method == "POST":
            b = await body_of(request)
            for k in ("enabled", "base_ms", "per_row_ms", "prefetch"):
                if k in b:
                    setattr(sb.latency, k, bool(b[k]) if k in ("enabled", "prefetch") else float(b[k]))
        return j(sb.latency.as_dict())

    async def faults(request: Request):
        if request.method == "DELETE":
            sb.faults.clear()
            return j({"faults": []})
        if request.method == "POST":
            b = await body_of(request)
            kind = b.get("kind")
            if kind not in ("5xx", "reset", "slow", "truncate", "429"):
                return j({"error": "kind must be one of 5xx, reset, slow, truncate, 429"}, 400)
            rule = {"id": len(sb.faults) + 1, "kind": kind, "status": int(b.get("status", 503)),
                    "rate": float(b.get("rate", 1.0)), "count": b.get("count"),
                    "path": b.get("path"), "delay_s": float(b.get("delay_s", 2.0)),
                    "realm": b.get("realm"), "fired": 0}
            if rule["path"]:
                try:
                    re.compile(rule["path"])
                except re.error as e:
                    return j({"error": f"bad path pattern: {e}"}, 400)
            sb.faults.append(rule)
            return j(rule, 201)
        return j({"faults": sb.faults})

    async def counters(request: Request):
        if request.method == "DELETE":
            for k in ("requests", "status", "faults_injected", "per_realm"):
                sb.counters[k].clear()
            sb.counters["throttled_429"] = 0
        c = sb.counters
        return j({"requests": dict(c["requests"]), "status": {str(k): v for k, v in c["status"].items()},
                  "throttled_429": c["throttled_429"], "faults_injected": dict(c["faults_injected"]),
                  "per_realm": dict(c["per_realm"]), "oauth": dict(sb.oauth.counters),
                  "webhook_events": sb.webhooks.events_seen,
                  "requests_total": sum(c["requests"].values())})

    async def mutate(request: Request):
        b = await body_of(request)
        realm_id = b.get("realm") or b.get("realm_id")
        if not realm_id or not sb.store.has_realm(realm_id):
            return j({"error": "unknown or missing realm"}, 400)
        realm = sb.store.realm(realm_id)
        entity = _entity_from_path(str(b.get("entity", "")))
        if entity is None:
            return j({"error": f"unknown entity {b.get('entity')!r}"}, 400)
        op = (b.get("op") or b.get("operation") or "").lower()
        data = b.get("data") or {}
        try:
            with realm.lock:
                if op == "create":
                    out = sb.mutator.create(realm, entity, data)
                elif op == "update":
                    cur = realm.get_rec(entity, str(data.get("Id") or b.get("id")))
                    if cur is None:
                        return j({"error": "not found"}, 404)
                    payload = {"sparse": True, **data, "Id": cur.obj["Id"], "SyncToken": cur.obj["SyncToken"]}
                    out = sb.mutator.update(realm, entity, payload)
                elif op in ("delete", "void"):
                    id_ = str(b.get("id") or data.get("Id"))
                    cur = realm.get_rec(entity, id_)
                    if cur is None:
                        return j({"error": "not found"}, 404)
                    fn = sb.mutator.delete if op == "delete" else sb.mutator.void
                    out = fn(realm, entity, {"Id": id_, "SyncToken": cur.obj["SyncToken"]})
                elif op == "inactivate":
                    out = sb.mutator.inactivate(realm, entity, str(b.get("id") or data.get("Id")))
                else:
                    return j({"error": "op must be create, update, delete, void or inactivate"}, 400)
        except MutationError as e:
            return j({"error": e.message, "detail": e.detail, "code": e.code}, e.status)
        return Response(encode({entity: out}), media_type="application/json")

    async def webhooks(request: Request):
        if request.method == "POST":
            b = await body_of(request)
            try:
                return j(sb.webhooks.register(b), 201)
            except ValueError as e:
                return j({"error": str(e)}, 400)
        if request.method == "DELETE":
            sb.webhooks.unregister(request.query_params.get("id"))
        return j({"endpoints": [sb.webhooks.public(e) for e in sb.webhooks.endpoints.values()]})

    async def deliveries(request: Request):
        if request.method == "DELETE":
            sb.webhooks.deliveries.clear()
        return j({"deliveries": list(sb.webhooks.deliveries)})

    async def oauth_cfg(request: Request):
        s = sb.oauth.settings
        if request.method == "POST":
            b = await body_of(request)
            for k in ("access_ttl", "refresh_ttl", "rotation_period", "grace_period", "code_ttl"):
                if k in b:
                    setattr(s, k, int(b[k]))
            if "redirect_uris" in b:
                sb.oauth.redirect_uris = list(b["redirect_uris"])
            if "add_redirect_uri" in b:
                sb.oauth.redirect_uris.append(str(b["add_redirect_uri"]))
            if b.get("expire_access_tokens"):
                sb.oauth.expire_access_tokens(b.get("realm"))
        return j({"access_ttl": s.access_ttl, "refresh_ttl": s.refresh_ttl, "rotation_period": s.rotation_period,
                  "grace_period": s.grace_period, "code_ttl": s.code_ttl, "redirect_uris": sb.oauth.redirect_uris})

    async def reports_cfg(request: Request):
        """GeneralLedger / ProfitAndLossDetail size cap in data rows (None: QBO's 400,000 cells)."""
        if request.method == "POST":
            b = await body_of(request)
            if "row_limit" in b:
                v = b["row_limit"]
                if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
                    return j({"error": "row_limit must be a positive integer or null"}, 400)
                sb.store.report_row_limit = v
        return j({"row_limit": getattr(sb.store, "report_row_limit", None)})

    async def stats(request: Request):
        out = {}
        for r in sb.store.realms():
            realm = sb.store.realm(r)
            g = realm.gen
            out[r] = {"company_name": realm.company_name, "base_transactions": g.N,
                      "entities": {e: len(realm.base_live(e)) for e in SLOT_POS}}
            if request.query_params.get("lines"):
                out[r]["base_lines"] = sum(g.line_count(i) for i in range(g.N) if not g.is_deleted(i))
        return j(out)

    return [
        Route("/_sandbox/health", health),
        Route("/_sandbox/credentials", credentials),
        Route("/_sandbox/clock", clock, methods=["GET", "POST"]),
        Route("/_sandbox/limits", limits, methods=["GET", "POST"]),
        Route("/_sandbox/latency", latency, methods=["GET", "POST"]),
        Route("/_sandbox/faults", faults, methods=["GET", "POST", "DELETE"]),
        Route("/_sandbox/counters", counters, methods=["GET", "DELETE"]),
        Route("/_sandbox/mutate", mutate, methods=["POST"]),
        Route("/_sandbox/webhooks", webhooks, methods=["GET", "POST", "DELETE"]),
        Route("/_sandbox/webhooks/deliveries", deliveries, methods=["GET", "DELETE"]),
        Route("/_sandbox/oauth", oauth_cfg, methods=["GET", "POST"]),
        Route("/_sandbox/stats", stats),
        Route("/_sandbox/reports", reports_cfg, methods=["GET", "POST"]),
    ]


# --------------------------------------------------------------------------------------------------
# the API gate: counters, auth, limits, faults (a pure ASGI middleware, so it can cut connections)

_API_PATH = re.compile(r"^/v3/company/([^/]+)(/.*)?$")


def _endpoint_name(rest: str) -> str:
    parts = [p for p in (rest or "").split("/") if p]
    if not parts:
        return "company"
    head = parts[0].lower()
    if head in ("query", "cdc", "batch", "preferences", "companyinfo"):
        return head
    if head == "reports":
        return "reports/" + (parts[1] if len(parts) > 1 else "")
    return head + ("/{id}" if len(parts) > 1 else "")


class ApiGate:
    def __init__(self, app, sb: Sandbox):
        self.app, self.sb = app, sb

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path = scope["path"]
        m = _API_PATH.match(path)
        if not m:
            return await self.app(scope, receive, send)
        sb = self.sb
        realm_id, rest = m.group(1), m.group(2) or ""
        name = _endpoint_name(rest)
        sb.counters["requests"][name] += 1
        sb.counters["per_realm"][realm_id] += 1
        now = sb.clock.now()
        if not sb.store.has_realm(realm_id):
            return await self._send(send, 403, fault_body(
                [("message=ApplicationAuthorizationFailed; errorCode=003100; statusCode=403",
                  f"Unknown company {realm_id}", "3100")], "SERVICE", now))
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        denied = sb.oauth.authenticate(headers.get("authorization"), realm_id)
        if denied is not None:
            status, detail = denied
            if status == 401:
                return await self._send(send, 401, auth_fault_body(detail, now),
                                        [(b"www-authenticate", b'Bearer realm="Intuit", error="invalid_token"')])
            return await self._send(send, 403, fault_body(
                [("message=ApplicationAuthorizationFailed; errorCode=003100; statusCode=403", detail, "3100")],
                "SERVICE", now))
        lim = sb.limits[realm_id]
        if lim.enabled:
            win = sb._window[realm_id]
            if win and win[-1] > now:  # the clock was set back: start a new window
                win.clear()
            while win and win[0] <= now - 60:
                win.popleft()
            if len(win) >= lim.requests_per_minute or sb._inflight[realm_id] >= lim.concurrent:
                return await self._throttle(send, lim, now)
            win.append(now)
        for rule in sb.faults:
            if rule["count"] is not None and rule["fired"] >= int(rule["count"]):
                continue
            if rule["realm"] and rule["realm"] != realm_id:
                continue
            if rule["path"] and not re.search(rule["path"], path + ("?" + scope["query_string"].decode()
                                                                    if scope.get("query_string") else "")):
                continue
            if sb._fault_rng.random() >= rule["rate"]:
                continue
            rule["fired"] += 1
            sb.counters["faults_injected"][rule["kind"]] += 1
            kind = rule["kind"]
            if kind == "5xx":
                st = rule["status"]
                if st == 500:
                    body = fault_body([("An application error has occurred while processing your request",
                                        "System Failure Error: An unexpected error occurred while accessing or "
                                        "saving your data. Please wait a few minutes and try again.", "10000")],
                                      "SystemFault", now)
                    return await self._send(send, 500, body)
                text = {502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Time-out"}.get(st, "Error")
                return await self._send(send, st, f"<html><body><h1>{st} {text}</h1></body></html>".encode(),
                                        ctype=b"text/html")
            if kind == "429":
                sb.counters["throttled_429"] += 1
                sb.counters["status"][429] += 1
                return await self._send(send, 429, throttle_json(now))
            if kind == "reset":
                return self._abort(receive)
            if kind == "slow":
                await asyncio.sleep(rule["delay_s"])
                break
            if kind == "truncate":
                return await self._truncated(scope, receive, send)
        sb._inflight[realm_id] += 1
        status_holder = {}

        async def send_wrapper(message):
            if message["type"] == "http.response.start":
                status_holder["s"] = message["status"]
            await send(message)
        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            sb._inflight[realm_id] -= 1
            sb.counters["status"][status_holder.get("s", 0)] += 1

    async def _throttle(self, send, lim: Limits, now: float):
        sb = self.sb
        sb.counters["throttled_429"] += 1
        sb.counters["status"][429] += 1
        use_xml = lim.throttle_format == "xml"
        if lim.throttle_format == "mixed":
            sb._throttle_flip ^= 1
            use_xml = bool(sb._throttle_flip)
        if use_xml:
            return await self._send(send, 429, throttle_xml(now), ctype=b"application/xml")
        return await self._send(send, 429, throttle_json(now))

    @staticmethod
    async def _send(send, status: int, body: bytes, extra=None, ctype: bytes = JSON_CT.encode()):
        headers = [(b"content-type", ctype), (b"content-length", str(len(body)).encode()),
                   (b"intuit_tid", intuit_tid().encode())]
        if extra:
            headers.extend(extra)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    @staticmethod
    def _transport(receive):
        cycle = getattr(receive, "__self__", None)
        return getattr(cycle, "transport", None)

    def _abort(self, receive):
        """Connection reset: RST the socket without answering (uvicorn's transport)."""
        tr = self._transport(receive)
        if tr is None:
            raise ConnectionResetError("injected connection reset")
        sock = tr.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except OSError:
                pass
        tr.abort()

    async def _truncated(self, scope, receive, send):
        """Send the real headers (full Content-Length) and half the body, then cut the connection."""
        start, chunks = {}, []

        async def capture(message):
            if message["type"] == "http.response.start":
                start.update(message)
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
        await self.app(scope, receive, capture)
        body = b"".join(chunks)
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": start.get("status", 200), "headers": headers})
        await send({"type": "http.response.body", "body": body[: max(1, len(body) // 2)], "more_body": True})
        tr = self._transport(receive)
        if tr is not None:
            tr.abort()
        else:
            raise ConnectionResetError("injected truncation")


def build_app(sb: Sandbox):
    routes = [
        Route("/.well-known/openid_configuration", _discovery(sb)),
        Route("/connect/oauth2", _authorize(sb), methods=["GET", "POST"]),
        Route("/oauth2/v1/tokens/bearer", _token(sb), methods=["POST"]),
        Route("/v2/oauth2/tokens/revoke", _revoke(sb), methods=["POST"]),
        Route("/v1/openid_connect/userinfo", _userinfo(sb)),
        Route("/v3/company/{realm}/query", _api_query(sb), methods=["GET", "POST"]),
        Route("/v3/company/{realm}/cdc", _api_cdc(sb), methods=["GET"]),
        Route("/v3/company/{realm}/batch", _api_batch(sb), methods=["POST"]),
        Route("/v3/company/{realm}/reports/{name}", _api_report(sb), methods=["GET"]),
        Route("/v3/company/{realm}/companyinfo/{id}", _api_companyinfo(sb), methods=["GET"]),
        Route("/v3/company/{realm}/companyinfo", _api_single(sb, "CompanyInfo"), methods=["GET", "POST"]),
        Route("/v3/company/{realm}/preferences", _api_single(sb, "Preferences"), methods=["GET", "POST"]),
        Route("/v3/company/{realm}/{entity}/{id}", _api_read(sb), methods=["GET"]),
        Route("/v3/company/{realm}/{entity}", _api_entity(sb), methods=["POST"]),
    ] + _control_routes(sb)
    app = Starlette(routes=routes)
    app.state.sandbox = sb
    return ApiGate(app, sb)
