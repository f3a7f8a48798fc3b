"""Sign-in (Personal Access Token, Connected App JWT), sessions and JWT scopes.

Secrets (PAT secret, connected-app secret value, JWTs, session tokens) never go into error
messages or logs: errors name only the failed check.
"""

from __future__ import annotations

import fnmatch
import hmac
import secrets
import xml.etree.ElementTree as ET
from datetime import timedelta

import jwt

from tableau_sandbox import errors
from tableau_sandbox.state import Session, Store

JWT_MAX_LIFETIME = timedelta(minutes=10)


def sign_in(store: Store, req: ET.Element) -> Session:
    cred = req.find("credentials")
    if cred is None:
        raise errors.bad_request("The credentials element is missing.")
    site_el = cred.find("site")
    content_url = site_el.get("contentUrl", "") if site_el is not None else ""
    with store.lock:
        site = next((s for s in store.sites.values() if s.content_url.lower() == content_url.lower()), None)
        if site is None:
            raise errors.signin_error(f"Error signing in to Tableau: site '{content_url}' was not found.")
        if cred.get("personalAccessTokenName") is not None:
            return _sign_in_pat(store, site.id, cred)
        if cred.get("jwt") is not None:
            return _sign_in_jwt(store, site.id, cred.get("jwt", ""))
        raise errors.signin_error("Username/password sign-in is not enabled on this sandbox; use a personal "
                                  "access token or a connected app JWT.")


def _new_session(store: Store, site_id: str, user_id: str, pat_name: str | None = None,
                 scopes: list[str] | None = None) -> Session:
    now = store.clock.now()
    token = f"{secrets.token_urlsafe(16)}|{secrets.token_urlsafe(24)}|{site_id}"
    session = Session(token, site_id, user_id, now, now + timedelta(minutes=store.flavor.session_minutes),
                      pat_name, scopes)
    store.sessions[token] = session
    return session


def _sign_in_pat(store: Store, site_id: str, cred: ET.Element) -> Session:
    name = cred.get("personalAccessTokenName", "")
    secret = cred.get("personalAccessTokenSecret", "")
    ok = hmac.compare_digest(name.encode(), store.pat["token_name"].encode()) and hmac.compare_digest(
        secret.encode(), store.pat["token_secret"].encode())
    if not ok or site_id != store.site.id:
        raise errors.signin_error("Error signing in to Tableau: the personal access token is invalid.")
    # A PAT holds one session at a time: signing in again invalidates the previous token.
    old = store.pat_sessions.get(name)
    if old is not None:
        store.sessions.pop(old, None)
    session = _new_session(store, site_id, store.user.id, pat_name=name)
    store.pat_sessions[name] = session.token
    return session


def _sign_in_jwt(store: Store, site_id: str, token: str) -> Session:
    app = store.connected_app

    def fail(why: str) -> errors.ApiError:
        return errors.signin_error(f"Error signing in to Tableau: invalid JSON Web Token ({why}).")

    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise fail("malformed token") from None
    if header.get("alg") != "HS256":
        raise fail("alg must be HS256")
    if header.get("kid") != app["secret_id"]:
        raise fail("kid does not match a connected app secret")
    try:
        claims = jwt.decode(token, app["secret_value"], algorithms=["HS256"], options={
            "verify_exp": False, "verify_aud": False, "verify_iss": False, "verify_iat": False,
            "verify_nbf": False})
    except jwt.InvalidSignatureError:
        raise fail("signature verification failed") from None
    except jwt.PyJWTError:
        raise fail("malformed token") from None
    if claims.get("iss") != app["client_id"]:
        raise fail("iss is not the connected app client id")
    aud = claims.get("aud")
    if aud != "tableau" and not (isinstance(aud, list) and "tableau" in aud):
        raise fail("aud must be 'tableau'")
    now = store.clock.now().timestamp()
    exp = claims.get("exp")
    if not isinstance(exp, (int, float)):
        raise fail("exp is missing")
    if exp <= now:
        raise fail("token has expired")
    if exp - now > JWT_MAX_LIFETIME.total_seconds():
        raise fail("exp is more than 10 minutes in the future")
    jti = claims.get("jti")
    if not isinstance(jti, str) or not jti:
        raise fail("jti is missing")
    if jti in store.used_jti:
        raise fail("jti has already been used")
    scopes = claims.get("scp")
    if isinstance(scopes, str):
        scopes = [scopes]
    if not isinstance(scopes, list) or not scopes or not all(isinstance(s, str) for s in scopes):
        raise fail("scp must be a non-empty list of scopes")
    username = claims.get("sub")
    user = next((u for u in store.users.values() if u.name == username and u.site_id == site_id), None)
    if user is None:
        raise fail("sub is not a user of this site")
    store.used_jti.add(jti)
    return _new_session(store, site_id, user.id, scopes=scopes)


def session_for(store: Store, token: str | None) -> Session:
    if not token:
        raise errors.unauthorized("Missing X-Tableau-Auth header.")
    with store.lock:
        session = store.sessions.get(token)
        if session is None:
            raise errors.unauthorized()
        if store.clock.now() >= session.expires_at:
            store.sessions.pop(token, None)
            raise errors.unauthorized("The credentials token has expired. Sign in again.")
        return session


def sign_out(store: Store, token: str) -> None:
    with store.lock:
        session = store.sessions.pop(token, None)
        if session and session.pat_name and store.pat_sessions.get(session.pat_name) == token:
            store.pat_sessions.pop(session.pat_name, None)


def require_scope(session: Session, scope: str) -> None:
    """Connected-app sessions may only call methods covered by their ``scp`` claim."""
    if session.scopes is None:
        return
    for granted in session.scopes:
        if granted == scope or fnmatch.fnmatchcase(scope, granted):
            return
    raise errors.forbidden(errors.FORBIDDEN_SCOPE,
                           f"The JWT scopes of this session do not allow this operation (needs '{scope}').")
