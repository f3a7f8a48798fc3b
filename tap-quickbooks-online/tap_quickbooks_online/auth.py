"""OAuth 2.0 token handling for QuickBooks Online: one `TokenManager` per tap run.

```python
from tap_quickbooks_online.auth import TokenManager, ReauthorizationRequired
tm = TokenManager(config, logger)   # thread-safe, shared by all streams
tm.access_token(realm_id)           # valid access token, refreshed when < 5 min are left
tm.invalidate(realm_id, rejected_token=None)  # after a 401 (code 3200): refresh on the next call;
                                    # with the rejected token, a token another thread already
                                    # replaced it with is kept (no second refresh)
tm.realm_ids()                      # realms of the config (`realm_ids`, `realms`) + the token store
tm.revoke(realm_id)                 # revoke the grant at Intuit and drop it from the store
```
Errors: `ReauthorizationRequired` (no usable refresh token: message names the realm and says to run
`tap-quickbooks-online authorize`), `InvalidClientCredentials`, `OAuthError` (their base; a
`singer_sdk.exceptions.FatalAPIError`), `TokenConfigError` (bad `refresh_token`/`realms` config),
`token_store.TokenStoreError`. None of their messages contains a secret.

Config: `client_id`, `client_secret`, `refresh_token` (+ exactly one id in `realm_ids`), or
`realms: [{realm_id, refresh_token}]`, `oauth_base_url`, `token_store`, `user_agent`.

How tokens flow
* Intuit access tokens live 1 hour; refresh tokens rotate (a refresh may return a new refresh
  token, the previous one dies after a short grace) and expire after `x_refresh_token_expires_in`.
* `access_token()` serves the in-memory token while more than `refresh_margin` (300 s) is left.
  Otherwise it takes the realm's lock in the token store (see `token_store`: file lock, or a
  `SELECT … FOR UPDATE` row lock), **re-reads** the record (another process may have refreshed
  meanwhile; its access token is then reused), refreshes if still needed, writes the new refresh
  and access token durably (fsync / commit) and only then hands out the new access token. So
  concurrent runs sharing a store never refresh with a stale token, and a crash can't lose the
  newest refresh token after it has been used.
* Which refresh token is current: the store, once it holds one for the realm. The config's
  `refresh_token` (one-realm configs) or `realms[].refresh_token` only *seeds* it: the store keeps
  SHA-256 fingerprints of every refresh token it has seen for the realm (never the tokens). A config
  token whose fingerprint is known is older than the store and ignored; an unknown one means the
  user re-authorized and pasted it, so it is tried first (with the stored one as fallback if Intuit
  refuses it) and its fingerprint is recorded.
* `400 invalid_grant` (refresh token revoked, expired or superseded) raises
  `ReauthorizationRequired`, whose message tells the user to run `tap-quickbooks-online authorize`.
  `401 invalid_client` raises `InvalidClientCredentials`. 5xx, 429 and connection errors are retried
  with exponential backoff.
* Secrets (client secret, refresh/access tokens, authorization codes) are registered with a
  process-wide redactor installed as the logging record factory, so no log record of any logger
  carries them; exceptions raised here never include them.

Endpoints: Intuit's real hosts, or all three under `oauth_base_url` (the local sandbox):
`{base}/connect/oauth2`, `{base}/oauth2/v1/tokens/bearer`, `{base}/v2/oauth2/tokens/revoke`.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import requests
from singer_sdk.exceptions import FatalAPIError

from tap_quickbooks_online.token_store import TokenRecord, TokenStore, fingerprint, open_token_store

INTUIT_AUTHORIZE_URL = "https://appcenter.intuit.com/connect/oauth2"
INTUIT_TOKEN_URL = "https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer"
INTUIT_REVOKE_URL = "https://developer.api.intuit.com/v2/oauth2/tokens/revoke"
ACCOUNTING_SCOPE = "com.intuit.quickbooks.accounting"
AUTHORIZE_HINT = "run `tap-quickbooks-online authorize` (with the same config) to re-authorize it"
DEFAULT_REFRESH_MARGIN = 300.0
REFRESH_TOKEN_WARNING_SECONDS = 14 * 24 * 3600
REDACTED = "[REDACTED]"

logger_name = "tap_quickbooks_online.auth"


# --------------------------------------------------------------------------------------------
# Errors (messages never carry a secret)
# --------------------------------------------------------------------------------------------


class OAuthError(FatalAPIError):
    """The token endpoint refused a request. `error` is Intuit's OAuth error code."""

    def __init__(self, message: str, *, error: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.error = error
        self.status = status


class InvalidGrant(OAuthError):
    """`invalid_grant`: the refresh token or authorization code is revoked, expired or used."""


class InvalidClientCredentials(OAuthError):
    """`invalid_client`: client_id / client_secret are wrong."""


class ReauthorizationRequired(OAuthError):
    """No usable refresh token for a realm: the user must run `tap-quickbooks-online authorize`."""

    def __init__(self, realm_id: str, reason: str) -> None:
        super().__init__(
            f"QuickBooks company (realm) {realm_id}: {reason}. To fix it, {AUTHORIZE_HINT}.",
            error="invalid_grant",
        )
        self.realm_id = realm_id


class TokenConfigError(ValueError):
    """The config's OAuth settings are incomplete or ambiguous."""


# --------------------------------------------------------------------------------------------
# Secret redaction
# --------------------------------------------------------------------------------------------


class SecretRedactor:
    """Process-wide set of secret strings and `redact(text)` replacing each by `[REDACTED]`."""

    MIN_LENGTH = 6  # shorter values would redact ordinary words

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._secrets: tuple[str, ...] = ()

    def add(self, *values: str | None) -> None:
        with self._lock:
            current = set(self._secrets)
            current.update(v for v in values if isinstance(v, str) and len(v) >= self.MIN_LENGTH)
            # Longest first, so a secret containing another is replaced whole.
            self._secrets = tuple(sorted(current, key=len, reverse=True))

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text

    def __bool__(self) -> bool:
        return bool(self._secrets)

    def redact_record(self, record: logging.LogRecord) -> None:
        if not self._secrets:
            return
        try:
            message = record.getMessage()
        except Exception:  # a broken format string is the handler's problem, not ours
            message = str(record.msg)
        clean = self.redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            text = logging.Formatter().formatException(record.exc_info)
            clean = self.redact(text)
            if clean != text:
                record.exc_text = clean
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)


