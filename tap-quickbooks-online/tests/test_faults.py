"""Fault bodies (both JSON envelopes and XML) become clear errors; tokens are redacted."""

from __future__ import annotations

import json
from pathlib import Path

from tap_quickbooks_online.errors import describe_fault, parse_fault

REFERENCE = Path("/work/shared/reference/qbo")


def test_uppercase_fault_envelope_400():
    body = (REFERENCE / "fault-400.json").read_bytes()
    fault = parse_fault(body)
    assert fault is not None and fault.type == "ValidationFault"
    assert fault.codes == {"2010"}
    text = describe_fault(fault, status=400, method="POST", path="/v3/company/1/invoice",
                          intuit_tid="1-abc-def")
    assert "HTTP 400" in text and "code 2010" in text
    assert "Request has invalid or unsupported property" in text
    assert "BadJson" in text  # the Detail is kept
    assert "intuit_tid=1-abc-def" in text


def test_validation_fault():
    fault = parse_fault((REFERENCE / "fault-validation.json").read_text())
    assert fault.errors[0].message == "Duplicate Name Exists Error"
    assert fault.errors[0].code == "6240"


def test_lowercase_fault_envelope_401_redacts_token_fragment():
    raw = (REFERENCE / "fault-401.json").read_bytes()
    fault = parse_fault(raw)
    assert fault is not None and fault.type == "AUTHENTICATION"
    assert fault.codes == {"3200"}
    text = describe_fault(fault, status=401, method="GET", path="/v3/company/1/customer/1",
                          intuit_tid=None)
    fragment = json.loads(raw)["fault"]["error"][0]["detail"].split(": ")[1]
    assert fragment not in text
    assert "Token expired: ***" in text
    assert "AuthenticationFailed" in text and "intuit_tid=n/a" in text


def test_xml_fault():
    xml = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<IntuitResponse xmlns="http://schema.intuit.com/finance/v3" time="2024-01-01T00:00:00.000-08:00">'
        '<Fault type="SERVICE"><Error code="3001">'
        "<Message>message=ThrottleExceeded; errorCode=003001; statusCode=429</Message>"
        "<Detail>The request limit was reached.</Detail></Error></Fault></IntuitResponse>"
    )
    fault = parse_fault(xml.encode())
    assert fault.type == "SERVICE" and fault.codes == {"3001"}
    assert fault.errors[0].detail == "The request limit was reached."


def test_environment_mismatch_hint():
    body = {"Fault": {"Error": [{"Message": "message=ApplicationAuthorizationFailed; "
                                 "errorCode=003100; statusCode=403",
                                 "Detail": "", "code": "3100"}], "type": "AUTHORIZATION"}}
    text = describe_fault(parse_fault(body), status=403, method="GET", path="/v3/company/1/query",
                          intuit_tid="t")
    assert "sandbox-vs-production mismatch" in text and "environment" in text


def test_non_fault_bodies():
    assert parse_fault(b"<html>bad gateway</html>") is None
    assert parse_fault(b'{"QueryResponse": {}}') is None
    assert parse_fault(b"{truncated") is None
