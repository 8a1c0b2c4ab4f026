"""What ``wallpaperd generate`` and ``wallpaperd upscale`` do (argument parsing is in main.py)."""

from __future__ import annotations

import argparse
import sys
import threading

from ..config import load_config
from ..desktop import set_wallpaper
from ..errors import DesktopError, InputError
from ..output import add_to_sidecar, save_result, unique_path, write_png
from ..paths import cache_dir, output_dir, state_dir
from ..planning.plan import plan_job, recent_themes
from ..pipeline import device as dev
from ..pipeline.job import JobRequest, Pipeline, read_picture
from ..pipeline.sdxl import preflight
from ..pipeline.upscale import auto_tile, load_upscaler, upscale_image
from ..pipeline.validate import validate_image
from .progress import StageProgress

CPU_WARNING = (
    "wallpaperd: no GPU found - this job runs SDXL on the CPU and will take HOURS "
    "({w}x{h} base, {steps} steps, then tiled enhancement at {uw}x{uh}).\n"
    "  Press Ctrl-C to cancel at any time; nothing is written until the end.\n"
    "  To see every stage work in minutes instead: make demo"
)


def generate(args: argparse.Namespace, cancel: threading.Event) -> int:
    # 1. Check everything that can be checked before anything slow starts.
    cfg = load_config(args.config)
    if args.out is not None:
        _check_writable(args.out, args.overwrite, "--out")
    if args.image is not None and not args.image.is_file():
        raise InputError(f"--image '{args.image}': no such file", fix="check the path")
    kind = preflight(cfg.model)
    device = dev.resolve_device(cfg.model.device)
    if device.type == "cpu" and kind != "tiny":
        g, u = cfg.generate, cfg.upscale
        print(CPU_WARNING.format(w=g.width, h=g.height, steps=g.steps, uw=g.width * u.scale,
                                 uh=g.height * u.scale), file=sys.stderr, flush=True)

    # 2. Plan (weather → theme → prompt) unless a prompt is given, then load and run.
    state = state_dir(cfg.paths.state)
    plan = plan_job(cfg, state, prompt=args.prompt, negative=args.negative, seed=args.seed,
                    theme=args.theme, image=args.image is not None,
                    recent=recent_themes(state, cfg.themes.recent_count))
    pipeline = Pipeline(cfg)
    save_stages = args.save_stages or cfg.output.save_stages
    progress = StageProgress()
    try:
        request = JobRequest(prompt=plan.prompt, negative_prompt=plan.negative, seed=plan.seed,
                             image=args.image, plan=plan.record, loras=plan.loras)
        result = pipeline.run(request, progress=progress, cancel=cancel, keep_stages=save_stages)
    finally:
        progress.close()

    # 3. Save, then (later) set as wallpaper.
    out = args.out or unique_path(output_dir(cfg.output.dir), result.metadata["seed"])
    try:
        paths = save_result(result, out, cfg.output.metadata, save_stages)
    except BaseException as exc:
        if args.out is None and out.exists() and out.stat().st_size == 0:
            out.unlink()  # the reserved name, never filled
        if isinstance(exc, OSError):
            raise InputError(f"could not write {out}: {exc.strerror or exc}",
                             fix="check free space and permissions of that folder") from exc
        raise
    for name, path in paths.items():
        if name != "final":
            print(f"wallpaperd: {name}: {path}", file=sys.stderr)
    print(out)
    if not args.no_set:
        try:
            record = set_wallpaper(out, cfg.desktop)
        except DesktopError as exc:
            raise DesktopError(f"{exc.message} (the picture is saved at {out})", fix=exc.fix) from exc
        add_to_sidecar(out, "desktop", record)
        print(f"wallpaperd: wallpaper set ({record['backend']}, {record['method']})", file=sys.stderr)
    return 0


def upscale(args: argparse.Namespace, cancel: threading.Event) -> int:
    cfg = load_config(args.config)
    _check_writable(args.output, args.overwrite, "OUT")
    image = read_picture(args.input, "IN")
    device = dev.resolve_device(cfg.model.device)
    upscaler = load_upscaler(cfg.upscale, cache_dir(cfg.paths.cache), device)
    tile = auto_tile(dev.vram_budget_bytes(cfg.memory.vram_budget, device)) \
        if cfg.upscale.tile == "auto" else cfg.upscale.tile
    progress = StageProgress()

    def check() -> None:
        if cancel.is_set():
            raise KeyboardInterrupt

    try:
        result, _info = upscale_image(upscaler, image, tile, cfg.upscale.tile_overlap,
                                      lambda d, n: progress("upscale", d, n), check)
    finally:
        progress.close()
    height, width = image.shape[:2]
    validate_image("upscale", result, (width * upscaler.scale, height * upscaler.scale),
                   cfg.validation)
    try:
        write_png(args.output, result)
    except OSError as exc:
        raise InputError(f"could not write {args.output}: {exc.strerror or exc}",
                         fix="check free space and permissions of that folder") from exc
    print(args.output)
    return 0


def _check_writable(path, overwrite: bool, what: str) -> None:
    if path.suffix.lower() != ".png":
        raise InputError(f"{what} '{path}' must end in .png (the output is a lossless PNG)",
                         fix=f"use {path.with_suffix('.png')}")
    if path.exists() and not overwrite:
        raise InputError(f"{what} '{path}' already exists", fix="choose another path or add --overwrite")
