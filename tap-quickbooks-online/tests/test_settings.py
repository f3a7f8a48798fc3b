"""Invalid or missing settings fail fast with a message naming the setting."""

from __future__ import annotations

import pytest
from singer_sdk.exceptions import ConfigValidationError

from tap_quickbooks_online.tap import TapQuickBooksOnline

BASE = {"client_id": "cid", "client_secret": "csecret", "refresh_token": "rtoken",
        "realm_ids": ["123"]}


def errors_for(**changes):
    config = {**BASE, **changes}
    config = {k: v for k, v in config.items() if v is not None}
    with pytest.raises(ConfigValidationError) as info:
        TapQuickBooksOnline(config=config, validate_config=True)
    return " | ".join(info.value.errors)


def test_valid_config_passes():
    tap = TapQuickBooksOnline(config=BASE, validate_config=True)
    assert tap.realm_ids == ["123"]
    assert tap.api_base_url == "https://quickbooks.api.intuit.com"


def test_sandbox_environment_and_override():
    tap = TapQuickBooksOnline(config={**BASE, "environment": "sandbox"})
    assert tap.api_base_url == "https://sandbox-quickbooks.api.intuit.com"
    tap = TapQuickBooksOnline(config={**BASE, "api_base_url": "http://127.0.0.1:9/"})
    assert tap.api_base_url == "http://127.0.0.1:9"


@pytest.mark.parametrize(("changes", "setting"), [
    ({"client_id": None}, "client_id"),
    ({"client_secret": None}, "client_secret"),
    ({"page_size": 5000}, "page_size"),
    ({"max_concurrency": 11}, "max_concurrency"),
    ({"requests_per_minute": 501}, "requests_per_minute"),
    ({"environment": "staging"}, "environment"),
    ({"accounting_method": "Modified"}, "accounting_method"),
    ({"start_date": "last tuesday"}, "start_date"),
    ({"api_base_url": "ftp://x"}, "api_base_url"),
    ({"realm_ids": None, "refresh_token": None}, "realm_ids"),
    ({"refresh_token": None}, "refresh_token"),
])
def test_bad_setting_is_named(changes, setting):
    assert setting in errors_for(**changes)


def test_secret_values_not_in_errors():
    message = errors_for(page_size=5000)
    assert "csecret" not in message and "rtoken" not in message


def test_realms_alternative_configures_realms():
    tap = TapQuickBooksOnline(config={
        "client_id": "c", "client_secret": "s",
        "realms": [{"realm_id": "1", "refresh_token": "a"}, {"realm_id": "2", "refresh_token": "b"}],
    })
    assert tap.realm_ids == ["1", "2"]
