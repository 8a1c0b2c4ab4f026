"""Tiling maths: coverage, border alignment, overlaps and exact normalised blending."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from wallpaperd.pipeline.tiling import Blender, axis_starts, fitted_tile, plan_tiles, tile_weights


def test_seed_geometry_is_a_10_by_5_grid_of_50_tiles():
    tiles = plan_tiles(7680, 4096, 1024, 256)
    assert len(tiles) == 50
    assert len({t.x for t in tiles}) == 10 and len({t.y for t in tiles}) == 5


@pytest.mark.parametrize("length, tile, overlap", [(7680, 1024, 256), (4096, 1024, 256),
                                                    (480, 128, 32), (1000, 96, 8), (97, 32, 5)])
def test_edge_tiles_sit_on_the_border_and_overlaps_are_kept(length, tile, overlap):
    starts = axis_starts(length, tile, overlap)
    assert starts[0] == 0 and starts[-1] == length - tile
    shared = [a + tile - b for a, b in zip(starts, starts[1:])]
    assert min(shared) >= overlap
    # The smallest count that keeps the overlap: one tile fewer could not.
    fewer = len(starts) - 1
    assert fewer * tile - (fewer - 1) * overlap < length


def test_a_tile_larger_than_the_picture_shrinks_to_it():
    tiles = plan_tiles(100, 60, 128, 32)
    assert [(t.x, t.y, t.w, t.h) for t in tiles] == [(0, 0, 100, 60)]
    assert tiles[0].fade == (0, 0, 0, 0)


def test_aligned_starts_are_multiples():
    starts = axis_starts(7680 // 8 * 8 + 40, 1024, 256, align=8)
    assert all(s % 8 == 0 for s in starts)


def test_weights_are_positive_and_fade_only_towards_neighbours():
    tiles = plan_tiles(480, 256, 128, 32)
    corner = tile_weights(tiles[0])
    assert corner.min() > 0
    assert corner[0, 0] == 1.0  # the picture border is not faded
    assert corner[-1, -1] < 0.01  # towards the neighbours it falls close to 0


def test_every_pixels_weights_sum_to_one():
    tiles = plan_tiles(480, 256, 128, 32)
    total = np.zeros((256, 480))
    coverage = Blender(256, 480, 1, dtype=torch.float64)
    for t in tiles:
        coverage.add(t, torch.zeros((1, t.h, t.w)))
    norm = coverage.coverage().numpy()
    assert norm.min() > 0, "every pixel is covered"
    for t in tiles:
        total[t.y:t.y + t.h, t.x:t.x + t.w] += tile_weights(t) / norm[t.y:t.y + t.h, t.x:t.x + t.w]
    np.testing.assert_allclose(total, 1.0, atol=1e-12)


def test_identity_tile_function_returns_the_input():
    # An 8-bit picture, as every real input is: k / 255.
    picture = torch.from_numpy(np.random.default_rng(0).integers(0, 256, (3, 256, 480)) / 255.0)
    exact = Blender(256, 480, dtype=torch.float64)
    working = Blender(256, 480)  # float32, as in a job
    for t in plan_tiles(480, 256, 128, 32):
        exact.add(t, picture[:, t.y:t.y + t.h, t.x:t.x + t.w])
        working.add(t, picture[:, t.y:t.y + t.h, t.x:t.x + t.w].float())
    torch.testing.assert_close(exact.result(), picture, atol=1e-14, rtol=0)
    as_bytes = lambda a: (a * 255 + 0.5).to(torch.uint8)  # noqa: E731
    assert torch.equal(as_bytes(working.result()), as_bytes(picture.float()))


def test_constant_tiles_blend_smoothly():
    """Tiles that each return a different constant give a picture with no jumps."""
    blender = Blender(256, 480, 1)
    tiles = plan_tiles(480, 256, 128, 32)
    for t in tiles:
        blender.add(t, torch.full((1, t.h, t.w), float(t.index)))
    out = blender.result()[0].numpy()
    columns = len({t.x for t in tiles})
    # Neighbours differ by 1 across and by `columns` down; a hard paste would jump by that
    # much between two pixels. A 32-pixel raised-cosine blend spreads it out (max slope
    # about pi/64 of the difference).
    assert np.abs(np.diff(out, axis=1)).max() < 0.1 * 1
    assert np.abs(np.diff(out, axis=0)).max() < 0.1 * columns


def test_uncovered_pixels_are_an_error():
    blender = Blender(10, 10)
    with pytest.raises(ValueError, match="not covered"):
        blender.result()


def test_wrong_tile_result_size_is_an_error():
    blender = Blender(256, 480)
    t = plan_tiles(480, 256, 128, 32)[0]
    with pytest.raises(ValueError, match="expected 128x128"):
        blender.add(t, torch.zeros((3, 64, 64)))


def test_fitted_tiles_keep_the_count_and_cut_the_waste():
    # The upscaler at the seed's size with 704 px tiles: 3x2 tiles either way, but
    # fitted tiles overlap by ~32 px instead of up to 384 px.
    fixed = plan_tiles(1920, 1024, 704, 32)
    fitted = plan_tiles(1920, 1024, 704, 32, fit=True)
    assert len(fixed) == len(fitted) == 6
    assert (fitted[0].w, fitted[0].h) == (662, 528)
    assert sum(t.w * t.h for t in fitted) < 0.75 * sum(t.w * t.h for t in fixed)
    for length, tile, overlap in [(1920, 704, 32), (1024, 704, 32), (97, 32, 5), (64, 128, 16)]:
        side = fitted_tile(length, tile, overlap)
        starts = axis_starts(length, side, min(overlap, side - 1))
        assert side <= tile and starts[-1] + side == length
        assert min((a + side - b for a, b in zip(starts, starts[1:])), default=overlap) >= overlap
