"""File names in `output_dir`: one `.hyper` file per stream, and the audit mirror's.

A Singer stream name is any string (a stream-map alias may be `crm/customers` or `../x`), so
it is used as a file name only when it is a plain one; any other name gets a sanitized stem plus
a hash of the whole name: the file stays inside `output_dir`, and two names that sanitize alike
never share a file. Plain names (every QBO stream) keep `<stream>.hyper`; a plain name that ends
like a hashed one (`-` and 12 hex digits) is hashed too, so it cannot take another stream's file.
"""

from __future__ import annotations

import hashlib
import re

AUDIT_FILE_NAME = "_audit.hyper"
_PLAIN = re.compile(r"[^./\\\x00][^/\\\x00]{0,199}")
_UNSAFE_RUN = re.compile(r"[^\w.-]+")
_HASHED = re.compile(r"-[0-9a-f]{12}\Z")


def hyper_file_name(stream: str) -> str:
    """The `.hyper` file name of a stream (no directory part, never the audit mirror's)."""
    name = f"{stream}.hyper"
    if _PLAIN.fullmatch(stream) and not _HASHED.search(stream) and name != AUDIT_FILE_NAME \
            and len(name.encode()) <= 255:
        return name
    stem = _UNSAFE_RUN.sub("_", stream).strip("._")[:80] or "stream"
    return f"{stem}-{hashlib.sha256(stream.encode('utf-8', 'surrogatepass')).hexdigest()[:12]}.hyper"
