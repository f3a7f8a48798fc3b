"""Building and parsing Tableau's XML envelopes (``tsResponse`` / ``tsRequest``)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from starlette.responses import Response

NS = "http://tableau.com/api"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
XML_MEDIA_TYPE = "application/xml;charset=utf-8"


def ts_response(api_version: str = "3.25") -> ET.Element:
    root = ET.Element("tsResponse")
    root.set("xmlns", NS)
    root.set("xmlns:xsi", XSI)
    schema = api_version.replace(".", "_")
    root.set("xsi:schemaLocation", f"{NS} https://help.tableau.com/samples/en-us/rest_api/ts-api_{schema}.xsd")
    return root


def sub(parent: ET.Element, tag: str, attrs: dict[str, Any] | None = None, text: str | None = None) -> ET.Element:
    """SubElement that skips None-valued attributes and stringifies the rest (bools lower-case)."""
    el = ET.SubElement(parent, tag)
    for key, value in (attrs or {}).items():
        if value is None:
            continue
        if isinstance(value, bool):
            value = "true" if value else "false"
        el.set(key, str(value))
    if text is not None:
        el.text = text
    return el


def to_bytes(root: ET.Element) -> bytes:
    return b"<?xml version='1.0' encoding='UTF-8'?>" + ET.tostring(root, encoding="utf-8", xml_declaration=False)


def xml_response(root: ET.Element, status: int = 200, headers: dict | None = None) -> Response:
    return Response(to_bytes(root), status_code=status, media_type=XML_MEDIA_TYPE, headers=headers)


def error_response(status: int, code: str, summary: str, detail: str, api_version: str = "3.25",
                   headers: dict | None = None) -> Response:
    root = ts_response(api_version)
    err = sub(root, "error", {"code": code})
    sub(err, "summary", text=summary)
    sub(err, "detail", text=detail)
    return xml_response(root, status, headers)


def pagination(root: ET.Element, page_number: int, page_size: int, total: int) -> None:
    sub(root, "pagination", {"pageNumber": page_number, "pageSize": page_size, "totalAvailable": total})


def parse_request(body: bytes) -> ET.Element:
    """Parse a tsRequest body. Tags are returned without namespace (clients may or may not send one)."""
    from tableau_sandbox.errors import bad_request

    if not body or not body.strip():
        raise bad_request("The request body is missing.", "400000")
    if body.lstrip()[:1] == b"{":
        import json

        from tableau_sandbox.jsonwire import json_to_request

        try:
            return json_to_request(json.loads(body))
        except (ValueError, json.JSONDecodeError) as exc:
            raise bad_request(f"The request body is not valid JSON: {exc}", "400000") from None
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        raise bad_request(f"The request body is not valid XML: {exc}", "400000") from None
    for el in root.iter():
        if isinstance(el.tag, str) and el.tag.startswith("{"):
            el.tag = el.tag.split("}", 1)[1]
    if root.tag != "tsRequest":
        raise bad_request("The request body must be a tsRequest document.", "400000")
    return root
