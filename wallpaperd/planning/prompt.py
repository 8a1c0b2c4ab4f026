"""Composing the prompt from a theme, the weather mood and the time of day (seeded).

    [prepend] elements, style, colours, light and weather [append]

Two or three of the theme's elements, one style, one or two colours, a phrase for the
time of day and one for the weather mood; with chaos, one element borrowed from another
theme. The negative prompt is the configured one plus the theme's additions.
"""

from __future__ import annotations

import random
from typing import Any

from .themes import Context, Library, Theme

TIME_OF_DAY = {
    "dawn": "at dawn, soft first light", "morning": "in clear morning light",
    "afternoon": "in warm afternoon light", "dusk": "at dusk, golden hour glow",
    "night": "at night, moonlit",
}
MOOD = {
    "vibrant": ["under a brilliant clear sky", "crisp vivid sunlight"],
    "cheerful": ["with drifting white clouds", "bright and airy atmosphere"],
    "calm": ["under a soft overcast sky", "gentle diffused light"],
    "mysterious": ["wrapped in drifting fog", "hazy mysterious atmosphere"],
    "melancholic": ["in gentle rain, wet reflections", "moody rain-soaked atmosphere"],
    "dramatic": ["beneath a dramatic stormy sky", "lightning on the horizon"],
    "serene": ["under falling snow", "quiet snowy stillness"],
    "cold": ["in icy winter air", "frost-covered, cold blue light"],
}


def time_of_day(ctx: Context) -> str:
    hour = ctx.now.hour
    if not ctx.is_day:
        return "night"
    if hour < 9:
        return "dawn" if hour < 7 else "morning"
    if hour < 16:
        return "afternoon" if hour >= 13 else "morning"
    return "dusk"


def compose(theme: Theme, library: Library, ctx: Context, rng: random.Random, chaos: float,
            base_negative: str) -> tuple[str, str, dict[str, Any]]:
    """(prompt, negative prompt, the parts chosen) — every choice from ``rng``."""
    elements = rng.sample(theme.elements, k=min(len(theme.elements), rng.choice((2, 3))))
    style = rng.choice(theme.styles)
    colors = rng.sample(theme.colors, k=min(len(theme.colors), rng.choice((1, 2))))
    borrowed = None
    if chaos > 0 and rng.random() < chaos:
        others = [t for tid, (_, t) in sorted(library.themes().items()) if t is not theme]
        if others:
            borrowed = rng.choice(rng.choice(others).elements)
            elements.append(borrowed)
    light = TIME_OF_DAY[time_of_day(ctx)]
    mood = rng.choice(MOOD[ctx.weather.mood]) if ctx.weather is not None else None
    body = ", ".join([*elements, style, " and ".join(colors) + " palette", light,
                      *([mood] if mood else [])])
    prompt = f"{theme.prompt_modifiers.prepend}{body}{theme.prompt_modifiers.append}".strip(" ,")
    negative = ", ".join(p for p in (base_negative.strip(), theme.negative.strip()) if p)
    parts = {"elements": elements, "style": style, "colors": colors, "light": light,
             "weather_phrase": mood, "borrowed_element": borrowed}
    return prompt, negative, parts
