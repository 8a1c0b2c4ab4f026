"""Themes: the shipped library, the picker's statistics, prompts, and planning from weather."""

from __future__ import annotations

import random
from collections import Counter
from datetime import datetime, timezone

import pytest

from wallpaperd.config import config_from_mapping
from wallpaperd.errors import ConfigError, InputError
from wallpaperd.planning.plan import library, plan_job
from wallpaperd.planning.themes import OFF_TIME, Context, explain, pick_theme
from wallpaperd.planning.weather import WMO, Observation, WeatherError

from ..conftest import small_mapping
from .conftest_weather import answer

NOON = datetime(2026, 7, 1, 12, 0, tzinfo=timezone.utc)
MIDNIGHT = datetime(2026, 7, 1, 0, 30, tzinfo=timezone.utc)


def themed(**overrides):
    """The small config without a fixed prompt, so jobs plan a theme."""
    return config_from_mapping(small_mapping(generate__prompt=None, **overrides))


def weather(code: int, is_day: bool = True, temperature: float = 15.0) -> Observation:
    condition, mood, description = WMO[code]
    return Observation("open-meteo", code, condition, mood, description, temperature, 50.0, is_day,
                       0.0, 5.0, "2026-07-01T12:00", 0.0)


def draws(ctx: Context, n: int = 3000, penalty: float = 0.25) -> Counter:
    lib = library()
    return Counter(pick_theme(lib, ctx, random.Random(seed), penalty, 7)[0] for seed in range(n))


def listing(condition: str) -> set[str]:
    return {tid for tid, (_, t) in library().themes().items() if condition in t.weather.conditions}


def test_the_shipped_library_is_large_and_valid():
    lib = library()
    assert len(lib.categories) >= 10 and len(lib.themes()) >= 60
    for tid, (_, theme) in lib.themes().items():
        assert len(theme.elements) >= 2 and theme.styles and theme.colors, tid


def test_same_seed_same_theme_and_prompt(isolated_home):
    cfg = themed()
    a = plan_job(cfg, isolated_home, prompt=None, negative=None, seed=77, theme=None, now=NOON)
    b = plan_job(cfg, isolated_home, prompt=None, negative=None, seed=77, theme=None, now=NOON)
    c = plan_job(cfg, isolated_home, prompt=None, negative=None, seed=78, theme=None, now=NOON)
    assert (a.prompt, a.negative, a.record) == (b.prompt, b.negative, b.record)
    assert a.prompt != c.prompt


def test_a_storm_makes_storm_themes_much_likelier():
    storm_themes = listing("thunderstorm")
    in_storm = sum(n for t, n in draws(Context(weather(95), NOON)).items() if t in storm_themes)
    in_sun = sum(n for t, n in draws(Context(weather(0), NOON)).items() if t in storm_themes)
    assert in_storm > 5 * max(in_sun, 1), (in_storm, in_sun)


def test_snow_favours_snow_themes_and_warm_themes_fade_in_the_cold():
    snow_themes = listing("snow")
    counts = draws(Context(weather(73, temperature=-8.0), NOON))
    share = sum(n for t, n in counts.items() if t in snow_themes) / sum(counts.values())
    assert share > 0.35, share
    assert counts["tropical_lagoon"] < counts["winter_cabin"]


def test_night_suppresses_day_only_themes_by_the_stated_factor():
    lib = library()
    rows = {r["id"]: r for r in explain(lib, Context(None, MIDNIGHT), 0.25, 7)}
    assert rows["wildflower_meadow"]["factors"]["time"] == OFF_TIME
    assert "time" not in rows["nebula"]["factors"] or rows["nebula"]["factors"]["time"] == 1.0


def test_recent_use_lowers_the_chance():
    ctx_fresh = Context(weather(0), NOON)
    ctx_recent = Context(weather(0), NOON, recent=("alpine_peaks",) * 3)
    fresh, recent = draws(ctx_fresh)["alpine_peaks"], draws(ctx_recent)["alpine_peaks"]
    assert recent < fresh / 5, (fresh, recent)
    row = next(r for r in explain(library(), ctx_recent, 0.25, 7) if r["id"] == "alpine_peaks")
    assert row["factors"]["recency"] == pytest.approx(0.25 ** 3)


