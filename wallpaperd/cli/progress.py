"""Stage progress for a terminal (one bar per stage) or a log (a line per quarter)."""

from __future__ import annotations

import sys
from typing import TextIO

from tqdm import tqdm

UNITS = {"generate": "step", "upscale": "tile", "enhance": "step", "downsample": "step"}


class StageProgress:
    """``progress(stage, done, total)`` callback for Pipeline.run."""

    def __init__(self, stream: TextIO | None = None, bars: bool | None = None) -> None:
        self.stream = stream or sys.stderr
        self.bars = self.stream.isatty() if bars is None else bars
        self._bar: tqdm | None = None
        self._stage: str | None = None
        self._last_quarter = -1

    def __call__(self, stage: str, done: int, total: int) -> None:
        if stage != self._stage:
            self.close()
            self._stage, self._last_quarter = stage, -1
            if self.bars:
                self._bar = tqdm(total=total, desc=f"{stage:<10}", unit=UNITS.get(stage, "it"),
                                 file=self.stream, leave=True, dynamic_ncols=True)
        if self._bar is not None:
            self._bar.total = total
            self._bar.n = done
            self._bar.refresh()
            return
        quarter = (4 * done) // max(total, 1)
        if quarter != self._last_quarter:
            self._last_quarter = quarter
            print(f"{stage}: {done}/{total} {UNITS.get(stage, 'it')}s", file=self.stream, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
