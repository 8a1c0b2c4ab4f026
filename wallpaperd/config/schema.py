"""The configuration schema: one strict pydantic model per section of wallpaperd.yaml.

Unknown keys are errors everywhere (``extra="forbid"``). Field-level rules live here;
rules that relate several keys (sizes that must fit each other) live in ``checks.py``
so that each can name the exact key path to fix.
"""

from __future__ import annotations

import random
from typing import Annotated, Literal, Union

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

Dtype = Literal["float16", "bfloat16", "float32"]

#: Schedulers a user may name, mapped to diffusers classes and options in pipeline/sdxl.py.
SchedulerName = Literal[
    "DPMSolverMultistepScheduler",
    "DPMSolverMultistepScheduler-Karras",
    "EulerDiscreteScheduler",
    "EulerAncestralDiscreteScheduler",
    "DDIMScheduler",
    "UniPCMultistepScheduler",
]
Gravity = Literal[
    "center", "top", "bottom", "left", "right", "top-left", "top-right", "bottom-left", "bottom-right"
]

PositiveInt = Annotated[int, Field(gt=0)]


def _http_url(v: str) -> str:
    if not v.startswith(("http://", "https://")):
        raise ValueError("must be an http:// or https:// URL")
    return v


HttpUrlText = Annotated[str, AfterValidator(_http_url)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=False)


# A value that is either fixed or drawn per job from [low, high] with the job seed
# (the seed plan's steps_range / guidance_range / strength_range).
FloatOrRange = Union[float, tuple[float, float]]
IntOrRange = Union[int, tuple[int, int]]


def pick(value: float | int | tuple, rng: random.Random) -> float | int:
    """Resolve a fixed-or-range value with the job's RNG (ints stay ints)."""
    if not isinstance(value, tuple):
        return value
    low, high = value
    if isinstance(low, int) and isinstance(high, int):
        return rng.randint(low, high)
    return rng.uniform(float(low), float(high))


def _check_range(value, low_bound: float, high_bound: float):
    values = value if isinstance(value, tuple) else (value,)
    for v in values:
        if not (low_bound <= v <= high_bound):
            raise ValueError(f"must lie between {low_bound} and {high_bound}")
    if isinstance(value, tuple) and value[0] > value[1]:
        raise ValueError("a range is written [low, high] with low <= high")
    return value


def _between(low: float, high: float) -> AfterValidator:
    return AfterValidator(lambda v: _check_range(v, low, high))


Steps = Annotated[IntOrRange, _between(1, 500)]
Guidance = Annotated[FloatOrRange, _between(0.0, 30.0)]
Strength = Annotated[FloatOrRange, _between(0.01, 1.0)]


