"""`tap-quickbooks-online authorize`: connect a QuickBooks company with the OAuth 2.0 code flow.

```
tap-quickbooks-online authorize [--config FILE ...] [--no-browser] [--timeout SECONDS]
tap-quickbooks-online authorize --list   [--config FILE]    # realms in the token store (no tokens shown)
tap-quickbooks-online authorize --revoke REALM_ID [--config FILE]   # revoke at Intuit + forget
```

1. Prints the consent URL (`{authorize endpoint}?client_id&response_type=code&scope=
   com.intuit.quickbooks.accounting&redirect_uri&state`, `state` random per run) and opens it in a
   browser unless `--no-browser`.
2. Listens on the port of `redirect_uri` (which must be `http://localhost:PORT/...` or
   `http://127.0.0.1:PORT/...` and registered on the Intuit app) for Intuit's redirect, rejects a
   wrong `state`, and exchanges the `code` at the token endpoint with HTTP Basic client auth.
3. Saves refresh + access token for the `realmId` of the redirect in the token store (same
   `token_store` setting as the tap) and prints which realm was authorized. Run it again to add
   another company; the tap syncs every realm in the store plus the config's `realm_ids`.

Settings come from `--config` JSON files (later files win) and, for keys they lack, from the
environment variables Meltano exports to the plugin (`TAP_QUICKBOOKS_ONLINE_CLIENT_ID`, `…_CLIENT_SECRET`,
`…_REDIRECT_URI`, `…_OAUTH_BASE_URL`, `…_TOKEN_STORE`, `…_USER_AGENT`, `…_REALMS`; or the same with
`MELTANO_EXTRACT_`), so under Meltano a plugin command with `args: authorize` needs no config file;
`MELTANO_PROJECT_ROOT` puts the default token store in the project's `.meltano/` directory.
Neither the code nor any token is printed or logged.
"""

from __future__ import annotations

import argparse
import hmac
import html
import json
import os
import secrets
import sys
import threading
import time
import urllib.parse
import webbrowser
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any, TextIO

from tap_quickbooks_online.auth import (
    ACCOUNTING_SCOPE,
    OAuthClient,
    OAuthEndpoints,
    OAuthError,
    TokenConfigError,
    config_seeds,
    register_secrets,
)
from tap_quickbooks_online.token_store import TokenRecord, TokenStoreError, open_token_store

# What Meltano exports for the plugin's settings: namespace prefix, then the generic extractor one.
ENV_PREFIXES = ("TAP_QUICKBOOKS_ONLINE_", "MELTANO_EXTRACT_")
ENV_KEYS = ("client_id", "client_secret", "redirect_uri", "oauth_base_url", "token_store", "user_agent", "refresh_token")
LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", "[::1]"}
DEFAULT_TIMEOUT = 300.0


class AuthorizationFailed(Exception):
    """The flow did not complete; the message says why (never with a secret)."""


