"""Intuit OAuth 2.0 as QBO apps see it: authorization codes, bearer tokens, rotation, revocation.

* Access tokens live ``access_ttl`` (3600 s); API calls with a missing, unknown, expired or
  revoked one get QBO's 401 (code 3200).
* Refresh tokens live ``refresh_ttl`` (101 days). Refreshing returns a new access token and the
  *same* refresh token until that token is older than ``rotation_period`` (24 h); then a new refresh
  token is issued and the old one keeps working for ``grace_period`` seconds only. Using a
  superseded (after grace), revoked, expired or unknown refresh token → 400 ``invalid_grant``.
* Revoking either token of a grant (``/v2/oauth2/tokens/revoke``) revokes the whole grant.
All times come from the sandbox clock. Token values are random; nothing here logs them.
"""
from __future__ import annotations

import base64
import secrets
import string
import threading
from dataclasses import dataclass, field

import jwt

_ALNUM = string.ascii_letters + string.digits
_JWE_HEADER = base64.urlsafe_b64encode(b'{"enc":"A128CBC-HS256","alg":"dir"}').decode().rstrip("=")


def _rand(n: int) -> str:
    return "".join(secrets.choice(_ALNUM) for _ in range(n))


def _b64(n: int) -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(n)).decode().rstrip("=")


def new_access_token() -> str:
    """Shaped like Intuit's (a compact JWE with ``alg: dir``); opaque to clients."""
    return f"{_JWE_HEADER}..{_b64(16)}.{_b64(480)}.{_b64(16)}"


def new_refresh_token() -> str:
    return "AB11" + _rand(46)


class OAuthError(Exception):
    def __init__(self, error: str, status: int = 400, description: str | None = None):
        super().__init__(error)
        self.error, self.status, self.description = error, status, description


@dataclass
class Grant:
    realm_id: str
    client_id: str
    scope: str
    revoked: bool = False


@dataclass
class RefreshToken:
    grant: Grant
    issued_at: float
    expires_at: float
    superseded_at: float | None = None
    successor: str | None = None


@dataclass
class AccessToken:
    grant: Grant
    expires_at: float


@dataclass
class AuthCode:
    client_id: str
    redirect_uri: str
    realm_id: str
    scope: str
    expires_at: float
    used: bool = False


@dataclass
class OAuthSettings:
    access_ttl: int = 3600
    refresh_ttl: int = 8726400  # 101 days, what QBO currently grants
    rotation_period: int = 86400
    grace_period: int = 600
    code_ttl: int = 600


