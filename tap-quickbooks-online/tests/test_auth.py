"""TokenManager, OAuth client and the authorize flow against a tiny in-test Intuit token endpoint.

The fake rotates the refresh token on *every* refresh and kills the old one at once (stricter than
Intuit), so any refresh made with a stale token fails with `invalid_grant`. The same behaviours are
tested against the real sandbox in test_auth_sandbox.py / test_authorize_sandbox.py.
"""

from __future__ import annotations

import base64
import json
import logging
import queue
import secrets
import subprocess
import sys
import textwrap
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from tap_quickbooks_online import authorize
from tap_quickbooks_online.auth import (
    InvalidClientCredentials,
    OAuthError,
    ReauthorizationRequired,
    TokenConfigError,
    TokenManager,
    config_seeds,
)
from tap_quickbooks_online.token_store import FileTokenStore, SqlTokenStore, TokenRecord

CLIENT_ID = "fake-client-id"
CLIENT_SECRET = "fake-client-secret-" + "s3cr3t" * 3
REALM = "9130350000000001"


class FakeIntuit:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.refresh_tokens: dict[str, str] = {}  # refresh token -> realm
        self.codes: dict[str, tuple[str, str]] = {}  # code -> (realm, redirect_uri)
        self.refreshes = 0
        self.invalid_grants = 0
        self.fail_next: list[int] = []  # HTTP statuses to answer before behaving
        self.consent_realm = REALM
        self.issued: list[str] = []  # every secret handed out, for redaction checks
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def reply(self, status, body, headers=None):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                parts = urllib.parse.urlsplit(self.path)
                q = {k: v[-1] for k, v in urllib.parse.parse_qs(parts.query).items()}
                if parts.path != "/connect/oauth2":
                    return self.reply(404, {})
                assert q["response_type"] == "code" and q["scope"] == "com.intuit.quickbooks.accounting"
                if q.get("client_id") != CLIENT_ID:
                    return self.reply(400, {"error": "invalid_client"})
                code = "code-" + secrets.token_hex(12)
                fake.codes[code] = (fake.consent_realm, q["redirect_uri"])
                fake.issued.append(code)
                target = q["redirect_uri"] + "?" + urllib.parse.urlencode(
                    {"code": code, "state": q["state"], "realmId": fake.consent_realm}
                )
                self.send_response(302)
                self.send_header("Location", target)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode()
                expected = "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
                if self.headers.get("Authorization") != expected:
                    return self.reply(401, {"error": "invalid_client"})
                with fake.lock:
                    if fake.fail_next:
                        return self.reply(fake.fail_next.pop(0), {"error": "server_error"})
                    if self.path == "/v2/oauth2/tokens/revoke":
                        token = json.loads(raw)["token"]
                        fake.refresh_tokens.pop(token, None)
                        return self.reply(200, {})
                    if self.path != "/oauth2/v1/tokens/bearer":
                        return self.reply(404, {})
                    form = {k: v[-1] for k, v in urllib.parse.parse_qs(raw).items()}
                    if form["grant_type"] == "refresh_token":
                        realm = fake.refresh_tokens.pop(form["refresh_token"], None)
                        if realm is None:
                            fake.invalid_grants += 1
                            return self.reply(400, {"error": "invalid_grant"})
                        fake.refreshes += 1
                    elif form["grant_type"] == "authorization_code":
                        realm, redirect_uri = fake.codes.pop(form["code"], (None, None))
                        if realm is None or redirect_uri != form["redirect_uri"]:
                            return self.reply(400, {"error": "invalid_grant"})
                    else:
                        return self.reply(400, {"error": "unsupported_grant_type"})
                    rt, at = "RT" + secrets.token_hex(20), "AT" + secrets.token_hex(40)
                    fake.refresh_tokens[rt] = realm
                    fake.issued += [rt, at]
                return self.reply(200, {
                    "token_type": "bearer", "expires_in": 3600, "refresh_token": rt,
                    "x_refresh_token_expires_in": 8726400, "access_token": at,
                })

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def new_refresh_token(self, realm: str = REALM) -> str:
        rt = "RT" + secrets.token_hex(20)
        with self.lock:
            self.refresh_tokens[rt] = realm
        self.issued.append(rt)
        return rt