class ModelConfig(_Strict):
    source: str = "stabilityai/stable-diffusion-xl-base-1.0"
    config_source: str = "stabilityai/stable-diffusion-xl-base-1.0"
    vae: str | None = None
    device: str = "auto"
    allow_download: bool = True
    # The VAE's precision for whole pictures (pipeline/vae.py): float32 = diffusers' upcast;
    # bfloat16 is faster on GPUs that have it (opt-in); auto = bfloat16 there, else float32.
    vae_precision: Literal["float32", "bfloat16", "float16", "auto"] = "float32"
    # torch.compile of the UNet's repeated transformer blocks on the GPU (opt-in).
    compile: bool = False

    @field_validator("source", "config_source")
    @classmethod
    def _not_empty(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("must not be empty")
        return v

    @field_validator("device")
    @classmethod
    def _device(cls, v: str) -> str:
        import re

        if not re.fullmatch(r"auto|cpu|cuda(:\d+)?", v):
            raise ValueError("must be 'auto', 'cpu', 'cuda' or 'cuda:N'")
        return v


class GenerateConfig(_Strict):
    width: PositiveInt = 1920
    height: PositiveInt = 1024
    scheduler: SchedulerName = "DPMSolverMultistepScheduler"
    dtype: Dtype = "float16"
    steps: Steps = 50
    guidance_scale: Guidance = 7.5
    prompt: str | None = None
    negative_prompt: str = ""


class UpscaleConfig(_Strict):
    model: str = "realesrgan-x4plus"
    scale: Literal[2, 4] = 4
    tile: PositiveInt | Literal["auto"] = "auto"
    tile_overlap: Annotated[int, Field(ge=0)] = 32
    precision: Dtype = "float32"


class EnhanceConfig(_Strict):
    method: Literal["latent", "pixel"] = "latent"
    batch: PositiveInt | Literal["auto"] = "auto"
    colour_match: bool = True
    tile: PositiveInt = 1024
    overlap: Annotated[int, Field(ge=0)] = 256
    strength: Strength = 0.35
    steps: PositiveInt = 30
    guidance_scale: Guidance = 7.5


class DownsampleConfig(_Strict):
    width: PositiveInt = 3840
    height: PositiveInt = 2160
    method: Literal["lanczos"] = "lanczos"
    gravity: Gravity = "center"
    linear_light: bool = False


class MemoryConfig(_Strict):
    vram_budget: Annotated[float, Field(gt=0)] | Literal["auto"] = 23.0
    attention_slicing: bool = False
    vae_tiling: bool = True
    model_cpu_offload: bool = False
    sequential_cpu_offload: bool = False
    clear_cache_after_stage: bool = True

    @field_validator("vram_budget", mode="before")
    @classmethod
    def _gib_as_float(cls, v):
        return float(v) if isinstance(v, int) and not isinstance(v, bool) else v


class ValidationConfig(_Strict):
    min_std: Annotated[float, Field(ge=0)] = 2.0
    min_sharpness: Annotated[float, Field(ge=0)] = 2.0
    min_detail: Annotated[float, Field(ge=0)] = 0.0


class OutputConfig(_Strict):
    dir: str | None = None
    save_stages: bool = False
    metadata: bool = True


class PathsConfig(_Strict):
    state: str | None = None
    inbox: str | None = None
    cache: str | None = None


class ScheduleConfig(_Strict):
    daily: str | None = "07:00"
    interval: str | None = None

    @field_validator("daily")
    @classmethod
    def _clock(cls, v):
        if v is not None:
            parse_clock(v)
        return v

    @field_validator("interval")
    @classmethod
    def _duration(cls, v):
        if v is not None:
            parse_duration(v)
        return v


class InboxConfig(_Strict):
    enabled: bool = True
    debounce_seconds: Annotated[float, Field(ge=0, le=60)] = 1.0
    max_text_bytes: Annotated[int, Field(gt=0)] = 65536
    max_image_pixels: Annotated[int, Field(gt=0)] = 50_000_000


DesktopBackendName = Literal["auto", "gnome", "cinnamon", "mate", "kde", "xfce", "portal", "sway",
                             "hyprland", "command", "none"]


class DesktopConfig(_Strict):
    backend: DesktopBackendName = "auto"
    mode: Literal["zoom", "fill", "fit", "center", "stretch", "tile"] = "zoom"
    command: str | None = None
    lock_screen: bool = False
    verify: bool = True

    @field_validator("command")
    @classmethod
    def _template(cls, v):
        if v is not None and "{path}" not in v and "{uri}" not in v:
            raise ValueError("must contain {path} or {uri}, e.g. 'feh --bg-fill {path}'")
        return v


class WeatherConfig(_Strict):
    provider: Literal["open-meteo", "nws"] = "open-meteo"
    latitude: Annotated[float, Field(ge=-90, le=90)] | None = None
    longitude: Annotated[float, Field(ge=-180, le=180)] | None = None
    open_meteo_url: HttpUrlText = "https://api.open-meteo.com/v1/forecast"
    nws_url: HttpUrlText = "https://api.weather.gov"
    ttl: str = "30m"
    max_age: str = "6h"
    timeout_seconds: Annotated[float, Field(gt=0, le=120)] = 10.0
    required: bool = True

    @field_validator("ttl", "max_age")
    @classmethod
    def _duration(cls, v):
        parse_duration(v)
        return v



class ThemesConfig(_Strict):
    chaos: Annotated[float, Field(ge=0, le=1)] = 0.0
    recent_penalty: Annotated[float, Field(ge=0, le=1)] = 0.25
    recent_count: Annotated[int, Field(ge=0, le=100)] = 7


class ExpansionConfig(_Strict):
    enabled: bool = False
    url: HttpUrlText = "http://127.0.0.1:11434/api/generate"
    model: str = "llama3.2"
    timeout_seconds: Annotated[float, Field(gt=0, le=600)] = 30.0
    required: bool = False
    instruction: str = (
        "Rewrite this image prompt for Stable Diffusion XL as one vivid, concrete sentence of at "
        "most 60 words. Keep every subject, style and colour. Answer with the prompt only.")



class NotifyConfig(_Strict):
    enabled: bool = True


class Config(_Strict):
    model: ModelConfig = ModelConfig()
    generate: GenerateConfig = GenerateConfig()
    upscale: UpscaleConfig = UpscaleConfig()
    enhance: EnhanceConfig = EnhanceConfig()
    downsample: DownsampleConfig = DownsampleConfig()
    memory: MemoryConfig = MemoryConfig()
    validation: ValidationConfig = ValidationConfig()
    output: OutputConfig = OutputConfig()
    paths: PathsConfig = PathsConfig()
    schedule: ScheduleConfig = ScheduleConfig()
    inbox: InboxConfig = InboxConfig()
    notify: NotifyConfig = NotifyConfig()
    desktop: DesktopConfig = DesktopConfig()
    weather: WeatherConfig = WeatherConfig()
    themes: ThemesConfig = ThemesConfig()
    prompt_expansion: ExpansionConfig = ExpansionConfig()


def parse_clock(text: str):
    """'07:00' → datetime.time; ValueError with the expected form otherwise."""
    import re
    from datetime import time

    match = re.fullmatch(r"([01]?\d|2[0-3]):([0-5]\d)", text.strip())
    if not match:
        raise ValueError("must be a local time written HH:MM, e.g. '07:00'")
    return time(int(match.group(1)), int(match.group(2)))


def parse_duration(text: str):
    """'6h', '90m', '1d', '45s' → datetime.timedelta (at least one minute)."""
    import re
    from datetime import timedelta

    match = re.fullmatch(r"(\d+)\s*([smhd])", text.strip())
    if not match:
        raise ValueError("must be a duration such as '6h', '90m' or '1d'")
    unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}[match.group(2)]
    value = timedelta(**{unit: int(match.group(1))})
    if value < timedelta(minutes=1):
        raise ValueError("must be at least one minute")
    return value
