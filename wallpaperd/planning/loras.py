"""LoRA library (``etc/loras.yaml`` + the user's ``loras.yaml``) and the stack selector.

The selector follows the seed plan, in order:

1. ``required`` LoRAs of the theme (always; one that breaks the stacking rules is a
   config error naming the theme and the LoRA);
2. one **style** LoRA whose ``compatible_themes`` lists the theme or its category
   (``preferred`` first, never ``excluded``);
3. **detail** LoRAs whose ``moods`` list the weather mood (all moods when empty);
4. **character** LoRAs whose ``specific_themes`` list the theme.

Weights are drawn from each ``weight_range`` with the job's generator. The stacking rules
(``max_loras``, ``type_limits``, ``weight_sum_max``) always hold: an optional LoRA that
would break them is left out, and the reason is recorded.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Annotated, Any, Literal

import pydantic
from pydantic import BaseModel, ConfigDict, Field

from ..config import read_yaml
from ..config.load import library_errors
from ..errors import ConfigError
from .themes import Theme

QUALITY_TAGS = "intricate details, sharp focus, masterpiece"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LoraEntry(_Strict):
    path: str
    type: Literal["style", "detail", "character"]
    weight_range: tuple[Annotated[float, Field(ge=-2, le=3)], Annotated[float, Field(ge=-2, le=3)]]
    compatible_themes: list[str] = []
    specific_themes: list[str] = []
    moods: list[str] = []
    trigger_words: list[str] = []
    stackable: bool = True

    @pydantic.model_validator(mode="after")
    def _range(self):
        if self.weight_range[0] > self.weight_range[1]:
            raise ValueError("weight_range is [low, high] with low <= high")
        return self


class StackingRules(_Strict):
    max_loras: Annotated[int, Field(ge=0, le=20)] = 5
    type_limits: dict[Literal["style", "detail", "character"], Annotated[int, Field(ge=0)]] = {
        "style": 1, "detail": 2, "character": 2}
    weight_sum_max: Annotated[float, Field(gt=0)] = 3.5


class LoraLibrary(_Strict):
    lora_library: dict[str, LoraEntry] = {}
    stacking_rules: StackingRules = StackingRules()


def load_loras(shipped: Path, user: Path | None = None) -> LoraLibrary:
    data = read_yaml(shipped)
    sources = [shipped]
    if user is not None and user.is_file():
        extra = read_yaml(user)
        sources.append(user)
        data.setdefault("lora_library", {}).update(extra.get("lora_library") or {})
        if "stacking_rules" in extra:
            data["stacking_rules"] = {**(data.get("stacking_rules") or {}), **extra["stacking_rules"]}
    data["lora_library"] = data.get("lora_library") or {}
    try:
        library = LoraLibrary.model_validate(data)
    except pydantic.ValidationError as exc:
        raise library_errors(exc, sources, "see the format at the top of etc/loras.yaml") from None
    base = sources[-1].parent
    resolved = {}
    for name, entry in library.lora_library.items():
        path = Path(entry.path).expanduser()
        resolved[name] = entry.model_copy(update={"path": str(path if path.is_absolute() else base / path)})
    return library.model_copy(update={"lora_library": resolved})


def select_stack(library: LoraLibrary, theme_id: str, category: str, theme: Theme,
                 mood: str | None, rng: random.Random) -> tuple[list[dict[str, Any]], list[str]]:
    """The stack [{name, type, path, weight, trigger}] and the reasons for what was left out."""
    loras, rules, hints = library.lora_library, library.stacking_rules, theme.lora_hints
    for name in (*hints.required, *hints.preferred, *hints.excluded):
        if name not in loras:
            raise ConfigError([f"themes.yaml: theme '{theme_id}' names LoRA '{name}' in lora_hints, "
                               "which loras.yaml does not define. fix: add it to loras.yaml or "
                               "remove it from the theme"])
    stack: list[dict[str, Any]] = []
    skipped: list[str] = []

    def fits(name: str, weight: float) -> str | None:
        entry = loras[name]
        if len(stack) >= rules.max_loras:
            return f"max_loras {rules.max_loras}"
        if sum(1 for s in stack if s["type"] == entry.type) >= rules.type_limits.get(entry.type, 0):
            return f"type_limits.{entry.type} {rules.type_limits.get(entry.type, 0)}"
        if not entry.stackable and stack:
            return "not stackable with others"
        if any(not loras[s["name"]].stackable for s in stack):
            return f"'{stack[0]['name']}' is not stackable"
        if sum(abs(s["weight"]) for s in stack) + abs(weight) > rules.weight_sum_max + 1e-9:
            return f"weight_sum_max {rules.weight_sum_max}"
        return None

    def add(name: str, required: bool) -> None:
        if name in hints.excluded or any(s["name"] == name for s in stack):
            return
        entry = loras[name]
        weight = round(rng.uniform(*entry.weight_range), 4)
        problem = fits(name, weight)
        if problem and required:
            raise ConfigError([f"themes.yaml: theme '{theme_id}' requires LoRA '{name}', which breaks "
                               f"the stacking rules ({problem}). fix: change the theme's lora_hints "
                               "or loras.yaml's stacking_rules"])
        if problem:
            skipped.append(f"{name}: {problem}")
            return
        trigger = rng.choice(entry.trigger_words) if entry.trigger_words else None
        stack.append({"name": name, "type": entry.type, "path": entry.path, "weight": weight,
                      "trigger": trigger})

    for name in hints.required:
        add(name, required=True)
    styles = [n for n, e in sorted(loras.items()) if e.type == "style"
              and (theme_id in e.compatible_themes or category in e.compatible_themes)]
    styles = [n for n in hints.preferred if n in styles] + [n for n in styles if n not in hints.preferred]
    if styles and not any(s["type"] == "style" for s in stack):
        add(styles[0] if styles[0] in hints.preferred else rng.choice(styles), required=False)
    for name, entry in sorted(loras.items()):
        if entry.type == "detail" and (not entry.moods or (mood is not None and mood in entry.moods)):
            add(name, required=False)
    for name, entry in sorted(loras.items()):
        if entry.type == "character" and theme_id in entry.specific_themes:
            add(name, required=False)
    return stack, skipped


def decorate_prompt(prompt: str, stack: list[dict[str, Any]]) -> str:
    """Trigger words enter the prompt; detail LoRAs add their quality tags."""
    parts = [prompt, *[s["trigger"] for s in stack if s.get("trigger")]]
    if any(s["type"] == "detail" for s in stack):
        parts.append(QUALITY_TAGS)
    return ", ".join(p for p in parts if p)
