"""The Open-Meteo loopback server is shared with the planning tests."""

from ..planning.conftest_weather import meteo  # noqa: F401  (a fixture)
