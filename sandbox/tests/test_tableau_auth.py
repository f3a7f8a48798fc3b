"""Server info, sign-in (PAT and connected-app JWT), sessions and error envelopes, through TSC and raw REST."""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET

import pytest
import requests
import tableauserverclient as TSC
from tableauserverclient.server.endpoint.exceptions import FailedSignInError, ServerResponseError

from tableau_sandbox.testing import connected_app_jwt

NS = {"t": "http://tableau.com/api"}
FLAVORS = ["server", "cloud"]


def pat_auth(creds):
    return TSC.PersonalAccessTokenAuth(creds["pat"]["token_name"], creds["pat"]["token_secret"],
                                       site_id=creds["site_content_url"])


def signed_in(sb, creds=None):
    creds = creds or sb.credentials()
    server = TSC.Server(sb.base_url, use_server_version=True)
    server.auth.sign_in(pat_auth(creds))
    return server


@pytest.mark.parametrize("flavor", FLAVORS)
def test_server_info_matches_flavor(tableau_sandbox_factory, flavor):
    sb = tableau_sandbox_factory(flavor)
    server = TSC.Server(sb.base_url)
    info = server.server_info.get()  # TSC calls /api/2.4/serverInfo unauthenticated
    expected = {"server": ("2025.1.0", "3.25"), "cloud": ("2025.3.0", "3.27")}[flavor]
    assert (info.product_version, info.rest_api_version) == expected
    assert info.build_number.startswith(expected[0].replace(".", "")[:5])
    raw = requests.get(f"{sb.base_url}/api/3.4/serverinfo", timeout=10)
    root = ET.fromstring(raw.content)
    assert root.tag == "{http://tableau.com/api}tsResponse"
    assert root.find("t:serverInfo/t:restApiVersion", NS).text == expected[1]


@pytest.mark.parametrize("flavor", FLAVORS)
def test_pat_sign_in_and_out(tableau_sandbox_factory, flavor):
    sb = tableau_sandbox_factory(flavor)
    creds = sb.credentials()
    server = TSC.Server(sb.base_url, use_server_version=True)
    with server.auth.sign_in(pat_auth(creds)):
        assert server.version == {"server": "3.25", "cloud": "3.27"}[flavor]
        assert server.site_url == creds["site_content_url"]
        token, site_id = server.auth_token, server.site_id
        projects, _ = server.projects.get()
        assert creds["project"] in {p.name for p in projects}
    # signed out: the token is dead
    resp = requests.get(f"{sb.base_url}/api/3.25/sites/{site_id}/projects",
                        headers={"X-Tableau-Auth": token}, timeout=10)
    assert resp.status_code == 401
    assert ET.fromstring(resp.content).find("t:error", NS).get("code") == "401002"


def test_wrong_pat_is_401001_and_hides_the_secret(tableau_sandbox):
    creds = tableau_sandbox.credentials()
    server = TSC.Server(tableau_sandbox.base_url)
    bad = TSC.PersonalAccessTokenAuth(creds["pat"]["token_name"], "not-the-secret", creds["site_content_url"])
    with pytest.raises(FailedSignInError) as err:
        server.auth.sign_in(bad)
    assert err.value.code == "401001"
    assert "not-the-secret" not in str(err.value)


def test_unknown_site_is_a_sign_in_error(tableau_sandbox):
    creds = tableau_sandbox.credentials()
    creds["site_content_url"] = "nosuchsite"
    with pytest.raises(FailedSignInError) as err:
        TSC.Server(tableau_sandbox.base_url).auth.sign_in(pat_auth(creds))
    assert err.value.code == "401001"


def test_cloud_has_no_default_site_but_server_does(tableau_sandbox_factory):
    for flavor, ok in (("server", True), ("cloud", False)):
        sb = tableau_sandbox_factory(flavor)
        body = (b'<tsRequest><credentials name="admin" password="x"><site contentUrl=""/></credentials></tsRequest>')
        resp = requests.post(f"{sb.base_url}/api/3.20/auth/signin", data=body, timeout=10)
        assert resp.status_code == 401
        detail = ET.fromstring(resp.content).find("t:error/t:detail", NS).text
        assert ("was not found" in detail) is (not ok)


@pytest.mark.parametrize("flavor,minutes", [("server", 240), ("cloud", 120)])
def test_session_expires_on_the_sandbox_clock(tableau_sandbox_factory, flavor, minutes):
    sb = tableau_sandbox_factory(flavor)
    server = signed_in(sb)
    server.projects.get()
    sb.control("POST", "/_sandbox/clock", json={"advance_minutes": minutes - 1})
    server.projects.get()  # still valid a minute before the end
    sb.control("POST", "/_sandbox/clock", json={"advance_minutes": 2})
    with pytest.raises(FailedSignInError) as err:
        server.projects.get()
    assert err.value.code == "401002"