def load_config(paths: list[str] | None, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    env = os.environ if environ is None else environ
    config: dict[str, Any] = {}
    for path in paths or []:
        if path == "ENV":
            continue
        try:
            with open(path, encoding="utf-8") as handle:
                data = json.load(handle)
        except OSError as exc:
            raise AuthorizationFailed(f"cannot read config file {path}: {exc.strerror}") from None
        except ValueError:
            raise AuthorizationFailed(f"config file {path} is not valid JSON") from None
        if not isinstance(data, dict):
            raise AuthorizationFailed(f"config file {path} must hold a JSON object")
        config.update(data)
    for key in ENV_KEYS:
        for prefix in ENV_PREFIXES:
            value = env.get(prefix + key.upper())
            if value and not config.get(key):
                config[key] = value
    for key in ("realm_ids", "realms"):  # arrays arrive as JSON text in the environment
        for prefix in ENV_PREFIXES:
            value = env.get(prefix + key.upper())
            if value and not config.get(key):
                try:
                    config[key] = json.loads(value)
                except ValueError:
                    raise AuthorizationFailed(f"environment variable {prefix}{key.upper()} is not JSON") from None
    return config


def consent_url(endpoints: OAuthEndpoints, client_id: str, redirect_uri: str, state: str) -> str:
    query = urllib.parse.urlencode(
        {
            "client_id": client_id,
            "response_type": "code",
            "scope": ACCOUNTING_SCOPE,
            "redirect_uri": redirect_uri,
            "state": state,
        }
    )
    return f"{endpoints.authorize}?{query}"


def _listen_address(redirect_uri: str) -> tuple[str, int, str]:
    parts = urllib.parse.urlsplit(redirect_uri)
    if parts.scheme != "http" or (parts.hostname or "") not in LOCAL_HOSTS:
        raise AuthorizationFailed(
            f"redirect_uri must be a local http address such as http://localhost:8765/callback "
            f"(registered on your Intuit app) so this command can receive the redirect; got {redirect_uri!r}"
        )
    host = "::1" if parts.hostname == "::1" else "127.0.0.1"
    return host, parts.port or 80, parts.path or "/"


class _CallbackServer(HTTPServer):
    allow_reuse_address = True

    def __init__(self, address, handler, *, expected_path: str, state: str, complete: Callable[[dict], str]):
        if ":" in address[0]:
            import socket

            self.address_family = socket.AF_INET6
        super().__init__(address, handler)
        self.expected_path = expected_path
        self.state = state
        self.complete = complete
        self.result: str | None = None
        self.error: Exception | None = None


class _CallbackHandler(BaseHTTPRequestHandler):
    server: _CallbackServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass  # the default logs the request line, which carries the authorization code

    def _page(self, status: int, title: str, text: str) -> None:
        body = (
            f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title></head>"
            f"<body><h1>{html.escape(title)}</h1><p>{html.escape(text)}</p></body></html>"
        ).encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802
        parts = urllib.parse.urlsplit(self.path)
        if parts.path != self.server.expected_path:
            self._page(404, "Not found", "This address only receives the QuickBooks authorization redirect.")
            return
        params = {k: v[-1] for k, v in urllib.parse.parse_qs(parts.query).items()}
        register_secrets(params.get("code"))
        if not hmac.compare_digest(params.get("state", ""), self.server.state):
            # Not our flow (stale tab, or a forged request): refuse it and keep waiting.
            print("Ignored a redirect with a wrong `state` parameter.", file=sys.stderr)
            self._page(400, "Authorization refused", "The state parameter does not match; start again.")
            return
        if "error" in params:
            code = params["error"] if params["error"].replace("_", "").isalnum() else "error"
            self.server.error = AuthorizationFailed(f"QuickBooks did not grant access ({code})")
            self._page(400, "Authorization not granted", f"QuickBooks answered: {code}.")
            return
        if not params.get("code") or not params.get("realmId"):
            self.server.error = AuthorizationFailed("the redirect carried no authorization code or realmId")
            self._page(400, "Authorization failed", "The redirect carried no authorization code or realmId.")
            return
        try:
            realm_id = self.server.complete(params)
        except (OAuthError, TokenStoreError, AuthorizationFailed) as exc:
            self.server.error = exc
            self._page(500, "Authorization failed", str(exc))
            return
        self.server.result = realm_id
        self._page(200, "QuickBooks connected", f"Company {realm_id} is authorized. You can close this window.")


def run_authorization(
    config: Mapping[str, Any],
    *,
    open_browser: bool = True,
    timeout: float = DEFAULT_TIMEOUT,
    on_url: Callable[[str], None] | None = None,
    out: TextIO | None = None,
) -> str:
    """Run the whole flow; returns the authorized realm id. `on_url` sees the consent URL (tests)."""
    out = out or sys.stdout
    client_id = str(config.get("client_id") or "")
    client_secret = str(config.get("client_secret") or "")
    redirect_uri = str(config.get("redirect_uri") or "")
    if not client_id or not client_secret or not redirect_uri:
        raise AuthorizationFailed("client_id, client_secret and redirect_uri are required (config or environment)")
    register_secrets(client_secret)
    endpoints = OAuthEndpoints.from_config(config)
    oauth = OAuthClient(client_id, client_secret, endpoints, user_agent=config.get("user_agent"))
    store = open_token_store(config.get("token_store"))
    try:
        _realms, seeds = config_seeds(config)
    except TokenConfigError:
        seeds = {}
    state = secrets.token_urlsafe(32)
    host, port, path = _listen_address(redirect_uri)

    def complete(params: dict[str, str]) -> str:
        realm_id = params["realmId"]
        response = oauth.exchange_code(params["code"], redirect_uri)
        if not response.refresh_token:
            raise AuthorizationFailed("the token endpoint returned no refresh token")
        now = time.time()
        with store.locked(realm_id) as locked:
            previous = locked.record
            record = TokenRecord(
                realm_id=realm_id,
                refresh_token=response.refresh_token,
                refresh_token_expires_at=(
                    now + response.refresh_token_expires_in if response.refresh_token_expires_in else None
                ),
                access_token=response.access_token,
                access_token_expires_at=now + response.expires_in,
                known_fingerprints=list(previous.known_fingerprints) if previous else [],
            )
            # A refresh token already in the config predates this authorization: mark it as seen,
            # so the tap keeps using the new one instead of the config's.
            record.remember(seeds.get(realm_id))
            record.remember(response.refresh_token)
            locked.save(record)
        return realm_id

    try:
        server = _CallbackServer(
            (host, port), _CallbackHandler, expected_path=path, state=state, complete=complete
        )
    except OSError as exc:
        raise AuthorizationFailed(
            f"cannot listen on {host}:{port} for the redirect ({exc.strerror}); is another authorize running?"
        ) from None
    with server:
        url = consent_url(endpoints, client_id, redirect_uri, state)
        print("Open this URL in a browser and approve access to your QuickBooks company:", file=out)
        print(url, file=out, flush=True)
        print(f"Waiting for the redirect on {redirect_uri} …", file=out, flush=True)
        if on_url is not None:
            on_url(url)
        if open_browser:
            threading.Thread(target=webbrowser.open, args=(url,), daemon=True).start()
        deadline = time.monotonic() + timeout
        while server.result is None and server.error is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AuthorizationFailed(f"no authorization arrived within {timeout:.0f} s")
            server.timeout = min(remaining, 1.0)
            server.handle_request()
        if server.error is not None:
            raise server.error
    realm_id = server.result
    print(f"Authorized QuickBooks company (realm) {realm_id}; tokens saved in {store.description}.", file=out, flush=True)
    return realm_id


def list_realms(config: Mapping[str, Any], out: TextIO) -> None:
    store = open_token_store(config.get("token_store"))
    realms = store.realm_ids()
    print(f"Token store: {store.description}", file=out)
    if not realms:
        print("No authorized companies yet.", file=out)
    for realm_id in realms:
        record = store.load(realm_id)
        expiry = "unknown"
        if record is not None and record.refresh_token_expires_at:
            expiry = datetime.fromtimestamp(record.refresh_token_expires_at, tz=timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        print(f"{realm_id}\trefresh token valid until {expiry}", file=out)


def revoke_realm(config: Mapping[str, Any], realm_id: str, out: TextIO) -> None:
    from tap_quickbooks_online.auth import TokenManager

    manager = TokenManager({**config, "refresh_token": None, "realms": [], "realm_ids": []})
    manager.revoke(realm_id)
    print(f"Revoked QuickBooks company (realm) {realm_id} and removed it from {manager.store.description}.", file=out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="tap-quickbooks-online authorize",
        description="Connect a QuickBooks Online company (OAuth 2.0 authorization code flow) and save its tokens.",
    )
    parser.add_argument("--config", action="append", default=[], metavar="FILE", help="tap config JSON (repeatable)")
    parser.add_argument("--no-browser", action="store_true", help="only print the consent URL")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, help="seconds to wait for the redirect")
    parser.add_argument("--list", action="store_true", help="list the companies in the token store")
    parser.add_argument("--revoke", metavar="REALM_ID", help="revoke a company's tokens at Intuit and forget them")
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config)
        if args.list:
            list_realms(config, sys.stdout)
        elif args.revoke:
            revoke_realm(config, args.revoke, sys.stdout)
        else:
            run_authorization(config, open_browser=not args.no_browser, timeout=args.timeout)
    except (AuthorizationFailed, OAuthError, TokenStoreError, TokenConfigError) as exc:
        print(f"authorize failed: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("authorize cancelled", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