@pytest.fixture
def intuit():
    fake = FakeIntuit()
    fake.thread.start()
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def config_for(intuit, tmp_path, **extra):
    config = {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "oauth_base_url": intuit.base_url,
        "token_store": str(tmp_path / "tokens.json"),
        "realm_ids": [REALM],
    }
    config.update(extra)
    return config


def test_seed_refresh_then_cached_then_refreshed_ahead_of_expiry(intuit, tmp_path):
    seed = intuit.new_refresh_token()
    clock = Clock()
    tm = TokenManager(config_for(intuit, tmp_path, refresh_token=seed), clock=clock, sleep=lambda s: None)
    first = tm.access_token(REALM)
    assert intuit.refreshes == 1
    record = tm.store.load(REALM)
    # the rotated refresh token was saved (and is the only valid one now); the seed is remembered
    assert record.refresh_token in intuit.refresh_tokens and record.access_token == first
    assert record.knows(seed) and record.knows(record.refresh_token)
    assert record.access_token_expires_at == clock.now + 3600
    clock.now += 3300 - 1  # 5 min + 1 s left: still served from memory
    assert tm.access_token(REALM) == first and intuit.refreshes == 1
    clock.now += 2  # less than 5 minutes left: refreshed ahead of expiry
    second = tm.access_token(REALM)
    assert second != first and intuit.refreshes == 2
    assert tm.store.load(REALM).access_token == second


def test_invalidate_forces_refresh_once(intuit, tmp_path):
    tm = TokenManager(config_for(intuit, tmp_path, refresh_token=intuit.new_refresh_token()), clock=Clock())
    first = tm.access_token(REALM)
    tm.invalidate(REALM, first)
    second = tm.access_token(REALM)
    assert second != first and intuit.refreshes == 2
    tm.invalidate(REALM, first)  # a late 401 for the old token does not discard the new one
    assert tm.access_token(REALM) == second and intuit.refreshes == 2
    tm.invalidate(REALM)  # without the token: the current one is dropped
    assert tm.access_token(REALM) != second and intuit.refreshes == 3


def test_new_run_reuses_stored_access_token_and_ignores_old_seed(intuit, tmp_path):
    seed = intuit.new_refresh_token()
    clock = Clock()
    config = config_for(intuit, tmp_path, refresh_token=seed)
    token = TokenManager(config, clock=clock).access_token(REALM)
    # A second run with the same (now dead) seed in config: the store is newer and wins.
    clock.now += 600
    again = TokenManager(config, clock=clock)
    assert again.access_token(REALM) == token and intuit.refreshes == 1
    clock.now += 3600
    assert again.access_token(REALM) != token and intuit.refreshes == 2 and intuit.invalid_grants == 0


def test_fresh_seed_pasted_into_config_wins_over_store(intuit, tmp_path):
    clock = Clock()
    TokenManager(config_for(intuit, tmp_path, refresh_token=intuit.new_refresh_token()), clock=clock).access_token(REALM)
    stored_before = FileTokenStore(tmp_path / "tokens.json").load(REALM).refresh_token
    pasted = intuit.new_refresh_token()  # user re-authorized elsewhere and pasted the new token
    tm = TokenManager(config_for(intuit, tmp_path, refresh_token=pasted), clock=clock)
    tm.access_token(REALM)
    assert intuit.refreshes == 2 and intuit.invalid_grants == 0
    assert pasted not in intuit.refresh_tokens  # the pasted one was used, not the stored one
    assert stored_before in intuit.refresh_tokens
    assert tm.store.load(REALM).knows(pasted)


def test_stale_unknown_seed_falls_back_to_store(intuit, tmp_path):
    clock = Clock()
    TokenManager(config_for(intuit, tmp_path, refresh_token=intuit.new_refresh_token()), clock=clock).access_token(REALM)
    tm = TokenManager(config_for(intuit, tmp_path, refresh_token="RT-never-valid-000000000000"), clock=clock)
    clock.now += 4000
    assert tm.access_token(REALM)
    assert intuit.invalid_grants == 1 and intuit.refreshes == 2
    # remembered: the next run does not try the dead config token again
    clock.now += 4000
    TokenManager(config_for(intuit, tmp_path, refresh_token="RT-never-valid-000000000000"), clock=clock).access_token(REALM)
    assert intuit.invalid_grants == 1 and intuit.refreshes == 3


