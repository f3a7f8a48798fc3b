"""Fast Pacific-time formatting: the same text as ``datetime.fromtimestamp(t, PACIFIC).isoformat()``.

Formatting a zone-aware datetime costs microseconds (zoneinfo lookup + isoformat) and a generated
document needs several of them, so the local ``YYYY-MM-DDTHH:`` prefix, the UTC offset and the date
are looked up once per UTC hour (Pacific switches offsets on whole UTC hours) and minutes:seconds
come from a table.
"""
from __future__ import annotations

import datetime as dt
from functools import lru_cache
from zoneinfo import ZoneInfo

PACIFIC = ZoneInfo("America/Los_Angeles")

#: "MM:SS" of every second of an hour: Pacific offsets are whole hours, so within one UTC hour the
#: local date and hour are fixed and minutes:seconds are the UTC ones.
_MMSS = [f"{m:02d}:{s:02d}" for m in range(60) for s in range(60)]
_HOURS: dict[int, tuple[str, str, str]] = {}
_THH = [f"T{h:02d}:" for h in range(24)]  # "THH:" of a local hour
_ONE_DAY = dt.timedelta(days=1)


def _hour(utc_hour: int) -> tuple[str, str, str]:
    """(``YYYY-MM-DDTHH:`` local, ``-08:00``, ``YYYY-MM-DD`` local) of one UTC hour. Filled a UTC day
    at a time: two zone lookups (its first and last hour) and, when both have the same offset (no
    switch that day), naive local arithmetic for the 24 hours; a switch day asks the zone per hour."""
    if len(_HOURS) >= 200_000:  # a bound for clocks that wander far (the data span is ~10^4 hours)
        _HOURS.clear()
    first = utc_hour - utc_hour % 24
    d0 = dt.datetime.fromtimestamp(first * 3600, PACIFIC)
    d23 = dt.datetime.fromtimestamp((first + 23) * 3600, PACIFIC)
    if d0.utcoffset() == d23.utcoffset():
        # whole-hour offset: local hour h0 + n of the local date (or of the next one past midnight)
        offset = d0.isoformat()[19:]
        h0 = d0.hour
        dates = (d0.date().isoformat(), (d0.date() + _ONE_DAY).isoformat())
        day = [(dates[h > 23] + _THH[h % 24], offset, dates[h > 23]) for h in range(h0, h0 + 24)]
    else:
        day = []
        for h in range(first, first + 24):
            iso = dt.datetime.fromtimestamp(h * 3600, PACIFIC).isoformat()  # …T10:00:00-08:00
            day.append((iso[:14], iso[19:], iso[:10]))
    for n, v in enumerate(day):
        _HOURS[first + n] = v
    return day[utc_hour - first]  # (not re-read: another thread may clear the table meanwhile)


def timestamp(epoch_seconds: float) -> str:
    """``2024-01-15T10:21:33-08:00`` (``wire.qbo_timestamp``)."""
    h, r = divmod(int(epoch_seconds), 3600)
    v = _HOURS.get(h) or _hour(h)
    return v[0] + _MMSS[r] + v[1]


def local_date(epoch_seconds: float) -> str:
    """``YYYY-MM-DD`` of the Pacific date at ``epoch_seconds`` (integer part)."""
    h = int(epoch_seconds) // 3600
    v = _HOURS.get(h) or _hour(h)
    return v[2]


@lru_cache(maxsize=16384)
def add_days(date_text: str, days: int) -> str:
    """``date_text`` + ``days`` as ``YYYY-MM-DD``."""
    return (dt.date.fromisoformat(date_text) + dt.timedelta(days=days)).isoformat()
