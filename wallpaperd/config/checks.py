"""Cross-checks between configuration keys (pure logic, no I/O).

Each problem is returned as ``(key_path, value, message, fix)`` so that the loader can
say which file set the offending key.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from .schema import Config

#: SDXL's VAE downsamples by 8; every size the diffusion model sees must be a multiple.
LATENT_FACTOR = 8


class Problem(NamedTuple):
    key: str
    value: Any
    message: str
    fix: str


def cross_check(cfg: Config) -> list[Problem]:
    """Return every relation between keys that does not hold (empty when all is well)."""
    problems: list[Problem] = []
    g, u, e, d = cfg.generate, cfg.upscale, cfg.enhance, cfg.downsample

    sizes = (("generate.width", g.width), ("generate.height", g.height),
             ("enhance.tile", e.tile), ("enhance.overlap", e.overlap))
    for key, value in sizes:
        if value % LATENT_FACTOR:
            problems.append(
                Problem(
                    key,
                    value,
                    f"must be divisible by {LATENT_FACTOR} (SDXL's latent grid)",
                    f"use {round_to(value, LATENT_FACTOR)}",
                )
            )
    if e.overlap >= e.tile:
        problems.append(
            Problem(
                "enhance.overlap",
                e.overlap,
                f"must be smaller than enhance.tile ({e.tile})",
                f"use at most a quarter of the tile, e.g. {e.tile // 4}",
            )
        )

    up_w, up_h = g.width * u.scale, g.height * u.scale
    if e.tile > min(up_w, up_h):
        problems.append(
            Problem(
                "enhance.tile",
                e.tile,
                f"is larger than the upscaled picture ({up_w}x{up_h} = generate size x upscale.scale)",
                f"use at most {round_down(min(up_w, up_h), LATENT_FACTOR)}, or generate larger",
            )
        )

    strengths = e.strength if isinstance(e.strength, tuple) else (e.strength,)
    if int(e.steps * min(strengths)) < 1:
        problems.append(
            Problem(
                "enhance.steps",
                e.steps,
                f"times enhance.strength ({min(strengths)}) gives no denoising step at all",
                f"raise enhance.steps to at least {int(1 / min(strengths)) + 1}",
            )
        )

    if u.tile != "auto" and u.tile <= 2 * u.tile_overlap:
        problems.append(
            Problem(
                "upscale.tile_overlap",
                u.tile_overlap,
                f"must be less than half of upscale.tile ({u.tile})",
                f"use at most {max(0, u.tile // 4)}",
            )
        )

    if cfg.desktop.backend == "command" and not cfg.desktop.command:
        problems.append(Problem("desktop.command", None, "is required when desktop.backend is "
                                "'command'", "set e.g. desktop.command: 'feh --bg-fill {path}'"))

    w = cfg.weather
    if (w.latitude is None) != (w.longitude is None):
        key = "weather.longitude" if w.longitude is None else "weather.latitude"
        problems.append(Problem(key, None, "weather needs both latitude and longitude",
                                "set both (decimal degrees, e.g. 52.52 and 13.41), or neither"))

    crop_w, crop_h = aspect_crop_size(up_w, up_h, d.width, d.height)
    if crop_w < d.width or crop_h < d.height:
        problems.append(
            Problem(
                "downsample.width",
                d.width,
                f"the target {d.width}x{d.height} is larger than the aspect-correct crop "
                f"({crop_w:.0f}x{crop_h:.0f}) of the enhanced picture ({up_w}x{up_h}); "
                "the last stage only ever shrinks",
                "lower downsample.width/height or raise generate.width/height",
            )
        )
    return problems


def aspect_crop_size(width: int, height: int, target_w: int, target_h: int) -> tuple[float, float]:
    """Largest box with the target's aspect ratio that fits in ``width x height``.

    Returned as floats: the crop is resampled with a fractional box so the aspect ratio
    is exact, not rounded to whole pixels.
    """
    target_aspect = target_w / target_h
    if width / height > target_aspect:
        return height * target_aspect, float(height)
    return float(width), width / target_aspect


def round_to(value: int, multiple: int) -> int:
    return max(multiple, int(round(value / multiple)) * multiple)


def round_down(value: int, multiple: int) -> int:
    return max(multiple, (value // multiple) * multiple)
