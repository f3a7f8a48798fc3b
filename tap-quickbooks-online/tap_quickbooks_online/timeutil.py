"""Timestamps: QBO sends local-offset date-times (`2015-10-07T11:43:20-07:00`); bookmarks and
`updated_at` are the same instants in UTC (`2015-10-07T18:43:20+00:00`) so that they compare
correctly as strings across offsets and daylight-saving changes."""

from __future__ import annotations

import datetime
import functools

UTC = datetime.timezone.utc


def parse(value: str | datetime.datetime) -> datetime.datetime:
    """Parse an ISO date-time (or date) into an aware UTC datetime; naive means UTC."""
    if isinstance(value, datetime.datetime):
        dt = value
    else:
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        dt = datetime.datetime.fromisoformat(text)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


@functools.lru_cache(maxsize=65536)
def to_utc_iso(value: str) -> str:
    """QBO date-time text → UTC ISO text (second precision kept as sent)."""
    return parse(value).isoformat()


def iso(dt: datetime.datetime) -> str:
    return dt.astimezone(UTC).isoformat()


def qbo_literal(dt: datetime.datetime) -> str:
    """A date-time literal for QBO queries and `changedSince` (second precision, UTC offset)."""
    return dt.astimezone(UTC).replace(microsecond=0).isoformat()
