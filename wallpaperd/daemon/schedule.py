"""Daily rotation maths (pure: no clock, no I/O; the caller passes ``now``).

A rotation is due when a scheduled slot has passed since the last rotation: the daily
time (local) and/or every ``interval``. However many slots were missed while the machine
slept or was off, a catch-up is **one** rotation, not one per slot.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta


def last_daily_slot(now: datetime, daily: time) -> datetime:
    """The most recent moment at or before ``now`` whose local time is ``daily``."""
    today = now.replace(hour=daily.hour, minute=daily.minute, second=0, microsecond=0)
    return today if today <= now else today - timedelta(days=1)


def is_due(now: datetime, last: datetime | None, daily: time | None,
           interval: timedelta | None) -> bool:
    """True when at least one slot passed in ``(last, now]`` (never for a first start)."""
    if last is None:
        return False
    if daily is not None and last < last_daily_slot(now, daily):
        return True
    return interval is not None and now - last >= interval


def next_due(now: datetime, last: datetime | None, daily: time | None,
             interval: timedelta | None) -> datetime | None:
    """When the next rotation will run (now, if one is due); None without a schedule."""
    if daily is None and interval is None:
        return None
    if is_due(now, last, daily, interval):
        return now
    candidates = []
    if daily is not None:
        candidates.append(last_daily_slot(now, daily) + timedelta(days=1))
    if interval is not None:
        candidates.append((last or now) + interval)
    return min(candidates)
