"""A loopback server that answers like Open-Meteo (normal, storm, night, failures)."""

from __future__ import annotations

import json
import time
from urllib.parse import parse_qs, urlparse

import pytest

from wallpaperd.config.schema import WeatherConfig

from .loopback import LoopbackServer


def answer(code=0, is_day=1, temperature=18.5):
    return {"latitude": 52.52, "longitude": 13.41, "timezone": "Europe/Berlin",
            "current": {"time": "2026-11-29T07:00", "interval": 900, "temperature_2m": temperature,
                        "weather_code": code, "cloud_cover": 12, "is_day": is_day,
                        "precipitation": 0.0, "wind_speed_10m": 9.4}}


class OpenMeteo(LoopbackServer):
    """Set .mode to 'ok', 'http500', 'timeout' or 'garbage'."""

    path = "/v1/forecast"

    def __init__(self) -> None:
        self.mode, self.body, self.requests = "ok", answer(), []
        super().__init__()

    def respond(self, request, body: bytes | None) -> tuple[int, str]:
        self.requests.append(parse_qs(urlparse(request.path).query))
        if self.mode == "timeout":
            time.sleep(1.5)
        return {"ok": (200, json.dumps(self.body)), "timeout": (200, "{}"),
                "http500": (500, "internal error"), "garbage": (200, "<html>not json</html>")}[self.mode]

    def config(self, **kw) -> WeatherConfig:
        return WeatherConfig(latitude=52.52, longitude=13.41, open_meteo_url=self.url,
                             timeout_seconds=0.5, **kw)


@pytest.fixture
def meteo():
    server = OpenMeteo()
    yield server
    server.close()
