"""Plan a job: seed → weather → theme → prompt, with the reasons recorded.

A job with its own prompt and no theme is used as given. Otherwise the theme comes from
``--theme``/the request, or is picked (themes.py) from the weather (weather.py), the time
of day, the season and recent use; the prompt is composed from it (prompt.py). Every
random choice uses a generator derived from the job seed.
"""

from __future__ import annotations

import random
import secrets
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import structlog

from ..config import Config
from ..errors import InputError
from ..paths import shipped_etc_dir, user_config_dir
from ..pipeline.stages import derive_seed
from .expand import expand_prompt
from .loras import LoraLibrary, decorate_prompt, load_loras, select_stack
from .prompt import compose
from .themes import Context, Library, explain, load_library, pick_theme
from .weather import WeatherError, current_weather

log = structlog.get_logger(__name__)

IMAGE_PROMPT = "high quality photograph, highly detailed, sharp focus, natural colours"


@dataclass
class Plan:
    seed: int
    prompt: str
    negative: str | None
    record: dict[str, Any] = field(default_factory=dict)
    loras: list[dict[str, Any]] = field(default_factory=list)


def library() -> Library:
    return load_library(shipped_etc_dir() / "themes.yaml", user_config_dir() / "themes.yaml")


def lora_library() -> LoraLibrary:
    return load_loras(shipped_etc_dir() / "loras.yaml", user_config_dir() / "loras.yaml")


def plan_job(cfg: Config, state_dir: Path, *, prompt: str | None, negative: str | None,
             seed: int | None, theme: str | None, image: bool = False,
             recent: tuple[str, ...] = (), now: datetime | None = None) -> Plan:
    """``prompt``/``theme`` as the user gave them (None = not given)."""
    seed = seed if seed is not None else secrets.randbits(32)
    if prompt is None:
        prompt = cfg.generate.prompt
    if prompt is not None and theme is None:
        return Plan(seed, prompt, negative, {"source": "prompt"})
    if image and theme is None:
        # A user's picture is enhanced, not re-themed: a neutral detail prompt.
        return Plan(seed, IMAGE_PROMPT, negative, {"source": "image"})
    lib = library()
    themes = lib.themes()
    if theme is not None and theme not in themes:
        close = [t for t in themes if theme.lower() in t or t in theme.lower()][:5]
        raise InputError(f"unknown theme '{theme}'",
                         fix=f"see `wallpaperctl themes`{'; did you mean ' + ', '.join(close) if close else ''}")
    weather_record: dict[str, Any]
    try:
        observation = current_weather(cfg.weather, state_dir, time.time())
        weather_record = observation.record() if observation else {
            "used": False, "why": "no location configured (weather.latitude/longitude)"}
    except WeatherError as exc:
        if cfg.weather.required:
            raise
        observation = None
        weather_record = {"used": False, "why": f"unavailable and weather.required is false: {exc.message}"}
        log.warning("weather unavailable; picking the theme without it", error=exc.message)
    now = now or datetime.now().astimezone()
    ctx = Context(observation, now, recent, southern=(cfg.weather.latitude or 0) < 0)
    rng = random.Random(derive_seed(seed, "plan"))
    t = cfg.themes
    if theme is None:
        theme_id, category, chosen, factors = pick_theme(lib, ctx, rng, t.recent_penalty, t.recent_count)
        how = "picked"
    else:
        category, chosen = themes[theme]
        theme_id, factors, how = theme, {}, "forced"
    text, negative_text, parts = compose(chosen, lib, ctx, rng, t.chaos, cfg.generate.negative_prompt)
    if prompt is not None:  # a prompt with a forced theme: the theme decorates it
        text = f"{prompt}, {text}"
    text, expansion = expand_prompt(cfg.prompt_expansion, text, seed)
    stack, skipped = select_stack(lora_library(), theme_id, category, chosen,
                                  observation.mood if observation else None, rng)
    text = decorate_prompt(text, stack)
    record = {
        "source": "theme",
        "theme": {"id": theme_id, "name": chosen.name, "category": category, "how": how,
                  "factors": factors},
        "weather": weather_record,
        "time_of_day": parts["light"],
        "season": ctx.season,
        "parts": parts,
        "loras": [{k: v for k, v in s.items() if k != "path"} for s in stack],
        "loras_left_out": skipped,
        "expansion": expansion,
    }
    return Plan(seed, text, negative if negative is not None else negative_text, record, stack)


def themes_now(cfg: Config, state_dir: Path, recent: tuple[str, ...] = ()) -> dict[str, Any]:
    """For ``wallpaperctl themes``: every theme's chance now and why (weather from cache/live)."""
    try:
        observation = current_weather(cfg.weather, state_dir, time.time())
        weather = observation.record() if observation else None
    except WeatherError as exc:
        observation, weather = None, {"error": exc.message}
    ctx = Context(observation, datetime.now().astimezone(), recent,
                  southern=(cfg.weather.latitude or 0) < 0)
    rows = explain(library(), ctx, cfg.themes.recent_penalty, cfg.themes.recent_count)
    return {"weather": weather, "season": ctx.season, "day": ctx.is_day, "themes": rows}


def recent_themes(state_dir: Path, count: int) -> tuple[str, ...]:
    """Theme ids of the newest finished jobs in the daemon's history (newest first)."""
    db = state_dir / "jobs.db"
    if count == 0 or not db.is_file():
        return ()
    from ..daemon.queue import JobQueue

    queue = JobQueue(db)
    try:
        jobs = queue.history(count)
    finally:
        queue.close()
    ids = []
    for job in jobs:
        theme = ((job.metadata or {}).get("plan") or {}).get("theme") or {}
        if theme.get("id"):
            ids.append(theme["id"])
    return tuple(ids)
