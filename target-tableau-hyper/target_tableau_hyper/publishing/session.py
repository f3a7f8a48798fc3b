"""One signed-in Tableau session per run: lock, sign-in, retries, re-sign-in on 401, byte counting.

- Tableau invalidates a personal access token's previous session when the same token signs in
  again, so two runs sharing one PAT would log each other out. A file lock keyed by the identity
  (server, site, token name; never the secret) makes a second run wait for the first.
- HTTP-level retries (urllib3) with exponential backoff and `Retry-After` for 429/5xx. Writes are
  only retried on 429/503, where Tableau did not process the request.
- TSC raises on a 401 and never signs in again; `call()` signs in again once and repeats the step.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, TypeVar
from urllib.parse import urlparse

import jwt
import requests
import tableauserverclient as TSC
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from target_tableau_hyper.publishing.config import PublishConfig
from target_tableau_hyper.publishing.errors import (
    PublishError,
    explain,
    is_retryable,
    is_session_expired,
)

logger = logging.getLogger(__name__)
T = TypeVar("T")

CLOUD_HOST_SUFFIX = "online.tableau.com"
JWT_SCOPES = [  # what publishing, refreshing, checking and webhook confirmation call
    "tableau:content:read",
    "tableau:datasources:create",
    "tableau:datasources:update",
    "tableau:datasources:delete",
    "tableau:file_uploads:create",
    "tableau:tasks:read",
    "tableau:tasks:run",
    "tableau:jobs:read",
    "tableau:schedules:read",
]


class _TableauRetry(Retry):
    """Retry reads on 429/5xx; retry writes only where Tableau did not act (429, 503)."""

    def is_retry(self, method: str, status_code: int, has_retry_after: bool = False) -> bool:
        if method.upper() not in ("GET", "HEAD") and status_code not in (429, 503):
            return False
        return super().is_retry(method, status_code, has_retry_after)


class SessionLock:
    """Exclusive per-identity lock across processes (flock) and within one (separate descriptors)."""

    def __init__(self, identity: str, timeout_seconds: float = 3600.0, lock_dir: str | None = None):
        digest = hashlib.sha256(identity.encode()).hexdigest()[:24]
        folder = lock_dir or os.path.join(tempfile.gettempdir(), "target-tableau-hyper-locks")
        os.makedirs(folder, exist_ok=True)
        self.path = os.path.join(folder, f"{digest}.lock")
        self.timeout_seconds = timeout_seconds
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        deadline = time.monotonic() + self.timeout_seconds
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                self._fd = fd
                return
            except BlockingIOError:
                if time.monotonic() > deadline:
                    os.close(fd)
                    raise PublishError(
                        "another run is still signed in to Tableau with the same credentials; "
                        "two sessions on one access token would sign each other out"
                    ) from None
                time.sleep(0.2)

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def is_cloud_url(server_url: str) -> bool:
    host = (urlparse(server_url).hostname or "").lower()
    return host == CLOUD_HOST_SUFFIX or host.endswith("." + CLOUD_HOST_SUFFIX)


def detect_flavor(server: TSC.Server, server_url: str) -> str:
    """'cloud' or 'server'. Server info carries no Cloud flag, so: Tableau Cloud is served from
    *.online.tableau.com; elsewhere (proxies, the sandbox) the server-wide schedules list, which only
    Tableau Server has, tells them apart (Cloud answers it with an error)."""
    if is_cloud_url(server_url):
        return "cloud"
    try:
        server.schedules.get(TSC.RequestOptions(pagesize=1))
    except TSC.ServerResponseError as exc:
        code = str(exc.code)
        if code[:1] == "4" and not code.startswith(("401", "429")) and code != "403078":  # 403078: JWT scope
            return "cloud"
        raise
    return "server"


class TableauSession:
    """Context manager holding the run's single signed-in TSC Server."""

    def __init__(
        self,
        config: PublishConfig,
        *,
        http_retries: int = 5,
        backoff_factor: float = 0.5,
        lock_timeout_seconds: float = 3600.0,
        request_timeout_seconds: float = 600.0,
    ):
        self.config = config
        self.flavor = "server"
        self.server_info: Any = None
        self.bytes_sent = 0
        self.sign_ins = 0
        self.last_status: int | None = None
        self._lock = SessionLock(config.identity, lock_timeout_seconds)
        self._backoff_factor = backoff_factor
        self._retry = _TableauRetry(
            total=http_retries,
            connect=http_retries,
            read=0,
            status=http_retries,
            status_forcelist=(429, 500, 502, 503, 504),
            allowed_methods=frozenset({"GET", "HEAD", "POST", "PUT", "DELETE"}),
            backoff_factor=backoff_factor,
            backoff_max=30,
            respect_retry_after_header=True,
            raise_on_status=False,
        )
        # TSC makes a new requests.Session per thread and after sign-out: the factory equips each one.
        self.server = TSC.Server(
            config.server_url,
            use_server_version=False,
            http_options={"timeout": request_timeout_seconds},
            session_factory=self._make_http_session,
        )

    def _make_http_session(self) -> requests.Session:
        session = requests.Session()
        session.mount("http://", HTTPAdapter(max_retries=self._retry))
        session.mount("https://", HTTPAdapter(max_retries=self._retry))
        session.hooks["response"].append(self._count)
        return session

    def _count(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        self.last_status = response.status_code
        body = response.request.body
        if isinstance(body, (bytes, bytearray)):
            self.bytes_sent += len(body)
        elif isinstance(body, str):
            self.bytes_sent += len(body.encode())

    # --- lifecycle -------------------------------------------------------------------------------
    def __enter__(self) -> "TableauSession":
        self._lock.acquire()
        try:
            self.open()
        except BaseException:
            self._lock.release()
            raise
        return self

    def __exit__(self, *exc: Any) -> None:
        try:
            if self.server.is_signed_in():
                self.server.auth.sign_out()
        except Exception:  # sign-out is best effort; the token expires anyway
            logger.debug("Tableau sign-out failed", exc_info=True)
        finally:
            self._lock.release()

    def open(self) -> None:
        cfg = self.config
        try:
            self.server_info = self.server.server_info.get()
            self.server.version = self.server_info.rest_api_version
        except Exception as exc:
            raise explain(exc, server_url=cfg.server_url, site=cfg.site, what="reading the server info") from None
        self._sign_in()
        if cfg.flavor in ("server", "cloud"):
            self.flavor = cfg.flavor
        else:
            self.flavor = self.call("detecting Tableau Server or Cloud", lambda srv: detect_flavor(srv, cfg.server_url))

    def _auth(self) -> Any:
        cfg = self.config
        if cfg.auth_kind == "pat":
            return TSC.PersonalAccessTokenAuth(cfg.token_name, cfg.token_secret, site_id=cfg.site)
        now = datetime.now(timezone.utc)
        token = jwt.encode(
            {
                "iss": cfg.jwt_client_id,
                "exp": now + timedelta(minutes=5),
                "jti": str(uuid.uuid4()),
                "aud": "tableau",
                "sub": cfg.username,
                "scp": JWT_SCOPES,
            },
            cfg.jwt_secret,
            algorithm="HS256",
            headers={"kid": cfg.jwt_secret_id, "iss": cfg.jwt_client_id},
        )
        return TSC.JWTAuth(token, site_id=cfg.site)

    def _sign_in(self) -> None:
        cfg = self.config
        try:
            self.server.auth.sign_in(self._auth())
        except Exception as exc:
            raise explain(exc, server_url=cfg.server_url, site=cfg.site, what="signing in to Tableau") from None
        self.sign_ins += 1

    # --- calls -----------------------------------------------------------------------------------
    def call(self, what: str, fn: Callable[[TSC.Server], T], *, attempts: int = 3) -> T:
        """Run one REST step; sign in again on an expired session, back off on transient errors."""
        for attempt in range(1, attempts + 1):
            try:
                return fn(self.server)
            except Exception as exc:
                if attempt < attempts and is_session_expired(exc):
                    logger.warning("Tableau session expired during %s; signing in again", what)
                    self._sign_in()
                    continue
                if attempt < attempts and (is_retryable(exc) or self.last_status in (429, 502, 503, 504)):
                    logger.warning("Tableau %s failed transiently (attempt %d); retrying", what, attempt)
                    time.sleep(self._backoff_factor * 2**attempt)
                    continue
                raise explain(exc, server_url=self.config.server_url, site=self.config.site, what=what) from None
        raise AssertionError("unreachable")
