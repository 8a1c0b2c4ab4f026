"""GPU-only checks (skipped without CUDA; run on a GPU machine with `pytest -m gpu`).

The same chain as the CPU tests, in half precision on the GPU: the paths CI cannot reach
(fp16 UNet with the VAE upcast, fp16 upscaler, peak-VRAM figures, the upscaler's
out-of-memory fallback).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from wallpaperd.config import config_from_mapping
from wallpaperd.config.schema import UpscaleConfig
from wallpaperd.pipeline.job import JobRequest, Pipeline
from wallpaperd.pipeline.upscale import load_upscaler, upscale_image

from ..conftest import small_mapping

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_chain_in_half_precision_on_the_gpu(dtype, tmp_path):
    data = small_mapping(model__device="cuda", generate__dtype=dtype, upscale__precision=dtype)
    data["paths"] = {"cache": str(tmp_path)}
    pipeline = Pipeline(config_from_mapping(data))
    result = pipeline.run(JobRequest(seed=4))
    meta = result.metadata
    assert meta["model"]["device"].startswith("cuda") and meta["model"]["dtype"] == dtype
    for stage in ("generate", "enhance"):  # the VAE in model.vae_precision's default, NaN-free
        assert meta["stages"][stage]["vae"]["precision"] == "float32"
        assert meta["stages"][stage]["vae"]["float32_retries"] == 0
    assert meta["upscaler"]["precision"] == dtype
    assert pipeline.sdxl.txt2img.unet.dtype == getattr(torch, dtype)  # really half precision
    assert result.final.shape == (180, 320, 3) and np.isfinite(result.final).all()
    for stage in ("generate", "upscale", "enhance"):
        assert meta["stages"][stage]["peak_vram_gib"] > 0


def test_upscaler_out_of_memory_halves_the_tile(tmp_path):
    device = torch.device("cuda", torch.cuda.current_device())
    upscaler = load_upscaler(UpscaleConfig(precision="float32"), tmp_path, device)
    picture = np.random.default_rng(0).random((512, 512, 3), dtype=np.float32)
    total = torch.cuda.get_device_properties(device).total_memory
    torch.cuda.empty_cache()
    torch.cuda.set_per_process_memory_fraction(1.5 * 1024**3 / total, device)
    try:
        out, info = upscale_image(upscaler, picture, tile=512, overlap=32)
    finally:
        torch.cuda.set_per_process_memory_fraction(1.0, device)
    assert info["oom_retries"] and info["tile"] < 512
    assert out.shape == (2048, 2048, 3)