SECRETS = SecretRedactor()


class RedactSecretsFilter(logging.Filter):
    """Logging filter for handlers that want the redaction explicitly (the record factory already does it)."""

    def filter(self, record: logging.LogRecord) -> bool:
        SECRETS.redact_record(record)
        return True


_factory_lock = threading.Lock()
_factory_installed = False


def install_log_redaction() -> None:
    """Redact registered secrets from every log record of every logger, from creation on.

    A record factory (rather than a handler filter) covers handlers added later, e.g. by the
    Singer SDK's logging config, and records of third-party loggers (urllib3, requests).
    """
    global _factory_installed
    with _factory_lock:
        if _factory_installed:
            return
        previous = logging.getLogRecordFactory()

        def redacting_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            SECRETS.redact_record(record)
            return record

        logging.setLogRecordFactory(redacting_factory)
        _factory_installed = True


def register_secrets(*values: str | None) -> None:
    install_log_redaction()
    SECRETS.add(*values)


# --------------------------------------------------------------------------------------------
# Token endpoint client
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class OAuthEndpoints:
    authorize: str
    token: str
    revoke: str

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> OAuthEndpoints:
        base = (config.get("oauth_base_url") or "").strip().rstrip("/")
        if base:
            return cls(f"{base}/connect/oauth2", f"{base}/oauth2/v1/tokens/bearer", f"{base}/v2/oauth2/tokens/revoke")
        return cls(INTUIT_AUTHORIZE_URL, INTUIT_TOKEN_URL, INTUIT_REVOKE_URL)


@dataclasses.dataclass(frozen=True, repr=False)
class TokenResponse:
    access_token: str
    refresh_token: str | None
    expires_in: float
    refresh_token_expires_in: float | None

    def __repr__(self) -> str:
        return f"TokenResponse(expires_in={self.expires_in}, refresh_token_expires_in={self.refresh_token_expires_in})"


_ERROR_CODE = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")


def default_user_agent() -> str:
    try:
        from importlib.metadata import version

        return f"tap-quickbooks-online/{version('tap-quickbooks-online')}"
    except Exception:
        return "tap-quickbooks-online"


