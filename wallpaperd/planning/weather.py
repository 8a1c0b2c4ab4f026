"""The weather outside, from Open-Meteo (no key, worldwide) or the US National Weather
Service, cached in the state folder.

``current_weather(cfg, state_dir, now)`` returns an ``Observation`` or None (no location
configured). Rules:

- at most one request per ``weather.ttl``: a cached answer younger than that is used as is;
- a failed request (HTTP error, timeout, malformed answer) raises ``WeatherError`` naming
  the URL, the status and what was wrong — unless the cache holds an observation younger
  than ``weather.max_age``, which is then used (and says so);
- callers decide what a failure means (``weather.required``).

Every WMO weather code maps to a condition and a mood (``WMO``), used by the theme picker.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import requests

from ..config.schema import WeatherConfig, parse_duration
from ..errors import WallpaperdError

CACHE_NAME = "weather.json"
CURRENT = "temperature_2m,weather_code,cloud_cover,is_day,precipitation,wind_speed_10m"

#: WMO 4677 code (as Open-Meteo reports it) → (condition, mood, description).
WMO: dict[int, tuple[str, str, str]] = {
    0: ("clear", "vibrant", "clear sky"),
    1: ("clear", "vibrant", "mainly clear"),
    2: ("partly_cloudy", "cheerful", "partly cloudy"),
    3: ("cloudy", "calm", "overcast"),
    45: ("fog", "mysterious", "fog"),
    48: ("fog", "mysterious", "depositing rime fog"),
    51: ("drizzle", "melancholic", "light drizzle"),
    53: ("drizzle", "melancholic", "moderate drizzle"),
    55: ("drizzle", "melancholic", "dense drizzle"),
    56: ("freezing_rain", "cold", "light freezing drizzle"),
    57: ("freezing_rain", "cold", "dense freezing drizzle"),
    61: ("rain", "melancholic", "slight rain"),
    63: ("rain", "melancholic", "moderate rain"),
    65: ("rain", "dramatic", "heavy rain"),
    66: ("freezing_rain", "cold", "light freezing rain"),
    67: ("freezing_rain", "cold", "heavy freezing rain"),
    71: ("snow", "serene", "slight snowfall"),
    73: ("snow", "serene", "moderate snowfall"),
    75: ("snow", "cold", "heavy snowfall"),
    77: ("snow", "serene", "snow grains"),
    80: ("showers", "melancholic", "slight rain showers"),
    81: ("showers", "melancholic", "moderate rain showers"),
    82: ("showers", "dramatic", "violent rain showers"),
    85: ("snow", "serene", "slight snow showers"),
    86: ("snow", "cold", "heavy snow showers"),
    95: ("thunderstorm", "dramatic", "thunderstorm"),
    96: ("thunderstorm", "dramatic", "thunderstorm with slight hail"),
    99: ("thunderstorm", "dramatic", "thunderstorm with heavy hail"),
}
CONDITIONS = sorted({c for c, _, _ in WMO.values()})
MOODS = sorted({m for _, m, _ in WMO.values()})


class WeatherError(WallpaperdError):
    """The weather could not be had (network, HTTP status, malformed answer)."""


@dataclass(frozen=True)
class Observation:
    provider: str
    code: int
    condition: str
    mood: str
    description: str
    temperature: float
    cloud_cover: float | None  # percent; NWS forecasts do not give it
    is_day: bool
    precipitation: float
    wind_speed: float
    time: str            # the observation's local time as the provider reports it
    fetched_at: float    # when we asked (epoch seconds)
    source: str = "live"  # live | cache | stale-cache

    def record(self) -> dict[str, Any]:
        return asdict(self)


def describe_code(code: int) -> tuple[str, str, str]:
    if code not in WMO:
        raise WeatherError(f"unknown WMO weather code {code}",
                           fix="the provider sent a code outside WMO 4677; report it")
    return WMO[code]


def current_weather(cfg: WeatherConfig, state_dir: Path, now: float) -> Observation | None:
    """The observation to plan with, or None when no location is configured."""
    if cfg.latitude is None or cfg.longitude is None:
        return None
    cache = _read_cache(state_dir, cfg)
    if cache is not None and now - cache.fetched_at < parse_duration(cfg.ttl).total_seconds():
        return _with_source(cache, "cache")
    try:
        observation = fetch_nws(cfg, now) if cfg.provider == "nws" else fetch_open_meteo(cfg, now)
    except WeatherError:
        if cache is not None and now - cache.fetched_at < parse_duration(cfg.max_age).total_seconds():
            return _with_source(cache, "stale-cache")
        raise
    _write_cache(state_dir, cfg, observation)
    return observation


def fetch_open_meteo(cfg: WeatherConfig, now: float) -> Observation:
    params = {"latitude": cfg.latitude, "longitude": cfg.longitude, "current": CURRENT,
              "timezone": "auto"}
    response = _get(cfg.open_meteo_url, cfg, params=params,
                    fix="check weather.latitude/longitude and weather.open_meteo_url")
    try:
        data = response.json()
        current = data["current"]
        code = int(current["weather_code"])
        condition, mood, description = describe_code(code)
        return Observation(
            provider="open-meteo", code=code, condition=condition, mood=mood,
            description=description, temperature=float(current["temperature_2m"]),
            cloud_cover=float(current.get("cloud_cover", 0.0)), is_day=bool(current["is_day"]),
            precipitation=float(current.get("precipitation", 0.0)),
            wind_speed=float(current.get("wind_speed_10m", 0.0)), time=str(current["time"]),
            fetched_at=now)
    except WeatherError as exc:
        raise WeatherError(f"weather: {response.url} sent {exc.message}", fix=exc.fix) from exc
    except (ValueError, KeyError, TypeError) as exc:
        raise WeatherError(f"weather: {response.url} answered HTTP 200 with a malformed body "
                           f"({type(exc).__name__}: {exc}): {response.text[:200]!r}",
                           fix="check weather.open_meteo_url points at an Open-Meteo forecast API"
                           ) from exc


#: NWS short forecasts → the WMO code whose condition they describe (first match wins).
NWS_WORDS = (("thunder", 95), ("snow", 73), ("sleet", 66), ("freezing", 66), ("drizzle", 53),
             ("showers", 80), ("rain", 63), ("fog", 45), ("haze", 45), ("overcast", 3),
             ("mostly cloudy", 3), ("cloudy", 3), ("partly", 2), ("mostly sunny", 1),
             ("mostly clear", 1), ("sunny", 0), ("clear", 0), ("fair", 0))
NWS_HEADERS = {"User-Agent": "wallpaperd (desktop wallpaper daemon)", "Accept": "application/geo+json"}


def fetch_nws(cfg: WeatherConfig, now: float) -> Observation:
    """The US National Weather Service: /points → forecastHourly, first period (US only)."""
    points = _get_json(f"{cfg.nws_url.rstrip('/')}/points/{cfg.latitude:.4f},{cfg.longitude:.4f}", cfg)
    try:
        hourly_url = points["properties"]["forecastHourly"]
    except (KeyError, TypeError) as exc:
        raise WeatherError(f"weather: NWS /points for {cfg.latitude},{cfg.longitude} has no "
                           "forecastHourly", fix="NWS covers US locations only; use provider "
                           "open-meteo elsewhere") from exc
    hourly = _get_json(hourly_url, cfg)
    try:
        period = hourly["properties"]["periods"][0]
        text = str(period["shortForecast"])
        code = next((c for word, c in NWS_WORDS if word in text.lower()), None)
        if code is None:
            raise WeatherError(f"weather: NWS forecast {text!r} matches no known condition",
                               fix="report the text; use provider open-meteo meanwhile")
        condition, mood, _ = describe_code(code)
        temperature = float(period["temperature"])
        if period.get("temperatureUnit", "F") == "F":
            temperature = (temperature - 32) * 5 / 9
        wind = str(period.get("windSpeed", "0")).split()[0]
        return Observation(
            provider="nws", code=code, condition=condition, mood=mood, description=text,
            temperature=round(temperature, 1), cloud_cover=None,
            is_day=bool(period["isDaytime"]),
            precipitation=float(((period.get("probabilityOfPrecipitation") or {}).get("value")) or 0),
            wind_speed=float(wind) * 1.609 if wind.replace(".", "").isdigit() else 0.0,
            time=str(period["startTime"]), fetched_at=now)
    except WeatherError:
        raise
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise WeatherError(f"weather: {hourly_url} answered with a malformed forecast "
                           f"({type(exc).__name__}: {exc})", fix="try again later, or use open-meteo"
                           ) from exc


def _get(url: str, cfg: WeatherConfig, fix: str, **kwargs) -> requests.Response:
    """One GET; network failures, timeouts and non-200 answers become WeatherErrors."""
    try:
        response = requests.get(url, timeout=cfg.timeout_seconds, **kwargs)
    except requests.Timeout as exc:
        raise WeatherError(f"weather: {url} did not answer within {cfg.timeout_seconds} s",
                           fix="check the network, or raise weather.timeout_seconds") from exc
    except requests.RequestException as exc:
        raise WeatherError(f"weather: cannot reach {url}: {exc}",
                           fix="check the network and the weather URL in the config") from exc
    if response.status_code != 200:
        raise WeatherError(f"weather: {response.url} answered HTTP {response.status_code}: "
                           f"{response.text[:200]!r}", fix=fix)
    return response


def _get_json(url: str, cfg: WeatherConfig) -> Any:
    response = _get(url, cfg, headers=NWS_HEADERS,
                    fix="NWS covers US locations only; check weather.latitude/longitude")
    try:
        return response.json()
    except ValueError as exc:
        raise WeatherError(f"weather: {url} answered HTTP 200 with a malformed body: "
                           f"{response.text[:200]!r}", fix="check weather.nws_url") from exc


def _cache_key(cfg: WeatherConfig) -> str:
    return f"{cfg.provider}:{cfg.latitude:.4f},{cfg.longitude:.4f}"


def _read_cache(state_dir: Path, cfg: WeatherConfig) -> Observation | None:
    try:
        data = json.loads((state_dir / CACHE_NAME).read_text())
        if data.get("key") != _cache_key(cfg):
            return None  # another place: not this weather
        return Observation(**data["observation"])
    except (OSError, ValueError, KeyError, TypeError):
        return None  # no cache, or one from an older version: ask again


def _write_cache(state_dir: Path, cfg: WeatherConfig, observation: Observation) -> None:
    state_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=state_dir, suffix=".tmp")
    with os.fdopen(fd, "w") as handle:
        json.dump({"key": _cache_key(cfg), "observation": observation.record()}, handle)
    os.replace(tmp, state_dir / CACHE_NAME)


def _with_source(observation: Observation, source: str) -> Observation:
    return Observation(**{**observation.record(), "source": source})


def utc_now() -> float:
    return datetime.now(timezone.utc).timestamp()
