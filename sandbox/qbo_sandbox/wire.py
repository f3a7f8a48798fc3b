"""Bytes on the wire, shaped like QBO's: JSON encoding, timestamps, envelopes and faults.

Money travels as ``decimal.Decimal`` quantized to cents and is written as a JSON number with
its exact text (``300.00``), as QBO does; other numbers (``UnitPrice``, ``Qty``, rates) are
ints, floats or unquantized Decimals and are written bare (``75``, ``22.5``).
"""
from __future__ import annotations

import datetime as dt
import secrets
from decimal import Decimal, ROUND_HALF_UP
from zoneinfo import ZoneInfo

import msgspec

from .timefmt import PACIFIC, local_date as _fast_local_date, timestamp as _fast_timestamp
CENT = Decimal("0.01")

_encoder = msgspec.json.Encoder(decimal_format="number")
_decoder = msgspec.json.Decoder(float_hook=Decimal)
encode = _encoder.encode


def decode(data: bytes | str):
    """Parse request JSON; numbers with a fraction become Decimal so money stays exact."""
    return _decoder.decode(data)


def money(value) -> Decimal:
    """A Decimal rounded half-up to cents (QBO's rounding for amounts)."""
    if not isinstance(value, Decimal):
        value = Decimal(str(value))
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def qbo_timestamp(epoch_seconds: float) -> str:
    """``2024-01-15T10:21:33-08:00``: second precision, Pacific offset (MetaData fields)."""
    return _fast_timestamp(epoch_seconds)


def qbo_time_ms(epoch_seconds: float) -> str:
    """``2020-09-29T06:53:30.722-07:00``: the envelope ``time`` field."""
    d = dt.datetime.fromtimestamp(epoch_seconds, PACIFIC)
    return d.isoformat(timespec="milliseconds")


def qbo_date(epoch_seconds: float) -> str:
    return _fast_local_date(epoch_seconds)


def parse_timestamp(text: str) -> float:
    """Parse a QBO query/CDC date-time or date into epoch seconds.

    Accepts ``2024-01-15``, ``2024-01-15T10:21:33``, ``…-08:00``, ``…-0800``, ``…Z`` and
    fractional seconds. Naive values are read as Pacific time, as QBO does.
    """
    t = text.strip()
    if t.endswith("Z") or t.endswith("z"):
        t = t[:-1] + "+00:00"
    # -0700 → -07:00 (webhook-style offsets)
    if len(t) >= 5 and t[-5] in "+-" and t[-4:].isdigit() and "T" in t:
        t = t[:-2] + ":" + t[-2:]
    d = dt.datetime.fromisoformat(t)
    if d.tzinfo is None:
        d = d.replace(tzinfo=PACIFIC)
    return d.timestamp()


def intuit_tid() -> str:
    """``1-6788f84f-6884a39301781a625be433fc``-shaped transaction id for the ``intuit_tid`` header."""
    return f"1-{secrets.token_hex(4)}-{secrets.token_hex(12)}"


def fault_body(errors: list[tuple[str, str, str]], fault_type: str, now: float) -> bytes:
    """``{"Fault":{"Error":[{"Message","Detail","code"}],"type":…},"time":…}`` (QBO's 4xx shape)."""
    return encode(
        {
            "Fault": {
                "Error": [{"Message": m, "Detail": d, "code": c} for (m, d, c) in errors],
                "type": fault_type,
            },
            "time": qbo_time_ms(now),
        }
    )


def fault_dict(message: str, detail: str, code: str, fault_type: str = "ValidationFault") -> dict:
    return {"Error": [{"Message": message, "Detail": detail, "code": code}], "type": fault_type}


def auth_fault_body(detail: str, now: float) -> bytes:
    """The 401 body, in QBO's other (lowercase ``fault``) envelope, epoch-millisecond ``time``."""
    return encode(
        {
            "warnings": None,
            "intuitObject": None,
            "fault": {
                "error": [
                    {
                        "message": "message=AuthenticationFailed; errorCode=003200; statusCode=401",
                        "detail": detail,
                        "code": "3200",
                        "element": None,
                    }
                ],
                "type": "AUTHENTICATION",
            },
            "report": None,
            "queryResponse": None,
            "batchItemResponse": [],
            "attachableResponse": [],
            "syncErrorResponse": None,
            "requestId": None,
            "time": int(now * 1000),
            "status": None,
            "cdcresponse": [],
        }
    )


def throttle_xml(now: float) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        f'<IntuitResponse xmlns="http://schema.intuit.com/finance/v3" time="{qbo_time_ms(now)}">'
        '<Fault type="SERVICE"><Error code="3001">'
        "<Message>message=ThrottleExceeded; errorCode=003001; statusCode=429</Message>"
        "<Detail>The request limit was reached.</Detail>"
        "</Error></Fault></IntuitResponse>"
    ).encode()


def throttle_json(now: float) -> bytes:
    return fault_body(
        [
            (
                "message=ThrottleExceeded; errorCode=003001; statusCode=429",
                "The request limit was reached.",
                "3001",
            )
        ],
        "SERVICE",
        now,
    )
