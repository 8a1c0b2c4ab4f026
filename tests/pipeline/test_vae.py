"""The VAE over whole pictures: tiling maths, one-piece equality, NaN fallback, OOM, sizes."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from wallpaperd.pipeline.tiny import build_tiny_sdxl
from wallpaperd.pipeline.vae import (CPU_TILE, DECODE_BYTES_PER_PIXEL, MAX_TILE, MIN_TILE,
                                     TiledVae, tile_side, work_dtype)

GIB = 1024**3


def picture(h=256, w=384, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    ramp = np.linspace(0, 1, w, dtype=np.float32)[None, :, None] * np.ones((h, 1, 3), np.float32)
    return np.clip(ramp * 0.7 + rng.random((h, w, 3), dtype=np.float32) * 0.3, 0, 1)


class LocalVae(torch.nn.Module):
    """A stand-in VAE with no global statistics: encode = 8x8 average of 4 colour mixes,
    decode = nearest 8x upsampling of 3 of them. Tiling such a model must change nothing,
    so it isolates the tile layout and blending from GroupNorm's per-tile statistics.
    ``fail_above``: tiles larger than this many latent positions raise CUDA's OOM error."""

    def __init__(self, fail_above: int | None = None) -> None:
        super().__init__()
        self.mix = torch.nn.Parameter(torch.tensor([[1.0, 0, 0], [0, 1, 0], [0, 0, 1], [0.3, 0.3, 0.3]]))
        self.config = SimpleNamespace(scaling_factor=0.5, latent_channels=4,
                                      block_out_channels=[1, 1, 1, 1])
        self.fail_above = fail_above
        self.sizes: list[tuple[int, int]] = []
        self.use_tiling = False

    @property
    def device(self):
        return self.mix.device

    @property
    def dtype(self):
        return self.mix.dtype

    def _guard(self, h: int, w: int) -> None:
        self.sizes.append((h, w))
        if self.fail_above is not None and h * w > self.fail_above:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 9.00 GiB")

    def encode(self, x):
        self._guard(x.shape[-2] // 8, x.shape[-1] // 8)
        z = F.avg_pool2d(torch.einsum("kc,bchw->bkhw", self.mix, x), 8)
        return SimpleNamespace(latent_dist=SimpleNamespace(mode=lambda: z))

    def decode(self, z, return_dict=False):
        self._guard(z.shape[-2], z.shape[-1])
        return (F.interpolate(z[:, :3], scale_factor=8, mode="nearest"),)


def test_tiles_of_a_statistics_free_model_reproduce_the_one_piece_result():
    vae = LocalVae()
    image = picture()
    with torch.inference_mode():
        whole = TiledVae(vae, tiling=False)
        tiled = TiledVae(vae, tile=16)  # 32x48 latent: fitted tiles of 15, overlap >= 4
        z_whole, z_tiled = whole.encode(image), tiled.encode(image)
        torch.testing.assert_close(z_tiled, z_whole, atol=1e-6, rtol=0)
        torch.testing.assert_close(tiled.decode(z_whole), whole.decode(z_whole), atol=1e-6, rtol=0)
    assert whole.record.encode_tiles == 1 and tiled.record.encode_tiles > 4
    assert tiled.record.as_dict()["tile_sides_px"] == [120, 120]  # fitted: 15 latent positions


def test_one_piece_equals_the_plain_diffusers_vae():
    vae = build_tiny_sdxl().vae
    image = picture()
    pixels = torch.from_numpy(image.transpose(2, 0, 1))[None] * 2 - 1
    with torch.inference_mode():
        expected_z = vae.encode(pixels).latent_dist.mode() * vae.config.scaling_factor
        ours = TiledVae(vae)  # CPU: 1024 px tiles, so this picture is one piece
        z = ours.encode(image)
        torch.testing.assert_close(z, expected_z, atol=1e-6, rtol=0)
        expected = ((vae.decode(z / vae.config.scaling_factor).sample + 1) / 2).clamp(0, 1)[0]
        torch.testing.assert_close(ours.decode(z), expected, atol=1e-6, rtol=0)
    assert ours.record.encode_tiles == ours.record.decode_tiles == 1


def test_a_half_precision_overflow_is_computed_again_in_float32():
    """Scaled weights make the tiny VAE overflow float16 (as SDXL's VAE does): NaN out."""
    vae = build_tiny_sdxl().vae
    with torch.no_grad():
        vae.decoder.conv_in.weight.mul_(2e5)
    z = torch.randn(1, 4, 16, 16, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        vae.to(torch.float16)
        raw = vae.decode(z.half()).sample
        assert not torch.isfinite(raw).all()  # the model really overflows in float16
        vae.to(torch.float32)
        half = TiledVae(vae, "float16")
        out = half.decode(z)
        exact = TiledVae(vae, "float32").decode(z)
    assert half.record.float32_retries == 1 and torch.isfinite(out).all()
    torch.testing.assert_close(out, exact, atol=1e-5, rtol=0)
    assert vae.dtype == torch.float32  # the model is left as it was


def test_out_of_memory_shrinks_the_tiles_and_starts_again():
    vae = LocalVae(fail_above=100 * 100)
    image = picture(1024, 1536)  # 128 x 192 latent
    with torch.inference_mode():
        tv = TiledVae(vae, tile=192)
        z = tv.encode(image)
        torch.testing.assert_close(z, TiledVae(LocalVae(), tiling=False).encode(image), atol=1e-6, rtol=0)
    assert tv.record.oom_retries == [128, 80]  # 192 → 128 → 80 latent positions
    assert max(h * w for h, w in vae.sizes[-tv.record.encode_tiles:]) <= 100 * 100


def test_out_of_memory_at_the_smallest_tile_is_raised():
    vae = LocalVae(fail_above=1)
    with pytest.raises(torch.cuda.OutOfMemoryError), torch.inference_mode():
        TiledVae(vae, tile=MIN_TILE).encode(picture(512, 512))


def test_tile_side_follows_the_free_memory_and_precision():
    assert tile_side(None, torch.float32, DECODE_BYTES_PER_PIXEL) == CPU_TILE
    bf16 = tile_side(8 * GIB, torch.bfloat16, DECODE_BYTES_PER_PIXEL)
    fp32 = tile_side(8 * GIB, torch.float32, DECODE_BYTES_PER_PIXEL)
    assert bf16 % 8 == 0 and fp32 % 8 == 0
    assert 200 <= bf16 <= 230 and 140 <= fp32 <= 160  # ~1.7k px and ~1.2k px
    assert fp32 * fp32 * 8 * 8 * 2 * DECODE_BYTES_PER_PIXEL <= 8 * GIB
    assert tile_side(15 * GIB, torch.bfloat16, DECODE_BYTES_PER_PIXEL) == MAX_TILE
    assert tile_side(1000 * GIB, torch.bfloat16, DECODE_BYTES_PER_PIXEL) == MAX_TILE
    assert tile_side(-5, torch.bfloat16, DECODE_BYTES_PER_PIXEL) == MIN_TILE


def test_precision_names():
    cpu = torch.device("cpu")
    assert work_dtype("auto", cpu) == torch.float32  # bfloat16 only on a GPU that has it
    assert work_dtype("bfloat16", cpu) == torch.bfloat16
    assert work_dtype("float32", cpu) == torch.float32
