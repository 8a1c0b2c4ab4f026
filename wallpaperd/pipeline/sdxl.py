"""Loading SDXL once: one set of weights serving txt2img (stage 1) and img2img (stage 3).

``model.source`` may be:

- ``tiny``: random tiny components built in code (noise-art; tests and the demo);
- a diffusers folder (``model_index.json`` + component folders);
- a single-file ``.safetensors`` checkpoint (sd_xl_base_1.0, community fine-tunes); its
  component configs and tokenizers come from ``model.config_source`` — a diffusers
  folder, or a repo id already in the Hugging Face cache — never from the network;
- a Hugging Face repo id: taken from the HF cache; if it is not there and
  ``model.allow_download`` is true (and ``HF_HUB_OFFLINE`` is not set) it is downloaded
  once, loudly; otherwise loading fails with the command that fetches it.

Pickle checkpoints (``.ckpt .pt .pth .bin``) can run code when loaded and are refused.

fp16 and the VAE: SDXL's original VAE overflows in float16 (NaN → black pictures). Whole
pictures go through pipeline/vae.py in ``model.vae_precision`` (float32 by default, as
diffusers' upcast does), with a float32 retry for any tile that comes out NaN; the
per-tile img2img of ``enhance.method: pixel`` keeps diffusers' own upcast. Every stage's
output is checked for NaN regardless.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog
import torch
from pyparsing import ParseException
from compel import CompelForSDXL
from diffusers import (
    AutoencoderKL,
    DDIMScheduler,
    DPMSolverMultistepScheduler,
    EulerAncestralDiscreteScheduler,
    EulerDiscreteScheduler,
    StableDiffusionXLImg2ImgPipeline,
    StableDiffusionXLPipeline,
    UniPCMultistepScheduler,
)

from ..config.schema import GenerateConfig, MemoryConfig, ModelConfig
from ..errors import InputError, ModelError
from .device import dtype_name, resolve_dtype

log = structlog.get_logger(__name__)

PICKLE_SUFFIXES = (".ckpt", ".pt", ".pth", ".bin")
REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
SDXL_BASE = "stabilityai/stable-diffusion-xl-base-1.0"

_SCHEDULERS: dict[str, tuple[Any, dict[str, Any]]] = {
    "DPMSolverMultistepScheduler": (
        DPMSolverMultistepScheduler, {"algorithm_type": "dpmsolver++", "solver_order": 2}),
    "DPMSolverMultistepScheduler-Karras": (
        DPMSolverMultistepScheduler,
        {"algorithm_type": "dpmsolver++", "solver_order": 2, "use_karras_sigmas": True}),
    "EulerDiscreteScheduler": (EulerDiscreteScheduler, {}),
    "EulerAncestralDiscreteScheduler": (EulerAncestralDiscreteScheduler, {}),
    "DDIMScheduler": (DDIMScheduler, {}),
    "UniPCMultistepScheduler": (UniPCMultistepScheduler, {}),
}


@dataclass
class SdxlModels:
    """The resident SDXL weights and the two pipelines that share them."""

    txt2img: StableDiffusionXLPipeline
    img2img: StableDiffusionXLImg2ImgPipeline
    source: str
    kind: str
    device: torch.device
    dtype: torch.dtype
    scheduler: str
    sha256: str | None = None
    notes: list[str] = field(default_factory=list)
    compel: CompelForSDXL | None = None

    def __post_init__(self) -> None:
        if self.compel is None:
            self.compel = CompelForSDXL(self.txt2img, device=str(self.device))

    def describe(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "kind": self.kind,
            "sha256": self.sha256,
            "device": str(self.device),
            "dtype": dtype_name(self.dtype),
            "scheduler": self.scheduler,
            "notes": self.notes,
        }


def shared_img2img(pipe: StableDiffusionXLPipeline) -> StableDiffusionXLImg2ImgPipeline:
    """The img2img pipeline over the very same components (no copy, no dtype change).

    Not ``from_pipe``: in diffusers 0.42 it casts the shared modules to float32 when the
    source pipeline was not loaded with a dtype, silently undoing half precision.
    """
    img2img = StableDiffusionXLImg2ImgPipeline(**pipe.components)
    img2img.set_progress_bar_config(disable=True)
    return img2img


def classify_source(source: str) -> str:
    """``tiny``, ``directory``, ``single_file`` or ``hub``; raises ModelError for anything else."""
    if source == "tiny":
        return "tiny"
    path = Path(source).expanduser()
    if path.suffix.lower() in PICKLE_SUFFIXES:
        raise ModelError(
            f"model.source '{source}' is a pickle checkpoint ({path.suffix}); loading pickles can "
            "run arbitrary code, so wallpaperd refuses them",
            fix="use the .safetensors release of the same model (sd_xl_base_1.0.safetensors, or the "
            "fine-tune's safetensors file), or convert it once with a trusted tool",
        )
    if path.is_dir():
        if not (path / "model_index.json").is_file():
            raise ModelError(
                f"model.source '{source}' is a folder without model_index.json, so it is not a "
                "diffusers pipeline folder",
                fix="point model.source at the folder that holds model_index.json, or at a "
                "single .safetensors checkpoint",
            )
        return "directory"
    if path.suffix.lower() == ".safetensors":
        if not path.is_file():
            raise ModelError(
                f"model.source '{source}': no such checkpoint file",
                fix=missing_weights_help(),
            )
        return "single_file"
    if source.startswith(("/", "./", "../", "~")) or source.count("/") > 1:
        raise ModelError(f"model.source '{source}': no such file or folder", fix=missing_weights_help())
    if REPO_ID.match(source):
        return "hub"
    raise ModelError(
        f"model.source '{source}' is neither 'tiny', a diffusers folder, a .safetensors file nor a "
        "Hugging Face repo id (owner/name)",
        fix=missing_weights_help(),
    )


def missing_weights_help() -> str:
    return (
        "provide SDXL weights in one of these ways: "
        f"(1) model.source: {SDXL_BASE} and run `huggingface-cli download {SDXL_BASE}` once "
        "(several GB in the HF cache); "
        "(2) model.source: /path/to/sd_xl_base_1.0.safetensors (or a fine-tune's single file) plus "
        f"the small config files: `huggingface-cli download {SDXL_BASE} --include '*.json' '*.txt'`; "
        "(3) model.source: /path/to/diffusers-folder; or model.source: tiny to try the pipeline "
        "with noise-art (see README, 'Getting SDXL weights')"
    )


def preflight(model: ModelConfig) -> str:
    """Cheap check, before anything slow starts, that the weights can be found."""
    kind = classify_source(model.source)
    if kind == "hub" and not _in_hf_cache(model.source) and not _may_download(model):
        raise ModelError(
            f"SDXL weights '{model.source}' are not in the Hugging Face cache "
            f"({_hf_cache_dir()}) and downloading is off "
            f"({'HF_HUB_OFFLINE is set' if _offline() else 'model.allow_download: false'})",
            fix=missing_weights_help(),
        )
    if kind == "single_file":
        _config_folder(model.config_source)
    return kind


def load_sdxl(model: ModelConfig, generate: GenerateConfig, memory: MemoryConfig,
              device: torch.device) -> SdxlModels:
    """Load the pipeline once and derive the img2img pipeline from the same components."""
    kind = preflight(model)
    dtype = resolve_dtype(generate.dtype, device, "generate")
    if kind == "tiny":
        from .tiny import build_tiny_sdxl

        log.warning("model.source is 'tiny': random tiny weights, the pictures are NOISE-ART, "
                    "for tests and demos only")
        pipe = build_tiny_sdxl()
        if dtype != torch.float32:
            pipe.to(dtype=dtype)
    else:
        pipe = _load_real(model, kind, dtype)
    if model.vae:
        pipe.vae = _load_vae(model.vae, dtype)

    scheduler_cls, options = _SCHEDULERS[generate.scheduler]
    pipe.scheduler = scheduler_cls.from_config(pipe.scheduler.config, **options)
    place(pipe, memory, device)
    pipe.set_progress_bar_config(disable=True)
    notes = ["unet-compiled"] if compile_models(pipe, model.compile, device) else []
    img2img = shared_img2img(pipe)
    sha = file_sha256(Path(model.source).expanduser()) if kind == "single_file" else None
    return SdxlModels(pipe, img2img, model.source, kind, device, dtype, generate.scheduler, sha,
                      notes=notes)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 24), b""):
            digest.update(block)
    return digest.hexdigest()


def _load_real(model: ModelConfig, kind: str, dtype: torch.dtype) -> StableDiffusionXLPipeline:
    try:
        if kind == "directory":
            return StableDiffusionXLPipeline.from_pretrained(
                str(Path(model.source).expanduser()), dtype=dtype, use_safetensors=True,
                local_files_only=True)
        if kind == "single_file":
            return StableDiffusionXLPipeline.from_single_file(
                str(Path(model.source).expanduser()), config=_config_folder(model.config_source),
                dtype=dtype, local_files_only=True)
        if _in_hf_cache(model.source):
            return StableDiffusionXLPipeline.from_pretrained(
                model.source, dtype=dtype, use_safetensors=True, local_files_only=True)
        log.warning("downloading SDXL weights into the Hugging Face cache (once, several GB)",
                    repo=model.source, cache=str(_hf_cache_dir()))
        try:
            return StableDiffusionXLPipeline.from_pretrained(
                model.source, dtype=dtype, use_safetensors=True)
        except (OSError, ValueError) as exc:
            raise ModelError(
                f"SDXL weights '{model.source}' are not in the Hugging Face cache "
                f"({_hf_cache_dir()}) and downloading them failed ({type(exc).__name__}; no "
                "network, or the repo id is wrong)", fix=missing_weights_help()) from exc
    except ModelError:
        raise
    except (OSError, ValueError, EnvironmentError) as exc:
        hint = ""
        if "safetensors" in str(exc).lower():
            hint = " (wallpaperd loads safetensors only; pickle .bin weights are refused)"
        raise ModelError(f"could not load SDXL from '{model.source}' ({kind}){hint}: {exc}",
                         fix=missing_weights_help()) from exc


def _load_vae(source: str, dtype: torch.dtype) -> AutoencoderKL:
    path = Path(source).expanduser()
    try:
        if path.suffix.lower() in PICKLE_SUFFIXES:
            raise ModelError(f"model.vae '{source}' is a pickle file; refused",
                             fix="use the .safetensors release of that VAE")
        if path.is_file():
            return AutoencoderKL.from_single_file(str(path), dtype=dtype, local_files_only=True)
        return AutoencoderKL.from_pretrained(source, dtype=dtype, use_safetensors=True,
                                             local_files_only=not path.exists() and _offline())
    except ModelError:
        raise
    except (OSError, ValueError) as exc:
        raise ModelError(f"could not load the VAE from model.vae '{source}': {exc}",
                         fix="point model.vae at a diffusers VAE folder, a .safetensors VAE, or "
                         "a repo id in the HF cache; or remove model.vae") from exc


def compile_models(pipe: StableDiffusionXLPipeline, enabled: bool, device: torch.device) -> bool:
    """``model.compile``: torch.compile the UNet's repeated blocks and the VAE (GPU only).

    The UNet is compiled regionally: its 70 BasicTransformerBlocks share a few graphs, so
    that takes seconds, not the minutes a whole-UNet compile takes. The VAE's encoder and
    decoder are compiled whole, for fixed shapes (GroupNorm and SiLU fuse: about 2x on
    the H200), which costs about a minute per new tile shape. So the first job of a
    daemon's life compiles for a few minutes and every later one is faster (figures in
    BENCHMARKS.md); inductor's on-disk cache shortens it after a restart. On the CPU it is
    skipped (logged): inductor's CPU path needs a C++ toolchain and the CPU is not where
    wallpaperd's time goes.
    """
    if not enabled:
        return False
    if device.type != "cuda":
        log.info("model.compile applies on the GPU only; running uncompiled", device=str(device))
        return False
    pipe.unet.compile_repeated_blocks(fullgraph=True)
    pipe.vae.encoder.compile(dynamic=False)
    pipe.vae.decoder.compile(dynamic=False)
    log.info("the UNet's transformer blocks and the VAE compile on first use (model.compile)")
    return True


def place(pipe: StableDiffusionXLPipeline, memory: MemoryConfig, device: torch.device) -> None:
    """Put the pipeline on its device with the memory settings (loading and the benchmark)."""
    if device.type == "cuda" and memory.sequential_cpu_offload:
        pipe.enable_sequential_cpu_offload(device=device)
    elif device.type == "cuda" and memory.model_cpu_offload:
        pipe.enable_model_cpu_offload(device=device)
    else:
        pipe.to(device)
    if memory.attention_slicing:
        pipe.enable_attention_slicing()
    if memory.vae_tiling:
        pipe.vae.enable_tiling()


def _config_folder(config_source: str) -> str:
    """A local folder with the pipeline's configs and tokenizers, for single-file checkpoints."""
    path = Path(config_source).expanduser()
    if path.is_dir():
        if not (path / "model_index.json").is_file():
            raise ModelError(f"model.config_source '{config_source}' has no model_index.json",
                             fix="point it at a diffusers SDXL folder (configs are enough)")
        return str(path)
    if REPO_ID.match(config_source):
        from huggingface_hub import snapshot_download

        try:
            return snapshot_download(config_source, local_files_only=True,
                                     allow_patterns=["*.json", "*.txt"])
        except Exception as exc:  # huggingface_hub raises several unrelated types here
            raise ModelError(
                f"a single-file checkpoint needs SDXL's config files and tokenizers, looked for in "
                f"the HF cache as '{config_source}' (model.config_source) and not found",
                fix=f"run `huggingface-cli download {config_source} --include '*.json' '*.txt'` once "
                "(a few MB), or set model.config_source to a local diffusers folder",
            ) from exc
    raise ModelError(f"model.config_source '{config_source}' is neither a folder nor a repo id",
                     fix=f"use {SDXL_BASE} (in the HF cache) or a local diffusers folder")


