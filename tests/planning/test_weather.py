"""Weather from an Open-Meteo-shaped server on loopback: answers, failures, cache rules."""

from __future__ import annotations

import json

import pytest

from wallpaperd.config.schema import WeatherConfig
from wallpaperd.planning.weather import CONDITIONS, MOODS, WMO, WeatherError, current_weather, describe_code

from .conftest_weather import answer
from .loopback import LoopbackServer


def test_every_wmo_code_maps_to_a_condition_and_a_mood():
    codes = [0, 1, 2, 3, 45, 48, 51, 53, 55, 56, 57, 61, 63, 65, 66, 67, 71, 73, 75, 77,
             80, 81, 82, 85, 86, 95, 96, 99]
    assert sorted(WMO) == codes  # the whole WMO 4677 subset Open-Meteo uses
    for code in codes:
        condition, mood, description = describe_code(code)
        assert condition in CONDITIONS and mood in MOODS and description
    assert describe_code(95)[:2] == ("thunderstorm", "dramatic")
    assert describe_code(45)[:2] == ("fog", "mysterious")
    with pytest.raises(WeatherError, match="unknown WMO weather code 4"):
        describe_code(4)


def test_normal_answer_and_the_request_it_took(meteo, tmp_path):
    obs = current_weather(meteo.config(), tmp_path, now=1000.0)
    assert (obs.provider, obs.code, obs.condition, obs.mood) == ("open-meteo", 0, "clear", "vibrant")
    assert obs.temperature == 18.5 and obs.is_day and obs.source == "live"
    (query,) = meteo.requests
    assert query["latitude"] == ["52.52"] and query["timezone"] == ["auto"]
    assert set(query["current"][0].split(",")) >= {"weather_code", "temperature_2m", "cloud_cover",
                                                   "is_day", "precipitation", "wind_speed_10m"}


def test_storm_at_night(meteo, tmp_path):
    meteo.body = answer(code=99, is_day=0, temperature=-2.0)
    obs = current_weather(meteo.config(), tmp_path, now=1000.0)
    assert obs.condition == "thunderstorm" and obs.mood == "dramatic" and not obs.is_day


def test_at_most_one_request_per_ttl(meteo, tmp_path):
    cfg = meteo.config(ttl="30m")
    current_weather(cfg, tmp_path, now=1000.0)
    again = current_weather(cfg, tmp_path, now=1000.0 + 29 * 60)
    assert len(meteo.requests) == 1 and again.source == "cache"
    current_weather(cfg, tmp_path, now=1000.0 + 31 * 60)
    assert len(meteo.requests) == 2


@pytest.mark.parametrize("mode, message", [
    ("http500", "answered HTTP 500"),
    ("timeout", "did not answer within 0.5 s"),
    ("garbage", "HTTP 200 with a malformed body"),
])
def test_failures_name_the_url_and_what_was_wrong(meteo, tmp_path, mode, message):
    meteo.mode = mode
    with pytest.raises(WeatherError, match=message) as err:
        current_weather(meteo.config(), tmp_path, now=1000.0)
    assert "127.0.0.1" in str(err.value) and err.value.fix


def test_unknown_code_from_the_server_is_an_error(meteo, tmp_path):
    meteo.body = answer(code=42)
    with pytest.raises(WeatherError, match="sent unknown WMO weather code 42"):
        current_weather(meteo.config(), tmp_path, now=1000.0)


def test_a_young_enough_cache_covers_a_failure_and_an_old_one_does_not(meteo, tmp_path):
    cfg = meteo.config(ttl="30m", max_age="6h")
    current_weather(cfg, tmp_path, now=1000.0)
    meteo.mode = "http500"
    stale = current_weather(cfg, tmp_path, now=1000.0 + 3600)
    assert stale.source == "stale-cache" and stale.condition == "clear"
    with pytest.raises(WeatherError, match="HTTP 500"):
        current_weather(cfg, tmp_path, now=1000.0 + 7 * 3600)


def test_no_location_means_no_weather(tmp_path):
    assert current_weather(WeatherConfig(), tmp_path, now=1000.0) is None


def test_nws_provider_for_us_locations(tmp_path):
    """The NWS flow on loopback: /points → forecastHourly → first period."""
    seen = []

    class Nws(LoopbackServer):
        def respond(self, request, body):
            seen.append((request.path, request.headers.get("User-Agent")))
            if request.path.startswith("/points/"):
                payload = {"properties": {"forecastHourly": f"{self.url}gridpoints/OKX/33,35/forecast/hourly"}}
            else:
                payload = {"properties": {"periods": [{
                    "startTime": "2026-11-29T07:00:00-05:00", "isDaytime": False, "temperature": 41,
                    "temperatureUnit": "F", "windSpeed": "10 mph", "shortForecast": "Light Snow Likely",
                    "probabilityOfPrecipitation": {"value": 60}}]}}
            return 200, json.dumps(payload)

    server = Nws()
    try:
        cfg = WeatherConfig(provider="nws", latitude=40.7128, longitude=-74.006,
                            nws_url=server.url.rstrip("/"), timeout_seconds=2)
        obs = current_weather(cfg, tmp_path, now=1000.0)
    finally:
        server.close()
    assert (obs.provider, obs.condition, obs.mood, obs.is_day) == ("nws", "snow", "serene", False)
    assert obs.temperature == 5.0 and obs.description == "Light Snow Likely"
    assert seen[0][0] == "/points/40.7128,-74.0060" and "wallpaperd" in seen[0][1]