@pytest.mark.parametrize("flavor", FLAVORS)
def test_second_pat_sign_in_invalidates_the_first_session(tableau_sandbox_factory, flavor):
    sb = tableau_sandbox_factory(flavor)
    creds = sb.credentials()
    first = signed_in(sb, creds)
    second = signed_in(sb, creds)
    second.projects.get()
    with pytest.raises(FailedSignInError) as err:
        first.projects.get()
    assert err.value.code == "401002"


@pytest.mark.parametrize("flavor", FLAVORS)
def test_connected_app_jwt_sign_in(tableau_sandbox_factory, flavor):
    sb = tableau_sandbox_factory(flavor)
    creds = sb.credentials()
    server = TSC.Server(sb.base_url, use_server_version=True)
    token = connected_app_jwt(creds, scopes=["tableau:content:read"])
    with server.auth.sign_in(TSC.JWTAuth(token, site_id=creds["site_content_url"])):
        projects, _ = server.projects.get()
        assert creds["project"] in {p.name for p in projects}
        # scp does not cover publishing: 403078
        with pytest.raises(ServerResponseError) as err:
            server.projects.create(TSC.ProjectItem("not allowed"))
        assert err.value.code == "403078"


def _jwt_error(sb, token):
    creds = sb.credentials()
    with pytest.raises(FailedSignInError) as err:
        TSC.Server(sb.base_url).auth.sign_in(TSC.JWTAuth(token, site_id=creds["site_content_url"]))
    assert err.value.code == "401001"
    return err.value.detail


@pytest.mark.parametrize("case,expected", [
    ("bad_signature", "signature"),
    ("wrong_kid", "kid"),
    ("wrong_iss", "iss"),
    ("wrong_aud", "aud"),
    ("exp_too_far", "10 minutes"),
    ("expired", "expired"),
    ("no_scp", "scp"),
    ("unknown_sub", "sub"),
    ("no_jti", "jti"),
])
def test_jwt_validation_failures(tableau_sandbox, case, expected):
    import jwt as pyjwt

    creds = tableau_sandbox.credentials()
    app = creds["connected_app"]
    if case == "bad_signature":
        forged = dict(creds, connected_app=dict(app, secret_value="x" * 40))
        token = connected_app_jwt(forged)
    elif case == "wrong_kid":
        token = pyjwt.encode({"iss": app["client_id"], "sub": app["username"], "aud": "tableau",
                              "exp": int(time.time()) + 60, "jti": "j1", "scp": ["tableau:*:*"]},
                             app["secret_value"], algorithm="HS256", headers={"kid": "other"})
    elif case == "wrong_iss":
        token = connected_app_jwt(creds, iss="someone-else")
    elif case == "wrong_aud":
        token = connected_app_jwt(creds, aud="salesforce")
    elif case == "exp_too_far":
        token = connected_app_jwt(creds, lifetime_s=11 * 60)
    elif case == "expired":
        token = connected_app_jwt(creds, lifetime_s=-5)
    elif case == "no_scp":
        token = connected_app_jwt(creds, scopes=[])
    elif case == "unknown_sub":
        token = connected_app_jwt(creds, sub="nobody@example.com")
    else:
        token = connected_app_jwt(creds, jti=None)
    detail = _jwt_error(tableau_sandbox, token)
    assert expected in detail
    assert app["secret_value"] not in detail


def test_jwt_jti_is_single_use(tableau_sandbox):
    creds = tableau_sandbox.credentials()
    token = connected_app_jwt(creds)
    TSC.Server(tableau_sandbox.base_url).auth.sign_in(TSC.JWTAuth(token, site_id=creds["site_content_url"]))
    assert "already been used" in _jwt_error(tableau_sandbox, token)


def test_jwt_expiry_uses_the_sandbox_clock(tableau_sandbox):
    creds = tableau_sandbox.credentials()
    token = connected_app_jwt(creds, lifetime_s=300)
    tableau_sandbox.control("POST", "/_sandbox/clock", json={"advance_seconds": 600})
    assert "expired" in _jwt_error(tableau_sandbox, token)


