"""Publishing settings, plain-language errors, and the per-identity session lock."""

from __future__ import annotations

import threading

import pytest
import tableauserverclient as TSC
from tableauserverclient.server.endpoint.exceptions import FailedSignInError

from target_tableau_hyper.publishing.config import PublishConfig
from target_tableau_hyper.publishing.errors import (
    PermissionDeniedError,
    ProjectNotFoundError,
    PublishConfigError,
    PublishError,
    SignInError,
    SiteNotFoundError,
    explain,
    is_session_expired,
)
from target_tableau_hyper.publishing.publisher import make_units
from target_tableau_hyper.publishing.session import SessionLock, is_cloud_url
from target_tableau_hyper.publishing.settings import PUBLISH_SETTINGS

BASE = {"tableau_server_url": "https://tableau.example.com/", "tableau_token_name": "ci",
        "tableau_token_secret": "s3cr3t-value"}


def test_settings_mark_secrets_and_default_publish_off():
    props = PUBLISH_SETTINGS.to_dict()["properties"]
    assert props["publish"]["default"] is False
    for secret in ("tableau_token_secret", "tableau_jwt_secret", "webhook_secret"):
        assert props[secret].get("secret") is True
    assert props["publish_mode"]["enum"] == ["overwrite", "incremental"]
    assert set(props["refresh"]["enum"]) == {"auto", "datasource", "task", "schedule", "none"}


def test_config_parses_and_hides_secrets():
    config = PublishConfig.from_mapping({**BASE, "tableau_project": "Finance/QBO", "refresh_workbooks": ["P&L"]})
    assert config.server_url == "https://tableau.example.com"
    assert config.project_path == ["Finance", "QBO"]
    assert config.auth_kind == "pat" and config.refresh_workbooks == ("P&L",)
    assert "s3cr3t-value" not in repr(config) and "s3cr3t-value" not in config.identity


@pytest.mark.parametrize("change, words", [
    ({"tableau_server_url": ""}, "tableau_server_url is not set"),
    ({"tableau_server_url": "tableau.example.com"}, "must start with https://"),
    ({"tableau_token_secret": None}, "No Tableau credentials"),
    ({"publish_mode": "append"}, "publish_mode must be"),
    ({"refresh": "sometimes"}, "refresh must be"),
])
def test_config_errors_say_what_is_wrong(change, words):
    with pytest.raises(PublishConfigError, match=words):
        PublishConfig.from_mapping({**BASE, **change})


def test_connected_app_config():
    config = PublishConfig.from_mapping({
        "tableau_server_url": "https://x.online.tableau.com", "tableau_jwt_client_id": "cid",
        "tableau_jwt_secret_id": "kid", "tableau_jwt_secret": "value", "tableau_username": "me@example.com"})
    assert config.auth_kind == "jwt" and "value" not in config.identity
    assert is_cloud_url(config.server_url) and not is_cloud_url("https://tableau.example.com")


def test_units_per_stream_or_one_multi_table_datasource():
    files = {"invoices": "/o/invoices.hyper", "bills": "/o/bills.hyper"}
    per_stream = make_units(PublishConfig.from_mapping({**BASE, "datasource_name": "QBO {stream}"}), files)
    assert [(u.datasource_name, list(u.streams), u.multi_table) for u in per_stream] == [
        ("QBO bills", ["bills"], False), ("QBO invoices", ["invoices"], False)]
    (multi,) = make_units(PublishConfig.from_mapping({**BASE, "datasource_name": "QuickBooks"}), files)
    assert multi.multi_table and multi.target_table("bills") == ("Extract", "bills")


@pytest.mark.parametrize("code, detail, cls, words", [
    ("401001", "Error signing in to Tableau: site 'nope' was not found.", SiteNotFoundError, "site 'nope' does not exist"),
    ("401001", "Error signing in to Tableau Server", SignInError, "token name/secret"),
    ("404005", "Project 'x' could not be found.", ProjectNotFoundError, "project"),
    ("403004", "no publish", PermissionDeniedError, "permission denied"),
])
def test_tableau_errors_become_plain_words_with_code(code, detail, cls, words):
    exc = TSC.ServerResponseError(code, "Summary", detail)
    err = explain(exc, server_url="https://t", site="nope")
    assert isinstance(err, cls) and words in str(err) and f"Tableau error {code}" in str(err)


def test_expired_session_is_told_apart_from_refused_sign_in():
    assert is_session_expired(FailedSignInError("401002", "Unauthorized Access", "expired"))
    assert not is_session_expired(FailedSignInError("401001", "Signin Error", "bad token"))
    assert not is_session_expired(TSC.ServerResponseError("403004", "Forbidden", ""))


def test_session_lock_makes_a_second_holder_wait(tmp_path):
    first = SessionLock("https://t|site|pat|ci", lock_dir=str(tmp_path))
    second = SessionLock("https://t|site|pat|ci", timeout_seconds=0.3, lock_dir=str(tmp_path))
    other = SessionLock("https://t|site|pat|other", timeout_seconds=0.3, lock_dir=str(tmp_path))
    first.acquire()
    with pytest.raises(PublishError, match="another run is still signed in"):
        second.acquire()
    other.acquire()  # a different token is independent
    other.release()
    acquired = threading.Event()

    def wait_then_take():
        second.timeout_seconds = 10
        second.acquire()
        acquired.set()

    thread = threading.Thread(target=wait_then_take)
    thread.start()
    assert not acquired.wait(0.3)
    first.release()
    assert acquired.wait(5)
    thread.join()
    second.release()
