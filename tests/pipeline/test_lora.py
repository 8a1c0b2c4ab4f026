"""LoRA files made in the test for the tiny SDXL: both key formats load, change the picture,
their weights matter, and SD 1.5-shaped or pickle files are refused clearly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from wallpaperd.errors import ModelError
from wallpaperd.pipeline.job import JobRequest
from wallpaperd.pipeline.lora import check_sdxl_lora


def attn2_modules(unet) -> dict[str, torch.nn.Module]:
    return {n: m for n, m in unet.named_modules() if n.endswith(("attn2.to_k", "attn2.to_v"))}


def make_lora(path: Path, unet, kind: str, seed: int, width: int | None = None) -> Path:
    g = torch.Generator().manual_seed(seed)
    state = {}
    for name, module in attn2_modules(unet).items():
        inp = width or module.in_features
        down = torch.randn(4, inp, generator=g) * 0.8
        up = torch.randn(module.out_features, 4, generator=g) * 0.8
        if kind == "peft":
            state[f"unet.{name}.lora_A.weight"], state[f"unet.{name}.lora_B.weight"] = down, up
        else:
            key = "lora_unet_" + name.replace(".", "_")
            state[f"{key}.lora_down.weight"], state[f"{key}.lora_up.weight"] = down, up
            state[f"{key}.alpha"] = torch.tensor(4.0)
    save_file(state, str(path))
    return path


def stack(path: Path, name: str, weight: float) -> list[dict]:
    return [{"name": name, "type": "style", "path": str(path), "weight": weight, "trigger": None}]


def test_both_formats_change_the_picture_and_weights_matter(tiny_pipeline, tmp_path):
    unet = tiny_pipeline.sdxl.txt2img.unet
    peft = make_lora(tmp_path / "peft.safetensors", unet, "peft", 1)
    kohya = make_lora(tmp_path / "kohya.safetensors", unet, "kohya", 2)

    def final(loras):
        return tiny_pipeline.run(JobRequest(seed=3, loras=loras)).final

    base = final([])
    strong, weak = final(stack(peft, "t_peft", 1.0)), final(stack(peft, "t_peft", 0.2))
    other = final(stack(kohya, "t_kohya", 1.0))
    again = final([])
    diff = lambda a, b: float(np.abs(a - b).mean())  # noqa: E731
    assert diff(base, strong) > 1e-3 and diff(base, other) > 1e-3
    assert diff(base, weak) < diff(base, strong) / 2  # the weight matters
    assert np.array_equal(base, again)  # without a stack the model is untouched
    result = tiny_pipeline.run(JobRequest(seed=3, loras=stack(kohya, "t_kohya", 0.7)))
    (record,) = result.metadata["loras"]
    assert record["format"] == "kohya" and len(record["sha256"]) == 64 and record["weight"] == 0.7
    assert tiny_pipeline.loras.loaded.keys() >= {"t_peft", "t_kohya"}  # stay loaded across jobs


def test_sd15_shaped_lora_is_refused_with_a_clear_message(tiny_pipeline, tmp_path):
    unet = tiny_pipeline.sdxl.txt2img.unet
    wide = make_lora(tmp_path / "sd15.safetensors", unet, "kohya", 3, width=768)
    with pytest.raises(ModelError, match=r"inputs \[768\] wide; this SDXL UNet's are 64 \(768 means"):
        check_sdxl_lora(wide, unet.config.cross_attention_dim)
    te = tmp_path / "sd15_te.safetensors"
    save_file({"lora_te_text_model_encoder_layers_0_mlp_fc1.lora_down.weight": torch.zeros(4, 32)}, str(te))
    with pytest.raises(ModelError, match="Stable Diffusion 1.x/2.x"):
        tiny_pipeline.run(JobRequest(seed=1, loras=stack(te, "old", 0.5)))


def test_pickle_and_missing_loras_are_refused(tmp_path):
    pt = tmp_path / "lora.pt"
    pt.write_bytes(b"pickle")
    with pytest.raises(ModelError, match="not a .safetensors file"):
        check_sdxl_lora(pt, 64)
    with pytest.raises(ModelError, match="does not exist"):
        check_sdxl_lora(tmp_path / "gone.safetensors", 64)