class OAuthClient:
    """Calls Intuit's token and revoke endpoints with HTTP Basic client authentication."""

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        endpoints: OAuthEndpoints,
        *,
        session: requests.Session | None = None,
        user_agent: str | None = None,
        timeout: float = 30.0,
        max_attempts: int = 4,
        backoff_seconds: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
        logger: logging.Logger | None = None,
    ) -> None:
        if not client_id or not client_secret:
            raise TokenConfigError("client_id and client_secret are required for OAuth")
        register_secrets(client_secret)
        self.client_id = client_id
        self._client_secret = client_secret
        self.endpoints = endpoints
        self._session = session or requests.Session()
        self._user_agent = user_agent or default_user_agent()
        self._timeout = timeout
        self._max_attempts = max(1, max_attempts)
        self._backoff = backoff_seconds
        self._sleep = sleep
        self._logger = logger or logging.getLogger(logger_name)

    def __repr__(self) -> str:
        return f"OAuthClient(client_id={self.client_id!r}, token_url={self.endpoints.token!r})"

    def refresh(self, refresh_token: str) -> TokenResponse:
        register_secrets(refresh_token)
        return self._token_request({"grant_type": "refresh_token", "refresh_token": refresh_token}, "token refresh")

    def exchange_code(self, code: str, redirect_uri: str) -> TokenResponse:
        register_secrets(code)
        return self._token_request(
            {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}, "authorization code exchange"
        )

    def revoke(self, token: str) -> None:
        """Revoke a refresh (or access) token: the whole grant of that realm ends."""
        register_secrets(token)
        response = self._post(self.endpoints.revoke, "token revocation", json={"token": token})
        if response.status_code != 200:
            raise self._error(response, "token revocation")

    # -- internals ----------------------------------------------------------------------------

    def _token_request(self, form: dict[str, str], what: str) -> TokenResponse:
        response = self._post(self.endpoints.token, what, data=form)
        if response.status_code != 200:
            raise self._error(response, what)
        try:
            body = response.json()
            access_token = body["access_token"]
            if not isinstance(access_token, str) or not access_token:
                raise ValueError("empty access_token")
        except (ValueError, KeyError, TypeError):
            raise OAuthError(f"{what}: the token endpoint sent an unexpected response", status=200) from None
        refresh_token = body.get("refresh_token") or None
        register_secrets(access_token, refresh_token, body.get("id_token"))
        return TokenResponse(
            access_token=access_token,
            refresh_token=refresh_token,
            expires_in=float(body.get("expires_in") or 3600),
            refresh_token_expires_in=(
                float(body["x_refresh_token_expires_in"]) if body.get("x_refresh_token_expires_in") else None
            ),
        )

    def _post(self, url: str, what: str, **kwargs: Any) -> requests.Response:
        headers = {"Accept": "application/json", "User-Agent": self._user_agent}
        for attempt in range(1, self._max_attempts + 1):
            try:
                response = self._session.post(
                    url, auth=(self.client_id, self._client_secret), headers=headers, timeout=self._timeout, **kwargs
                )
            except requests.RequestException as exc:
                # Connection problems: the exception text names the host, never the form body.
                if attempt == self._max_attempts:
                    raise OAuthError(f"{what}: cannot reach {url} ({type(exc).__name__})") from None
                self._logger.warning("%s: %s reaching %s, retrying", what, type(exc).__name__, url)
            else:
                if response.status_code < 500 and response.status_code != 429:
                    return response
                if attempt == self._max_attempts:
                    return response
                self._logger.warning("%s: HTTP %s from %s, retrying", what, response.status_code, url)
            self._sleep(self._backoff * 2 ** (attempt - 1))
        raise AssertionError("unreachable")

    def _error(self, response: requests.Response, what: str) -> OAuthError:
        error = None
        try:
            body = response.json()
            if isinstance(body, dict) and isinstance(body.get("error"), str) and _ERROR_CODE.match(body["error"]):
                error = body["error"]  # only the well-formed code: bodies are never echoed
        except ValueError:
            pass
        status = response.status_code
        if error == "invalid_grant":
            return InvalidGrant(f"{what} refused: invalid_grant (HTTP {status})", error=error, status=status)
        if error == "invalid_client" or (status == 401 and error is None):
            return InvalidClientCredentials(
                f"{what} refused: the client credentials were rejected (HTTP {status}"
                f"{', ' + error if error else ''}); check client_id and client_secret",
                error=error,
                status=status,
            )
        return OAuthError(f"{what} failed: HTTP {status}{' ' + error if error else ''}", error=error, status=status)


# --------------------------------------------------------------------------------------------
# Config helpers
# --------------------------------------------------------------------------------------------


