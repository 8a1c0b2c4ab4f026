"""What is left to win on one enhancement UNet call: launch overhead and FP8 matrix products.

One guided call on 5 tiles of 1024x1024 (10 samples, the shipped batch at the default
23 GiB budget), full-size SDXL UNet with random weights (bench/enhance.py), on a CUDA GPU:

- float16 eager: median ms, and a profile of the same call: wall time against the sum of
  the CUDA kernels' times (the gap is what CUDA graphs could remove at most), and the
  device time per aten operator;
- float8 (torchao's dynamic activation + weight quantisation) of the linear layers of the
  transformer blocks, per-tensor scales on the float16 UNet and per-row scales on a
  bfloat16 copy (torchao's per-row needs bfloat16 weights), eager and with the transformer
  blocks compiled; bfloat16 without float8 for reference. Each with its relative error
  against the float16 output on the same inputs.

torchao is not a wallpaperd dependency: install it beside the project to run this.

    python bench/unet_levers.py
"""

from __future__ import annotations

import copy
import statistics
import sys
import time
from pathlib import Path

import torch
from torch.autograd import DeviceType
from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.enhance import build  # noqa: E402

SAMPLES = 10  # 5 tiles x classifier-free guidance
TFLOP_PER_SAMPLE = 13.52 / 2  # one 1024x1024 tile (bench/job.py counts 13.52 per guided tile)


def timed(fn, repeat: int = 7, warmup: int = 3) -> float:
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def transformer_linear(module, fqn: str) -> bool:
    return (isinstance(module, torch.nn.Linear) and "transformer_blocks" in fqn
            and module.in_features % 16 == 0 and module.out_features % 16 == 0)


def main() -> None:
    if not torch.cuda.is_available():
        sys.exit("bench/unet_levers.py needs a CUDA GPU")
    gpu = torch.device("cuda", torch.cuda.current_device())
    torch.set_grad_enabled(False)
    base = build(gpu).txt2img.unet
    generator = torch.Generator(gpu).manual_seed(0)

    def randn(*shape):
        return torch.randn(*shape, device=gpu, dtype=torch.float16, generator=generator)

    inputs = (randn(SAMPLES, 4, 128, 128), randn(SAMPLES, 77, 2048),
              {"text_embeds": randn(SAMPLES, 1280), "time_ids": torch.zeros(SAMPLES, 6, device=gpu)})
    step = torch.tensor(500, device=gpu)

    def caller(unet, dtype):
        x, ctx, added = inputs
        added = {k: v.to(dtype) for k, v in added.items()}
        return lambda: unet(x.to(dtype), step, encoder_hidden_states=ctx.to(dtype),
                            added_cond_kwargs=added, return_dict=False)[0]

    reference = caller(base, torch.float16)().float()

    def report(label: str, call, first: float | None = None) -> None:
        seconds = timed(call)
        out = call().float()
        error = ((out - reference).norm() / reference.norm()).item()
        note = f"; first call (compiling) {first:.1f} s" if first is not None else ""
        print(f"{label}: {seconds * 1000:.1f} ms, {SAMPLES * TFLOP_PER_SAMPLE / seconds:.0f} TFLOP/s, "
              f"relative error vs float16 {error:.4f}, finite {bool(torch.isfinite(out).all())}{note}", flush=True)

    call = caller(base, torch.float16)
    report("float16 eager", call)
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        torch.cuda.synchronize()
        started = time.perf_counter()
        call()
        torch.cuda.synchronize()
        wall = time.perf_counter() - started
    kernels = [e for e in prof.events() if e.device_type == DeviceType.CUDA]
    print(f"profile: wall {wall * 1000:.1f} ms, {len(kernels)} kernels, "
          f"{sum(e.device_time for e in kernels) / 1000:.1f} ms of kernel time", flush=True)
    ops = {e.key: e.self_device_time_total / 1000 for e in prof.key_averages()
           if e.key.startswith("aten::") and e.self_device_time_total > 0}
    for key, ms in sorted(ops.items(), key=lambda kv: -kv[1])[:12]:
        print(f"  {key:40s} {ms:8.1f} ms", flush=True)

    from torchao.quantization import Float8DynamicActivationFloat8WeightConfig, PerRow, PerTensor, quantize_

    for label, granularity, dtype in (("per-tensor, float16", PerTensor(), torch.float16),
                                      ("per-row, bfloat16", PerRow(), torch.bfloat16)):
        unet = copy.deepcopy(base).to(dtype)
        if dtype == torch.bfloat16:
            report("bfloat16 eager (no float8)", caller(unet, dtype))
        quantize_(unet, Float8DynamicActivationFloat8WeightConfig(granularity=granularity),
                  filter_fn=transformer_linear)
        call = caller(unet, dtype)
        report(f"float8 {label}, eager", call)
        started = time.perf_counter()
        unet.compile_repeated_blocks(fullgraph=True)
        call()
        torch.cuda.synchronize()
        report(f"float8 {label}, transformer blocks compiled", call, time.perf_counter() - started)
        del unet, call
        torch._dynamo.reset()
        torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
