"""OAuth 2.0: authorization-code grant, refresh with rotation and grace, expiry, revocation."""
from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import requests

TOKEN = "/oauth2/v1/tokens/bearer"


def _creds(sb):
    c = sb.credentials()
    return c, (c["client_id"], c["client_secret"])


def _refresh(sb, auth, rt, basic=True):
    if basic:
        return requests.post(sb.base_url + TOKEN, data={"grant_type": "refresh_token", "refresh_token": rt}, auth=auth)
    return requests.post(sb.base_url + TOKEN, data={"grant_type": "refresh_token", "refresh_token": rt,
                                                    "client_id": auth[0], "client_secret": auth[1]})


def _call(sb, realm, at):
    return requests.get(f"{sb.base_url}/v3/company/{realm}/companyinfo/{realm}",
                        headers={"Authorization": f"Bearer {at}", "Accept": "application/json"})


def test_authorization_code_flow_is_scriptable(qbo_sandbox):
    sb = qbo_sandbox
    c, auth = _creds(sb)
    realm = c["realms"][1]["realm_id"]
    redirect = c["redirect_uris"][0]
    page = requests.get(sb.base_url + "/connect/oauth2", params={
        "client_id": c["client_id"], "redirect_uri": redirect, "response_type": "code",
        "scope": "com.intuit.quickbooks.accounting", "state": "xyz"})
    assert page.status_code == 200 and "Connect" in page.text and realm in page.text
    r = requests.get(sb.base_url + "/connect/oauth2", allow_redirects=False, params={
        "client_id": c["client_id"], "redirect_uri": redirect, "response_type": "code",
        "scope": "com.intuit.quickbooks.accounting openid", "state": "xyz", "consent": "approve",
        "realm_id": realm})
    assert r.status_code == 302
    loc = urlsplit(r.headers["location"])
    q = parse_qs(loc.query)
    assert f"{loc.scheme}://{loc.netloc}{loc.path}" == redirect
    assert q["state"] == ["xyz"] and q["realmId"] == [realm]
    tok = requests.post(sb.base_url + TOKEN, auth=auth, data={
        "grant_type": "authorization_code", "code": q["code"][0], "redirect_uri": redirect})
    assert tok.status_code == 200, tok.text
    body = tok.json()
    assert body["expires_in"] == 3600 and body["x_refresh_token_expires_in"] > 86400 * 100 and body["id_token"]
    assert _call(sb, realm, body["access_token"]).status_code == 200
    # The token is for that company only.
    other = c["realms"][0]["realm_id"]
    assert _call(sb, other, body["access_token"]).status_code == 403
    # A code works once.
    again = requests.post(sb.base_url + TOKEN, auth=auth, data={
        "grant_type": "authorization_code", "code": q["code"][0], "redirect_uri": redirect})
    assert again.status_code == 400 and again.json() == {"error": "invalid_grant"}
    # Form POST approval works too.
    form = requests.post(sb.base_url + "/connect/oauth2", allow_redirects=False, data={
        "client_id": c["client_id"], "redirect_uri": redirect, "response_type": "code", "state": "s2",
        "consent": "approve", "realm_id": realm})
    assert form.status_code == 302 and "code=" in form.headers["location"]
    denied = requests.get(sb.base_url + "/connect/oauth2", allow_redirects=False, params={
        "client_id": c["client_id"], "redirect_uri": redirect, "state": "s3", "consent": "deny"})
    assert "error=access_denied" in denied.headers["location"]


def test_unknown_client_or_redirect_refused(qbo_sandbox):
    sb = qbo_sandbox
    c, auth = _creds(sb)
    for params in ({"client_id": "nope", "redirect_uri": c["redirect_uris"][0]},
                   {"client_id": c["client_id"], "redirect_uri": "http://evil.example/cb"}):
        r = requests.get(sb.base_url + "/connect/oauth2", allow_redirects=False,
                         params={**params, "response_type": "code", "state": "x", "consent": "approve"})
        assert r.status_code == 400 and "location" not in r.headers
    bad = requests.post(sb.base_url + TOKEN, auth=(c["client_id"], "wrong"),
                        data={"grant_type": "refresh_token", "refresh_token": c["realms"][0]["refresh_token"]})
    assert bad.status_code == 401 and bad.json() == {"error": "invalid_client"}
    grant = requests.post(sb.base_url + TOKEN, auth=auth, data={"grant_type": "password"})
    assert grant.status_code == 400 and grant.json() == {"error": "unsupported_grant_type"}


def test_access_token_expiry_and_refresh_rotation(qbo_sandbox):
    sb = qbo_sandbox
    c, auth = _creds(sb)
    realm, rt0 = c["realms"][0]["realm_id"], c["realms"][0]["refresh_token"]
    first = _refresh(sb, auth, rt0)
    assert first.status_code == 200
    at = first.json()["access_token"]
    assert first.json()["refresh_token"] == rt0  # younger than the rotation period: same token back
    assert _call(sb, realm, at).status_code == 200
    sb.control("POST", "/_sandbox/clock", json={"advance": 3601})
    expired = _call(sb, realm, at)
    assert expired.status_code == 401 and expired.json()["fault"]["error"][0]["code"] == "3200"
    # Form-body client authentication works as well as Basic.
    second = _refresh(sb, auth, rt0, basic=False)
    assert second.status_code == 200 and second.json()["refresh_token"] == rt0
    assert _call(sb, realm, second.json()["access_token"]).status_code == 200
    # Past the rotation period (24 h) a new refresh token is issued...
    sb.control("POST", "/_sandbox/clock", json={"advance": 86400})
    third = _refresh(sb, auth, rt0)
    rt1 = third.json()["refresh_token"]
    assert third.status_code == 200 and rt1 != rt0
    # ...the old one still works during the grace period (and hands out the new one)...
    sb.control("POST", "/_sandbox/clock", json={"advance": 60})
    grace = _refresh(sb, auth, rt0)
    assert grace.status_code == 200 and grace.json()["refresh_token"] == rt1
    # ...and stops working after it.
    sb.control("POST", "/_sandbox/clock", json={"advance": 3600})
    late = _refresh(sb, auth, rt0)
    assert late.status_code == 400 and late.json() == {"error": "invalid_grant"}
    assert _refresh(sb, auth, rt1).status_code == 200
    # A refresh token older than its lifetime is dead.
    sb.control("POST", "/_sandbox/oauth", json={"rotation_period": 10**9})
    sb.control("POST", "/_sandbox/clock", json={"advance": 102 * 86400})
    assert _refresh(sb, auth, rt1).json() == {"error": "invalid_grant"}


def test_revocation_kills_the_grant(qbo_sandbox):
    sb = qbo_sandbox
    c, auth = _creds(sb)
    realm, rt = c["realms"][1]["realm_id"], c["realms"][1]["refresh_token"]
    at = _refresh(sb, auth, rt).json()["access_token"]
    assert _call(sb, realm, at).status_code == 200
    r = requests.post(sb.base_url + "/v2/oauth2/tokens/revoke", json={"token": rt}, auth=auth)
    assert r.status_code == 200
    assert _call(sb, realm, at).status_code == 401
    assert _refresh(sb, auth, rt).json() == {"error": "invalid_grant"}
    assert _call(sb, realm, "garbage").status_code == 401
    assert requests.get(f"{sb.base_url}/v3/company/{realm}/companyinfo/{realm}").status_code == 401
