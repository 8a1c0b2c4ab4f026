"""One wallpaper job through the four stages, with the models loaded once.

``Pipeline`` holds the resident models (SDXL + upscaler) for ``wallpaperd generate``
and, later, the daemon. ``Pipeline.run`` is the readable script of a job:

    0. plan: seed, per-job draws of ranged settings, prompt embeddings
    1. generate   SDXL txt2img at generate.width x generate.height   (or: load --image)
    2. upscale    Real-ESRGAN x upscale.scale, tiled
    3. enhance    tiled img2img at the upscaled size
    4. downsample aspect-correct crop + Lanczos to downsample.width x height

Every stage's picture is validated before the next starts; any failure raises a
StageError carrying the stage's parameters, figures and peak VRAM.
"""

from __future__ import annotations

import platform
import random
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import structlog
from PIL import Image, UnidentifiedImageError

from .. import __version__
from ..config import Config, pick
from ..errors import CancelledError, InputError, StageError, WallpaperdError
from ..paths import cache_dir
from . import device as dev
from .colour import drift, match_colours
from .latent_enhance import auto_batch, enhance_latent, seam_score
from .lora import LoraManager
from .sdxl import SdxlModels, encode_prompts, load_sdxl
from .stages import downsample, enhance_pixel, generate_base
from .upscale import Upscaler, auto_tile, load_upscaler, upscale_image
from .tiling import plan_tiles
from .validate import validate_image
from .vae import TiledVae

log = structlog.get_logger(__name__)

STAGES = ("generate", "upscale", "enhance", "downsample")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")

#: progress(stage, done, total)
ProgressFn = Callable[[str, int, int], None]


@dataclass
class JobRequest:
    prompt: str | None = None
    negative_prompt: str | None = None
    seed: int | None = None
    image: Path | None = None
    plan: dict[str, Any] | None = None  # how the prompt was chosen (planning/plan.py)
    loras: list[dict[str, Any]] = field(default_factory=list)  # [{name, path, weight, type}]


@dataclass
class JobResult:
    final: np.ndarray
    metadata: dict[str, Any]
    stages: dict[str, np.ndarray] = field(default_factory=dict)


