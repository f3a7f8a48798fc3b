"""QBO error bodies (Fault) turned into clear exceptions.

QBO answers errors in two JSON envelopes and, for some endpoints, XML:

* ``{"Fault": {"Error": [{"Message", "Detail", "code", "element"}], "type"}, "time"}``
* ``{"fault": {"error": [{"message", "detail", "code", "element"}], "type"}, ...}``
  (the 401 AuthenticationFailed shape, ``time`` in epoch milliseconds)
* ``<IntuitResponse><Fault type="..."><Error code="..."><Message/><Detail/></Error></Fault>``

Every message carries the ``intuit_tid`` response header, which Intuit support asks for.
Token-like text in details (the 401 detail quotes part of the expired token) is redacted.
"""

from __future__ import annotations

import re
import typing as t
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from singer_sdk.exceptions import FatalAPIError, RetriableAPIError

if t.TYPE_CHECKING:
    import requests

# Codes that mean "this token/app does not match this host": a sandbox company's tokens used
# against the production API host or the reverse.
ENVIRONMENT_MISMATCH_CODES = {"3100", "130"}
TOKEN_EXPIRED_CODE = "3200"

# "Token expired: <fragment>" (QBO's 401 detail), and long mixed-case+digit strings (tokens);
# intuit_tid values (lowercase hex and dashes) are kept: support needs them.
_TOKEN_LIKE = re.compile(
    r"(Token expired:\s*)\S+"
    r"|\b(?=[\w.\-]*[A-Z])(?=[\w.\-]*[a-z])(?=[\w.\-]*\d)[\w.\-]{40,}"
)


def redact(text: str, secrets: t.Iterable[str] = ()) -> str:
    """Remove known secret values and anything that looks like a token from `text`."""
    for secret in secrets:
        if secret and len(secret) >= 6:
            text = text.replace(secret, "***")
    return _TOKEN_LIKE.sub(lambda m: (m.group(1) or "") + "***", text)


@dataclass
class FaultError:
    code: str | None
    message: str | None
    detail: str | None
    element: str | None = None


@dataclass
class Fault:
    type: str | None
    errors: list[FaultError] = field(default_factory=list)

    @property
    def codes(self) -> set[str]:
        return {e.code for e in self.errors if e.code}


def _fault_from_mapping(body: t.Mapping) -> Fault | None:
    fault = body.get("Fault") or body.get("fault")
    if not isinstance(fault, t.Mapping):
        return None
    raw_errors = fault.get("Error") or fault.get("error") or []
    errors = []
    for raw in raw_errors if isinstance(raw_errors, list) else [raw_errors]:
        if not isinstance(raw, t.Mapping):
            continue
        code = raw.get("code") or raw.get("Code")
        errors.append(
            FaultError(
                code=str(code) if code is not None else None,
                message=raw.get("Message") or raw.get("message"),
                detail=raw.get("Detail") or raw.get("detail"),
                element=raw.get("element") or raw.get("Element"),
            )
        )
    return Fault(type=fault.get("type") or fault.get("Type"), errors=errors)


def _fault_from_xml(text: str) -> Fault | None:
    try:
        root = ET.fromstring(text)  # noqa: S314 - our own API's response, no entities expanded
    except ET.ParseError:
        return None

    def local(tag: str) -> str:
        return tag.rsplit("}", 1)[-1]

    for node in root.iter():
        if local(node.tag) != "Fault":
            continue
        errors = []
        for err in node:
            if local(err.tag) != "Error":
                continue
            texts = {local(child.tag): (child.text or "") for child in err}
            errors.append(
                FaultError(
                    code=err.get("code"),
                    message=texts.get("Message"),
                    detail=texts.get("Detail"),
                    element=err.get("element"),
                )
            )
        return Fault(type=node.get("type"), errors=errors)
    return None


def parse_fault(body: bytes | str | t.Mapping | None) -> Fault | None:
    """Return the Fault in a QBO response body (any shape), or None."""
    if body is None:
        return None
    if isinstance(body, t.Mapping):
        return _fault_from_mapping(body)
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    stripped = text.lstrip()
    if stripped.startswith("<"):
        return _fault_from_xml(stripped)
    if stripped.startswith("{"):
        import json  # noqa: PLC0415

        try:
            data = json.loads(stripped)
        except ValueError:
            return None
        return _fault_from_mapping(data) if isinstance(data, dict) else None
    return None


def describe_fault(
    fault: Fault | None,
    *,
    status: int | None,
    method: str,
    path: str,
    intuit_tid: str | None,
    secrets: t.Iterable[str] = (),
) -> str:
    """One clear line: status, path, every error's code/message/detail, hint, intuit_tid."""
    parts = [f"QBO {method} {path} failed"]
    if status is not None:
        parts[0] += f" with HTTP {status}"
    if fault is not None:
        for err in fault.errors or [FaultError(None, None, None)]:
            piece = f"{fault.type or 'Fault'} code {err.code or '?'}: {err.message or ''}".rstrip()
            if err.detail:
                piece += f" - {err.detail}"
            if err.element:
                piece += f" (element {err.element})"
            parts.append(piece)
        if fault.codes & ENVIRONMENT_MISMATCH_CODES:
            parts.append(
                "hint: code 3100/130 usually means a sandbox-vs-production mismatch: the "
                "realm's tokens belong to a sandbox company but the tap calls the production "
                "API host, or the reverse; check the `environment` / `api_base_url` settings"
            )
    parts.append(f"intuit_tid={intuit_tid or 'n/a'}")
    return redact("; ".join(parts), secrets)


class QBOAPIError(FatalAPIError):
    """A QBO request failed for good (after any retries)."""

    def __init__(self, message: str, *, fault: Fault | None = None, status: int | None = None,
                 intuit_tid: str | None = None) -> None:
        super().__init__(message)
        self.fault = fault
        self.status = status
        self.intuit_tid = intuit_tid


class QBORetriableError(RetriableAPIError):
    """A transient QBO failure (429, 5xx, truncated body): retried with backoff."""

    def __init__(self, message: str, response: requests.Response | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__(message, response)
        self.retry_after = retry_after


class QBOTokenRejected(QBOAPIError):
    """401 with code 3200: the access token was rejected; refresh and retry once."""

    access_token: str | None = None  # the rejected token (never logged), for invalidate()

    def __str__(self) -> str:
        return super().__str__()


class QBOConfigError(ValueError):
    """An invalid or missing setting; the message names the setting."""
