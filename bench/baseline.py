"""The enhancement stage written the plain way with diffusers — the baseline of bench/job.py.

What a first implementation of the seed plan looks like: for every 1024 px tile of the
upscaled picture, empty the CUDA cache, crop the tile as a PIL image, call the SDXL img2img
pipeline on it with the prompt text (30 steps x strength 0.35, CFG 7.5), empty the cache
again, and feather the returned PIL tile into a float canvas on the host. The pipeline
does what it does by default: it encodes the prompt on every call, and upcasts the SDXL
VAE to float32 for each tile's encode and decode. Same tiles and seed derivation as the
job, so the work (50 tiles x 10 denoising steps at the seed's settings) is the same.
Not used by wallpaperd itself.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from wallpaperd.pipeline.stages import derive_seed
from wallpaperd.pipeline.tiling import plan_tiles, tile_weights


def enhance_plain(pipe, prompt: str, negative: str, image: np.ndarray, tile: int = 1024,
                  overlap: int = 256, strength: float = 0.35, steps: int = 30,
                  guidance: float = 7.5, seed: int = 1) -> np.ndarray:
    height, width = image.shape[:2]
    picture = Image.fromarray((image * 255).round().astype(np.uint8))
    canvas = np.zeros((height, width, 3), dtype=np.float64)
    weight = np.zeros((height, width, 1), dtype=np.float64)
    for t in plan_tiles(width, height, tile, overlap):
        torch.cuda.empty_cache()
        crop = picture.crop((t.x, t.y, t.x + t.w, t.y + t.h))
        generator = torch.Generator(pipe.device).manual_seed(derive_seed(seed, "enhance", t.index))
        out = pipe(prompt=prompt, negative_prompt=negative, image=crop, strength=strength,
                   num_inference_steps=steps, guidance_scale=guidance, generator=generator).images[0]
        torch.cuda.empty_cache()
        w = tile_weights(t)[:, :, None]
        canvas[t.y:t.y + t.h, t.x:t.x + t.w] += w * (np.asarray(out, dtype=np.float64) / 255.0)
        weight[t.y:t.y + t.h, t.x:t.x + t.w] += w
    return (canvas / weight).astype(np.float32)