def test_raw_rest_accepts_any_3x_version_and_answers_tableau_errors(tableau_sandbox):
    creds = tableau_sandbox.credentials()
    body = (f'<tsRequest><credentials personalAccessTokenName="{creds["pat"]["token_name"]}" '
            f'personalAccessTokenSecret="{creds["pat"]["token_secret"]}">'
            f'<site contentUrl="{creds["site_content_url"]}"/></credentials></tsRequest>')
    resp = requests.post(f"{tableau_sandbox.base_url}/api/3.9/auth/signin", data=body, timeout=10)
    assert resp.status_code == 200
    cred = ET.fromstring(resp.content).find("t:credentials", NS)
    token, site_id = cred.get("token"), cred.find("t:site", NS).get("id")
    for version in ("3.0", "3.19", "3.25"):
        r = requests.get(f"{tableau_sandbox.base_url}/api/{version}/sites/{site_id}/projects",
                         headers={"X-Tableau-Auth": token}, timeout=10)
        assert r.status_code == 200, version
    cases = [
        (f"/api/3.25/sites/{site_id}/datasources/00000000-0000-0000-0000-000000000000", 404, "404011"),
        (f"/api/3.25/sites/{site_id}/jobs/00000000-0000-0000-0000-000000000000", 404, "404031"),
        (f"/api/3.25/sites/{site_id}/workbooks/00000000-0000-0000-0000-000000000000", 404, "404006"),
        ("/api/3.25/sites/00000000-0000-0000-0000-000000000000/projects", 404, "404000"),
        (f"/api/3.25/sites/{site_id}/nosuchthing", 404, "404000"),
    ]
    for path, status, code in cases:
        r = requests.get(tableau_sandbox.base_url + path, headers={"X-Tableau-Auth": token}, timeout=10)
        assert r.status_code == status, path
        err = ET.fromstring(r.content).find("t:error", NS)
        assert err.get("code") == code, path
        assert err.find("t:summary", NS).text and err.find("t:detail", NS).text
    r = requests.get(f"{tableau_sandbox.base_url}/api/3.25/sites/{site_id}/projects", timeout=10)
    assert r.status_code == 401 and ET.fromstring(r.content).find("t:error", NS).get("code") == "401002"
    r = requests.post(f"{tableau_sandbox.base_url}/api/3.25/auth/signout", headers={"X-Tableau-Auth": token},
                      timeout=10)
    assert r.status_code == 204


def test_credentials_shape(tableau_sandbox):
    creds = tableau_sandbox.credentials()
    assert set(creds) == {"site_content_url", "project", "pat", "connected_app"}
    assert set(creds["pat"]) == {"token_name", "token_secret"}
    assert set(creds["connected_app"]) == {"client_id", "secret_id", "secret_value", "username"}


def test_json_wire_format(tableau_cloud_sandbox):
    """Tableau also speaks JSON (Accept: application/json, JSON bodies) on the same endpoints."""
    sb = tableau_cloud_sandbox
    creds = sb.credentials()
    body = {"credentials": {"personalAccessTokenName": creds["pat"]["token_name"],
                            "personalAccessTokenSecret": creds["pat"]["token_secret"],
                            "site": {"contentUrl": creds["site_content_url"]}}}
    r = requests.post(f"{sb.base_url}/api/3.22/auth/signin", json=body, headers={"Accept": "application/json"},
                      timeout=10)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("application/json")
    cred = r.json()["credentials"]
    token, site_id = cred["token"], cred["site"]["id"]
    assert cred["site"]["contentUrl"] == creds["site_content_url"] and cred["user"]["id"]
    headers = {"Accept": "application/json", "X-Tableau-Auth": token}
    r = requests.post(f"{sb.base_url}/api/3.22/sites/{site_id}/projects", headers=headers,
                      json={"project": {"name": "From JSON", "description": "made with a JSON body"}}, timeout=10)
    assert r.status_code == 201 and r.json()["project"]["name"] == "From JSON"
    listing = requests.get(f"{sb.base_url}/api/3.22/sites/{site_id}/projects", headers=headers, timeout=10).json()
    assert listing["pagination"]["totalAvailable"] == str(len(listing["projects"]["project"]))
    assert "From JSON" in {p["name"] for p in listing["projects"]["project"]}
    empty = requests.get(f"{sb.base_url}/api/3.22/sites/{site_id}/datasources", headers=headers, timeout=10).json()
    assert empty["pagination"]["totalAvailable"] == "0"
    err = requests.get(f"{sb.base_url}/api/3.22/sites/{site_id}/datasources/nope", headers=headers, timeout=10)
    assert err.status_code == 404 and err.json()["error"]["code"] == "404011"


@pytest.mark.parametrize("flavor", FLAVORS)
def test_sites_by_id_and_content_url(tableau_sandbox_factory, flavor):
    sb = tableau_sandbox_factory(flavor)
    creds = sb.credentials()
    server = signed_in(sb, creds)
    by_id = server.sites.get_by_id(server.site_id)
    assert by_id.id == server.site_id and by_id.content_url == creds["site_content_url"]
    # TSC's get_by_content_url only works when the server URL contains the content URL, so raw REST here
    base = f"{sb.base_url}/api/3.25/sites"
    headers = {"X-Tableau-Auth": server.auth_token}
    r = requests.get(f"{base}/{creds['site_content_url']}?key=contentUrl", headers=headers, timeout=10)
    assert ET.fromstring(r.content).find("t:site", NS).get("id") == server.site_id
    r = requests.get(f"{base}/someone-elses-site?key=contentUrl", headers=headers, timeout=10)
    assert r.status_code == 404 and ET.fromstring(r.content).find("t:error", NS).get("code") == "404000"
