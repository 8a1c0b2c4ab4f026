"""Latent tile fusion on the tiny SDXL: smooth blends, identity, weights, determinism, seams."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from wallpaperd.config import config_from_mapping
from wallpaperd.pipeline.job import JobRequest, Pipeline
from wallpaperd.pipeline.latent_enhance import TileWeights, _predict, enhance_latent, seam_score
from wallpaperd.pipeline.sdxl import encode_prompts
from wallpaperd.pipeline.stages import derive_seed
from wallpaperd.pipeline.tiling import plan_tiles
from wallpaperd.pipeline.vae import TiledVae

from ..conftest import small_mapping


def picture(h=256, w=480, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = np.linspace(0, 1, w, dtype=np.float32)[None, :, None] * np.ones((h, 1, 3), np.float32)
    return np.clip(base * 0.6 + rng.random((h, w, 3), dtype=np.float32) * 0.4, 0, 1)


def test_every_latent_position_weights_sum_to_one():
    tiles = plan_tiles(60, 32, 16, 4)
    weights = TileWeights(tiles, 32, 60, "cpu", torch.float64)
    total = torch.zeros(32, 60, dtype=torch.float64)
    for t in tiles:
        total[t.y:t.y + t.h, t.x:t.x + t.w] += weights.maps[t.index]
    torch.testing.assert_close(total, torch.ones_like(total), atol=1e-12, rtol=0)


def test_a_different_constant_per_tile_blends_smoothly():
    """An instrumented denoiser answers tile i with the constant i everywhere."""
    tiles = plan_tiles(60, 32, 16, 4)
    weights = TileWeights(tiles, 32, 60, "cpu", torch.float32)
    latents = torch.zeros(1, 4, 32, 60)

    def denoise(x, t, group):
        return torch.cat([torch.full((1, 4, g.h, g.w), float(g.index)) for g in group])

    pred = _predict(None, None, latents, 0, tiles, weights, None, 3, 1.0, False, denoise, None)[0, 0]
    columns = len({t.x for t in tiles})
    assert pred[0, 0] == 0 and pred[-1, -1] == tiles[-1].index  # corners: one tile each
    assert pred.diff(dim=1).abs().max() < 0.35 * 1  # neighbours differ by 1: spread over overlap
    assert pred.diff(dim=0).abs().max() < 0.35 * columns


@pytest.fixture(scope="module")
def latent_pipeline(tmp_path_factory):
    data = small_mapping(enhance__method="latent")
    data["paths"] = {"cache": str(tmp_path_factory.mktemp("cache"))}
    return Pipeline(config_from_mapping(data))


def test_predicting_the_true_noise_returns_the_vae_round_trip(latent_pipeline):
    models = latent_pipeline.sdxl
    image = picture()
    embeds = encode_prompts(models, "x", "")
    vae = TiledVae(models.img2img.vae)
    with torch.inference_mode():
        latents0 = vae.encode(image)
        round_trip = vae.decode_numpy(latents0)
    generator = torch.Generator("cpu").manual_seed(derive_seed(7, "enhance-latent"))
    noise = torch.randn(latents0.shape, generator=generator)

    def true_noise(x, t, group):
        return torch.cat([noise[:, :, g.y:g.y + g.h, g.x:g.x + g.w] for g in group])

    out, info = enhance_latent(models, embeds, image, 128, 32, 0.5, 10, 1.0, 7, 4, denoise=true_noise)
    assert info["denoising_steps"] == 5
    assert np.abs(out - round_trip).max() < 1e-3


def test_deterministic_for_a_seed_and_batch_size(latent_pipeline):
    a = latent_pipeline.run(JobRequest(seed=11)).final
    b = latent_pipeline.run(JobRequest(seed=11)).final
    c = latent_pipeline.run(JobRequest(seed=12)).final
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_the_job_records_seams_and_method(latent_pipeline):
    meta = latent_pipeline.run(JobRequest(seed=5)).metadata["stages"]["enhance"]
    assert meta["method"] == "latent" and meta["tiles"] == 15 and meta["grid"] == "5x3"
    assert meta["seam_score"] <= 1.05
    assert meta["micro_conditioning"]["crops_coords_top_left"] == [0, 0]


def test_seam_score_sees_a_pasted_seam():
    smooth = picture()
    tiles = plan_tiles(480, 256, 128, 32)
    assert seam_score(smooth, tiles) == pytest.approx(1.0, abs=0.05)
    seamed = smooth.copy()
    for t in tiles:  # brighten every other tile: hard steps on the tile borders
        if t.index % 2:
            seamed[t.y:t.y + t.h, t.x:t.x + t.w] = np.clip(seamed[t.y:t.y + t.h, t.x:t.x + t.w] + 0.2, 0, 1)
    assert seam_score(seamed, tiles) > 1.3


def test_out_of_memory_at_a_step_halves_the_batch_and_repeats_that_step(latent_pipeline):
    """The UNet call fails with CUDA's out-of-memory error while a batch holds > 2 tiles."""
    models = latent_pipeline.sdxl
    embeds = encode_prompts(models, "x", "")
    calls: list[tuple[int, int]] = []

    def tight(x, t, group):
        calls.append((int(t), len(group)))
        if len(group) > 2:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return torch.zeros_like(x)

    out, info = enhance_latent(models, embeds, picture(), 128, 32, 0.5, 10, 1.0, 7, 8, denoise=tight)
    assert info["oom_retries"] == [8, 4] and info["batch"] == 2
    first_step = calls[0][0]
    assert [size for t, size in calls if t == first_step] == [8, 4] + [2] * 7 + [1]  # 15 tiles
    assert len({t for t, _ in calls}) == info["denoising_steps"] == 5  # every step once, none lost
    assert np.isfinite(out).all()


def test_an_error_that_is_not_out_of_memory_is_not_retried(latent_pipeline):
    models = latent_pipeline.sdxl

    def broken(x, t, group):
        raise RuntimeError("cuDNN error: CUDNN_STATUS_INTERNAL_ERROR")

    with pytest.raises(RuntimeError, match="CUDNN"):
        enhance_latent(models, encode_prompts(models, "x", ""), picture(), 128, 32, 0.5, 10, 1.0,
                       7, 8, denoise=broken)


def test_progress_per_tile_batch_and_cancel_within_one_batch(latent_pipeline):
    from wallpaperd.errors import CancelledError

    models = latent_pipeline.sdxl
    embeds = encode_prompts(models, "x", "")
    seen: list[tuple[int, int]] = []
    calls = 0

    def zero(x, t, group):
        nonlocal calls
        calls += 1
        return torch.zeros_like(x)

    enhance_latent(models, embeds, picture(), 128, 32, 0.5, 10, 1.0, 7, 4,
                   progress=lambda d, n: seen.append((d, n)), denoise=zero)
    # 15 tiles in batches of 4 → 4 batches per step, 5 steps: one report per batch
    assert len(seen) == 20 and seen[-1] == (75, 75)
    assert [d for d, _ in seen[:4]] == [4, 8, 12, 15]
    assert all(a < b for (a, _), (b, _) in zip(seen, seen[1:]))

    calls = 0

    def cancel_after_two_batches() -> None:
        if calls >= 2:
            raise CancelledError("the job was cancelled")

    with pytest.raises(CancelledError):
        enhance_latent(models, embeds, picture(), 128, 32, 0.5, 10, 1.0, 7, 4,
                       check=cancel_after_two_batches, denoise=zero)
    assert calls == 2  # the UNet ran no further batch after the cancel was seen
