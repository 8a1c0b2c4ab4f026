"""Loading LoRA stacks into the resident SDXL pipelines (kohya and diffusers/PEFT files).

Adapters are loaded once and kept: a job only activates its stack with its weights
(``set_adapters``), and a job without LoRAs disables them. Before a file is loaded it is
checked: safetensors only, and its cross-attention layers must fit SDXL's UNet (an SD 1.5
LoRA has 768-wide ones and a single text encoder) — with a message that says so, not a
shape error from deep inside.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import structlog
from safetensors import safe_open

from ..errors import ModelError
from .sdxl import SdxlModels, file_sha256

log = structlog.get_logger(__name__)


def check_sdxl_lora(path: Path, cross_attention_dim: int) -> str:
    """'kohya' or 'peft' for a file that fits SDXL; ModelError naming the problem otherwise."""
    if path.suffix.lower() != ".safetensors":
        raise ModelError(f"LoRA '{path}' is not a .safetensors file; other formats can run code "
                         "when loaded and are refused", fix="use the LoRA's safetensors release")
    if not path.is_file():
        raise ModelError(f"LoRA file '{path}' does not exist", fix="check its path in loras.yaml")
    try:
        with safe_open(str(path), framework="pt") as handle:
            keys = list(handle.keys())
            shapes = {k: tuple(handle.get_slice(k).get_shape()) for k in keys
                      if ("attn2" in k and ("to_k" in k or "to_v" in k))
                      and ("lora_down" in k or "lora_A" in k)}
    except Exception as exc:  # safetensors raises its own error types for broken files
        raise ModelError(f"LoRA '{path}' cannot be read as safetensors: {exc}",
                         fix="re-download the file") from exc
    if any(k.startswith("lora_te_") for k in keys):
        raise ModelError(f"LoRA '{path}' is for Stable Diffusion 1.x/2.x (it has one text encoder, "
                         "'lora_te_' keys), not SDXL", fix="use an SDXL LoRA")
    kind = "kohya" if any(k.startswith(("lora_unet_", "lora_te1_", "lora_te2_")) for k in keys) else "peft"
    widths = {shape[1] for shape in shapes.values() if len(shape) >= 2}
    if widths and widths != {cross_attention_dim}:
        raise ModelError(
            f"LoRA '{path}' has cross-attention inputs {sorted(widths)} wide; this SDXL UNet's are "
            f"{cross_attention_dim} (768 means Stable Diffusion 1.x)", fix="use an SDXL LoRA")
    if not keys:
        raise ModelError(f"LoRA '{path}' holds no tensors", fix="re-download the file")
    return kind


class LoraManager:
    """The adapters loaded into one pipeline, activated per job."""

    def __init__(self, models: SdxlModels) -> None:
        self.models = models
        self.loaded: dict[str, dict[str, Any]] = {}  # name -> {path, sha256, format}

    def activate(self, stack: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Load what is new, set the stack's weights; returns the stack with sha256/format."""
        pipe = self.models.txt2img
        if not stack:
            if self.loaded:
                pipe.disable_lora()
            return []
        for item in stack:
            self._ensure_loaded(item["name"], Path(item["path"]))
        pipe.enable_lora()
        pipe.set_adapters([s["name"] for s in stack], adapter_weights=[s["weight"] for s in stack])
        return [{**s, "sha256": self.loaded[s["name"]]["sha256"],
                 "format": self.loaded[s["name"]]["format"]} for s in stack]

    def _ensure_loaded(self, name: str, path: Path) -> None:
        known = self.loaded.get(name)
        if known is not None and known["path"] == str(path):
            return
        if known is not None:  # the file behind the name changed (config reload)
            self.models.txt2img.delete_adapters(name)
        kind = check_sdxl_lora(path, self.models.txt2img.unet.config.cross_attention_dim)
        try:
            self.models.txt2img.load_lora_weights(str(path), adapter_name=name)
        except (ValueError, RuntimeError, KeyError) as exc:
            raise ModelError(f"LoRA '{name}' ({path}) could not be loaded into SDXL: {exc}",
                             fix="check that it is an SDXL LoRA in kohya or diffusers format") from exc
        self.loaded[name] = {"path": str(path), "sha256": file_sha256(path), "format": kind}
        log.info("LoRA loaded", name=name, format=kind, path=str(path))
