"""TokenManager against the QBO sandbox's real OAuth endpoints and its controllable clock.

Sandbox OAuth rules (see qbo_sandbox/oauth.py): access tokens live 3600 s; a refresh returns the
same refresh token until it is 24 h old, then a new one, and the old one works for a 600 s grace
period only; `POST /_sandbox/oauth` changes those periods; revoking ends the whole grant.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
import time

import pytest
import requests

from tap_quickbooks_online.auth import ReauthorizationRequired, TokenManager
from tap_quickbooks_online.token_store import open_token_store


class SandboxClock:
    """The sandbox clock as seen by the tap: wall time plus the offset read after each jump."""

    def __init__(self, sb) -> None:
        self.sb = sb
        self.offset = 0.0
        self.sync()

    def sync(self) -> None:
        self.offset = self.sb.control("GET", "/_sandbox/clock")["epoch"] - time.time()

    def advance(self, seconds: float) -> None:
        self.sb.control("POST", "/_sandbox/clock", json={"advance": seconds})
        self.sync()

    def __call__(self) -> float:
        return time.time() + self.offset


@pytest.fixture
def sb(qbo_sandbox):
    return qbo_sandbox


def tap_config(sb, tmp_path, **extra) -> dict:
    creds = sb.credentials()
    config = {
        "client_id": creds["client_id"],
        "client_secret": creds["client_secret"],
        "realms": [{"realm_id": r["realm_id"], "refresh_token": r["refresh_token"]} for r in creds["realms"]],
        "oauth_base_url": sb.base_url,
        "token_store": str(tmp_path / "tokens.json"),
    }
    config.update(extra)
    return config


def company_info(sb, realm: str, token: str) -> requests.Response:
    return requests.get(
        f"{sb.base_url}/v3/company/{realm}/companyinfo/{realm}",
        headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
        params={"minorversion": "75"},
        timeout=30,
    )


def raw_refresh(sb, refresh_token: str) -> requests.Response:
    creds = sb.credentials()
    return requests.post(
        f"{sb.base_url}/oauth2/v1/tokens/bearer",
        data={"grant_type": "refresh_token", "refresh_token": refresh_token},
        auth=(creds["client_id"], creds["client_secret"]),
        headers={"Accept": "application/json"},
        timeout=30,
    )


def oauth_counters(sb) -> dict:
    return sb.control("GET", "/_sandbox/counters")["oauth"]


def test_access_token_refreshed_ahead_of_expiry_on_sandbox_clock(sb, tmp_path):
    clock = SandboxClock(sb)
    tm = TokenManager(tap_config(sb, tmp_path), clock=clock)
    realm = tm.realm_ids()[0]
    first = tm.access_token(realm)
    assert company_info(sb, realm, first).status_code == 200
    issued = oauth_counters(sb)["tokens_issued"]
    clock.advance(3600 - 400)  # 6 min 40 s left: still served as is
    assert tm.access_token(realm) == first and oauth_counters(sb)["tokens_issued"] == issued
    clock.advance(200)  # 3 min 20 s left: refreshed ahead of expiry, while the old one still works
    assert company_info(sb, realm, first).status_code == 200
    second = tm.access_token(realm)
    assert second != first and oauth_counters(sb)["tokens_issued"] == issued + 1
    assert company_info(sb, realm, second).status_code == 200
    assert tm.store.load(realm).access_token == second


def test_401_then_invalidate_refreshes(sb, tmp_path):
    tm = TokenManager(tap_config(sb, tmp_path), clock=SandboxClock(sb))
    realm = tm.realm_ids()[1]
    token = tm.access_token(realm)
    sb.control("POST", "/_sandbox/oauth", json={"expire_access_tokens": True, "realm": realm})
    rejected = company_info(sb, realm, token)
    assert rejected.status_code == 401 and rejected.json()["fault"]["error"][0]["code"] == "3200"
    tm.invalidate(realm, token)
    fresh = tm.access_token(realm)
    assert fresh != token and company_info(sb, realm, fresh).status_code == 200


def test_rotation_after_24h_saved_and_old_token_dies_after_grace(sb, tmp_path):
    clock = SandboxClock(sb)
    config = tap_config(sb, tmp_path)
    realm = config["realms"][0]["realm_id"]
    seed = config["realms"][0]["refresh_token"]
    tm = TokenManager(config, clock=clock)
    tm.access_token(realm)
    assert tm.store.load(realm).refresh_token == seed  # < 24 h old: not rotated yet
    clock.advance(86400 + 60)
    token = tm.access_token(realm)  # access token long expired → refresh → rotation
    rotated = tm.store.load(realm).refresh_token
    assert rotated != seed and oauth_counters(sb)["refresh_rotations"] == 1
    assert company_info(sb, realm, token).status_code == 200
    clock.advance(601)  # grace over: the old refresh token is dead at the sandbox
    assert raw_refresh(sb, seed).json() == {"error": "invalid_grant"}
    # A new run with the same config (stale seed) keeps working: the store is newer and wins.
    clock.advance(3600)
    again = TokenManager(config, clock=clock)
    assert company_info(sb, realm, again.access_token(realm)).status_code == 200
    assert oauth_counters(sb)["invalid_grant"] == 1  # only our raw probe above


def test_revoked_grant_raises_reauthorization_required(sb, tmp_path):
    clock = SandboxClock(sb)
    tm = TokenManager(tap_config(sb, tmp_path), clock=clock)
    realm = tm.realm_ids()[0]
    tm.access_token(realm)
    creds = sb.credentials()
    revoked = requests.post(f"{sb.base_url}/v2/oauth2/tokens/revoke", json={"token": tm.store.load(realm).refresh_token},
                            auth=(creds["client_id"], creds["client_secret"]), timeout=30)
    assert revoked.status_code == 200
    clock.advance(3600)
    with pytest.raises(ReauthorizationRequired) as info:
        tm.access_token(realm)
    assert "tap-quickbooks-online authorize" in str(info.value) and realm in str(info.value)
    # the other company is unaffected
    other = tm.realm_ids()[1]
    assert company_info(sb, other, tm.access_token(other)).status_code == 200


def test_manager_revoke_helper(sb, tmp_path):
    tm = TokenManager(tap_config(sb, tmp_path), clock=SandboxClock(sb))
    realm = tm.realm_ids()[0]
    token = tm.access_token(realm)
    tm.revoke(realm)
    assert company_info(sb, realm, token).status_code == 401
    assert tm.store.load(realm) is None and oauth_counters(sb)["revocations"] == 1


def test_forced_rotation_makes_a_stale_refresh_fatal(sb):
    """Control for the concurrency tests: with rotation on every refresh and no grace, a second
    refresh with the same (now superseded) token is refused — the race the lock must prevent."""
    sb.control("POST", "/_sandbox/oauth", json={"rotation_period": 0, "grace_period": 0})
    seed = sb.credentials()["realms"][0]["refresh_token"]
    assert raw_refresh(sb, seed).status_code == 200
    time.sleep(0.01)
    assert raw_refresh(sb, seed).json() == {"error": "invalid_grant"}


RUN_SCRIPT = textwrap.dedent(
    """
    import json, sys, logging
    from tap_quickbooks_online.auth import TokenManager
    logging.basicConfig(level=logging.DEBUG, stream=sys.stderr)
    config, rounds = json.loads(sys.argv[1]), int(sys.argv[2])
    tm = TokenManager(config)
    realms = tm.realm_ids()
    for i in range(rounds):
        for realm in realms:
            token = tm.access_token(realm)
            tm.invalidate(realm, token)  # as after a 401: forces a refresh next time
    print(json.dumps({"refreshes": tm.refresh_count}))
    """
)


@pytest.mark.parametrize("store_kind", ["file", "sqlite"])
def test_concurrent_runs_with_forced_rotation_never_invalid_grant(sb, tmp_path, store_kind):
    sb.control("POST", "/_sandbox/oauth", json={"rotation_period": 0, "grace_period": 0})
    store = str(tmp_path / "tokens.json") if store_kind == "file" else f"sqlite:///{tmp_path}/tokens.db"
    config = tap_config(sb, tmp_path, token_store=store)
    rounds = 6
    runs = [
        subprocess.Popen([sys.executable, "-c", RUN_SCRIPT, json.dumps(config), str(rounds)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outputs = [run.communicate(timeout=180) for run in runs]
    for run, (out, err) in zip(runs, outputs):
        assert run.returncode == 0, err[-2000:]
    counters = oauth_counters(sb)
    assert counters["invalid_grant"] == 0
    refreshes = sum(json.loads(out)["refreshes"] for out, _ in outputs)
    assert refreshes >= rounds * 2  # at least each run's own rounds per realm... across both realms
    assert counters["refresh_rotations"] == refreshes  # every refresh rotated and none was lost
    # the token left in the store is the live one
    final = open_token_store(store)
    for realm in [r["realm_id"] for r in config["realms"]]:
        assert raw_refresh(sb, final.load(realm).refresh_token).status_code == 200
    # and no secret reached the logs of either run
    creds = sb.credentials()
    secrets = [creds["client_secret"], *(r["refresh_token"] for r in creds["realms"])]
    for realm in [r["realm_id"] for r in config["realms"]]:
        record = final.load(realm)
        secrets += [record.access_token]
    for out, err in outputs:
        assert [s for s in secrets if s in out + err] == []


def test_threads_of_one_run_share_one_refresh(sb, tmp_path):
    sb.control("POST", "/_sandbox/oauth", json={"rotation_period": 0, "grace_period": 0})
    tm = TokenManager(tap_config(sb, tmp_path), clock=SandboxClock(sb))
    realm = tm.realm_ids()[0]
    tokens, errors = [], []
    barrier = threading.Barrier(8)

    def stream():
        try:
            barrier.wait()
            tokens.append(tm.access_token(realm))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=stream) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == [] and len(set(tokens)) == 1 and tm.refresh_count == 1
