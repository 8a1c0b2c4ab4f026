"""Fixtures for planning tests (the Open-Meteo loopback server lives in conftest_weather)."""

from .conftest_weather import meteo  # noqa: F401  (a fixture)
