"""The whole job at the seed's defaults on the GPU, through the code the daemon runs.

generate 1920x1024 (50 steps) → Real-ESRGAN x4 (real weights) → enhance 7680x4096
(latent fusion) → downsample 3840x2160, with the full-size SDXL UNet and VAE with random
weights (bench/enhance.py says how they are kept numerically sane), for each
``memory.vram_budget``. Validation floors are set to 0 because random weights paint no
picture; every stage's picture is still checked for size and NaN. Per stage: seconds,
peak VRAM, and for the UNet stages the UNet's TFLOP/s (FLOPs counted once per call shape
with torch's FlopCounterMode, over the stage's wall time) and its share of the ~790 TFLOP/s
an H200 reaches on bf16 matrix products. Prints Markdown. Needs a CUDA GPU.

    python bench/job.py [--cases 0,1,...] [--write BENCHMARKS.md [--append]] [--baseline-runs N]

Cases (CASES): the shipped settings at vram_budget 23, 12 and auto, then the opt-ins
(``model.vae_precision: bfloat16``, ``model.compile: true``) at 23. Models stay resident;
the first job and the first compiled job run once unmeasured (warm-up, compiling). In the
same run, right after the first measured job, the enhancement stage the plain way
(bench/baseline.py: one diffusers img2img call per tile) on the same upscaled picture, as
the baseline, ``--baseline-runs`` times back to back (its time varies from run to run; the
speed-ups are taken against its fastest run). With ``--write`` the tables replace the
section between the bench/job.py markers in that file; with ``--append`` as well, they are
added after the tables already there (a second run for the cases that do not fit into one
device call).
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
from wallpaperd.pipeline.sdxl import compile_models  # noqa: E402
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


PROMPT = "a lighthouse on a cliff above a stormy sea"

#: (label, vram_budget, model.vae_precision, model.compile): the shipped settings per budget,
#: then the opt-ins on top of the default budget.
CASES = [("shipped", "23", "float32", False), ("shipped", "12", "float32", False),
         ("shipped", "auto", "float32", False), ("+ vae bfloat16", "23", "bfloat16", False),
         ("+ vae bfloat16 + compile", "23", "bfloat16", True)]
#: The default selection: the shipped settings at each budget and all opt-ins together.
DEFAULT_CASES = "0,1,2,4"


def job_config(budget: str, vae_precision: str, compiled: bool):
    from wallpaperd.config import config_from_mapping

    data = load_config().model_dump(mode="json")
    data["model"].update(device="cuda", vae_precision=vae_precision, compile=compiled)
    data["memory"]["vram_budget"] = budget if budget == "auto" else float(budget)
    data["validation"] = {"min_std": 0.0, "min_sharpness": 0.0, "min_detail": 0.0}
    return config_from_mapping(data)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", default=DEFAULT_CASES, help="comma-separated indexes into CASES, or all")
    parser.add_argument("--write", type=Path, help="update this Markdown file's bench/job.py section")
    parser.add_argument("--append", action="store_true",
                        help="with --write: add this run's tables after the section's present ones")
    parser.add_argument("--no-baseline", action="store_true", help="skip the plain per-tile baseline")
    parser.add_argument("--baseline-runs", type=int, default=2,
                        help="times the baseline runs back to back (its time varies between runs)")
    args = parser.parse_args()
    cases = CASES if args.cases == "all" else [CASES[int(i)] for i in args.cases.split(",")]
    lines: list[str] = []
    prior = section(args.write) if args.write and args.append else []
    if prior:
        lines.extend([*prior, ""])

    def emit(line: str) -> None:
        print(line, flush=True)
        lines.append(line)

    if not torch.cuda.is_available():
        sys.exit("bench/job.py needs a CUDA GPU")
    gpu = torch.device("cuda", torch.cuda.current_device())
    models = build(gpu)  # placed with the shipped memory settings, as load_sdxl does
    generate_call = unet_flops(models.txt2img.unet, 128, 240)
    tile_call = unet_flops(models.txt2img.unet, 128, 128)
    import diffusers

    emit(f"{time.strftime('%Y-%m-%d')} · {torch.cuda.get_device_name(gpu)} · torch {torch.__version__}, "
         f"diffusers {diffusers.__version__} · UNet call with CFG: {generate_call / 1e12:.2f} TFLOP at "
         f"1920x1024, {tile_call / 1e12:.2f} TFLOP per 1024 tile · command: "
         f"`python bench/job.py {' '.join(sys.argv[1:])}`".rstrip())
    emit("")
    emit("| settings | vram_budget | stage | seconds | peak VRAM (GiB) | UNet TFLOP/s | % of bf16 peak | notes |")
    emit("| --- | --- | --- | --- | --- | --- | --- | --- |")
    enhance_seconds: dict[str, float] = {}
    baselines: list[float] = []
    compiled = False
    for label, budget, vae_precision, compile_flag in cases:
        if compile_flag and not compiled:
            compile_models(models.txt2img, True, gpu)
            compiled = True
        elif compiled and not compile_flag:  # an uncompiled case after a compiled one
            _uncompiled(models.txt2img.unet)
            _uncompiled(models.txt2img.vae)
            compiled = False
        pipeline = Pipeline(job_config(budget, vae_precision, compile_flag), sdxl=models)
        request = JobRequest(prompt=PROMPT, seed=1)
        if label == cases[0][0] and budget == cases[0][1] or compile_flag:
            pipeline.run(request)  # warm-up: models resident, kernels chosen (and compiled)
        torch.cuda.synchronize(gpu)
        started = time.perf_counter()
        result = pipeline.run(request, keep_stages=True)
        total = time.perf_counter() - started
        stages = result.metadata["stages"]
        unet_work = {"generate": generate_call * stages["generate"]["steps"],
                     "enhance": tile_call * stages["enhance"]["tiles"] * stages["enhance"]["denoising_steps"]}
        for name, stage in stages.items():
            flops = unet_work.get(name)
            rate = f"{flops / stage['seconds'] / 1e12:.0f}" if flops else "-"
            share = f"{flops / stage['seconds'] / 1e12 / PEAK_TFLOPS:.0%}" if flops else "-"
            emit(f"| {label} | {budget} | {name} | {stage['seconds']:.1f} | {stage['peak_vram_gib']:.2f} | "
                 f"{rate} | {share} | {notes(name, stage)} |")
        emit(f"| {label} | {budget} | **whole job** | **{total:.1f}** | | | | |")
        enhance_seconds[f"{label} @ {budget}"] = stages["enhance"]["seconds"]
        if not baselines and not args.no_baseline:  # right after the first case, so that a cut-short run has it
            baselines = [run_baseline(models, result.stages["upscaled"], tile_call, gpu, emit, run + 1)
                         for run in range(args.baseline_runs)]
            compiled = False  # run_baseline put the models back to eager
        if args.write:  # after every case: a run cut short keeps what it measured
            write_section(args.write, lines)

    emit("")
    if baselines:
        fastest = min(baselines)
        emit(f"Enhancement speed-up over the plain baseline in this run (its fastest of {len(baselines)} "
             f"run(s), {fastest:.1f} s): " + "; ".join(
                 f"{key}: {fastest / seconds:.2f}x" for key, seconds in enhance_seconds.items()) + ".")
    if args.write:
        write_section(args.write, lines)


def run_baseline(models, upscaled, tile_call: float, gpu, emit, run: int = 1) -> float:
    """The enhancement the plain way (bench/baseline.py) on the job's upscaled picture."""
    from bench.baseline import enhance_plain

    _uncompiled(models.txt2img.unet)  # the baseline runs the models as diffusers gives them
    _uncompiled(models.txt2img.vae)
    torch.cuda.synchronize(gpu)
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats(gpu)
    started = time.perf_counter()
    enhance_plain(models.img2img, PROMPT, load_config().generate.negative_prompt, upscaled)
    torch.cuda.synchronize(gpu)
    seconds = time.perf_counter() - started
    rate = tile_call * 50 * 10 / seconds / 1e12
    emit(f"| plain per-tile img2img (bench/baseline.py) | - | enhance | {seconds:.1f} | "
         f"{torch.cuda.max_memory_allocated(gpu) / 2**30:.2f} | {rate:.0f} | {rate / PEAK_TFLOPS:.0%} | "
         f"run {run}: 50 pipe() calls |")
    return seconds