def _in_hf_cache(repo: str) -> bool:
    from huggingface_hub import snapshot_download

    try:
        folder = Path(snapshot_download(repo, local_files_only=True, allow_patterns=["model_index.json"]))
        return (folder / "model_index.json").is_file()
    except Exception:  # LocalEntryNotFoundError and friends: simply "not cached"
        return False


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")


def _may_download(model: ModelConfig) -> bool:
    return model.allow_download and not _offline()


def _hf_cache_dir() -> Path:
    from huggingface_hub.constants import HF_HUB_CACHE

    return Path(HF_HUB_CACHE)


def encode_prompts(models: SdxlModels, prompt: str, negative: str) -> dict[str, Any]:
    """Text embeddings for the job, computed once and reused by every stage and tile.

    Encoded with Compel: prompts longer than the 77 tokens CLIP reads are split into
    chunks that are encoded separately and joined (as A1111 and ComfyUI do), so nothing is
    cut off; Compel's weighting syntax (``word+``, ``word-``, ``(words)1.3``) applies.
    Without weights the result equals diffusers' own ``encode_prompt``.
    """
    try:
        with torch.inference_mode():
            result = models.compel(prompt, negative_prompt=negative)
    except (ValueError, RuntimeError, ParseException) as exc:
        raise InputError(f"the prompt could not be encoded: {exc}",
                         fix="check brackets and weights, e.g. (misty forest)1.2 or forest+") from exc
    return {
        "prompt_embeds": result.embeds,
        "negative_prompt_embeds": result.negative_embeds,
        "pooled_prompt_embeds": result.pooled_embeds,
        "negative_pooled_prompt_embeds": result.negative_pooled_embeds,
    }