def config_seeds(config: Mapping[str, Any]) -> tuple[list[str], dict[str, str]]:
    """(realm ids named by the config in order, {realm_id: refresh token} seeds from the config)."""
    realm_ids: list[str] = []
    seeds: dict[str, str] = {}

    def add(realm: Any) -> str | None:
        if realm is None or str(realm).strip() == "":
            return None
        rid = str(realm).strip()
        if rid not in realm_ids:
            realm_ids.append(rid)
        return rid

    for realm in config.get("realm_ids") or []:
        add(realm)
    for entry in config.get("realms") or []:
        if not isinstance(entry, Mapping):
            raise TokenConfigError("each entry of `realms` must be an object {realm_id, refresh_token}")
        rid = add(entry.get("realm_id"))
        if rid is None:
            raise TokenConfigError("an entry of `realms` has no realm_id")
        if entry.get("refresh_token"):
            seeds[rid] = str(entry["refresh_token"])
    single = config.get("refresh_token")
    if single:
        unseeded = [r for r in realm_ids if r not in seeds]
        if len(unseeded) != 1:
            raise TokenConfigError(
                "`refresh_token` seeds a one-company config: set `realm_ids` to exactly that company's "
                "realm id (or use `realms` with one refresh token per company, or `tap-quickbooks-online "
                f"authorize`); found {len(unseeded)} realm ids without their own refresh token"
            )
        seeds[unseeded[0]] = str(single)
    return realm_ids, seeds


# --------------------------------------------------------------------------------------------
# Token manager
# --------------------------------------------------------------------------------------------


