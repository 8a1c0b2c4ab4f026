"""What an active LoRA stack costs per denoising step, on the full-size SDXL UNet.

The UNet is built from SDXL base's architecture with random weights (same compute as the
real one), in float16 on the GPU. Each case times one denoising step as a job runs it: a
batch of 2 (classifier-free guidance) at 1024x1024 (128x128 latents), 77-token context.
Stacks are made of rank-32 LoRAs on every attention projection (to_q, to_k, to_v,
to_out.0), loaded and activated the way LoraManager does (``load_lora_adapter`` +
``set_adapters``). Prints a Markdown table. Needs a CUDA GPU.

    python bench/lora_cost.py [--steps 20]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch
from diffusers import UNet2DConditionModel

SDXL_UNET = dict(
    act_fn="silu", addition_embed_type="text_time", addition_embed_type_num_heads=64,
    addition_time_embed_dim=256, attention_head_dim=[5, 10, 20], block_out_channels=[320, 640, 1280],
    cross_attention_dim=2048, down_block_types=["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"],
    in_channels=4, layers_per_block=2, norm_num_groups=32, out_channels=4,
    projection_class_embeddings_input_dim=2816, sample_size=128, transformer_layers_per_block=[1, 2, 10],
    up_block_types=["CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"], use_linear_projection=True,
)
TARGETS = ("to_q", "to_k", "to_v", "to_out.0")


def lora_state(unet, rank: int, seed: int) -> dict[str, torch.Tensor]:
    g = torch.Generator(device="cuda").manual_seed(seed)
    state = {}
    for name, module in unet.named_modules():
        if ".attn" in name and name.endswith(TARGETS) and isinstance(module, torch.nn.Linear):
            state[f"{name}.lora_A.weight"] = torch.randn(rank, module.in_features, generator=g,
                                                         device="cuda", dtype=torch.float16) * 0.01
            state[f"{name}.lora_B.weight"] = torch.randn(module.out_features, rank, generator=g,
                                                         device="cuda", dtype=torch.float16) * 0.01
    return state


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        sys.exit("bench/lora_cost.py needs a CUDA GPU")
    torch.manual_seed(0)
    with torch.device("cuda"):
        unet = UNet2DConditionModel(**SDXL_UNET).to(torch.float16).eval()
    params = sum(p.numel() for p in unet.parameters())
    x = torch.randn(2, 4, 128, 128, device="cuda", dtype=torch.float16)
    ctx = torch.randn(2, 77, 2048, device="cuda", dtype=torch.float16)
    added = {"text_embeds": torch.randn(2, 1280, device="cuda", dtype=torch.float16),
             "time_ids": torch.tensor([[1024, 1024, 0, 0, 1024, 1024]] * 2, device="cuda",
                                      dtype=torch.float16)}
    t = torch.tensor([500, 500], device="cuda")

    def step_time() -> float:
        times = []
        with torch.inference_mode():
            for i in range(args.steps + 3):
                torch.cuda.synchronize()
                start = time.perf_counter()
                unet(x, t, encoder_hidden_states=ctx, added_cond_kwargs=added)
                torch.cuda.synchronize()
                if i >= 3:
                    times.append(time.perf_counter() - start)
        return statistics.median(times)

    rows = [("none", 0, step_time())]
    names = []
    for n in range(3):
        name = f"lora{n}"
        unet.load_lora_adapter(lora_state(unet, 32, n), adapter_name=name, prefix=None)
        names.append(name)
        unet.set_adapters(names, weights=[0.7] * len(names))
        rows.append((f"{len(names)} active", len(names), step_time()))
    unet.disable_lora()
    rows.append(("3 loaded, disabled", 0, step_time()))
    print(f"GPU: {torch.cuda.get_device_name()}, torch {torch.__version__}, UNet parameters {params:,}")
    print("| stack | LoRAs | ms per step (batch 2, 1024x1024) | vs none |")
    print("| --- | --- | --- | --- |")
    for label, _count, seconds in rows:
        print(f"| {label} | {_count} | {seconds * 1000:.1f} | {seconds / rows[0][2]:.2f}x |")


if __name__ == "__main__":
    main()