def test_weight_zero_is_never_chosen_and_user_themes_join(isolated_home):
    user = isolated_home / ".config" / "wallpaperd"
    user.mkdir(parents=True)
    (user / "themes.yaml").write_text(
        "categories:\n  nature:\n    themes:\n      misty_forest: {name: Switched off, weight: 0, "
        "elements: [a, b], styles: [s], colors: [c]}\n"
        "  mine:\n    weight: 3\n    themes:\n      my_garden: {name: My Garden, elements: "
        "[roses, a bench], styles: [watercolour], colors: [pink]}\n")
    counts = draws(Context(weather(45), NOON), n=1500)
    assert counts["misty_forest"] == 0
    assert counts["my_garden"] > 0


def test_a_broken_user_theme_file_is_a_config_error(isolated_home):
    user = isolated_home / ".config" / "wallpaperd"
    user.mkdir(parents=True)
    (user / "themes.yaml").write_text("categories:\n  mine:\n    themes:\n      t: {name: T, "
                                      "elements: [a, b], styles: [s], colors: [c], "
                                      "weather: {conditions: [sunny]}}\n")
    with pytest.raises(ConfigError, match="unknown condition"):
        library()


def test_plan_from_live_weather_records_why(meteo, isolated_home):
    meteo.body = answer(code=95, is_day=0, temperature=12.0)
    cfg = themed(weather__latitude=52.52, weather__longitude=13.41,
                                            weather__open_meteo_url=meteo.url)
    plan = plan_job(cfg, isolated_home, prompt=None, negative=None, seed=5, theme=None, now=MIDNIGHT)
    record = plan.record
    assert record["weather"]["condition"] == "thunderstorm" and record["weather"]["source"] == "live"
    assert record["theme"]["how"] == "picked" and "weather" in record["theme"]["factors"]
    assert record["time_of_day"].startswith("at night")
    assert plan.prompt and plan.negative.startswith(cfg.generate.negative_prompt)


def test_required_weather_failure_fails_and_optional_is_recorded(meteo, isolated_home):
    meteo.mode = "http500"
    settings = dict(weather__latitude=52.52, weather__longitude=13.41, weather__open_meteo_url=meteo.url)
    with pytest.raises(WeatherError, match="HTTP 500"):
        plan_job(themed(**settings), isolated_home, prompt=None,
                 negative=None, seed=1, theme=None)
    optional = themed(weather__required=False, **settings)
    plan = plan_job(optional, isolated_home, prompt=None, negative=None, seed=1, theme=None)
    assert plan.record["weather"]["used"] is False and "HTTP 500" in plan.record["weather"]["why"]


def test_forced_and_unknown_themes(isolated_home):
    cfg = themed()
    plan = plan_job(cfg, isolated_home, prompt=None, negative=None, seed=1, theme="aurora")
    assert plan.record["theme"]["id"] == "aurora" and plan.record["theme"]["how"] == "forced"
    with pytest.raises(InputError, match="unknown theme 'aurorra'"):
        plan_job(cfg, isolated_home, prompt=None, negative=None, seed=1, theme="aurorra")


def test_a_given_prompt_is_used_as_is(isolated_home):
    cfg = themed()
    plan = plan_job(cfg, isolated_home, prompt="my own words", negative=None, seed=1, theme=None)
    assert plan.prompt == "my own words" and plan.record == {"source": "prompt"}


def test_chaos_borrows_elements_from_other_themes(isolated_home):
    cfg = themed(themes__chaos=1.0)
    plan = plan_job(cfg, isolated_home, prompt=None, negative=None, seed=3, theme="aurora")
    borrowed = plan.record["parts"]["borrowed_element"]
    assert borrowed and borrowed in plan.prompt
    assert borrowed not in library().themes()["aurora"][1].elements


def test_pictures_get_a_neutral_detail_prompt_and_a_fixed_prompt_wins(isolated_home):
    from wallpaperd.planning.plan import IMAGE_PROMPT

    plan = plan_job(themed(), isolated_home, prompt=None, negative=None, seed=1, theme=None, image=True)
    assert plan.prompt == IMAGE_PROMPT and plan.record == {"source": "image"}
    fixed = config_from_mapping(small_mapping(generate__prompt="my daily prompt"))
    plan = plan_job(fixed, isolated_home, prompt=None, negative=None, seed=1, theme=None)
    assert plan.prompt == "my daily prompt"


def test_without_a_location_the_theme_is_picked_without_weather_and_says_so(isolated_home):
    plan = plan_job(themed(), isolated_home, prompt=None, negative=None, seed=9, theme=None)
    assert plan.record["weather"] == {"used": False,
                                      "why": "no location configured (weather.latitude/longitude)"}
    assert "weather" not in plan.record["theme"]["factors"]