def notes(name: str, stage: dict) -> str:
    vae = stage.get("vae")
    if name == "generate" and vae:
        return f"VAE {vae['precision']}, {vae['decode_tiles']} tile(s)"
    if name == "enhance":
        v = stage.get("vae", {})
        return (f"{stage['tiles']} tiles, {stage['batch']} per UNet call; VAE {v.get('precision')} "
                f"{v.get('encode_tiles')}+{v.get('decode_tiles')} tiles; seam {stage['seam_score']:.3f}; "
                f"colour drift {stage.get('colour_drift')}→{stage.get('colour_drift_after_match')}")
    if name == "upscale":
        return f"tile {stage['tile']}"
    return ""


def _uncompiled(model) -> None:
    """``Module.compile`` undone on a model's parts (they run eagerly again)."""
    for module in model.modules():
        module._compiled_call_impl = None


START, END = "<!-- bench/job.py -->", "<!-- /bench/job.py -->"


def section(path: Path) -> list[str]:
    """The lines between the bench/job.py markers of a Markdown file (none if it has none)."""
    text = path.read_text() if path.exists() else ""
    if START not in text or END not in text:
        return []
    return text[text.index(START) + len(START):text.index(END)].strip("\n").splitlines()


def write_section(path: Path, lines: list[str]) -> None:
    start, end = START, END
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    block = "\n".join([start, *lines, end])
    if start in text and end in text:
        text = text[:text.index(start)] + block + text[text.index(end) + len(end):]
    else:
        text = text.rstrip() + "\n\n## Latest bench/job.py run\n\n" + block + "\n"
    path.write_text(text)


if __name__ == "__main__":
    main()
