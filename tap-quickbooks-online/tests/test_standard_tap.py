"""The Singer SDK's standard tap tests, run against the local QBO sandbox.

One sandbox is started for this module (the SDK builds the test class from a config at import
time) and stopped when the module's tests are done.
"""

from __future__ import annotations

import tempfile
from decimal import Decimal

import jsonschema
import pytest
from qbo_sandbox.testing import QboSandboxServer
from singer_sdk.testing import SuiteConfig, get_tap_test_class, tap_tests

from tap_quickbooks_online.tap import TapQuickBooksOnline

_SANDBOX = QboSandboxServer(realms=2, size="demo", seed=7).start()
_TOKENS = tempfile.TemporaryDirectory(prefix="tap-qbo-std-")
_CREDS = _SANDBOX.credentials()
CONFIG = {
    "client_id": _CREDS["client_id"],
    "client_secret": _CREDS["client_secret"],
    "realms": [{"realm_id": r["realm_id"], "refresh_token": r["refresh_token"]}
               for r in _CREDS["realms"]],
    "api_base_url": _SANDBOX.base_url,
    "oauth_base_url": _SANDBOX.base_url,
    "token_store": f"{_TOKENS.name}/tokens.json",
    "start_date": "2000-01-01T00:00:00Z",
}


def _exact_multiple_of(validator, multiple, instance, schema):
    """`multipleOf` on the decimal text: the SDK's runner parses records with floats, and
    float arithmetic says 36018.63 is not a multiple of 0.01. Our records carry exact decimal
    text (see test_lines.py / test_sync_sandbox.py); judge that text, not its float."""
    if not validator.is_type(instance, "number"):
        return
    if Decimal(str(instance)) % Decimal(str(multiple)) != 0:
        yield jsonschema.ValidationError(f"{instance!r} is not a multiple of {multiple}")


_BASE = tap_tests.DEFAULT_JSONSCHEMA_VALIDATOR
_EXACT_VALIDATOR = jsonschema.validators.extend(_BASE, {"multipleOf": _exact_multiple_of})
_EXACT_VALIDATOR.FORMAT_CHECKER = _BASE.FORMAT_CHECKER


@pytest.fixture(autouse=True)
def _decimal_exact_multiple_of(monkeypatch):
    monkeypatch.setattr(tap_tests, "DEFAULT_JSONSCHEMA_VALIDATOR", _EXACT_VALIDATOR)


@pytest.fixture(scope="module", autouse=True)
def _stop_sandbox():
    yield
    _SANDBOX.stop()
    _TOKENS.cleanup()


TestTapQuickBooksOnline = get_tap_test_class(
    TapQuickBooksOnline,
    config=CONFIG,
    suite_config=SuiteConfig(max_records_limit=50),
)
