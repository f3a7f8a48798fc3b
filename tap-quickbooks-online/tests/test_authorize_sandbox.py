"""`tap-quickbooks-online authorize` end to end against the sandbox's consent page.

The real console script runs in a subprocess; the test plays the browser: it opens the printed
consent URL, reads the sandbox's consent form, picks a company, approves, and follows the redirect
to the command's local listener.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import urllib.parse
from html.parser import HTMLParser
from pathlib import Path

import pytest
import requests

from tap_quickbooks_online import authorize
from tap_quickbooks_online.auth import TokenManager
from tap_quickbooks_online.token_store import open_token_store

CLI = shutil.which("tap-quickbooks-online", path=os.path.dirname(sys.executable)) or "tap-quickbooks-online"


class ConsentForm(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.action = None
        self.hidden: dict[str, str] = {}
        self.realms: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.action = a.get("action")
        elif tag == "input" and a.get("type") == "hidden":
            self.hidden[a["name"]] = a.get("value", "")
        elif tag == "input" and a.get("type") == "radio" and a.get("name") == "realm_id":
            self.realms.append(a["value"])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def consent_env(qbo_sandbox, tmp_path):
    sb = qbo_sandbox
    redirect = f"http://localhost:{free_port()}/callback"
    sb.control("POST", "/_sandbox/oauth", json={"add_redirect_uri": redirect})
    creds = sb.credentials()
    config = {
        "client_id": creds["client_id"],
        "client_secret": creds["client_secret"],
        "redirect_uri": redirect,
        "oauth_base_url": sb.base_url,
        "token_store": str(tmp_path / "store" / "tokens.json"),
    }
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps(config))
    return sb, config, config_file


def start_cli(config_file: Path) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([CLI, "authorize", "--config", str(config_file), "--no-browser", "--timeout", "60"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for _ in range(10):
        line = proc.stdout.readline()
        if line.startswith("http"):
            return proc, line.strip()
    proc.kill()
    raise AssertionError("authorize printed no consent URL: " + proc.stderr.read())


def consent(sb, url: str, realm_index: int, decision: str) -> tuple[str, requests.Response]:
    """Act as the user's browser; returns (the redirect location, the listener's page)."""
    page = requests.get(url, timeout=30)
    assert page.status_code == 200
    form = ConsentForm()
    form.feed(page.text)
    data = {**form.hidden, "realm_id": form.realms[realm_index], "consent": decision}
    answer = requests.post(urllib.parse.urljoin(url, form.action), data=data, allow_redirects=False, timeout=30)
    assert answer.status_code == 302
    location = answer.headers["Location"]
    return location, requests.get(location, timeout=30)


def test_authorize_adds_realms_one_at_a_time(consent_env):
    sb, config, config_file = consent_env
    realms = sb.realm_ids()
    proc, url = start_cli(config_file)
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
    assert url.startswith(sb.base_url + "/connect/oauth2?")
    assert query["scope"] == "com.intuit.quickbooks.accounting" and query["response_type"] == "code"
    assert query["client_id"] == config["client_id"] and query["redirect_uri"] == config["redirect_uri"]
    location, landing = consent(sb, url, 1, "approve")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert landing.status_code == 200 and realms[1] in landing.text
    assert f"Authorized QuickBooks company (realm) {realms[1]}" in out
    code = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(location).query))["code"]

    store_path = Path(config["token_store"])
    assert oct(store_path.stat().st_mode & 0o777) == "0o600"
    assert oct(store_path.parent.stat().st_mode & 0o777) == "0o700"
    store = open_token_store(config["token_store"])
    assert store.realm_ids() == [realms[1]]
    record = store.load(realms[1])
    headers = {"Authorization": f"Bearer {record.access_token}", "Accept": "application/json"}
    info = requests.get(f"{sb.base_url}/v3/company/{realms[1]}/companyinfo/{realms[1]}", headers=headers, timeout=30)
    assert info.status_code == 200
    secrets = [config["client_secret"], code, record.refresh_token, record.access_token]
    assert [s for s in secrets if s in out + err] == []

    # second company, same command
    proc, url = start_cli(config_file)
    consent(sb, url, 0, "approve")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert sorted(store.realm_ids()) == sorted(realms)

    # the tap needs nothing else: no refresh_token in its config, realms come from the store
    tm = TokenManager({k: v for k, v in config.items() if k != "redirect_uri"})
    assert sorted(tm.realm_ids()) == sorted(realms)
    assert tm.access_token(realms[0]) == store.load(realms[0]).access_token


def test_authorized_token_beats_older_config_seed(consent_env):
    sb, config, config_file = consent_env
    creds = sb.credentials()
    realm = creds["realms"][0]["realm_id"]
    seeded = {**config, "realms": [{"realm_id": realm, "refresh_token": creds["realms"][0]["refresh_token"]}]}
    config_file.write_text(json.dumps(seeded))
    proc, url = start_cli(config_file)
    consent(sb, url, 0, "approve")
    assert proc.wait(timeout=60) == 0
    authorized = open_token_store(config["token_store"]).load(realm).refresh_token
    tm = TokenManager(seeded)
    tm.invalidate(realm, tm.access_token(realm))
    tm.access_token(realm)  # a refresh: made with the authorized grant, not the config's seed
    assert tm.store.load(realm).refresh_token == authorized
    assert tm.refresh_count == 1


def test_denied_consent_fails_cleanly(consent_env):
    sb, config, config_file = consent_env
    proc, url = start_cli(config_file)
    _, landing = consent(sb, url, 0, "deny")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1 and "access_denied" in err and landing.status_code == 400
    assert open_token_store(config["token_store"]).realm_ids() == []


def test_unregistered_redirect_is_refused_by_the_consent_page(consent_env, tmp_path):
    sb, config, config_file = consent_env
    other = {**config, "redirect_uri": f"http://localhost:{free_port()}/elsewhere"}
    config_file.write_text(json.dumps(other))
    proc, url = start_cli(config_file)
    page = requests.get(url, timeout=30)
    assert page.status_code == 400 and re.search("redirect_uri is not registered", page.text)
    proc.kill()
    proc.communicate()


def test_list_and_revoke_commands(consent_env, capsys):
    sb, config, config_file = consent_env
    proc, url = start_cli(config_file)
    consent(sb, url, 0, "approve")
    assert proc.wait(timeout=60) == 0
    realm = sb.realm_ids()[0]
    record = open_token_store(config["token_store"]).load(realm)
    # in-process (same `main` the console script calls) to spare two interpreter start-ups
    assert authorize.main(["--config", str(config_file), "--list"]) == 0
    listing = capsys.readouterr()
    assert realm in listing.out and "valid until" in listing.out
    assert record.refresh_token not in listing.out + listing.err
    assert authorize.main(["--config", str(config_file), "--revoke", realm]) == 0
    revoked = capsys.readouterr()
    assert f"Revoked QuickBooks company (realm) {realm}" in revoked.out
    assert record.refresh_token not in revoked.out + revoked.err
    assert open_token_store(config["token_store"]).realm_ids() == []
    headers = {"Authorization": f"Bearer {record.access_token}", "Accept": "application/json"}
    info = requests.get(f"{sb.base_url}/v3/company/{realm}/companyinfo/{realm}", headers=headers, timeout=30)
    assert info.status_code == 401  # the grant is gone at Intuit (the sandbox)