def test_revoked_token_raises_reauthorization_required_with_hint(intuit, tmp_path):
    seed = intuit.new_refresh_token()
    clock = Clock()
    tm = TokenManager(config_for(intuit, tmp_path, refresh_token=seed), clock=clock)
    tm.access_token(REALM)
    intuit.refresh_tokens.clear()  # revoked at Intuit
    clock.now += 3600
    with pytest.raises(ReauthorizationRequired) as info:
        tm.access_token(REALM)
    message = str(info.value)
    assert "tap-quickbooks-online authorize" in message and REALM in message and "invalid_grant" in message
    assert info.value.realm_id == REALM


def test_no_token_anywhere_raises_reauthorization_required(intuit, tmp_path):
    tm = TokenManager(config_for(intuit, tmp_path), clock=Clock())
    with pytest.raises(ReauthorizationRequired, match="tap-quickbooks-online authorize"):
        tm.access_token(REALM)


def test_wrong_client_secret(intuit, tmp_path):
    config = config_for(intuit, tmp_path, refresh_token=intuit.new_refresh_token(), client_secret="wrong-secret-xyz")
    with pytest.raises(InvalidClientCredentials, match="client_id and client_secret") as info:
        TokenManager(config, clock=Clock()).access_token(REALM)
    assert "wrong-secret-xyz" not in str(info.value)


def test_server_errors_are_retried(intuit, tmp_path):
    intuit.fail_next = [503, 500]
    sleeps = []
    tm = TokenManager(config_for(intuit, tmp_path, refresh_token=intuit.new_refresh_token()), clock=Clock(),
                      sleep=sleeps.append)
    assert tm.access_token(REALM)
    assert sleeps == [1.0, 2.0] and intuit.refreshes == 1
    intuit.fail_next = [500] * 4
    tm.invalidate(REALM)
    with pytest.raises(OAuthError, match="HTTP 500"):
        tm.access_token(REALM)


def test_token_is_durable_before_it_is_handed_out(intuit, tmp_path, monkeypatch):
    seed = intuit.new_refresh_token()
    store = FileTokenStore(tmp_path / "tokens.json")
    tm = TokenManager(config_for(intuit, tmp_path, refresh_token=seed), store=store, clock=Clock())

    def failing_write(document):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(store, "_write", failing_write)
    with pytest.raises(OSError):
        tm.access_token(REALM)
    assert intuit.refreshes == 1
    assert tm._cached(REALM) is None  # nothing handed out or cached when the save failed


