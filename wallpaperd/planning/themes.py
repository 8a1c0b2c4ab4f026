"""The theme library (``etc/themes.yaml`` + the user's ``themes.yaml``) and the picker.

A theme's chance is the product of its factors (see ``score``):

    category weight x theme weight
    x weather   (condition listed: x CONDITION_BOOST, mood listed: x MOOD_BOOST, a listed
                 condition list that misses: x MISMATCH, temperature outside the range: x MISMATCH)
    x time      (day/night listed and not now: x OFF_TIME)
    x season    (seasons listed and not now: x OFF_SEASON)
    x recency   (x themes.recent_penalty for each use among the last themes.recent_count jobs)

The draw uses a generator seeded from the job seed, so the same seed and inputs give the
same theme. ``explain`` returns the factors for every theme (``wallpaperctl themes``).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import pydantic
from pydantic import BaseModel, ConfigDict, Field

from ..errors import ConfigError
from .weather import CONDITIONS, MOODS, Observation

CONDITION_BOOST = 3.0
MOOD_BOOST = 2.0
MISMATCH = 0.3
OFF_TIME = 0.15
OFF_SEASON = 0.4
SEASONS = ("spring", "summer", "autumn", "winter")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Affinity(_Strict):
    conditions: list[str] = []
    moods: list[str] = []
    time: list[str] = []          # day, night
    seasons: list[str] = []
    temperature: tuple[float, float] | None = None

    @pydantic.field_validator("conditions")
    @classmethod
    def _conditions(cls, v):
        return _known(v, CONDITIONS, "condition")

    @pydantic.field_validator("moods")
    @classmethod
    def _moods(cls, v):
        return _known(v, MOODS, "mood")

    @pydantic.field_validator("time")
    @classmethod
    def _time(cls, v):
        return _known(v, ["day", "night"], "time")

    @pydantic.field_validator("seasons")
    @classmethod
    def _seasons(cls, v):
        return _known(v, SEASONS, "season")


class LoraHints(_Strict):
    required: list[str] = []
    preferred: list[str] = []
    excluded: list[str] = []


class Modifiers(_Strict):
    prepend: str = ""
    append: str = ""


class Theme(_Strict):
    name: str
    weight: Annotated[float, Field(ge=0)] = 1.0
    elements: Annotated[list[str], Field(min_length=2)]
    styles: Annotated[list[str], Field(min_length=1)]
    colors: Annotated[list[str], Field(min_length=1)]
    weather: Affinity = Affinity()
    lora_hints: LoraHints = LoraHints()
    prompt_modifiers: Modifiers = Modifiers()
    negative: str = ""


class Category(_Strict):
    weight: Annotated[float, Field(ge=0)] = 1.0
    themes: dict[str, Theme]


class Library(_Strict):
    categories: dict[str, Category]

    def themes(self) -> dict[str, tuple[str, Theme]]:
        """theme id → (category id, theme)."""
        return {tid: (cid, t) for cid, c in self.categories.items() for tid, t in c.themes.items()}


def _known(values: list[str], allowed, what: str) -> list[str]:
    bad = [v for v in values if v not in allowed]
    if bad:
        raise ValueError(f"unknown {what}(s) {bad}; use {', '.join(allowed)}")
    return values


def load_library(shipped: Path, user: Path | None = None) -> Library:
    """The shipped library, with the user's file adding or replacing categories and themes."""
    from ..config import read_yaml
    from ..config.load import library_errors

    data = read_yaml(shipped)
    sources = [shipped]
    if user is not None and user.is_file():
        extra = read_yaml(user)
        sources.append(user)
        for cid, category in (extra.get("categories") or {}).items():
            base = data.setdefault("categories", {}).setdefault(cid, {"themes": {}})
            if isinstance(category, dict):
                for key, value in category.items():
                    if key == "themes" and isinstance(value, dict):
                        base.setdefault("themes", {}).update(value)
                    else:
                        base[key] = value
    try:
        library = Library.model_validate(data)
    except pydantic.ValidationError as exc:
        raise library_errors(exc, sources, "see the format at the top of etc/themes.yaml") from None
    ids = library.themes()
    if sum(len(c.themes) for c in library.categories.values()) != len(ids):
        raise ConfigError([f"{' or '.join(map(str, sources))}: a theme id is used in two "
                           "categories. fix: give every theme its own id"])
    return library


