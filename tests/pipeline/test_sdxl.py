"""Loading SDXL: every kind of model.source, refusals, and one set of shared weights."""

from __future__ import annotations

import pytest
import torch

from wallpaperd.config.schema import GenerateConfig, MemoryConfig, ModelConfig
from wallpaperd.errors import ModelError
from wallpaperd.pipeline.sdxl import classify_source, encode_prompts, load_sdxl, preflight
from wallpaperd.pipeline.tiny import build_tiny_sdxl

from ..conftest import HF_HOME

CPU = torch.device("cpu")
GEN = GenerateConfig(width=64, height=64, dtype="float32", steps=2)
MEM = MemoryConfig(attention_slicing=False, vae_tiling=False)


def load(source: str, **model):
    return load_sdxl(ModelConfig(source=source, device="cpu", **model), GEN, MEM, CPU)


def parameters(module: torch.nn.Module) -> dict[int, int]:
    return {p.data_ptr(): p.numel() for p in module.parameters()}


def test_txt2img_and_img2img_share_one_set_of_weights():
    models = load("tiny")
    for name in ("unet", "vae", "text_encoder", "text_encoder_2"):
        assert getattr(models.img2img, name) is getattr(models.txt2img, name)
    assert models.kind == "tiny" and models.describe()["scheduler"] == "DPMSolverMultistepScheduler"
    assert type(models.txt2img.scheduler).__name__ == "DPMSolverMultistepScheduler"
    assert models.txt2img.scheduler.config.algorithm_type == "dpmsolver++"


def test_tiny_model_is_the_same_on_every_build():
    a, b = build_tiny_sdxl(), build_tiny_sdxl()
    for pa, pb in zip(a.unet.parameters(), b.unet.parameters()):
        assert torch.equal(pa, pb)
    state = torch.random.get_rng_state()
    build_tiny_sdxl()
    assert torch.equal(state, torch.random.get_rng_state()), "building does not disturb global RNG"


@pytest.mark.parametrize("suffix", [".ckpt", ".pt", ".pth", ".bin"])
def test_pickle_checkpoints_are_refused(tmp_path, suffix):
    path = tmp_path / f"sd_xl_base_1.0{suffix}"
    path.write_bytes(b"\x80\x04not really")
    with pytest.raises(ModelError, match="pickle checkpoint") as err:
        load(str(path))
    assert ".safetensors" in err.value.fix


def test_missing_checkpoint_names_the_ways_to_get_weights(tmp_path):
    with pytest.raises(ModelError, match="no such checkpoint file") as err:
        load(str(tmp_path / "sd_xl_base_1.0.safetensors"))
    assert "huggingface-cli download" in err.value.fix and "model.source: tiny" in err.value.fix


def test_folder_without_model_index(tmp_path):
    with pytest.raises(ModelError, match="without model_index.json"):
        load(str(tmp_path))


def test_unrecognisable_source():
    with pytest.raises(ModelError, match="neither 'tiny'"):
        classify_source("not a model")


def test_hub_id_missing_from_cache_offline_fails_loud():
    with pytest.raises(ModelError, match="not in the Hugging Face cache.*HF_HUB_OFFLINE is set") as err:
        preflight(ModelConfig(source="someone/sdxl-finetune"))
    assert "huggingface-cli download" in err.value.fix


