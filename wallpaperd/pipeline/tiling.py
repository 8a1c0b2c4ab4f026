"""Tiling maths shared by the upscaler and the enhancer (pure: no I/O, no torch).

A picture is cut into overlapping tiles whose edge tiles sit exactly on the border,
so every pixel is covered. Each tile carries how far it fades into each neighbour;
its blend weight is a product of two 1-D ramps that are 1 in the tile's own interior
and fall smoothly towards a neighbour across their shared overlap. Results are merged
with *normalised* weights (sum of weight x value over sum of weight), so a tile
function that returns its input unchanged reproduces the picture (to float rounding).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class Tile:
    """One tile: position and size in the picture, and its fades (left, right, top, bottom)."""

    index: int
    x: int
    y: int
    w: int
    h: int
    fade: tuple[int, int, int, int]

    def scaled(self, factor: int) -> "Tile":
        """The same tile in a picture ``factor`` times larger (for the upscaler's output)."""
        return Tile(
            self.index,
            self.x * factor,
            self.y * factor,
            self.w * factor,
            self.h * factor,
            tuple(f * factor for f in self.fade),  # type: ignore[arg-type]
        )


def axis_starts(length: int, tile: int, overlap: int, align: int = 1) -> list[int]:
    """Start offsets along one axis: first at 0, last at ``length - tile``, evenly spread.

    The count is the smallest that keeps every shared strip at least ``overlap`` wide
    (less at most ``align - 1`` pixels when starts are snapped to ``align``).
    """
    if tile <= 0 or overlap < 0 or overlap >= tile:
        raise ValueError(f"need 0 <= overlap < tile, got tile={tile}, overlap={overlap}")
    if length <= tile:
        return [0]
    count = math.ceil((length - overlap) / (tile - overlap))
    last = length - tile
    starts = [(i * last) // (count - 1) for i in range(count)]
    starts = [s - s % align for s in starts[:-1]] + [last]
    return sorted(set(starts))


def fitted_tile(length: int, tile: int, overlap: int, align: int = 1) -> int:
    """The smallest tile side that covers ``length`` with as many tiles as ``tile`` needs.

    With a fixed side, the last tile is pushed back to the border and can overlap its
    neighbour by far more than asked (1024 px covered by 704 px tiles share 384 px).
    Shrinking the side to what the count needs keeps the overlap near ``overlap`` and
    spares that work; the upscaler uses it, SDXL enhancement keeps its native size.
    """
    if length <= tile:
        return length
    count = math.ceil((length - overlap) / (tile - overlap))
    side = math.ceil((length + (count - 1) * overlap) / count)
    side += -side % align
    return min(side, tile)


def plan_tiles(width: int, height: int, tile: int, overlap: int, align: int = 1,
               fit: bool = False) -> list[Tile]:
    """Cover a ``width x height`` picture with overlapping tiles (row-major order).

    ``fit`` shrinks the tile sides to what the tile count needs (see ``fitted_tile``).
    """
    tw, th = min(tile, width), min(tile, height)
    if fit:
        tw, th = fitted_tile(width, tile, overlap, align), fitted_tile(height, tile, overlap, align)
    xs = axis_starts(width, tw, min(overlap, tw - 1), align)
    ys = axis_starts(height, th, min(overlap, th - 1), align)
    tiles = []
    for j, y in enumerate(ys):
        top = ys[j - 1] + th - y if j > 0 else 0
        bottom = y + th - ys[j + 1] if j + 1 < len(ys) else 0
        for i, x in enumerate(xs):
            left = xs[i - 1] + tw - x if i > 0 else 0
            right = x + tw - xs[i + 1] if i + 1 < len(xs) else 0
            tiles.append(Tile(len(tiles), x, y, tw, th, (left, right, top, bottom)))
    return tiles


def ramp(length: int, fade_in: int, fade_out: int) -> np.ndarray:
    """1-D weight: a raised-cosine rise over ``fade_in``, 1, a fall over ``fade_out``.

    Sampled at pixel centres, so it is strictly positive everywhere.
    """
    w = np.ones(length, dtype=np.float64)
    if fade_in:
        t = (np.arange(fade_in) + 0.5) / fade_in
        w[:fade_in] = 0.5 - 0.5 * np.cos(np.pi * t)
    if fade_out:
        t = (np.arange(fade_out) + 0.5) / fade_out
        w[length - fade_out:] *= 0.5 + 0.5 * np.cos(np.pi * t)
    return w


def tile_weights(tile: Tile) -> np.ndarray:
    """2-D blend weight of a tile, shape ``(h, w)``."""
    left, right, top, bottom = tile.fade
    return np.outer(ramp(tile.h, top, bottom), ramp(tile.w, left, right))


class Blender:
    """Accumulates tile results with normalised weights into one ``(C, H, W)`` picture.

    The accumulators live on ``device`` (the GPU during a job), so merging an 8K picture
    costs a few milliseconds instead of seconds of host memory traffic.
    """

    def __init__(self, height: int, width: int, channels: int = 3,
                 device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32) -> None:
        self._sum = torch.zeros((channels, height, width), device=device, dtype=dtype)
        self._weight = torch.zeros((1, height, width), device=device, dtype=dtype)

    def add(self, tile: Tile, pixels: torch.Tensor) -> None:
        """Add one tile's result, a ``(C, h, w)`` tensor."""
        if tuple(pixels.shape[-2:]) != (tile.h, tile.w):
            raise ValueError(
                f"tile {tile.index} result is {pixels.shape[-1]}x{pixels.shape[-2]}, "
                f"expected {tile.w}x{tile.h}"
            )
        w = torch.from_numpy(tile_weights(tile)).to(self._sum.device, self._sum.dtype)[None]
        region = (slice(None), slice(tile.y, tile.y + tile.h), slice(tile.x, tile.x + tile.w))
        self._sum[region] += w * pixels.to(self._sum.device, self._sum.dtype)
        self._weight[region] += w

    def coverage(self) -> torch.Tensor:
        """Total weight per pixel, ``(H, W)`` (every pixel must be above zero)."""
        return self._weight[0]

    def result(self) -> torch.Tensor:
        if not bool((self._weight > 0).all()):
            missing = int((self._weight <= 0).sum())
            raise ValueError(f"{missing} pixels were not covered by any tile")
        return self._sum / self._weight
