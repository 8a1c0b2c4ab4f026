"""The LoRA stack selector: the seed's rules hold for every seed, hints are honoured."""

from __future__ import annotations

import random

import pytest

from wallpaperd.errors import ConfigError
from wallpaperd.planning.loras import LoraLibrary, decorate_prompt, select_stack
from wallpaperd.planning.themes import Theme

LIB = LoraLibrary.model_validate({
    "lora_library": {
        "style_photo": {"path": "/l/photo.safetensors", "type": "style", "weight_range": [0.6, 0.9],
                        "compatible_themes": ["nature", "urban"]},
        "style_paint": {"path": "/l/paint.safetensors", "type": "style", "weight_range": [0.7, 1.0],
                        "compatible_themes": ["nature"]},
        "style_anime": {"path": "/l/anime.safetensors", "type": "style", "weight_range": [0.7, 1.0],
                        "compatible_themes": ["fantasy"]},
        "detail_a": {"path": "/l/da.safetensors", "type": "detail", "weight_range": [0.3, 0.6],
                     "moods": ["vibrant", "dramatic"]},
        "detail_b": {"path": "/l/db.safetensors", "type": "detail", "weight_range": [0.3, 0.6]},
        "detail_c": {"path": "/l/dc.safetensors", "type": "detail", "weight_range": [0.2, 0.4]},
        "char_yuffie": {"path": "/l/y.safetensors", "type": "character", "weight_range": [0.8, 1.0],
                        "trigger_words": ["yuffie kisaragi", "ff7 yuffie"],
                        "specific_themes": ["final_fantasy_vii"]},
        "heavy": {"path": "/l/h.safetensors", "type": "character", "weight_range": [2.9, 3.0]},
    },
    "stacking_rules": {"max_loras": 5, "type_limits": {"style": 1, "detail": 2, "character": 2},
                       "weight_sum_max": 3.5},
})


def theme(**hints) -> Theme:
    return Theme(name="t", elements=["a", "b"], styles=["s"], colors=["c"], lora_hints=hints)


def check_rules(stack):
    rules = LIB.stacking_rules
    assert len(stack) <= rules.max_loras
    for kind, limit in rules.type_limits.items():
        assert sum(1 for s in stack if s["type"] == kind) <= limit
    assert sum(abs(s["weight"]) for s in stack) <= rules.weight_sum_max + 1e-9
    for s in stack:
        low, high = LIB.lora_library[s["name"]].weight_range
        assert low <= s["weight"] <= high


def test_rules_hold_and_excluded_is_never_chosen_over_many_seeds():
    t = theme(excluded=["style_paint"], preferred=[])
    seen = set()
    for seed in range(500):
        stack, _ = select_stack(LIB, "misty_forest", "nature", t, "vibrant", random.Random(seed))
        check_rules(stack)
        names = [s["name"] for s in stack]
        assert "style_paint" not in names
        seen.update(names)
    assert "style_photo" in seen and {"detail_a", "detail_b"} <= seen or "detail_c" in seen


def test_style_from_the_theme_details_from_the_mood_characters_for_their_themes():
    stack, skipped = select_stack(LIB, "final_fantasy_vii", "fantasy", theme(), "calm", random.Random(1))
    names = [s["name"] for s in stack]
    assert "style_anime" in names and "char_yuffie" in names
    assert "detail_a" not in names  # its moods are vibrant/dramatic, not calm
    assert {"detail_b", "detail_c"} <= set(names)
    vibrant, skipped = select_stack(LIB, "final_fantasy_vii", "fantasy", theme(), "vibrant",
                                    random.Random(1))
    assert sum(1 for s in vibrant if s["type"] == "detail") == 2
    assert skipped == ["detail_c: type_limits.detail 2"]
    yuffie = next(s for s in stack if s["name"] == "char_yuffie")
    assert yuffie["trigger"] in ("yuffie kisaragi", "ff7 yuffie")
    prompt = decorate_prompt("a ninja on a rooftop", stack)
    assert yuffie["trigger"] in prompt and prompt.endswith("intricate details, sharp focus, masterpiece")


def test_preferred_style_wins_and_required_is_always_there():
    for seed in range(50):
        stack, _ = select_stack(LIB, "x", "nature", theme(preferred=["style_paint"], required=["detail_c"]),
                                None, random.Random(seed))
        names = [s["name"] for s in stack]
        assert names[0] == "detail_c" and "style_paint" in names and "style_photo" not in names


def test_a_required_lora_that_breaks_the_rules_names_both():
    t = theme(required=["heavy", "char_yuffie"])
    with pytest.raises(ConfigError, match="theme 'x' requires LoRA 'char_yuffie'.*weight_sum_max 3.5"):
        select_stack(LIB, "x", "nature", t, None, random.Random(0))


def test_unknown_hint_is_a_config_error():
    with pytest.raises(ConfigError, match="names LoRA 'nope' in lora_hints"):
        select_stack(LIB, "x", "nature", theme(preferred=["nope"]), None, random.Random(0))


def test_same_seed_same_stack():
    a = select_stack(LIB, "x", "nature", theme(), "vibrant", random.Random(42))
    b = select_stack(LIB, "x", "nature", theme(), "vibrant", random.Random(42))
    assert a == b
