"""Tableau's JSON wire format (``Accept: application/json`` / JSON request bodies).

Tableau maps the same documents to JSON: attributes and text-only children become string
properties, child elements become objects, and repeated children (or the children of a plural
container such as ``datasources``) become arrays. The ``tsResponse`` / ``tsRequest`` root is dropped.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from typing import Any

from starlette.responses import Response

JSON_MEDIA_TYPE = "application/json;charset=utf-8"


def _local(tag: str) -> str:
    return tag.split("}", 1)[1] if tag.startswith("{") else tag


def _convert(el: ET.Element) -> Any:
    children = list(el)
    attrs = {k: v for k, v in el.attrib.items() if not k.startswith("xmlns") and not k.startswith("xsi:")}
    text = (el.text or "").strip()
    if not children:
        if text and not attrs:
            return text
        if text:
            attrs["value"] = text
        return attrs
    out: dict[str, Any] = dict(attrs)
    tags = [_local(c.tag) for c in children]
    parent = _local(el.tag)
    for child, tag in zip(children, tags):
        value = _convert(child)
        plural = parent in (tag + "s", tag + "es") or tags.count(tag) > 1
        if plural:
            out.setdefault(tag, []).append(value)
        else:
            out[tag] = value
    return out


def element_to_json(root: ET.Element) -> dict[str, Any]:
    return {_local(c.tag): _convert(c) for c in root}


def xml_bytes_to_json_response(body: bytes, status: int, headers: dict) -> Response:
    root = ET.fromstring(body)
    payload = json.dumps(element_to_json(root)).encode()
    keep = {k: v for k, v in headers.items() if k.lower() not in ("content-length", "content-type")}
    return Response(payload, status_code=status, media_type=JSON_MEDIA_TYPE, headers=keep)


def json_to_request(obj: Any) -> ET.Element:
    """A JSON request body as the equivalent ``tsRequest`` element."""
    root = ET.Element("tsRequest")
    if not isinstance(obj, dict):
        raise ValueError("the JSON body must be an object")
    for key, value in obj.items():
        _append(root, key, value)
    return root


def _append(parent: ET.Element, tag: str, value: Any) -> None:
    if isinstance(value, list):
        for item in value:
            _append(parent, tag, item)
        return
    el = ET.SubElement(parent, tag)
    if isinstance(value, dict):
        for key, sub in value.items():
            if isinstance(sub, (dict, list)):
                _append(el, key, sub)
            elif key == "value" and not isinstance(sub, bool):
                el.text = str(sub)
            elif sub is not None:
                el.set(key, ("true" if sub else "false") if isinstance(sub, bool) else str(sub))
    elif value is not None:
        el.text = str(value)


def wants_json(accept: str | None) -> bool:
    if not accept:
        return False
    accept = accept.lower()
    return "application/json" in accept and "xml" not in accept.split("application/json")[0]