def test_concurrent_managers_and_threads_never_hit_invalid_grant(intuit, tmp_path):
    """Two managers (two "runs") x 4 threads, each forcing refreshes, on one store; rotation on
    every refresh with no grace, so one stale refresh would be an invalid_grant."""
    seed = intuit.new_refresh_token()
    config = config_for(intuit, tmp_path, refresh_token=seed)
    managers = [TokenManager(config), TokenManager(config)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def worker(tm):
        try:
            barrier.wait()
            for _ in range(5):
                token = tm.access_token(REALM)
                tm.invalidate(REALM, token)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(managers[i % 2],)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == [] and intuit.invalid_grants == 0
    assert intuit.refreshes >= 5
    final = FileTokenStore(tmp_path / "tokens.json").load(REALM)
    assert final.refresh_token in intuit.refresh_tokens  # the store holds the one live token


def test_sqlite_store_end_to_end(intuit, tmp_path):
    url = f"sqlite:///{tmp_path}/tokens.db"
    config = config_for(intuit, tmp_path, refresh_token=intuit.new_refresh_token(), token_store=url)
    tm = TokenManager(config, clock=Clock())
    assert isinstance(tm.store, SqlTokenStore)
    token = tm.access_token(REALM)
    assert SqlTokenStore(url).load(REALM).access_token == token
    tm.invalidate(REALM)
    assert tm.access_token(REALM) != token
    assert SqlTokenStore(url).load(REALM).refresh_token in intuit.refresh_tokens


def test_realm_ids_union_of_config_and_store(intuit, tmp_path):
    store = FileTokenStore(tmp_path / "tokens.json")
    with store.locked("777") as locked:
        locked.save(TokenRecord("777", refresh_token="RT-stored-777-xxxxxx"))
    config = config_for(intuit, tmp_path, realm_ids=["111", 222], realms=[{"realm_id": "333", "refresh_token": "x" * 20}])
    assert TokenManager(config).realm_ids() == ["111", "222", "333", "777"]


def test_config_seed_rules():
    assert config_seeds({"realm_ids": ["1"], "refresh_token": "rt-abcdef"}) == (["1"], {"1": "rt-abcdef"})
    realms, seeds = config_seeds({"realms": [{"realm_id": "1", "refresh_token": "a" * 10}, {"realm_id": 2}],
                                  "refresh_token": "b" * 10})
    assert realms == ["1", "2"] and seeds == {"1": "a" * 10, "2": "b" * 10}
    with pytest.raises(TokenConfigError, match="realm_ids"):
        config_seeds({"refresh_token": "rt-abcdef"})
    with pytest.raises(TokenConfigError):
        config_seeds({"realm_ids": ["1", "2"], "refresh_token": "rt-abcdef"})


def test_revoke_removes_realm(intuit, tmp_path):
    tm = TokenManager(config_for(intuit, tmp_path, refresh_token=intuit.new_refresh_token()), clock=Clock())
    tm.access_token(REALM)
    live = tm.store.load(REALM).refresh_token
    tm.revoke(REALM)
    assert live not in intuit.refresh_tokens and tm.store.load(REALM) is None


# ---- authorize ------------------------------------------------------------------------------


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_authorize(config, **kwargs):
    urls: queue.Queue = queue.Queue()
    outcome: dict = {}

    def run():
        try:
            outcome["realm"] = authorize.run_authorization(
                config, open_browser=False, timeout=30, on_url=urls.put, out=outcome.setdefault("out", _Sink()), **kwargs
            )
        except BaseException as exc:  # noqa: BLE001
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return urls.get(timeout=10), thread, outcome


class _Sink:
    def __init__(self):
        self.parts = []

    def write(self, text):
        self.parts.append(text)

    def flush(self):
        pass

    def text(self):
        return "".join(self.parts)


def test_authorize_flow_stores_realm(intuit, tmp_path):
    redirect = f"http://localhost:{free_port()}/callback"
    config = config_for(intuit, tmp_path, redirect_uri=redirect, realm_ids=[])
    url, thread, outcome = start_authorize(config)
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
    assert url.startswith(intuit.base_url + "/connect/oauth2?")
    assert query["scope"] == "com.intuit.quickbooks.accounting" and query["redirect_uri"] == redirect
    assert len(query["state"]) >= 32
    page = requests.get(url, timeout=10)  # follows the 302 to our listener
    thread.join(10)
    assert page.status_code == 200 and REALM in page.text
    assert outcome.get("realm") == REALM, outcome.get("error")
    assert f"realm) {REALM}" in outcome["out"].text()
    record = FileTokenStore(tmp_path / "tokens.json").load(REALM)
    assert record.refresh_token in intuit.refresh_tokens
    # the tap now works with no refresh_token in its config at all
    tm = TokenManager(config_for(intuit, tmp_path, realm_ids=[]))  # real clock, like authorize's
    assert tm.realm_ids() == [REALM] and tm.access_token(REALM) == record.access_token
    # adding a second company keeps the first
    intuit.consent_realm = "9130350000000002"
    url, thread, outcome = start_authorize(config)
    requests.get(url, timeout=10)
    thread.join(10)
    assert outcome.get("realm") == "9130350000000002"
    assert FileTokenStore(tmp_path / "tokens.json").realm_ids() == [REALM, "9130350000000002"]


def test_authorize_rejects_wrong_state_and_denial(intuit, tmp_path):
    port = free_port()
    config = config_for(intuit, tmp_path, redirect_uri=f"http://127.0.0.1:{port}/cb")
    url, thread, outcome = start_authorize(config)
    forged = requests.get(f"http://127.0.0.1:{port}/cb?code=forged-code-123&state=nope&realmId=1", timeout=10)
    assert forged.status_code == 400 and thread.is_alive()  # ignored; still waiting
    state = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))["state"]
    requests.get(f"http://127.0.0.1:{port}/cb?error=access_denied&state={state}", timeout=10)
    thread.join(10)
    assert isinstance(outcome.get("error"), authorize.AuthorizationFailed)
    assert "access_denied" in str(outcome["error"])
    assert FileTokenStore(tmp_path / "tokens.json").realm_ids() == []


