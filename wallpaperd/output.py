"""Writing results: the final PNG (with its parameters inside), the JSON sidecar, stages.

The PNG carries an A1111-style ``parameters`` text chunk (so other tools show the
prompt and settings) and a ``wallpaperd`` chunk with the reproducible metadata as JSON.
Both leave out what differs between identical runs (timings, VRAM, paths), so the same
seed, config and machine give a byte-identical PNG; the sidecar has everything.
Files are written to a temporary name and renamed into place: never a half-written PNG.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from .errors import InputError

VOLATILE = ("seconds", "peak_vram_gib", "oom_retries")


def to_uint8(image: np.ndarray) -> np.ndarray:
    return (np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def unique_path(directory: Path, seed: int, now: float | None = None) -> Path:
    """``YYYYmmdd-HHMMSS-SEED.png`` in ``directory``, reserved so that no two runs collide."""
    directory.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
    for n in range(1, 10_000):
        name = f"{stamp}-{seed}.png" if n == 1 else f"{stamp}-{seed}-{n}.png"
        path = directory / name
        try:
            with open(path, "xb"):  # reserve the name; replaced atomically by save_result
                return path
        except FileExistsError:
            continue
    raise InputError(f"could not find a free file name in {directory}", fix="clean up the folder")


def reproducible(metadata: dict[str, Any]) -> dict[str, Any]:
    """The metadata without the fields that differ between identical runs."""
    stages = {
        name: {k: v for k, v in stage.items() if k not in VOLATILE}
        for name, stage in metadata.get("stages", {}).items()
    }
    return {**{k: v for k, v in metadata.items() if k not in ("paths", "load_seconds")}, "stages": stages}


def a1111_parameters(meta: dict[str, Any]) -> str:
    """The ``parameters`` text that A1111-compatible viewers parse."""
    gen = meta["stages"].get("generate", {})
    enh = meta["stages"].get("enhance", {})
    fields = [
        ("Steps", gen.get("steps")),
        ("Sampler", gen.get("scheduler")),
        ("CFG scale", gen.get("guidance_scale")),
        ("Seed", meta["seed"]),
        ("Size", f"{gen['width']}x{gen['height']}" if "width" in gen else None),
        ("Model", Path(meta["model"]["source"]).name),
        ("Model hash", (meta["model"].get("sha256") or "")[:10] or None),
        ("Hires upscaler", meta["upscaler"]["name"]),
        ("Denoising strength", enh.get("strength")),
        ("Final size", "x".join(map(str, meta["size"]))),
    ]
    line = ", ".join(f"{k}: {v}" for k, v in fields if v is not None)
    return f"{meta['prompt']}\nNegative prompt: {meta['negative_prompt']}\n{line}"


def write_png(path: Path, image: np.ndarray, metadata: dict[str, Any] | None = None) -> None:
    """Lossless PNG, written atomically (temp file + rename)."""
    info = PngInfo()
    if metadata is not None:
        info.add_text("parameters", a1111_parameters(metadata))
        info.add_text("wallpaperd", json.dumps(reproducible(metadata), sort_keys=True))
    _atomic(path, lambda f: Image.fromarray(to_uint8(image)).save(f, format="PNG", pnginfo=info))


def write_json(path: Path, data: dict[str, Any]) -> None:
    text = json.dumps(data, indent=2) + "\n"
    _atomic(path, lambda f: f.write(text.encode()))


def save_result(result, out: Path, sidecar: bool, save_stages: bool) -> dict[str, str]:
    """Write the final PNG (+ sidecar, + stage PNGs); returns the paths written."""
    paths = {"final": str(out)}
    if save_stages:
        for name, image in result.stages.items():
            stage_path = out.with_name(f"{out.stem}.{name}.png")
            write_png(stage_path, image)
            paths[name] = str(stage_path)
    if sidecar:
        paths["metadata"] = str(out.with_suffix(".json"))
    write_png(out, result.final, result.metadata)
    if sidecar:
        write_json(out.with_suffix(".json"), {**result.metadata, "paths": paths})
    return paths


def _atomic(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; pictures are ordinary files
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def add_to_sidecar(picture: Path, key: str, value: Any) -> None:
    """Record what happened after saving (the desktop backend's record) in the sidecar."""
    sidecar = picture.with_suffix(".json")
    if sidecar.is_file():
        data = json.loads(sidecar.read_text())
        data[key] = value
        write_json(sidecar, data)