class OAuthServer:
    def __init__(self, clock, seed: int, redirect_uris: list[str]):
        self.clock = clock
        rnd_tag = f"{seed:04d}"[-4:]
        self.client_id = "ABsandbox" + rnd_tag + _rand(37)
        self.client_secret = _rand(40)
        self.webhook_verifier_token = secrets.token_hex(18)
        self.redirect_uris = list(redirect_uris)
        self.settings = OAuthSettings()
        self._lock = threading.Lock()
        self.codes: dict[str, AuthCode] = {}
        self.refresh: dict[str, RefreshToken] = {}
        self.access: dict[str, AccessToken] = {}
        self.counters = {"tokens_issued": 0, "refresh_rotations": 0, "invalid_grant": 0, "revocations": 0}

    # -- client auth ---------------------------------------------------------------------------
    def check_client(self, client_id: str | None, client_secret: str | None) -> None:
        if client_id != self.client_id or not client_secret or not secrets.compare_digest(
                client_secret, self.client_secret):
            raise OAuthError("invalid_client", 401)

    def check_redirect(self, client_id: str | None, redirect_uri: str | None) -> None:
        if client_id != self.client_id:
            raise OAuthError("invalid_client", 400, "Unknown client_id")
        if redirect_uri not in self.redirect_uris:
            raise OAuthError("invalid_request", 400, "The redirect_uri is not registered for this app")

    # -- issuing -------------------------------------------------------------------------------
    def issue_code(self, client_id: str, redirect_uri: str, realm_id: str, scope: str) -> str:
        code = "AB11" + _rand(60)
        with self._lock:
            self.codes[code] = AuthCode(client_id, redirect_uri, realm_id, scope,
                                        self.clock.now() + self.settings.code_ttl)
        return code

    def _new_pair(self, grant: Grant) -> tuple[str, str]:
        now = self.clock.now()
        at, rt = new_access_token(), new_refresh_token()
        self.access[at] = AccessToken(grant, now + self.settings.access_ttl)
        self.refresh[rt] = RefreshToken(grant, now, now + self.settings.refresh_ttl)
        self.counters["tokens_issued"] += 1
        return at, rt

    def initial_refresh_token(self, realm_id: str, scope: str = "com.intuit.quickbooks.accounting") -> str:
        """A refresh token for a realm as if the app had been connected just now."""
        with self._lock:
            grant = Grant(realm_id, self.client_id, scope)
            _at, rt = self._new_pair(grant)
            return rt

    def _token_response(self, at: str, rt: str, grant: Grant) -> dict:
        now = self.clock.now()
        rec = self.refresh[rt]
        body = {"token_type": "bearer", "expires_in": self.settings.access_ttl, "refresh_token": rt,
                "x_refresh_token_expires_in": max(0, int(rec.expires_at - now)), "access_token": at}
        if "openid" in grant.scope.split():
            body["id_token"] = jwt.encode(
                {"sub": f"sandbox-user-{grant.realm_id}", "aud": [grant.client_id], "realmid": grant.realm_id,
                 "auth_time": int(now), "iss": "https://oauth.platform.intuit.com/op/v1", "exp": int(now) + 3600,
                 "iat": int(now)}, self.client_secret, algorithm="HS256")
        return body

    def exchange_code(self, code: str | None, redirect_uri: str | None, client_id: str) -> dict:
        with self._lock:
            rec = self.codes.get(code or "")
            if rec is None or rec.used or rec.expires_at < self.clock.now() or rec.client_id != client_id:
                self.counters["invalid_grant"] += 1
                raise OAuthError("invalid_grant")
            if redirect_uri != rec.redirect_uri:
                self.counters["invalid_grant"] += 1
                raise OAuthError("invalid_grant", 400, "redirect_uri does not match the authorization request")
            rec.used = True
            grant = Grant(rec.realm_id, client_id, rec.scope)
            at, rt = self._new_pair(grant)
            return self._token_response(at, rt, grant)

    def refresh_grant(self, token: str | None, client_id: str) -> dict:
        with self._lock:
            now = self.clock.now()
            rec = self.refresh.get(token or "")
            if (rec is None or rec.grant.revoked or rec.grant.client_id != client_id or rec.expires_at <= now
                    or (rec.superseded_at is not None and now > rec.superseded_at + self.settings.grace_period)):
                self.counters["invalid_grant"] += 1
                raise OAuthError("invalid_grant")
            current = token
            while self.refresh[current].successor:  # a superseded token in its grace period
                current = self.refresh[current].successor
            cur = self.refresh[current]
            if now - cur.issued_at >= self.settings.rotation_period:
                new_rt = new_refresh_token()
                self.refresh[new_rt] = RefreshToken(cur.grant, now, now + self.settings.refresh_ttl)
                cur.superseded_at, cur.successor = now, new_rt
                current = new_rt
                self.counters["refresh_rotations"] += 1
            at = new_access_token()
            self.access[at] = AccessToken(cur.grant, now + self.settings.access_ttl)
            self.counters["tokens_issued"] += 1
            return self._token_response(at, current, cur.grant)

    def revoke(self, token: str | None) -> bool:
        with self._lock:
            rec = self.refresh.get(token or "") or self.access.get(token or "")
            if rec is None:
                return False
            rec.grant.revoked = True
            self.counters["revocations"] += 1
            return True

    # -- API authentication --------------------------------------------------------------------
    def authenticate(self, authorization: str | None, realm_id: str) -> tuple[int, str] | None:
        """None when the bearer token may call realm_id; else (status, detail)."""
        if not authorization or not authorization.lower().startswith("bearer "):
            return 401, "Token missing or not a Bearer token"
        token = authorization[7:].strip()
        rec = self.access.get(token)
        if rec is None:
            return 401, "Token invalid"
        if rec.grant.revoked:
            return 401, "Token revoked"
        if rec.expires_at <= self.clock.now():
            return 401, "Token expired"
        if rec.grant.realm_id != realm_id:
            return 403, "The token is not authorized for this company"
        return None

    def expire_access_tokens(self, realm_id: str | None = None) -> int:
        """Control API helper: make current access tokens expire now."""
        n = 0
        with self._lock:
            now = self.clock.now()
            for rec in self.access.values():
                if realm_id is None or rec.grant.realm_id == realm_id:
                    if rec.expires_at > now:
                        rec.expires_at = now
                        n += 1
        return n