class TokenManager:
    """Valid access tokens per realm for a tap run; see the module docstring."""

    def __init__(
        self,
        config: Mapping[str, Any],
        logger: logging.Logger | None = None,
        *,
        store: TokenStore | None = None,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.time,
        refresh_margin: float = DEFAULT_REFRESH_MARGIN,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._logger = logger or logging.getLogger(logger_name)
        register_secrets(config.get("client_secret"), config.get("refresh_token"))
        self._config_realm_ids, self._seeds = config_seeds(config)
        register_secrets(*self._seeds.values())
        self._oauth = OAuthClient(
            str(config.get("client_id") or ""),
            str(config.get("client_secret") or ""),
            OAuthEndpoints.from_config(config),
            session=session,
            user_agent=config.get("user_agent"),
            sleep=sleep,
            logger=self._logger,
        )
        self._store = store if store is not None else open_token_store(config.get("token_store"))
        self._clock = clock
        self._margin = refresh_margin
        self._guard = threading.Lock()
        self._realm_locks: dict[str, threading.Lock] = {}
        self._cache: dict[str, tuple[str, float]] = {}
        self._invalidated: dict[str, set[str]] = {}
        self.refresh_count = 0  # refreshes this manager performed (for tests and metrics)

    def __repr__(self) -> str:
        return f"TokenManager(store={self._store.description!r}, realms={self._config_realm_ids!r})"

    @property
    def store(self) -> TokenStore:
        return self._store

    # -- public API -------------------------------------------------------------------------

    def realm_ids(self) -> list[str]:
        """Realms named by the config first (in order), then any other realm in the token store."""
        realms = list(self._config_realm_ids)
        for rid in self._store.realm_ids():
            if rid not in realms:
                realms.append(rid)
        return realms

    def access_token(self, realm_id: str) -> str:
        realm_id = str(realm_id)
        token = self._cached(realm_id)
        if token is not None:
            return token
        with self._realm_lock(realm_id):
            token = self._cached(realm_id)  # another thread may have refreshed while we waited
            if token is not None:
                return token
            return self._obtain(realm_id)

    def invalidate(self, realm_id: str, access_token: str | None = None) -> None:
        """Forget the realm's access token (QBO answered 401); the next `access_token()` refreshes.

        Pass the rejected `access_token` when known: if another thread already replaced it, the
        newer token is kept instead of triggering a second refresh.
        """
        realm_id = str(realm_id)
        with self._guard:
            cached = self._cache.get(realm_id)
            rejected = access_token if access_token is not None else (cached[0] if cached else None)
            if rejected is None:
                return
            self._invalidated.setdefault(realm_id, set()).add(fingerprint(rejected))
            if cached and cached[0] == rejected:
                del self._cache[realm_id]
        self._logger.info("Access token for realm %s rejected by QuickBooks; it will be refreshed", realm_id)

    def revoke(self, realm_id: str) -> None:
        """Revoke the realm's grant at Intuit and remove it from the token store."""
        realm_id = str(realm_id)
        with self._realm_lock(realm_id):
            with self._store.locked(realm_id) as locked:
                record = locked.record
            if record is not None and record.refresh_token:
                register_secrets(record.refresh_token, record.access_token)
                self._oauth.revoke(record.refresh_token)
            self._store.delete(realm_id)
            with self._guard:
                self._cache.pop(realm_id, None)

    # -- internals ----------------------------------------------------------------------------

    def _realm_lock(self, realm_id: str) -> threading.Lock:
        with self._guard:
            return self._realm_locks.setdefault(realm_id, threading.Lock())

    def _usable(self, realm_id: str, token: str | None, expires_at: float | None) -> bool:
        if not token or expires_at is None:
            return False
        if expires_at - self._clock() <= self._margin:
            return False
        rejected = self._invalidated.get(realm_id)
        return not rejected or fingerprint(token) not in rejected

    def _cached(self, realm_id: str) -> str | None:
        with self._guard:
            entry = self._cache.get(realm_id)
            if entry and self._usable(realm_id, entry[0], entry[1]):
                return entry[0]
        return None

    def _remember(self, realm_id: str, token: str, expires_at: float) -> str:
        with self._guard:
            self._cache[realm_id] = (token, expires_at)
        return token

    def _obtain(self, realm_id: str) -> str:
        """Under the store's lock: reuse a token refreshed elsewhere, else refresh and save first."""
        with self._store.locked(realm_id) as locked:
            record = locked.record
            if record is not None:
                register_secrets(record.refresh_token, record.access_token)
            seed = self._seeds.get(realm_id)
            seed_is_new = bool(seed) and (record is None or not record.knows(seed))

            if not seed_is_new and record is not None:
                if self._usable(realm_id, record.access_token, record.access_token_expires_at):
                    self._logger.debug("Using the access token another run stored for realm %s", realm_id)
                    return self._remember(realm_id, record.access_token, record.access_token_expires_at)

            candidates: list[tuple[str, str]] = []
            if seed_is_new:
                candidates.append(("the config's refresh_token", seed))
            if record is not None and record.refresh_token and not (seed_is_new and record.refresh_token == seed):
                candidates.append((f"the token store ({self._store.description})", record.refresh_token))
            if not candidates:
                raise ReauthorizationRequired(
                    realm_id, f"no refresh token in the config or the token store ({self._store.description})"
                )

            tried: list[str] = []
            for source, refresh_token in candidates:
                tried.append(refresh_token)
                try:
                    response = self._oauth.refresh(refresh_token)
                except InvalidGrant:
                    self._logger.warning(
                        "QuickBooks refused the refresh token from %s for realm %s (invalid_grant)", source, realm_id
                    )
                    continue
                return self._save_refreshed(locked, record, realm_id, response, refresh_token, tried)

            raise ReauthorizationRequired(
                realm_id, "QuickBooks refused its refresh token (invalid_grant: revoked, expired or superseded)"
            )

    def _save_refreshed(self, locked, record, realm_id, response: TokenResponse, used: str, tried: list[str]) -> str:
        now = self._clock()
        new_refresh_token = response.refresh_token or used
        updated = TokenRecord(
            realm_id=realm_id,
            refresh_token=new_refresh_token,
            refresh_token_expires_at=(
                now + response.refresh_token_expires_in
                if response.refresh_token_expires_in
                else (record.refresh_token_expires_at if record else None)
            ),
            access_token=response.access_token,
            access_token_expires_at=now + response.expires_in,
            known_fingerprints=list(record.known_fingerprints) if record else [],
        )
        for token in tried:
            updated.remember(token)
        updated.remember(new_refresh_token)
        # Durable first (fsync / commit inside the lock), only then is the access token handed out.
        locked.save(updated)
        self.refresh_count += 1
        rotated = new_refresh_token != used
        self._logger.info(
            "Refreshed the access token for realm %s%s", realm_id, " (refresh token rotated and saved)" if rotated else ""
        )
        if updated.refresh_token_expires_at is not None:
            left = updated.refresh_token_expires_at - now
            if left < REFRESH_TOKEN_WARNING_SECONDS:
                self._logger.warning(
                    "The refresh token of realm %s expires in %.1f days; %s", realm_id, left / 86400, AUTHORIZE_HINT
                )
        with self._guard:
            self._invalidated.pop(realm_id, None)
        return self._remember(realm_id, response.access_token, updated.access_token_expires_at)
