"""The whole job at the seed's defaults on the GPU, through the code the daemon runs.

generate 1920x1024 (50 steps) → Real-ESRGAN x4 (real weights) → enhance 7680x4096
(latent fusion) → downsample 3840x2160, with the full-size SDXL UNet and VAE with random
weights (bench/enhance.py says how they are kept numerically sane), for each
``memory.vram_budget``. Validation floors are set to 0 because random weights paint no
picture; every stage's picture is still checked for size and NaN. Per stage: seconds,
peak VRAM, and for the UNet stages the UNet's TFLOP/s (FLOPs counted once per call shape
with torch's FlopCounterMode, over the stage's wall time) and its share of the ~790 TFLOP/s
an H200 reaches on bf16 matrix products. Prints Markdown. Needs a CUDA GPU.

    python bench/job.py [--budgets 23,12,auto] [--write BENCHMARKS.md]

In the same run, after the jobs, the enhancement stage the plain way (one diffusers img2img
call per tile, ``method: pixel``) on the same upscaled picture, as the baseline. With
``--write`` the tables replace the section between the bench/job.py markers in that file.
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
    parser.add_argument("--write", type=Path, help="update this Markdown file's bench/job.py section")
    args = parser.parse_args()
    lines: list[str] = []

    def emit(line: str) -> None:
        print(line, flush=True)
        lines.append(line)

    if not torch.cuda.is_available():
        sys.exit("bench/job.py needs a CUDA GPU")
    gpu = torch.device("cuda", torch.cuda.current_device())
    models = build(gpu)
    generate_call = unet_flops(models.txt2img.unet, 128, 240)
    tile_call = unet_flops(models.txt2img.unet, 128, 128)
    import diffusers

    emit(f"{time.strftime('%Y-%m-%d')} · {torch.cuda.get_device_name(gpu)} · torch {torch.__version__}, "
         f"diffusers {diffusers.__version__} · UNet call with CFG: {generate_call / 1e12:.2f} TFLOP at "
         f"1920x1024, {tile_call / 1e12:.2f} TFLOP per 1024 tile · command: `python bench/job.py`")
    emit("")
    emit("| vram_budget | stage | seconds | peak VRAM (GiB) | UNet TFLOP/s | % of bf16 peak |")
    emit("| --- | --- | --- | --- | --- | --- |")
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
        result = pipeline.run(JobRequest(prompt="a lighthouse on a cliff above a stormy sea",
                                         seed=1), keep_stages=True)
        meta = result.metadata
        total = time.perf_counter() - started
        stages = meta["stages"]
        unet_work = {"generate": generate_call * stages["generate"]["steps"],
                     "enhance": tile_call * stages["enhance"]["tiles"] * stages["enhance"]["denoising_steps"]}
        for name, stage in stages.items():
            flops = unet_work.get(name)
            rate = f"{flops / stage['seconds'] / 1e12:.0f}" if flops else "-"
            share = f"{flops / stage['seconds'] / 1e12 / PEAK_TFLOPS:.0%}" if flops else "-"
            emit(f"| {budget} | {name} | {stage['seconds']:.1f} | {stage['peak_vram_gib']:.2f} | "
                 f"{rate} | {share} |")
        emit(f"| {budget} | **whole job** | {total:.1f} | | | |")
        upscaled = result.stages["upscaled"]
        latent_seconds = stages["enhance"]["seconds"]

    # The baseline, same run, same picture: one img2img call per tile.
    from wallpaperd.pipeline.sdxl import encode_prompts
    from wallpaperd.pipeline.stages import enhance_pixel

    embeds = encode_prompts(models, "a lighthouse on a cliff above a stormy sea", "")
    torch.cuda.synchronize(gpu)
    torch.cuda.reset_peak_memory_stats(gpu)
    started = time.perf_counter()
    enhance_pixel(models, embeds, upscaled, 1024, 256, 0.35, 30, 7.5, 1)
    torch.cuda.synchronize(gpu)
    baseline = time.perf_counter() - started
    rate = tile_call * 50 * 10 / baseline / 1e12
    emit(f"| - | enhance, per-tile img2img baseline | {baseline:.1f} | "
         f"{torch.cuda.max_memory_allocated(gpu) / 2**30:.2f} | {rate:.0f} | {rate / PEAK_TFLOPS:.0%} |")
    emit("")
    emit(f"Enhancement speed-up over the baseline (last budget): {baseline / latent_seconds:.2f}x.")
    if args.write:
        write_section(args.write, lines)


def write_section(path: Path, lines: list[str]) -> None:
    start, end = "<!-- bench/job.py -->", "<!-- /bench/job.py -->"
    text = path.read_text()
    block = "\n".join([start, *lines, end])
    if start in text and end in text:
        text = text[:text.index(start)] + block + text[text.index(end) + len(end):]
    else:
        text = text.rstrip() + "\n\n## Latest bench/job.py run\n\n" + block + "\n"
    path.write_text(text)


if __name__ == "__main__":
    main()
