"""A loopback server that answers like Open-Meteo (normal, storm, night, failures)."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest

from wallpaperd.config.schema import WeatherConfig


def answer(code=0, is_day=1, temperature=18.5):
    return {"latitude": 52.52, "longitude": 13.41, "timezone": "Europe/Berlin",
            "current": {"time": "2026-11-29T07:00", "interval": 900, "temperature_2m": temperature,
                        "weather_code": code, "cloud_cover": 12, "is_day": is_day,
                        "precipitation": 0.0, "wind_speed_10m": 9.4}}


class OpenMeteo:
    """A loopback server: set .mode to 'ok', 'http500', 'timeout' or 'garbage'."""

    def __init__(self) -> None:
        self.mode, self.body, self.requests = "ok", answer(), []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                outer.requests.append(parse_qs(urlparse(self.path).query))
                if outer.mode == "timeout":
                    time.sleep(1.5)
                status, text = {"ok": (200, json.dumps(outer.body)), "timeout": (200, "{}"),
                                "http500": (500, "internal error"),
                                "garbage": (200, "<html>not json</html>")}[outer.mode]
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(text.encode())

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1/forecast"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def config(self, **kw) -> WeatherConfig:
        return WeatherConfig(latitude=52.52, longitude=13.41, open_meteo_url=self.url,
                             timeout_seconds=0.5, **kw)


@pytest.fixture
def meteo():
    server = OpenMeteo()
    yield server
    server.server.shutdown()
