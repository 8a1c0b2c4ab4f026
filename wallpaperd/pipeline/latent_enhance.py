"""Stage 3, ``enhance.method: latent`` — seam-free latent tile fusion (Mixture-of-Diffusers style).

    1. encode the whole upscaled picture to one latent (pipeline/vae.py: few large tiles)
    2. noise it once to the img2img start (strength, job seed)
    3. at every denoising step: all overlapping latent tiles go through the UNet in batches,
       their noise predictions are blended with smooth normalised weights, and ONE
       scheduler step is taken on the whole latent
    4. decode once

A tile never sees its own pasted borders: neighbours agree on every shared latent because
they are blended before each step, so there is no seam to hide. The tiling maths is the
same as the pixel method's (tiling.py), on the latent grid.

SDXL micro-conditioning per tile is set deliberately to ``original_size = target_size =
(tile, tile)`` and ``crops_coords_top_left = (0, 0)``: each tile is conditioned as a whole,
uncropped picture at SDXL's native size, which is what it was trained to produce well;
telling a tile its true crop offset in the 8K picture makes SDXL draw cropped-looking
content.

Batch size: ``memory.vram_budget`` gives the tiles per UNet call (``auto_batch``); out of
memory at a step → the batch halves and the same step is computed again (recorded).
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import structlog
import torch

from .device import is_out_of_memory, release_cache
from .sdxl import SdxlModels
from .stages import derive_seed, grid_of
from .tiling import Tile, plan_tiles, tile_weights
from .vae import TiledVae

log = structlog.get_logger(__name__)

Progress = Callable[[int, int], None]
Check = Callable[[], None]

#: Rough UNet activation memory per 1024x1024 tile sample in half precision (bytes).
BYTES_PER_TILE_SAMPLE = 1.6 * 1024**3


def auto_batch(budget_bytes: int | None, model_bytes: int, tiles: int, cfg: bool) -> int:
    """Tiles per UNet call that fit the budget next to the resident weights (CPU: 4)."""
    if budget_bytes is None:
        return min(4, tiles)
    per_tile = BYTES_PER_TILE_SAMPLE * (2 if cfg else 1)
    fit = int((budget_bytes - model_bytes) // per_tile)
    return max(1, min(tiles, 16, fit))


class TileWeights:
    """Per-tile blend weights on the latent grid and their per-position normaliser."""

    def __init__(self, tiles: list[Tile], height: int, width: int, device, dtype) -> None:
        self.maps = {t.index: torch.from_numpy(tile_weights(t)).to(device) for t in tiles}
        total = torch.zeros((height, width), device=device, dtype=torch.float64)
        for t in tiles:
            total[t.y:t.y + t.h, t.x:t.x + t.w] += self.maps[t.index]
        for t in tiles:  # normalise once: every latent position's weights then sum to 1
            self.maps[t.index] = (self.maps[t.index] / total[t.y:t.y + t.h, t.x:t.x + t.w]).to(dtype)


def enhance_latent(
    models: SdxlModels,
    embeds: dict[str, Any],
    image: np.ndarray,
    tile: int,
    overlap: int,
    strength: float,
    steps: int,
    guidance: float,
    seed: int,
    batch: int,
    progress: Progress | None = None,
    check: Check | None = None,
    denoise: Callable | None = None,
    vae: TiledVae | None = None,
) -> tuple[np.ndarray, dict[str, Any]]:
    """The enhanced picture and what happened (tiles, batches, OOM retries).

    ``vae`` encodes and decodes the whole picture (pipeline/vae.py; default: float32,
    no budget). ``denoise(latent_tiles, t, tiles) -> noise predictions`` replaces the UNet
    in tests.
    """
    vae = vae or TiledVae(models.img2img.vae)
    pipe = models.img2img
    unet, scheduler = pipe.unet, pipe.scheduler
    device, dtype = models.device, models.dtype
    factor = pipe.vae_scale_factor
    height, width = image.shape[:2]
    lh, lw, lt, lo = height // factor, width // factor, tile // factor, overlap // factor
    tiles = plan_tiles(lw, lh, lt, lo)
    weights = TileWeights(tiles, lh, lw, device, torch.float32)
    do_cfg = guidance > 1.0

    with torch.inference_mode():
        # 1. Encode the whole picture once (mean of the posterior: deterministic).
        latents0 = vae.encode(image).to(dtype)
        # 2. The img2img schedule and one noising of the whole latent.
        scheduler.set_timesteps(steps, device=device)
        timesteps, active = pipe.get_timesteps(steps, strength, device)
        generator = torch.Generator("cpu").manual_seed(derive_seed(seed, "enhance-latent"))
        noise = torch.randn(latents0.shape, generator=generator, dtype=torch.float32).to(device)
        latents = scheduler.add_noise(latents0, noise.to(latents0.dtype), timesteps[:1])
        # 3. Conditioning per tile (the same for all tiles, see module docstring).
        cond = _conditioning(pipe, embeds, tile, do_cfg, dtype, device)
        retries: list[int] = []
        total = len(timesteps) * len(tiles)  # progress in tile evaluations: per step and batch
        reported = 0

        def tiles_done(step: int, in_step: int) -> None:
            nonlocal reported
            value = step * len(tiles) + in_step
            if progress and value > reported:  # a step redone after OOM does not count twice
                reported = value
                progress(value, total)

        for step, t in enumerate(timesteps):
            if check:
                check()
            while True:
                try:
                    pred = _predict(unet, scheduler, latents, t, tiles, weights, cond, batch,
                                    guidance, do_cfg, denoise, check,
                                    lambda n, step=step: tiles_done(step, n))
                    break
                except Exception as exc:
                    if not is_out_of_memory(exc) or batch == 1:
                        raise
                    release_cache(device)
                    retries.append(batch)
                    batch = max(1, batch // 2)
                    log.warning("enhancement out of GPU memory; smaller batch, same step", batch=batch)
            latents = scheduler.step(pred, t, latents, return_dict=False)[0]
        # 4. Decode once.
        picture = vae.decode_numpy(latents)
    info = {"vae": vae.record.as_dict(), "tiles": len(tiles), "grid": grid_of(tiles),
            "denoising_steps": int(active), "batch": batch, "oom_retries": retries,
            "micro_conditioning": {"original_size": [tile, tile], "crops_coords_top_left": [0, 0],
                                   "target_size": [tile, tile]}}
    return picture, info


def _conditioning(pipe, embeds, tile: int, do_cfg: bool, dtype, device) -> dict[str, torch.Tensor]:
    size = (tile, tile)
    time_ids = torch.tensor([list(size + (0, 0) + size)], device=device, dtype=dtype)
    text, pooled = embeds["prompt_embeds"], embeds["pooled_prompt_embeds"]
    if do_cfg:
        text = torch.cat([embeds["negative_prompt_embeds"], text])
        pooled = torch.cat([embeds["negative_pooled_prompt_embeds"], pooled])
        time_ids = torch.cat([time_ids, time_ids])
    return {"text": text.to(device, dtype), "pooled": pooled.to(device, dtype), "time_ids": time_ids}


def _predict(unet, scheduler, latents, t, tiles, weights, cond, batch, guidance, do_cfg, denoise, check,
             on_batch: Callable[[int], None] | None = None):
    """The blended noise prediction for the whole latent at timestep ``t``."""
    pred = torch.zeros_like(latents, dtype=torch.float32)
    for start in range(0, len(tiles), batch):
        if check:
            check()
        group = tiles[start:start + batch]
        x = torch.cat([latents[:, :, g.y:g.y + g.h, g.x:g.x + g.w] for g in group])
        if denoise is not None:
            out = denoise(x, t, group)
        else:
            n = len(group)
            model_in = torch.cat([x, x]) if do_cfg else x
            model_in = scheduler.scale_model_input(model_in, t)
            # [uncond x n, text x n] (or [text x n]): matches cat([x, x]) and chunk(2) below
            text = cond["text"].repeat_interleave(n, dim=0)
            pooled = cond["pooled"].repeat_interleave(n, dim=0)
            time_ids = cond["time_ids"].repeat_interleave(n, dim=0)
            out = unet(model_in, t, encoder_hidden_states=text,
                       added_cond_kwargs={"text_embeds": pooled, "time_ids": time_ids},
                       return_dict=False)[0]
            if do_cfg:
                uncond, textual = out.chunk(2)
                out = uncond + guidance * (textual - uncond)
        for i, g in enumerate(group):
            pred[:, :, g.y:g.y + g.h, g.x:g.x + g.w] += weights.maps[g.index] * out[i:i + 1].float()
        if on_batch:
            on_batch(start + len(group))
    return pred.to(latents.dtype)


def seam_score(image: np.ndarray, tiles: list[Tile], factor: int = 1,
               device: torch.device | str = "cpu") -> float:
    """Mean horizontal+vertical gradient on tile-boundary lines over the same elsewhere.

    1.0 means boundaries look like everywhere else; a visible seam pushes it up.
    ``tiles`` are in pixel coordinates (``factor`` scales latent tiles to pixels);
    computed on ``device`` (the job's GPU at 8K).
    """
    weights = torch.tensor([0.2126, 0.7152, 0.0722], dtype=torch.float64, device=device)
    luma = torch.from_numpy(np.ascontiguousarray(image)).to(device, torch.float64) @ weights
    gx = (luma[:, 1:] - luma[:, :-1]).abs()  # between column c and c+1
    gy = (luma[1:, :] - luma[:-1, :]).abs()
    cols, rows = set(), set()
    for t in tiles:
        for edge in (t.x * factor, (t.x + t.w) * factor):
            if 0 < edge < image.shape[1]:
                cols.add(edge - 1)
        for edge in (t.y * factor, (t.y + t.h) * factor):
            if 0 < edge < image.shape[0]:
                rows.add(edge - 1)
    if not cols and not rows:
        return 1.0
    col_mask = torch.zeros(gx.shape[1], dtype=torch.bool, device=device)
    col_mask[sorted(cols)] = True
    row_mask = torch.zeros(gy.shape[0], dtype=torch.bool, device=device)
    row_mask[sorted(rows)] = True
    on = gx[:, col_mask].sum() + gy[row_mask, :].sum()
    on_count = gx.shape[0] * int(col_mask.sum()) + gy.shape[1] * int(row_mask.sum())
    off = gx[:, ~col_mask].sum() + gy[~row_mask, :].sum()
    off_count = gx.numel() + gy.numel() - on_count
    return float((on / on_count) / max(float(off / off_count), 1e-12))
