"""Benchmark of stage 3 at the seed's geometry: 7680x4096, tile 1024, overlap 256, 30 steps x 0.35.

Compares the per-tile pixel method (one diffusers img2img call per tile, the plain way)
with latent tile fusion, on the full-size SDXL UNet and VAE with random weights in
float16 (the same compute and memory as the real weights). The text encoders are small
stand-ins with SDXL's output widths (768 + 1280, pooled 1280): prompts are encoded once
per job and take no part in this stage's time. The input is a real photograph resized to
7680x4096. Each case reports seconds, peak VRAM and the seam score. Random weights make
no picture; the UNet's last convolution is scaled down (x0.05) so predictions stay in a
sane range over the steps and the VAE decodes finite values. Needs a CUDA GPU.

    python bench/enhance.py [--budgets 23,12,auto]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.lora_cost import SDXL_UNET  # noqa: E402
from wallpaperd.pipeline import device as dev  # noqa: E402
from wallpaperd.pipeline.latent_enhance import auto_batch, enhance_latent, seam_score  # noqa: E402
from wallpaperd.config import load_config  # noqa: E402
from wallpaperd.pipeline.sdxl import (SdxlModels, compile_models, encode_prompts, place,  # noqa: E402
                                      shared_img2img)
from wallpaperd.pipeline.stages import enhance_pixel  # noqa: E402
from wallpaperd.pipeline.tiling import plan_tiles  # noqa: E402
from wallpaperd.pipeline.vae import TiledVae  # noqa: E402

SDXL_VAE = dict(block_out_channels=[128, 256, 512, 512], in_channels=3, out_channels=3,
                down_block_types=["DownEncoderBlock2D"] * 4, up_block_types=["UpDecoderBlock2D"] * 4,
                latent_channels=4, layers_per_block=2, norm_num_groups=32, sample_size=1024,
                scaling_factor=0.13025, force_upcast=True)


def build(device, memory=None, compile_unet_flag: bool = False) -> SdxlModels:
    """The random full-size SDXL, placed with ``memory`` (default: the shipped memory
    settings) and compiled like ``model.compile`` — the same calls as loading real weights."""
    from diffusers import (AutoencoderKL, DPMSolverMultistepScheduler, StableDiffusionXLPipeline,
                           UNet2DConditionModel)
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

    from wallpaperd.pipeline.tiny import BOS, EOS, byte_vocab

    vocab = byte_vocab()
    tokenizer = CLIPTokenizer(vocab=vocab, merges=[], model_max_length=77)
    common = dict(vocab_size=len(vocab), num_hidden_layers=2, max_position_embeddings=77,
                  bos_token_id=vocab[BOS], eos_token_id=vocab[EOS], pad_token_id=vocab[EOS])
    torch.manual_seed(0)
    with torch.device(device):
        unet = UNet2DConditionModel(**SDXL_UNET)
        with torch.no_grad():
            unet.conv_out.weight.mul_(0.05)
            unet.conv_out.bias.zero_()
        vae = AutoencoderKL(**SDXL_VAE)
        te1 = CLIPTextModel(CLIPTextConfig(hidden_size=768, intermediate_size=1024,
                                           num_attention_heads=12, **common))
        te2 = CLIPTextModelWithProjection(CLIPTextConfig(hidden_size=1280, intermediate_size=1024,
                                                         num_attention_heads=20, projection_dim=1280,
                                                         **common))
    scheduler = DPMSolverMultistepScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                            timestep_spacing="leading", steps_offset=1,
                                            algorithm_type="dpmsolver++")
    pipe = StableDiffusionXLPipeline(vae=vae, text_encoder=te1, text_encoder_2=te2, tokenizer=tokenizer,
                                     tokenizer_2=tokenizer, unet=unet, scheduler=scheduler)
    pipe.to(dtype=torch.float16)
    place(pipe, memory or load_config().memory, device)
    pipe.set_progress_bar_config(disable=True)
    notes = ["unet-compiled"] if compile_models(pipe, compile_unet_flag, device) else []
    assert pipe.unet.dtype == torch.float16
    return SdxlModels(pipe, shared_img2img(pipe), "random full-size SDXL", "bench", device, torch.float16,
                      "DPMSolverMultistepScheduler", notes=notes)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--budgets", default="23,12,auto")
    parser.add_argument("--skip-pixel", action="store_true")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        sys.exit("bench/enhance.py needs a CUDA GPU")
    from skimage import data

    gpu = torch.device("cuda", torch.cuda.current_device())
    models = build(gpu)
    embeds = encode_prompts(models, "a lighthouse on a cliff above a stormy sea", "blurry")
    picture = np.asarray(Image.fromarray(data.astronaut()).resize((7680, 4096), Image.LANCZOS),
                         dtype=np.float32) / 255.0
    pixel_tiles = plan_tiles(7680, 4096, 1024, 256)
    model_bytes = sum(p.numel() * p.element_size() for m in (models.txt2img.unet, models.txt2img.vae)
                      for p in m.parameters())
    print(f"GPU: {torch.cuda.get_device_name(gpu)}, torch {torch.__version__}")
    print("| method | vram_budget | batch | tiles | seconds | peak VRAM (GiB) | seam score | finite |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")

    def run(label, budget, work):
        torch.cuda.synchronize(gpu)
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(gpu)
        started = time.perf_counter()
        out, info = work()
        torch.cuda.synchronize(gpu)
        seconds = time.perf_counter() - started
        peak = torch.cuda.max_memory_allocated(gpu) / 2**30
        print(f"| {label} | {budget} | {info.get('batch', 1)} | {info['tiles']} | {seconds:.1f} | "
              f"{peak:.2f} | {seam_score(out, pixel_tiles):.3f} | {bool(np.isfinite(out).all())} |",
              flush=True)

    for budget in args.budgets.split(","):
        value = budget if budget == "auto" else float(budget)
        batch = auto_batch(dev.vram_budget_bytes(value, gpu), model_bytes, 50, True)
        vae = TiledVae(models.img2img.vae, "float32", dev.vram_budget_bytes(value, gpu))
        run("latent", budget, lambda batch=batch, vae=vae: enhance_latent(
            models, embeds, picture, 1024, 256, 0.35, 30, 7.5, 1, batch, vae=vae))
    if not args.skip_pixel:
        run("pixel (per-tile img2img)", "-", lambda: enhance_pixel(models, embeds, picture, 1024, 256,
                                                                   0.35, 30, 7.5, 1))


if __name__ == "__main__":
    main()