def test_authorize_requires_local_redirect(tmp_path, capsys):
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps({"client_id": "a", "client_secret": "b" * 10,
                                       "redirect_uri": "https://example.com/cb",
                                       "token_store": str(tmp_path / "t.json")}))
    assert authorize.main(["--config", str(config_file), "--no-browser"]) == 1
    assert "redirect_uri must be a local http address" in capsys.readouterr().err


def test_authorize_list_shows_no_tokens(intuit, tmp_path, capsys):
    tm = TokenManager(config_for(intuit, tmp_path, refresh_token=intuit.new_refresh_token()), clock=Clock())
    tm.access_token(REALM)
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps(config_for(intuit, tmp_path)))
    assert authorize.main(["--config", str(config_file), "--list"]) == 0
    out = capsys.readouterr().out
    assert REALM in out and "valid until" in out
    assert not any(secret in out for secret in intuit.issued)
    assert authorize.main(["--config", str(config_file), "--revoke", REALM]) == 0
    assert FileTokenStore(tmp_path / "tokens.json").realm_ids() == []


# ---- secrets never leak -----------------------------------------------------------------


def test_logs_and_errors_never_contain_secrets(intuit, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    seed = intuit.new_refresh_token()
    clock = Clock()
    tm = TokenManager(config_for(intuit, tmp_path, refresh_token=seed), clock=clock)
    token = tm.access_token(REALM)
    tm.invalidate(REALM)
    tm.access_token(REALM)
    # careless code logging a token, and a third-party logger: both redacted
    logging.getLogger("some.other.library").warning("debug dump: %s / %s", token, CLIENT_SECRET)
    try:
        raise RuntimeError(f"boom with {seed}")
    except RuntimeError:
        logging.getLogger("x").exception("failed")
    intuit.refresh_tokens.clear()
    clock.now += 7200
    with pytest.raises(ReauthorizationRequired) as info:
        tm.access_token(REALM)
    secrets_out = [CLIENT_SECRET, seed, *intuit.issued]
    text = caplog.text + "\n".join(r.getMessage() for r in caplog.records) + str(info.value) + repr(tm)
    assert "[REDACTED]" in caplog.text
    leaked = [s for s in secrets_out if s in text]
    assert leaked == []


LEAK_SCRIPT = textwrap.dedent(
    """
    import logging, sys, json
    logging.basicConfig(level=logging.DEBUG, stream=sys.stderr)
    from tap_quickbooks_online.auth import TokenManager
    config = json.loads(sys.argv[1])
    tm = TokenManager(config)
    token = tm.access_token(config["realm_ids"][0])
    logging.getLogger("careless").info("got %s", token)
    tm.invalidate(config["realm_ids"][0])
    tm.access_token(config["realm_ids"][0])
    tm._store.delete(config["realm_ids"][0])
    TokenManager(config).access_token(config["realm_ids"][0])  # seed is dead now: ReauthorizationRequired
    """
)


def test_subprocess_stderr_has_no_secret(intuit, tmp_path):
    seed = intuit.new_refresh_token()
    config = config_for(intuit, tmp_path, refresh_token=seed)
    result = subprocess.run([sys.executable, "-c", LEAK_SCRIPT, json.dumps(config)], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode != 0
    assert "ReauthorizationRequired" in result.stderr and "tap-quickbooks-online authorize" in result.stderr
    assert "Refreshed the access token" in result.stderr
    output = result.stdout + result.stderr
    leaked = [s for s in [CLIENT_SECRET, seed, *intuit.issued] if s in output]
    assert leaked == []


def test_authorize_reads_meltano_environment(tmp_path):
    env = {
        "TAP_QUICKBOOKS_ONLINE_CLIENT_ID": "cid",
        "MELTANO_EXTRACT_CLIENT_SECRET": "secret-from-env",
        "TAP_QUICKBOOKS_ONLINE_REALMS": json.dumps([{"realm_id": "1", "refresh_token": "r" * 12}]),
        "TAP_QUICKBOOKS_ONLINE_REDIRECT_URI": "http://localhost:1/cb",
    }
    config_file = tmp_path / "c.json"
    config_file.write_text(json.dumps({"client_id": "from-file"}))
    config = authorize.load_config([str(config_file)], env)
    assert config["client_id"] == "from-file"  # files win over the environment
    assert config["client_secret"] == "secret-from-env"
    assert config["realms"] == [{"realm_id": "1", "refresh_token": "r" * 12}]
    assert config["redirect_uri"] == "http://localhost:1/cb"
