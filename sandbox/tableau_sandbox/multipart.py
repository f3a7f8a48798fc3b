"""Parser for the multipart/mixed bodies Tableau's publish and fileUploads methods take.

Each part carries ``Content-Disposition: name="request_payload"`` (the tsRequest XML) or
``name="tableau_datasource" | "tableau_workbook" | "tableau_file"; filename="..."`` (the bytes).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tableau_sandbox.errors import bad_request

_BOUNDARY = re.compile(r'boundary="?([^";]+)"?', re.I)
_NAME = re.compile(rb'name="([^"]*)"', re.I)
_FILENAME = re.compile(rb'filename="([^"]*)"', re.I)


@dataclass
class Part:
    name: str
    filename: str | None
    content_type: str | None
    data: bytes


def parse_multipart(content_type: str | None, body: bytes) -> dict[str, Part]:
    if not content_type or not content_type.lower().startswith("multipart/"):
        raise bad_request("The request must be multipart/mixed (request_payload plus file part).", "400011")
    match = _BOUNDARY.search(content_type)
    if not match:
        raise bad_request("The multipart Content-Type has no boundary.", "400011")
    delimiter = b"--" + match.group(1).encode()
    parts: dict[str, Part] = {}
    pos = body.find(delimiter)
    if pos < 0:
        raise bad_request("The multipart body has no parts.", "400011")
    while True:
        pos += len(delimiter)
        if body[pos:pos + 2] == b"--":
            break
        if body[pos:pos + 2] == b"\r\n":
            pos += 2
        head_end = body.find(b"\r\n\r\n", pos)
        if head_end < 0:
            raise bad_request("A multipart part has no header terminator.", "400011")
        headers = body[pos:head_end]
        data_start = head_end + 4
        nxt = body.find(b"\r\n" + delimiter, data_start)
        if nxt < 0:
            raise bad_request("The multipart body is not terminated.", "400011")
        data = body[data_start:nxt]
        name_m = _NAME.search(headers)
        file_m = _FILENAME.search(headers)
        ctype = None
        for line in headers.split(b"\r\n"):
            if line.lower().startswith(b"content-type:"):
                ctype = line.split(b":", 1)[1].strip().decode("latin-1")
        name = name_m.group(1).decode("utf-8", "replace") if name_m else ""
        parts[name] = Part(name, file_m.group(1).decode("utf-8", "replace") if file_m else None, ctype, data)
        pos = nxt + 2
    return parts
