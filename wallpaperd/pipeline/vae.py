"""The VAE over whole pictures up to 8K: tiles as large as the budget allows, smooth blending.

SDXL's VAE normalises its activations per picture (GroupNorm). Cut into many small tiles,
every tile gets its own statistics, and tile borders or tone steps can show; diffusers'
built-in tiling uses 1024 px tiles with a quarter of each shared (at 8K: 60 tiles, 1.8x
the work). Here the tile side follows the memory left in ``memory.vram_budget`` next to
the resident models (measured bytes per pixel, below): at the seed's 23 GiB budget an 8K
picture is encoded and decoded in tiles of about 1500-1750 px in float32 (2100-2700 px in
bfloat16), fitted so neighbours share at least 256 px, blended with the same smooth
normalised weights as every other tiled stage (tiling.py); a picture that fits is done
in one piece. Out of memory → smaller tiles, again (recorded).

Precision (``model.vae_precision``): SDXL's VAE overflows float16 (activations beyond
65504 turn into NaN), which is why diffusers upcasts it to float32, the default here too.
bfloat16 has float32's exponent range, so it cannot overflow, and is faster (opt-in,
BENCHMARKS.md). Whatever the precision, a tile whose result is not finite is computed
again in float32 (counted in the metadata), so no NaN leaves this module.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, field
from typing import Iterator

import numpy as np
import structlog
import torch

from .device import DTYPES, GIB, dtype_name, is_out_of_memory, release_cache
from .tiling import Blender, Tile, plan_tiles

log = structlog.get_logger(__name__)

#: Latent positions shared by neighbouring VAE tiles (x8 = 256 px).
OVERLAP = 32
#: Tile sides in latent units: the largest (x8 = 2048 px: the mid-block attention grows with
#: the square of a tile's area; 4096 px tiles cost more than they save), the smallest, and
#: the side used without a budget (the CPU).
MAX_TILE = 256
MIN_TILE = 64
CPU_TILE = 128
#: Peak activation bytes per picture pixel in a 2-byte precision (float32: twice), with a
#: little room: measured on the full-size SDXL VAE on an H200 (bfloat16: 2450 to decode,
#: 1570 to encode; float32 5060 and 3260), see BENCHMARKS.md.
DECODE_BYTES_PER_PIXEL = 2700
ENCODE_BYTES_PER_PIXEL = 1750


def work_dtype(precision: str, device: torch.device) -> torch.dtype:
    """The precision the VAE computes in: ``auto`` = bfloat16 on a GPU that has it, else float32."""
    if precision == "auto":
        if device.type == "cuda" and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float32
    return DTYPES[precision]


def tile_side(free_bytes: int | None, dtype: torch.dtype, per_pixel: int) -> int:
    """Latent tile side that fits ``free_bytes`` (multiple of 8, 64..MAX_TILE)."""
    if free_bytes is None:
        return CPU_TILE
    scale = 2 if dtype == torch.float32 else 1
    pixels = max(free_bytes, 0) / (per_pixel * scale)
    side = int(math.isqrt(int(pixels)) // 8)  # latent positions
    return max(MIN_TILE, min(MAX_TILE, side - side % 8))


@dataclass
class VaeRecord:
    """What the VAE did in a job, for the stage metadata."""

    precision: str = ""
    encode_tiles: int = 0
    decode_tiles: int = 0
    float32_retries: int = 0
    tile_sides: list[int] = field(default_factory=list)  # latent positions, per call
    oom_retries: list[int] = field(default_factory=list)  # the smaller side taken each time

    def as_dict(self) -> dict:
        return {"precision": self.precision, "encode_tiles": self.encode_tiles,
                "decode_tiles": self.decode_tiles, "tile_sides_px": [8 * s for s in self.tile_sides],
                "float32_retries": self.float32_retries, "oom_retries": self.oom_retries}


class TiledVae:
    """Encode and decode whole pictures with one model, in ``dtype``, within a memory budget."""

    def __init__(self, vae, precision: str = "float32", budget_bytes: int | None = None,
                 tiling: bool = True, tile: int | None = None) -> None:
        """``budget_bytes``: what the job may hold on the GPU (None: no budget, the CPU);
        ``tiling`` false: whole pictures in one piece; ``tile`` forces a latent tile side."""
        self.vae = vae
        self.device = vae.device
        self.dtype = work_dtype(precision, self.device)
        self.budget_bytes = budget_bytes
        self.tiling = tiling
        self.tile = tile
        self.record = VaeRecord(precision=dtype_name(self.dtype))

    # -- public --------------------------------------------------------------------------

    def encode(self, image: np.ndarray) -> torch.Tensor:
        """The scaled latent (mean of the posterior) of a ``(H, W, 3)`` picture in [0, 1]."""
        pixels = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))).to(self.device,
                                                                                     torch.float32)
        factor = self.factor
        lh, lw = pixels.shape[-2] // factor, pixels.shape[-1] // factor

        def run(tiles: list[Tile]) -> torch.Tensor:
            blender = Blender(lh, lw, self.vae.config.latent_channels, device=self.device)
            for t in tiles:
                p = t.scaled(factor)
                crop = pixels[None, :, p.y:p.y + p.h, p.x:p.x + p.w] * 2 - 1
                blender.add(t, self._guarded(
                    lambda x, dtype: self.vae.encode(x.to(dtype)).latent_dist.mode(), crop)[0])
            return blender.result()

        latent, count = self._tiled(lh, lw, ENCODE_BYTES_PER_PIXEL, run)
        self.record.encode_tiles += count
        config = self.vae.config
        mean, std = getattr(config, "latents_mean", None), getattr(config, "latents_std", None)
        if mean is not None and std is not None:
            latent = (latent - _column(mean, latent)) / _column(std, latent)
        return latent[None] * config.scaling_factor

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """The ``(3, H, W)`` float32 picture in [0, 1] (on the model's device) of scaled latents."""
        config = self.vae.config
        latents = latents.to(self.device, torch.float32)[0] / config.scaling_factor
        mean, std = getattr(config, "latents_mean", None), getattr(config, "latents_std", None)
        if mean is not None and std is not None:
            latents = latents * _column(std, latents) + _column(mean, latents)
        lh, lw = latents.shape[-2:]
        factor = self.factor

        def run(tiles: list[Tile]) -> torch.Tensor:
            blender = Blender(lh * factor, lw * factor, device=self.device)
            for t in tiles:
                crop = latents[None, :, t.y:t.y + t.h, t.x:t.x + t.w]
                pixels = self._guarded(
                    lambda z, dtype: self.vae.decode(z.to(dtype), return_dict=False)[0], crop)[0]
                blender.add(t.scaled(factor), (pixels + 1) / 2)
                del pixels
            return blender.result().clamp_(0, 1)

        picture, count = self._tiled(lh, lw, DECODE_BYTES_PER_PIXEL, run)
        self.record.decode_tiles += count
        return picture

    def decode_numpy(self, latents: torch.Tensor) -> np.ndarray:
        return self.decode(latents).permute(1, 2, 0).cpu().numpy()

    @property
    def factor(self) -> int:
        return 2 ** (len(self.vae.config.block_out_channels) - 1)

    # -- inside --------------------------------------------------------------------------

    def _side(self, lh: int, lw: int, per_pixel: int) -> int:
        if self.tile:
            return self.tile
        if not self.tiling:
            return max(lh, lw)
        free = None
        if self.budget_bytes is not None and self.device.type == "cuda":
            free = int(self.budget_bytes - torch.cuda.memory_allocated(self.device) - 0.5 * GIB)
        return tile_side(free, self.dtype, per_pixel)

    def _tiled(self, lh: int, lw: int, per_pixel: int, run) -> tuple[torch.Tensor, int]:
        """``run(tiles)`` over a latent grid; out of GPU memory → smaller tiles, again."""
        side = self._side(lh, lw, per_pixel)
        while True:
            tiles = plan_tiles(lw, lh, side, min(OVERLAP, side // 4), fit=True)
            try:
                with _computing(self.vae, self.dtype):  # cast once per picture, not per tile
                    result = run(tiles)
            except Exception as exc:
                if not is_out_of_memory(exc) or side <= MIN_TILE:
                    raise
                release_cache(self.device)
                side = max(MIN_TILE, side * 2 // 3 // 8 * 8)
                self.record.oom_retries.append(side)
                log.warning("VAE out of GPU memory; smaller tiles", latent_tile=side)
                continue
            self.record.tile_sides.append(max(tiles[0].w, tiles[0].h))
            return result, len(tiles)

    def _guarded(self, run, x: torch.Tensor) -> torch.Tensor:
        """``run(x, dtype)`` in the work precision (the VAE is in it, see ``_tiled``); not
        finite → again in float32."""
        out = run(x, self.dtype).float()
        if self.dtype != torch.float32 and not bool(torch.isfinite(out).all()):
            self.record.float32_retries += 1
            log.warning("VAE tile not finite in half precision; computed again in float32",
                        precision=dtype_name(self.dtype), shape=list(x.shape))
            del out
            with _computing(self.vae, torch.float32):
                out = run(x, torch.float32).float()
        return out


@contextlib.contextmanager
def _computing(vae, dtype: torch.dtype) -> Iterator[None]:
    """The VAE in ``dtype`` with diffusers' own tiling off; both restored afterwards."""
    old_dtype, old_tiling = vae.dtype, getattr(vae, "use_tiling", False)
    if old_dtype != dtype:
        vae.to(dtype)
    vae.use_tiling = False
    try:
        yield
    finally:
        vae.use_tiling = old_tiling
        if old_dtype != dtype:
            vae.to(old_dtype)


def _column(values, like: torch.Tensor) -> torch.Tensor:
    return torch.tensor(values, device=like.device, dtype=like.dtype).view(-1, 1, 1)
