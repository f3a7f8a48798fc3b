"""Fast Pacific-time formatting: the same text as ``datetime.fromtimestamp(t, PACIFIC).isoformat()``.

Formatting a zone-aware datetime costs microseconds (zoneinfo lookup + isoformat) and a generated
document needs several of them, so the UTC offset is looked up once per UTC hour (Pacific
switches offsets on whole UTC hours) and the date text once per local day.
"""
from __future__ import annotations

import datetime as dt
from functools import lru_cache
from zoneinfo import ZoneInfo

PACIFIC = ZoneInfo("America/Los_Angeles")

_EPOCH_DAY = dt.date(1970, 1, 1).toordinal()


@lru_cache(maxsize=65536)
def _offset(utc_hour: int) -> tuple[int, str]:
    """(offset seconds, ``-08:00``) of Pacific time during one UTC hour."""
    d = dt.datetime.fromtimestamp(utc_hour * 3600, PACIFIC)
    off = d.utcoffset()
    seconds = int(off.total_seconds())
    text = d.isoformat()[19:]  # "-08:00" exactly as isoformat writes it
    return seconds, text


@lru_cache(maxsize=65536)
def day_text(local_day: int) -> str:
    """``YYYY-MM-DD`` of a day number (days since 1970-01-01)."""
    return dt.date.fromordinal(_EPOCH_DAY + local_day).isoformat()


def timestamp(epoch_seconds: float) -> str:
    """``2024-01-15T10:21:33-08:00`` (``wire.qbo_timestamp``)."""
    t = int(epoch_seconds)
    off, off_text = _offset(t // 3600)
    day, s = divmod(t + off, 86400)
    return f"{day_text(day)}T{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}{off_text}"


def local_date(epoch_seconds: float) -> str:
    """``YYYY-MM-DD`` of the Pacific date at ``epoch_seconds`` (integer part)."""
    t = int(epoch_seconds)
    return day_text((t + _offset(t // 3600)[0]) // 86400)


@lru_cache(maxsize=16384)
def add_days(date_text: str, days: int) -> str:
    """``date_text`` + ``days`` as ``YYYY-MM-DD``."""
    return (dt.date.fromisoformat(date_text) + dt.timedelta(days=days)).isoformat()
