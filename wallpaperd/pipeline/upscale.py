"""Stage 2: Real-ESRGAN x4 (or any ESRGAN-family model spandrel loads), tiled.

Tiles overlap by ``upscale.tile_overlap`` input pixels and are merged with feathered,
normalised weights (tiling.py), so no hard paste seam can appear. Each tile is also fed
``CONTEXT`` extra input pixels on every side that is not the picture's border, and that
margin is cut from the output: the network sees real surroundings instead of zero
padding at tile edges. Out of GPU memory → the tile size halves and the job goes on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import spandrel
import structlog
import torch

from ..config.schema import UpscaleConfig
from ..errors import ModelError, StageError
from .device import dtype_name, is_out_of_memory, release_cache, resolve_dtype
from .realesrgan import BUILTIN_NAME, builtin_weights
from .sdxl import PICKLE_SUFFIXES, file_sha256
from .tiling import Blender, plan_tiles

log = structlog.get_logger(__name__)

CONTEXT = 32
MIN_TILE = 64
#: Rough activation memory of RRDBNet per input pixel (float32), used for ``tile: auto``.
BYTES_PER_INPUT_PIXEL = 24 * 1024
CPU_AUTO_TILE = 384

Progress = Callable[[int, int], None]


@dataclass
class Upscaler:
    model: spandrel.ImageModelDescriptor
    name: str
    file: Path
    sha256: str
    device: torch.device
    dtype: torch.dtype

    @property
    def scale(self) -> int:
        return int(self.model.scale)

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "architecture": self.model.architecture.name,
            "file": str(self.file),
            "sha256": self.sha256,
            "scale": self.scale,
            "precision": dtype_name(self.dtype),
            "parameters": sum(p.numel() for p in self.model.model.parameters()),
        }


def load_upscaler(cfg: UpscaleConfig, cache: Path, device: torch.device) -> Upscaler:
    """Load the configured model file (converting the built-in one on first use)."""
    if cfg.model == BUILTIN_NAME:
        file, name = builtin_weights(cache), "RealESRGAN_x4plus"
    else:
        file, name = Path(cfg.model).expanduser(), Path(cfg.model).stem
        if not file.is_file():
            raise ModelError(
                f"upscale.model '{cfg.model}': no such file",
                fix=f"use {BUILTIN_NAME} (built in) or the path of an ESRGAN-family model file "
                "(.safetensors or .pth)",
            )
    try:
        descriptor = spandrel.ModelLoader().load_from_file(str(file))
    except Exception as exc:  # spandrel raises many types for unknown or broken files
        kind = "pickle (loaded with spandrel's restricted unpickler)" if file.suffix.lower() in \
            PICKLE_SUFFIXES else file.suffix
        raise ModelError(
            f"upscale.model '{file}' ({kind}) could not be loaded as an upscaler: {exc}",
            fix="use an ESRGAN-family super-resolution model file, or the built-in "
            f"{BUILTIN_NAME}",
        ) from exc
    if not isinstance(descriptor, spandrel.ImageModelDescriptor) or descriptor.purpose != "SR":
        raise ModelError(f"upscale.model '{file}' is a {descriptor.architecture.name} model for "
                         f"'{descriptor.purpose}', not a super-resolution model",
                         fix="use an ESRGAN-family x4 upscaler")
    if descriptor.scale != cfg.scale:
        raise ModelError(f"upscale.model '{file}' upscales x{descriptor.scale} but upscale.scale is "
                         f"{cfg.scale}", fix=f"set upscale.scale: {descriptor.scale} or use an "
                         f"x{cfg.scale} model")
    dtype = resolve_dtype(cfg.precision, device, "upscale")
    if dtype == torch.float16 and not descriptor.supports_half:
        raise ModelError(f"{descriptor.architecture.name} does not support float16",
                         fix="set upscale.precision: float32")
    if dtype == torch.bfloat16 and not descriptor.supports_bfloat16:
        raise ModelError(f"{descriptor.architecture.name} does not support bfloat16",
                         fix="set upscale.precision: float32")
    descriptor.to(device=device, dtype=dtype).eval()
    return Upscaler(descriptor, name, file, file_sha256(file), device, dtype)


def auto_tile(budget_bytes: int | None) -> int:
    """Input tile side that fits half of the memory budget (the models hold the rest)."""
    if budget_bytes is None:
        return CPU_AUTO_TILE
    side = int(math.sqrt(budget_bytes * 0.5 / BYTES_PER_INPUT_PIXEL))
    return max(MIN_TILE, min(1024, side - side % 32))


def upscale_image(
    up: Upscaler,
    image: np.ndarray,
    tile: int,
    overlap: int,
    progress: Progress | None = None,
    check_cancel: Callable[[], None] | None = None,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Upscale an ``(H, W, 3)`` float picture; returns it and what happened (tiles, retries)."""
    height, width = image.shape[:2]
    source = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))[None]
    retries = []
    while True:
        try:
            out, count = _run_tiles(up, source, width, height, tile, overlap, progress, check_cancel)
            return out, {"tile": tile, "overlap": overlap, "tiles": count, "oom_retries": retries}
        except Exception as exc:
            if not is_out_of_memory(exc) or tile <= MIN_TILE:
                if is_out_of_memory(exc):
                    raise StageError("upscale", f"out of GPU memory even with {tile}px tiles",
                                     diagnostics={"tile": tile, "oom_retries": retries},
                                     fix="lower memory.vram_budget or close other GPU programs"
                                     ) from exc
                raise
            release_cache(up.device)
            retries.append(tile)
            log.warning("upscaler ran out of GPU memory; halving the tile", tile=tile)
            tile = max(MIN_TILE, tile // 2)
            overlap = min(overlap, tile // 4)


def _run_tiles(up, source, width, height, tile, overlap, progress, check_cancel):
    scale = up.scale
    tiles = plan_tiles(width, height, tile, min(overlap, tile // 2), fit=True)
    blender = Blender(height * scale, width * scale, device=up.device)
    with torch.inference_mode():
        for done, t in enumerate(tiles):
            if check_cancel:
                check_cancel()
            x0, y0 = max(t.x - CONTEXT, 0), max(t.y - CONTEXT, 0)
            x1, y1 = min(t.x + t.w + CONTEXT, width), min(t.y + t.h + CONTEXT, height)
            patch = source[:, :, y0:y1, x0:x1].to(up.device, up.dtype)
            result = up.model(patch).float().clamp_(0, 1)[0]
            oy, ox = (t.y - y0) * scale, (t.x - x0) * scale
            blender.add(t.scaled(scale), result[:, oy:oy + t.h * scale, ox:ox + t.w * scale])
            if progress:
                progress(done + 1, len(tiles))
        merged = blender.result().clamp_(0, 1).permute(1, 2, 0).cpu().numpy()
    return merged, len(tiles)