def test_hub_id_missing_with_downloads_off(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE")
    with pytest.raises(ModelError, match="model.allow_download: false"):
        preflight(ModelConfig(source="someone/sdxl-finetune", allow_download=False))


def test_single_file_needs_local_configs(tmp_path):
    checkpoint = tmp_path / "model.safetensors"
    checkpoint.write_bytes(b"{}")
    with pytest.raises(ModelError, match="needs SDXL's config files") as err:
        preflight(ModelConfig(source=str(checkpoint)))
    assert "--include '*.json' '*.txt'" in err.value.fix


def test_diffusers_folder_loads_the_same_weights(tmp_path):
    folder = tmp_path / "sdxl"
    build_tiny_sdxl().save_pretrained(folder, safe_serialization=True)
    models = load(str(folder))
    assert models.kind == "directory"
    reference = build_tiny_sdxl()
    for pa, pb in zip(models.txt2img.unet.parameters(), reference.unet.parameters()):
        assert torch.equal(pa, pb)


def test_diffusers_folder_with_only_pickle_weights_is_refused(tmp_path):
    folder = tmp_path / "sdxl"
    build_tiny_sdxl().save_pretrained(folder, safe_serialization=False)
    with pytest.raises(ModelError, match="safetensors only"):
        load(str(folder))


def test_hub_id_in_the_cache_loads_offline(tmp_path):
    """A repo downloaded earlier is used from the cache, with no network."""
    repo = HF_HOME / "hub" / "models--wallpaperd-test--tiny-sdxl"
    commit = "0" * 40
    build_tiny_sdxl().save_pretrained(repo / "snapshots" / commit, safe_serialization=True)
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text(commit)
    models = load("wallpaperd-test/tiny-sdxl")
    assert models.kind == "hub"


def test_long_prompts_are_encoded_whole_not_truncated():
    """Past the encoders' window the prompt is encoded in chunks; its tail still counts."""
    models = load("tiny")
    window = models.txt2img.tokenizer.model_max_length
    short = encode_prompts(models, "a lighthouse on a cliff", "blurry")
    reference = models.txt2img.encode_prompt("a lighthouse on a cliff", device=CPU,
                                             do_classifier_free_guidance=True,
                                             negative_prompt="blurry")
    assert torch.equal(short["prompt_embeds"], reference[0])  # same as diffusers when short
    assert torch.equal(short["pooled_prompt_embeds"], reference[2])

    head = "a lighthouse on a cliff above a stormy sea, " * 8  # past the window
    a = encode_prompts(models, head + "at night", "blurry")
    b = encode_prompts(models, head + "at noon", "blurry")
    assert a["prompt_embeds"].shape[1] == 2 * window
    assert a["negative_prompt_embeds"].shape == a["prompt_embeds"].shape
    assert not torch.equal(a["prompt_embeds"], b["prompt_embeds"]), "the words past the window count"


def test_weighted_prompt_syntax_changes_the_conditioning():
    models = load("tiny")
    plain = encode_prompts(models, "a misty forest", "")
    weighted = encode_prompts(models, "a (misty)1.5 forest", "")
    assert plain["prompt_embeds"].shape == weighted["prompt_embeds"].shape
    assert not torch.equal(plain["prompt_embeds"], weighted["prompt_embeds"])


def test_the_shared_img2img_keeps_half_precision():
    """diffusers' from_pipe would cast the shared UNet back to float32."""
    from wallpaperd.pipeline.sdxl import shared_img2img

    pipe = build_tiny_sdxl()
    pipe.to(dtype=torch.float16, silence_dtype_warnings=True)
    img2img = shared_img2img(pipe)
    assert img2img.unet is pipe.unet and pipe.unet.dtype == torch.float16
    assert img2img.vae.dtype == torch.float16 and img2img.scheduler is pipe.scheduler


def test_model_compile_is_a_gpu_feature_and_skipped_on_the_cpu():
    models = load("tiny", compile=True)
    assert "unet-compiled" not in models.notes
    compiled = [m for m in (*models.txt2img.unet.modules(), *models.txt2img.vae.modules())
                if m._compiled_call_impl is not None]
    assert compiled == []


def test_shipped_memory_settings_leave_pytorch_attention_in_place():
    """attention_slicing is off by default: slicing replaces SDPA (2x slower on an H200)."""
    from diffusers.models.attention_processor import AttnProcessor2_0

    models = load_sdxl(ModelConfig(source="tiny", device="cpu"), GEN, MemoryConfig(), CPU)
    processors = set(map(type, models.txt2img.unet.attn_processors.values()))
    assert processors == {AttnProcessor2_0}
    sliced = load_sdxl(ModelConfig(source="tiny", device="cpu"), GEN,
                       MemoryConfig(attention_slicing=True), CPU)
    assert AttnProcessor2_0 not in set(map(type, sliced.txt2img.unet.attn_processors.values()))
