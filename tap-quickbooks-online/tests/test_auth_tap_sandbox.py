"""Token handling through real tap runs (the console script, as Meltano starts it) on the sandbox.

Four runs over two simulated days share one token store: expiry handled through the API's 401,
24 h rotation saved, the stale seed left in the config ignored after the grace period, and a
revoked grant ending the run with the `authorize` hint. All output of every run is searched for
every secret that existed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import requests

from tap_quickbooks_online.token_store import open_token_store

CLI = shutil.which("tap-quickbooks-online", path=os.path.dirname(sys.executable)) or "tap-quickbooks-online"


def run_tap(config_file, catalog_file=None) -> subprocess.CompletedProcess:
    args = [CLI, "--config", str(config_file)]
    args += ["--catalog", str(catalog_file)] if catalog_file else ["--discover"]
    return subprocess.run(args, capture_output=True, text=True, timeout=300)


def test_token_lifecycle_over_tap_runs(qbo_sandbox, tmp_path, make_config):
    sb = qbo_sandbox
    creds = sb.credentials()
    config = make_config(sb)
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps(config))
    discovered = run_tap(config_file)
    assert discovered.returncode == 0, discovered.stderr[-3000:]
    catalog = json.loads(discovered.stdout)
    for entry in catalog["streams"]:
        for md in entry["metadata"]:
            if md["breadcrumb"] == []:
                md["metadata"]["selected"] = entry["tap_stream_id"] == "customers"
    catalog_file = tmp_path / "catalog.json"
    catalog_file.write_text(json.dumps(catalog))

    store = open_token_store(config["token_store"])
    realms = [r["realm_id"] for r in creds["realms"]]
    seeds = {r["realm_id"]: r["refresh_token"] for r in creds["realms"]}
    secrets = {creds["client_secret"], *seeds.values()}
    outputs = [discovered.stdout + discovered.stderr]

    def sync() -> subprocess.CompletedProcess:
        result = run_tap(config_file, catalog_file)
        outputs.append(result.stdout + result.stderr)
        for realm in store.realm_ids():
            record = store.load(realm)
            secrets.update({record.refresh_token, record.access_token})
        return result

    def oauth() -> dict:
        return sb.control("GET", "/_sandbox/counters")["oauth"]

    first = sync()
    assert first.returncode == 0, first.stderr[-3000:]
    assert '"stream": "customers"' in first.stdout or '"stream":"customers"' in first.stdout
    assert sorted(store.realm_ids()) == sorted(realms)

    sb.control("POST", "/_sandbox/clock", json={"advance": 25 * 3600})  # access token dead, rotation due
    second = sync()
    assert second.returncode == 0, second.stderr[-3000:]
    for realm in realms:
        assert store.load(realm).refresh_token != seeds[realm]  # rotated and saved
    assert oauth()["refresh_rotations"] == len(realms)

    sb.control("POST", "/_sandbox/clock", json={"advance": 3600 + 601})  # the seeds' grace is over
    third = sync()
    assert third.returncode == 0, third.stderr[-3000:]
    assert oauth()["invalid_grant"] == 0  # the dead seeds in the config were never sent

    answer = requests.post(f"{sb.base_url}/v2/oauth2/tokens/revoke", json={"token": store.load(realms[0]).refresh_token},
                           auth=(creds["client_id"], creds["client_secret"]), timeout=30)
    assert answer.status_code == 200
    fourth = sync()
    assert fourth.returncode != 0
    assert "tap-quickbooks-online authorize" in fourth.stderr and realms[0] in fourth.stderr

    leaked = [s for s in secrets if s and any(s in out for out in outputs)]
    assert leaked == []