@dataclass(frozen=True)
class Context:
    """What the picker sees: the weather (or None), local time, and recent theme ids."""

    weather: Observation | None
    now: datetime
    recent: tuple[str, ...] = ()
    southern: bool = False

    @property
    def is_day(self) -> bool:
        if self.weather is not None:
            return self.weather.is_day
        return 7 <= self.now.hour < 19

    @property
    def season(self) -> str:
        month = self.now.month
        index = {12: 3, 1: 3, 2: 3, 3: 0, 4: 0, 5: 0, 6: 1, 7: 1, 8: 1, 9: 2, 10: 2, 11: 2}[month]
        if self.southern:
            index = (index + 2) % 4
        return SEASONS[index]


def score(category: Category, tid: str, theme: Theme, ctx: Context, recent_penalty: float,
          recent_count: int) -> tuple[float, dict[str, float]]:
    """The theme's weight now, and each factor (for the explanation)."""
    a = theme.weather
    factors = {"category": category.weight, "theme": theme.weight}
    w = ctx.weather
    if w is not None:
        weather = 1.0
        if a.conditions:
            weather *= CONDITION_BOOST if w.condition in a.conditions else MISMATCH
        if a.moods and w.mood in a.moods:
            weather *= MOOD_BOOST
        if a.temperature is not None and not a.temperature[0] <= w.temperature <= a.temperature[1]:
            weather *= MISMATCH
        factors["weather"] = weather
    if a.time:
        factors["time"] = 1.0 if ("day" if ctx.is_day else "night") in a.time else OFF_TIME
    if a.seasons:
        factors["season"] = 1.0 if ctx.season in a.seasons else OFF_SEASON
    uses = list(ctx.recent[:recent_count]).count(tid)
    if uses:
        factors["recency"] = recent_penalty ** uses
    total = 1.0
    for value in factors.values():
        total *= value
    return total, factors


def explain(library: Library, ctx: Context, recent_penalty: float, recent_count: int) -> list[dict[str, Any]]:
    """Every theme with its chance now and the factors behind it, likeliest first."""
    rows = []
    for cid, category in library.categories.items():
        for tid, theme in category.themes.items():
            weight, factors = score(category, tid, theme, ctx, recent_penalty, recent_count)
            rows.append({"id": tid, "name": theme.name, "category": cid, "weight": weight,
                         "factors": factors})
    total = sum(r["weight"] for r in rows) or 1.0
    for row in rows:
        row["chance"] = row["weight"] / total
    return sorted(rows, key=lambda r: -r["weight"])


def pick_theme(library: Library, ctx: Context, rng: random.Random, recent_penalty: float,
               recent_count: int) -> tuple[str, str, Theme, dict[str, float]]:
    """(theme id, category id, theme, factors), drawn by weight with ``rng``."""
    candidates = []
    for cid, category in library.categories.items():
        for tid, theme in category.themes.items():
            weight, factors = score(category, tid, theme, ctx, recent_penalty, recent_count)
            if weight > 0:
                candidates.append((weight, tid, cid, theme, factors))
    if not candidates:
        raise ConfigError(["themes: every theme has weight 0 now. fix: give some themes or "
                           "categories a weight above 0"])
    pick = rng.uniform(0, sum(c[0] for c in candidates))
    for weight, tid, cid, theme, factors in candidates:
        pick -= weight
        if pick <= 0:
            return tid, cid, theme, factors
    weight, tid, cid, theme, factors = candidates[-1]
    return tid, cid, theme, factors
