"""Benchmark of the upscale stage at the seed's geometry (1920x1024 -> 7680x4096).

Runs the same code as a job (load_upscaler + upscale_image, auto tile from the budget)
on a real photograph resized to the base size, for each precision and VRAM budget, and
prints one Markdown table row per case: seconds (median of --repeat runs after one
warm-up), tiles, peak VRAM. Needs a CUDA GPU.

    python bench/upscale.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from wallpaperd.config.schema import UpscaleConfig  # noqa: E402
from wallpaperd.pipeline import device as dev  # noqa: E402
from wallpaperd.pipeline.upscale import auto_tile, load_upscaler, upscale_image  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        sys.exit("bench/upscale.py needs a CUDA GPU")
    from skimage import data

    gpu = torch.device("cuda", torch.cuda.current_device())
    picture = np.asarray(Image.fromarray(data.astronaut()).resize((1920, 1024), Image.BICUBIC),
                         dtype=np.float32) / 255.0
    print(f"GPU: {torch.cuda.get_device_name(gpu)}, torch {torch.__version__}")
    print("| precision | vram_budget | tile | tiles | seconds | peak VRAM (GiB) |")
    print("| --- | --- | --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory() as cache:
        for precision in ("float32", "float16"):
            upscaler = load_upscaler(UpscaleConfig(precision=precision), Path(cache), gpu)
            for budget in (23.0, 12.0, "auto"):
                tile = auto_tile(dev.vram_budget_bytes(budget, gpu))
                upscale_image(upscaler, picture, tile, 32)  # warm-up (cuDNN algorithm choice)
                times = []
                torch.cuda.reset_peak_memory_stats(gpu)
                for _ in range(args.repeat):
                    torch.cuda.synchronize(gpu)
                    started = time.perf_counter()
                    out, info = upscale_image(upscaler, picture, tile, 32)
                    torch.cuda.synchronize(gpu)
                    times.append(time.perf_counter() - started)
                assert out.shape == (4096, 7680, 3)
                peak = torch.cuda.max_memory_allocated(gpu) / 2**30
                print(f"| {precision} | {budget} | {tile} | {info['tiles']} | "
                      f"{statistics.median(times):.2f} | {peak:.2f} |", flush=True)
            del upscaler
            torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
