"""Stages 1, 3 and 4: generate (SDXL txt2img), enhance (tiled img2img), downsample.

Each stage takes and returns ``float32`` pictures of shape ``(H, W, 3)`` in [0, 1], and
reports progress through ``progress(done, total)``. Cancellation is a callable that
raises ``CancelledError``; it is checked at every denoising step and tile.
"""

from __future__ import annotations

import hashlib
from typing import Any, Callable

import numpy as np
import torch
from PIL import Image

from ..config.checks import aspect_crop_size
from .sdxl import SdxlModels
from .tiling import Blender, plan_tiles
from .vae import TiledVae

Progress = Callable[[int, int], None]
Check = Callable[[], None]

GRAVITY = {
    "center": (0.5, 0.5), "top": (0.5, 0.0), "bottom": (0.5, 1.0), "left": (0.0, 0.5),
    "right": (1.0, 0.5), "top-left": (0.0, 0.0), "top-right": (1.0, 0.0),
    "bottom-left": (0.0, 1.0), "bottom-right": (1.0, 1.0),
}


def derive_seed(seed: int, *parts: object) -> int:
    """An independent 63-bit seed for one use of the job seed (a stage, a tile)."""
    text = ":".join([str(seed), *map(str, parts)]).encode()
    return int.from_bytes(hashlib.sha256(text).digest()[:8], "big") >> 1


def _step_callback(total: int, progress: Progress | None, check: Check | None):
    def on_step_end(pipe, step: int, timestep, kwargs: dict) -> dict:
        if check:
            check()
        if progress:
            progress(step + 1, total)
        return kwargs

    return on_step_end


def generate_base(
    models: SdxlModels,
    embeds: dict[str, Any],
    width: int,
    height: int,
    steps: int,
    guidance: float,
    seed: int,
    progress: Progress | None = None,
    check: Check | None = None,
    vae: TiledVae | None = None,
) -> np.ndarray:
    """SDXL txt2img; the initial noise comes from a CPU generator seeded by the job seed.

    The pipeline stops at the latent; ``vae`` (pipeline/vae.py) decodes it, in one piece
    when the budget allows, in ``model.vae_precision``.
    """
    vae = vae or TiledVae(models.txt2img.vae)
    generator = torch.Generator("cpu").manual_seed(derive_seed(seed, "generate"))
    with torch.inference_mode():
        result = models.txt2img(
            **embeds,
            width=width,
            height=height,
            num_inference_steps=steps,
            guidance_scale=guidance,
            generator=generator,
            output_type="latent",
            callback_on_step_end=_step_callback(steps, progress, check),
        )
        return vae.decode_numpy(result.images)


def img2img_steps(steps: int, strength: float) -> int:
    """How many denoising steps img2img actually runs (diffusers: int(steps x strength))."""
    return min(int(steps * strength), steps)


def enhance_pixel(
    models: SdxlModels,
    embeds: dict[str, Any],
    image: np.ndarray,
    tile: int,
    overlap: int,
    strength: float,
    steps: int,
    guidance: float,
    seed: int,
    progress: Progress | None = None,
    check: Check | None = None,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Tiled img2img: every tile re-diffused at ``strength``, merged with normalised weights."""
    height, width = image.shape[:2]
    tiles = plan_tiles(width, height, tile, overlap)
    blender = Blender(height, width, device=models.device)
    per_tile = img2img_steps(steps, strength)
    total = per_tile * len(tiles)
    # The picture goes to the GPU once; tiles are views of it (img2img takes [0, 1] tensors).
    source = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))).to(models.device)
    for t in tiles:
        crop = source[None, :, t.y:t.y + t.h, t.x:t.x + t.w]
        generator = torch.Generator("cpu").manual_seed(derive_seed(seed, "enhance", t.index))
        base = t.index * per_tile
        tile_progress = (lambda d, _n, base=base: progress(base + d, total)) if progress else None
        with torch.inference_mode():
            result = models.img2img(
                **embeds,
                image=crop,
                strength=strength,
                num_inference_steps=steps,
                guidance_scale=guidance,
                generator=generator,
                output_type="pt",
                callback_on_step_end=_step_callback(per_tile, tile_progress, check),
            )
        blender.add(t, result.images[0])
    info = {"tiles": len(tiles), "grid": grid_of(tiles), "denoising_steps_per_tile": per_tile}
    merged = blender.result().clamp_(0, 1).permute(1, 2, 0).float().cpu().numpy()
    return merged, info


def downsample(
    image: np.ndarray, width: int, height: int, gravity: str, linear_light: bool
) -> tuple[np.ndarray, dict[str, Any]]:
    """Crop to the target aspect (never stretch), then Lanczos to exactly ``width x height``.

    The crop box is fractional, so the aspect ratio is exact; Pillow's Lanczos filter
    widens with the reduction factor, so it anti-aliases properly.
    """
    src_h, src_w = image.shape[:2]
    crop_w, crop_h = aspect_crop_size(src_w, src_h, width, height)
    gx, gy = GRAVITY[gravity]
    x0, y0 = (src_w - crop_w) * gx, (src_h - crop_h) * gy
    box = (x0, y0, x0 + crop_w, y0 + crop_h)
    work = srgb_to_linear(image) if linear_light else image
    channels = [
        np.asarray(
            Image.fromarray(np.ascontiguousarray(work[:, :, c], dtype=np.float32)).resize(
                (width, height), Image.Resampling.LANCZOS, box=box
            )
        )
        for c in range(3)
    ]
    out = np.clip(np.stack(channels, axis=2), 0.0, 1.0)
    if linear_light:
        out = linear_to_srgb(out)
    return out.astype(np.float32), {"crop_box": [round(v, 2) for v in box]}


def srgb_to_linear(x: np.ndarray) -> np.ndarray:
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4).astype(np.float32)


def linear_to_srgb(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return np.where(x <= 0.0031308, x * 12.92, 1.055 * x ** (1 / 2.4) - 0.055).astype(np.float32)


def grid_of(tiles) -> str:
    """'COLSxROWS' of a tile layout, for the metadata."""
    cols = len({t.x for t in tiles})
    rows = len({t.y for t in tiles})
    return f"{cols}x{rows}"
