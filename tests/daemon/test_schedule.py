"""Schedule maths with a fake clock: daily slots, intervals, one catch-up after sleep."""

from __future__ import annotations

from datetime import datetime, time, timedelta, timezone

from wallpaperd.daemon.schedule import is_due, last_daily_slot, next_due

TZ = timezone(timedelta(hours=1))
SEVEN = time(7, 0)


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=TZ)


def test_last_daily_slot():
    assert last_daily_slot(at(10, 8), SEVEN) == at(10, 7)
    assert last_daily_slot(at(10, 6, 59), SEVEN) == at(9, 7)
    assert last_daily_slot(at(10, 7), SEVEN) == at(10, 7)


def test_daily_fires_once_per_day():
    last = at(9, 7)
    assert not is_due(at(10, 6, 59), last, SEVEN, None)
    assert is_due(at(10, 7), last, SEVEN, None)
    assert not is_due(at(10, 7, 1), at(10, 7), SEVEN, None)  # just ran


def test_missed_days_catch_up_once():
    """Asleep from Monday 06:00 to Thursday 12:00: one rotation on waking, then none."""
    last = at(9, 7)
    wake = at(12, 12)
    assert is_due(wake, last, SEVEN, None)
    assert not is_due(wake + timedelta(minutes=1), wake, SEVEN, None)
    assert next_due(wake + timedelta(minutes=1), wake, SEVEN, None) == at(13, 7)


def test_interval():
    six = timedelta(hours=6)
    assert not is_due(at(10, 11, 59), at(10, 6), None, six)
    assert is_due(at(10, 12), at(10, 6), None, six)
    assert is_due(at(14, 12), at(10, 6), None, six)  # many missed: still one job
    assert next_due(at(10, 7), at(10, 6), None, six) == at(10, 12)


def test_daily_and_interval_together_take_the_earlier():
    assert next_due(at(10, 8), at(10, 7), SEVEN, timedelta(hours=3)) == at(10, 10)
    assert next_due(at(10, 8), at(10, 7), SEVEN, timedelta(hours=30)) == at(11, 7)


def test_first_start_waits_for_the_first_slot():
    assert not is_due(at(10, 12), None, SEVEN, timedelta(hours=1))
    assert next_due(at(10, 12), None, SEVEN, None) == at(11, 7)


def test_no_schedule():
    assert next_due(at(10, 12), at(9, 7), None, None) is None
    assert not is_due(at(10, 12), at(1, 7), None, None)