class Pipeline:
    """The models, loaded once and kept, and the job script that uses them."""

    def __init__(self, cfg: Config, sdxl: SdxlModels | None = None) -> None:
        """``sdxl`` replaces loading from ``model.source`` (the GPU benchmark's random model)."""
        self.cfg = cfg
        self.device = dev.resolve_device(cfg.model.device)
        started = time.perf_counter()
        self.sdxl: SdxlModels = sdxl or load_sdxl(cfg.model, cfg.generate, cfg.memory, self.device)
        self.upscaler: Upscaler = load_upscaler(cfg.upscale, cache_dir(cfg.paths.cache), self.device)
        self.loras = LoraManager(self.sdxl)
        self.load_seconds = round(time.perf_counter() - started, 3)
        log.info("models loaded", sdxl=cfg.model.source, device=str(self.device),
                 upscaler=self.upscaler.name, seconds=self.load_seconds)

    def run(
        self,
        request: JobRequest,
        progress: ProgressFn | None = None,
        cancel: threading.Event | None = None,
        keep_stages: bool = False,
        cfg: Config | None = None,
    ) -> JobResult:
        """Run one job. ``cfg`` may differ from the loaded one in job settings only
        (steps, strength, sizes...); model settings are those the models were loaded with."""
        cfg = cfg or self.cfg
        g, u, e, d = cfg.generate, cfg.upscale, cfg.enhance, cfg.downsample

        def check() -> None:
            if cancel is not None and cancel.is_set():
                raise CancelledError("the job was cancelled")

        def report(stage: str) -> Callable[[int, int], None]:
            return lambda done, total: progress(stage, done, total) if progress else None

        # 0. Plan: everything random comes from the job seed.
        seed = request.seed if request.seed is not None else secrets.randbits(32)
        rng = random.Random(seed)
        steps, guidance = int(pick(g.steps, rng)), float(pick(g.guidance_scale, rng))
        strength, enhance_guidance = float(pick(e.strength, rng)), float(pick(e.guidance_scale, rng))
        prompt = request.prompt if request.prompt is not None else g.prompt
        negative = request.negative_prompt if request.negative_prompt is not None else g.negative_prompt
        if not prompt or not prompt.strip():
            raise InputError("the prompt is empty",
                             fix="give a prompt (--prompt), set generate.prompt, or plan a theme first")
        active_loras = self.loras.activate(request.loras)  # before encoding: LoRAs touch the text encoders
        embeds = encode_prompts(self.sdxl, prompt, negative)
        stages: dict[str, dict[str, Any]] = {}

        def stage(name: str, params: dict, size: tuple[int, int], work) -> np.ndarray:
            return self._stage(stages, name, params, size, work, cfg.validation,
                               cfg.memory.clear_cache_after_stage)

        kept: dict[str, np.ndarray] = {}
        base_size = (g.width, g.height)
        up_size = (g.width * u.scale, g.height * u.scale)
        budget = dev.vram_budget_bytes(cfg.memory.vram_budget, self.device)

        # 1. Generate (or take the user's picture).
        if request.image is None:
            params = {"width": g.width, "height": g.height, "steps": steps, "guidance_scale": guidance,
                      "scheduler": g.scheduler, "dtype": dev.dtype_name(self.sdxl.dtype)}
            vae = self.vae(cfg, budget)
            image = stage("generate", params, base_size, lambda: (generate_base(
                self.sdxl, embeds, g.width, g.height, steps, guidance, seed,
                report("generate"), check, vae), {"vae": vae.record.as_dict()}))
        else:
            image = stage("generate", {"input": str(request.image)}, base_size,
                                lambda: load_input_image(request.image, g.width, g.height))
        if keep_stages:
            kept["base"] = image

        # 2. Upscale.
        tile = auto_tile(budget) if u.tile == "auto" else u.tile
        params = {"model": self.upscaler.name, "scale": u.scale, "tile": tile,
                  "tile_overlap": u.tile_overlap, "precision": dev.dtype_name(self.upscaler.dtype)}
        image = stage("upscale", params, up_size, lambda: upscale_image(
            self.upscaler, image, tile, u.tile_overlap, report("upscale"), check))
        if keep_stages:
            kept["upscaled"] = image

        # 3. Enhance at the upscaled size.
        params = {"method": e.method, "tile": e.tile, "overlap": e.overlap, "strength": strength,
                  "steps": e.steps, "guidance_scale": enhance_guidance}
        image = stage("enhance", params, up_size, lambda: self._enhance(
            cfg, embeds, image, strength, enhance_guidance, seed, budget, report("enhance"), check))
        if keep_stages:
            kept["enhanced"] = image

        # 4. Downsample to the screen.
        params = {"width": d.width, "height": d.height, "method": d.method, "gravity": d.gravity,
                  "linear_light": d.linear_light}
        final = stage("downsample", params, (d.width, d.height), lambda: downsample(
            image, d.width, d.height, d.gravity, d.linear_light))

        metadata = {
            "wallpaperd": __version__,
            "prompt": prompt,
            "negative_prompt": negative,
            "plan": request.plan or {"source": "prompt"},
            "loras": active_loras,
            # CLIP windows of 77 tokens the prompt needed (more than 1: encoded in chunks)
            "prompt_chunks": int(embeds["prompt_embeds"].shape[1])
            // self.sdxl.txt2img.tokenizer.model_max_length,
            "seed": seed,
            "input_image": str(request.image) if request.image else None,
            "model": self.sdxl.describe(),
            "upscaler": self.upscaler.describe(),
            "stages": stages,
            "size": [d.width, d.height],
            "config": cfg.model_dump(mode="json"),
            "versions": library_versions(),
        }
        return JobResult(final, metadata, kept)

    def _enhance(self, cfg: Config, embeds, image, strength, guidance, seed, budget, progress, check):
        """Stage 3 by the configured method; both record a seam score of their output."""
        e = cfg.enhance
        height, width = image.shape[:2]
        if e.method == "latent":
            factor = self.sdxl.img2img.vae_scale_factor
            batch = e.batch if e.batch != "auto" else auto_batch(
                budget, self.model_bytes(), len(plan_tiles(width // factor, height // factor,
                                                            e.tile // factor, e.overlap // factor)),
                guidance > 1.0)
            out, info = enhance_latent(self.sdxl, embeds, image, e.tile, e.overlap, strength, e.steps,
                                       guidance, seed, batch, progress, check,
                                       vae=self.vae(cfg, budget))
        else:
            out, info = enhance_pixel(self.sdxl, embeds, image, e.tile, e.overlap, strength, e.steps,
                                      guidance, seed, progress, check)
        if e.colour_match:
            out, colour = match_colours(image, out, self.device)
        else:
            colour = {"colour_drift": round(drift(image, out), 3), "colour_match": False}
        info.update(colour)
        info["seam_score"] = round(seam_score(out, plan_tiles(width, height, e.tile, e.overlap),
                                               device=self.device), 4)
        return out, info

    def vae(self, cfg: Config, budget: int | None) -> TiledVae:
        """The VAE for whole pictures, in the loaded ``model.vae_precision``, within the budget."""
        return TiledVae(self.sdxl.txt2img.vae, self.cfg.model.vae_precision, budget,
                        tiling=cfg.memory.vae_tiling)

    def model_bytes(self) -> int:
        pipe = self.sdxl.txt2img
        modules = (pipe.unet, pipe.vae, pipe.text_encoder, pipe.text_encoder_2)
        return sum(p.numel() * p.element_size() for m in modules for p in m.parameters())

    def _stage(self, record: dict, name: str, params: dict, size: tuple[int, int],
               work: Callable[[], tuple[np.ndarray, dict]], limits, clear_cache: bool) -> np.ndarray:
        """Run one stage: time it, measure peak VRAM, validate, record; wrap failures."""
        dev.reset_peak(self.device)
        started = time.perf_counter()
        try:
            image, info = work()
        except WallpaperdError as exc:
            if getattr(exc, "stage", None) is None:
                exc.stage = name  # where it happened, for job records (StageErrors carry it)
            raise
        except Exception as exc:
            diagnostics = {"parameters": params, "peak_vram_gib": dev.peak_vram_gib(self.device)}
            fix = ("lower memory.vram_budget, the tile sizes or the resolution" if
                   dev.is_out_of_memory(exc) else None)
            raise StageError(name, f"{type(exc).__name__}: {exc}", diagnostics=diagnostics,
                             fix=fix) from exc
        seconds = round(time.perf_counter() - started, 3)
        diagnostics = {"parameters": params, **info, "seconds": seconds,
                       "peak_vram_gib": dev.peak_vram_gib(self.device)}
        measures = validate_image(name, image, size, limits, diagnostics, self.device)
        record[name] = {**params, **info, "seconds": seconds, "measures": measures,
                        "peak_vram_gib": diagnostics["peak_vram_gib"]}
        log.info("stage done", stage=name, seconds=seconds, **{k: round(v, 3) for k, v in measures.items()})
        if clear_cache:
            dev.release_cache(self.device)
        return image


def read_picture(path: Path, what: str = "--image") -> np.ndarray:
    """A PNG/JPEG/WebP file as an RGB float picture; InputError naming the file otherwise."""
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        raise InputError(f"{what} '{path}' is not a supported picture type",
                         fix=f"use one of {', '.join(IMAGE_SUFFIXES)}")
    try:
        with Image.open(path) as opened:
            opened.load()
            picture = opened.convert("RGB")
    except FileNotFoundError as exc:
        raise InputError(f"{what} '{path}': no such file", fix="check the path") from exc
    except (UnidentifiedImageError, OSError) as exc:
        raise InputError(f"{what} '{path}' could not be read as a picture: {exc}",
                         fix="check that the file is a complete PNG, JPEG or WebP") from exc
    return np.asarray(picture, dtype=np.float32) / 255.0


def load_input_image(path: Path, width: int, height: int) -> tuple[np.ndarray, dict[str, Any]]:
    """A user's picture, cropped to the generation aspect and resized to its size.

    The rest of the chain then runs exactly as for a generated picture, with the same
    memory use and the same final geometry.
    """
    array = read_picture(path)
    fitted, info = downsample(array, width, height, "center", False)
    return fitted, {"input_size": [array.shape[1], array.shape[0]], **info}


def library_versions() -> dict[str, str]:
    import diffusers
    import PIL
    import spandrel
    import torch
    import transformers

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda or "none",
        "diffusers": diffusers.__version__,
        "transformers": transformers.__version__,
        "spandrel": spandrel.__version__,
        "numpy": np.__version__,
        "pillow": PIL.__version__,
    }
