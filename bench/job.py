"""The whole job at the seed's defaults on the GPU, through the code the daemon runs.

generate 1920x1024 (50 steps) → Real-ESRGAN x4 (real weights) → enhance 7680x4096
(latent fusion) → downsample 3840x2160, with the full-size SDXL UNet and VAE with random
weights (bench/enhance.py says how they are kept numerically sane), for each
``memory.vram_budget``. Validation floors are set to 0 because random weights paint no
picture; every stage's picture is still checked for size and NaN. Per stage: seconds,
peak VRAM, and for the UNet stages the UNet's TFLOP/s (FLOPs counted once per call shape
with torch's FlopCounterMode, over the stage's wall time) and its share of the ~790 TFLOP/s
an H200 reaches on bf16 matrix products. Prints Markdown. Needs a CUDA GPU.

    python bench/job.py [--budgets 23,12,auto]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.enhance import build  # noqa: E402
from wallpaperd.config import load_config  # noqa: E402
from wallpaperd.pipeline.job import JobRequest, Pipeline  # noqa: E402

PEAK_TFLOPS = 790.0


def unet_flops(unet, height: int, width: int) -> float:
    """FLOPs of one UNet call with classifier-free guidance (batch 2) on a latent h x w."""
    x = torch.randn(2, 4, height, width, device="cuda", dtype=torch.float16)
    ctx = torch.randn(2, 77, 2048, device="cuda", dtype=torch.float16)
    added = {"text_embeds": torch.randn(2, 1280, device="cuda", dtype=torch.float16),
             "time_ids": torch.zeros(2, 6, device="cuda", dtype=torch.float16)}
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        unet(x, torch.tensor([500, 500], device="cuda"), encoder_hidden_states=ctx,
             added_cond_kwargs=added)
    return float(counter.get_total_flops())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--budgets", default="23,12,auto")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        sys.exit("bench/job.py needs a CUDA GPU")
    gpu = torch.device("cuda", torch.cuda.current_device())
    models = build(gpu)
    generate_call = unet_flops(models.txt2img.unet, 128, 240)
    tile_call = unet_flops(models.txt2img.unet, 128, 128)
    print(f"GPU: {torch.cuda.get_device_name(gpu)}, torch {torch.__version__}; UNet call (CFG): "
          f"{generate_call / 1e12:.2f} TFLOP at 1920x1024, {tile_call / 1e12:.2f} TFLOP per 1024 tile")
    print("| vram_budget | stage | seconds | peak VRAM (GiB) | UNet TFLOP/s | % of bf16 peak |")
    print("| --- | --- | --- | --- | --- | --- |")
    for budget in args.budgets.split(","):
        cfg = load_config()
        data = cfg.model_dump(mode="json")
        data["model"]["device"] = "cuda"
        data["memory"]["vram_budget"] = budget if budget == "auto" else float(budget)
        data["validation"] = {"min_std": 0.0, "min_sharpness": 0.0, "min_detail": 0.0}
        from wallpaperd.config import config_from_mapping

        job_cfg = config_from_mapping(data)
        pipeline = Pipeline(job_cfg, sdxl=models)
        started = time.perf_counter()
        meta = pipeline.run(JobRequest(prompt="a lighthouse on a cliff above a stormy sea",
                                       seed=1)).metadata
        total = time.perf_counter() - started
        stages = meta["stages"]
        unet_work = {"generate": generate_call * stages["generate"]["steps"],
                     "enhance": tile_call * stages["enhance"]["tiles"] * stages["enhance"]["denoising_steps"]}
        for name, stage in stages.items():
            flops = unet_work.get(name)
            rate = f"{flops / stage['seconds'] / 1e12:.0f}" if flops else "-"
            share = f"{flops / stage['seconds'] / 1e12 / PEAK_TFLOPS:.0%}" if flops else "-"
            print(f"| {budget} | {name} | {stage['seconds']:.1f} | {stage['peak_vram_gib']:.2f} | "
                  f"{rate} | {share} |", flush=True)
        print(f"| {budget} | **whole job** | {total:.1f} | | | |", flush=True)


if __name__ == "__main__":
    main()
