"""`wallpaperd generate` end to end: tiny SDXL + real Real-ESRGAN through all four stages."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image
from skimage import data

from wallpaperd.cli.main import main
from wallpaperd.config import load_config
from wallpaperd.errors import CancelledError
from wallpaperd.pipeline.job import JobRequest
from wallpaperd.pipeline.tiny import build_tiny_sdxl

from ..conftest import small_mapping

pytestmark = pytest.mark.slow


def config_file(tmp_path: Path, **overrides) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(small_mapping(**overrides)))
    return path


def run(*args: str) -> int:
    return main(["generate", *args])


def test_final_png_sidecar_and_stages(tmp_path, capsys):
    out = tmp_path / "wall.png"
    rc = run("--config", str(config_file(tmp_path)), "--seed", "5", "--out", str(out),
             "--no-set", "--save-stages", "--prompt", "a red lighthouse")
    assert rc == 0
    assert capsys.readouterr().out.strip() == str(out)

    final = Image.open(out)
    assert final.size == (320, 180) and final.mode == "RGB"
    assert "a red lighthouse" in final.text["parameters"] and "Seed: 5" in final.text["parameters"]
    embedded = json.loads(final.text["wallpaperd"])
    assert embedded["seed"] == 5 and "seconds" not in embedded["stages"]["enhance"]

    meta = json.loads(out.with_suffix(".json").read_text())
    assert meta["prompt"] == "a red lighthouse" and meta["seed"] == 5 and meta["prompt_chunks"] == 1
    assert meta["negative_prompt"] == load_config().generate.negative_prompt != ""
    assert list(meta["stages"]) == ["generate", "upscale", "enhance", "downsample"]
    for stage in meta["stages"].values():
        assert stage["seconds"] >= 0 and stage["measures"]["std"] > 2
    assert meta["stages"]["generate"]["steps"] == 6
    assert meta["stages"]["enhance"]["grid"] == "5x3" and meta["stages"]["enhance"]["tiles"] == 15
    assert meta["stages"]["enhance"]["method"] == "latent"  # the default
    assert meta["stages"]["enhance"]["denoising_steps"] == 3 and meta["stages"]["enhance"]["seam_score"] <= 1.05
    assert meta["upscaler"]["parameters"] == 16_697_987 and len(meta["upscaler"]["sha256"]) == 64
    assert meta["model"]["source"] == "tiny" and meta["config"]["enhance"]["tile"] == 128
    assert {"torch", "diffusers", "transformers", "spandrel"} <= set(meta["versions"])

    sizes = {name: Image.open(meta["paths"][name]).size for name in ("base", "upscaled", "enhanced")}
    assert sizes == {"base": (120, 64), "upscaled": (480, 256), "enhanced": (480, 256)}


def test_same_seed_gives_identical_bytes_and_another_seed_does_not(tmp_path):
    config = str(config_file(tmp_path))
    paths = [tmp_path / "a.png", tmp_path / "b.png", tmp_path / "c.png"]
    for path, seed in zip(paths, ("11", "11", "12")):
        assert run("--config", config, "--seed", seed, "--out", str(path), "--no-set") == 0
    a, b, c = (p.read_bytes() for p in paths)
    assert a == b
    assert a != c


@pytest.mark.parametrize("method", ["latent", "pixel"])
def test_enhancement_rediffuses_the_upscaled_picture(tmp_path, method):
    """Stage 3 really re-diffuses the picture, by either method (with random weights the VAE
    does not keep the composition, so only the change itself is checked here)."""
    out = tmp_path / "w.png"
    assert run("--config", str(config_file(tmp_path, enhance__method=method)), "--seed", "3",
               "--out", str(out), "--no-set", "--save-stages") == 0
    meta = json.loads(out.with_suffix(".json").read_text())["stages"]["enhance"]
    assert meta["method"] == method and meta["tiles"] == 15
    up = np.asarray(Image.open(tmp_path / "w.upscaled.png"), dtype=np.float32)
    enhanced = np.asarray(Image.open(tmp_path / "w.enhanced.png"), dtype=np.float32)
    assert up.shape == enhanced.shape
    assert np.abs(up - enhanced).mean() > 1.0


def test_start_from_a_picture(tmp_path):
    photo = tmp_path / "photo.png"
    Image.fromarray(data.astronaut()).save(photo)  # 512x512, square
    out = tmp_path / "w.png"
    long_prompt = "an astronaut portrait, oil painting, dramatic light, " * 6  # past the window
    assert run("--config", str(config_file(tmp_path)), "--image", str(photo), "--seed", "1",
               "--out", str(out), "--no-set", "--prompt", long_prompt) == 0
    meta = json.loads(out.with_suffix(".json").read_text())
    assert meta["prompt"] == long_prompt and meta["prompt_chunks"] == 2
    assert Image.open(out).size == (320, 180)
    assert meta["input_image"] == str(photo)
    assert meta["stages"]["generate"]["input_size"] == [512, 512]


def test_unreadable_picture_is_reported(tmp_path, capsys):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    rc = run("--config", str(config_file(tmp_path)), "--image", str(bad), "--out",
             str(tmp_path / "w.png"), "--no-set")
    assert rc == 1
    assert f"--image '{bad}' could not be read as a picture" in capsys.readouterr().err
    assert not (tmp_path / "w.png").exists()


def test_failed_validation_writes_nothing_and_says_why(tmp_path, capsys):
    config = config_file(tmp_path, validation__min_sharpness=1e9)
    out = tmp_path / "w.png"
    rc = run("--config", str(config), "--seed", "1", "--out", str(out), "--no-set", "--save-stages")
    err = capsys.readouterr().err
    assert rc == 1
    assert "stage 'generate' failed: picture is too blurred" in err
    assert "validation.min_sharpness" in err and "diagnostics" in err
    assert list(tmp_path.glob("w*")) == []


def test_default_names_never_collide(tmp_path, isolated_home):
    config = str(config_file(tmp_path))
    for _ in range(2):
        assert run("--config", config, "--seed", "9", "--no-set") == 0
    pictures = sorted((isolated_home / "Pictures" / "wallpaperd").glob("*.png"))
    assert len(pictures) == 2
    assert all("-9" in p.name for p in pictures)
    assert pictures[0].read_bytes() == pictures[1].read_bytes()


def test_existing_out_is_not_overwritten_unless_asked(tmp_path, capsys):
    out = tmp_path / "w.png"
    out.write_bytes(b"keep me")
    config = str(config_file(tmp_path))
    assert run("--config", config, "--out", str(out), "--no-set") == 1
    assert "already exists" in capsys.readouterr().err and out.read_bytes() == b"keep me"
    assert run("--config", config, "--out", str(out), "--no-set", "--overwrite") == 0
    assert Image.open(out).size == (320, 180)


def test_generate_sets_the_wallpaper_through_the_configured_backend(tmp_path, capsys):
    marker = tmp_path / "set-by-command.png"
    config = config_file(tmp_path, desktop__backend="command", desktop__command=f"cp {{path}} {marker}")
    out = tmp_path / "w.png"
    assert run("--config", str(config), "--out", str(out)) == 0
    assert marker.read_bytes() == out.read_bytes()
    assert "wallpaper set (command, command)" in capsys.readouterr().err
    desktop = json.loads(out.with_suffix(".json").read_text())["desktop"]
    assert desktop["backend"] == "command" and desktop["commands"] == [f"cp {out} {marker}"]


def test_generate_without_a_desktop_keeps_the_picture_and_says_why(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("XDG_CURRENT_DESKTOP", raising=False)
    monkeypatch.delenv("DESKTOP_SESSION", raising=False)
    out = tmp_path / "w.png"
    assert run("--config", str(config_file(tmp_path)), "--out", str(out)) == 1
    err = capsys.readouterr().err
    assert "XDG_CURRENT_DESKTOP and DESKTOP_SESSION are not set" in err
    assert f"the picture is saved at {out}" in err and "import-environment" in err
    assert Image.open(out).size == (320, 180)


def test_real_weights_on_the_cpu_warn_before_starting(tmp_path, capsys):
    folder = tmp_path / "sdxl"
    build_tiny_sdxl().save_pretrained(folder, safe_serialization=True)
    config = config_file(tmp_path, model__source=str(folder))
    assert run("--config", str(config), "--out", str(tmp_path / "w.png"), "--no-set") == 0
    err = capsys.readouterr().err
    assert "no GPU found" in err and "HOURS" in err and "Ctrl-C" in err
    assert err.index("HOURS") < err.index("models loaded")


def test_missing_weights_stop_before_anything_starts(tmp_path, capsys):
    config = config_file(tmp_path, model__source="stabilityai/stable-diffusion-xl-base-1.0")
    assert run("--config", str(config), "--no-set") == 1
    err = capsys.readouterr().err
    assert "not in the Hugging Face cache" in err and "huggingface-cli download" in err
    assert "HOURS" not in err


def test_bad_config_exits_2_with_the_key(tmp_path, capsys):
    config = tmp_path / "bad.yaml"
    config.write_text("enhance:\n  tile: 1020\n")
    assert run("--config", str(config)) == 2
    assert "enhance.tile = 1020: must be divisible by 8" in capsys.readouterr().err


def test_cancel_stops_the_job_within_a_step(tiny_pipeline):
    cancel = threading.Event()
    seen = []

    def progress(stage, done, total):
        seen.append(stage)
        if stage == "enhance":
            cancel.set()

    with pytest.raises(CancelledError):
        tiny_pipeline.run(JobRequest(seed=1), progress=progress, cancel=cancel)
    assert seen.count("enhance") == 1


def test_ranges_are_drawn_from_the_seed(tiny_pipeline):
    from wallpaperd.config import config_from_mapping

    cfg = config_from_mapping(small_mapping(enhance__strength=[0.25, 0.45]))
    tiny_pipeline.cfg, original = cfg, tiny_pipeline.cfg
    try:
        first = tiny_pipeline.run(JobRequest(seed=21)).metadata["stages"]["enhance"]["strength"]
        again = tiny_pipeline.run(JobRequest(seed=21)).metadata["stages"]["enhance"]["strength"]
    finally:
        tiny_pipeline.cfg = original
    assert first == again and 0.25 <= first <= 0.45


def test_upscale_command_alone(tmp_path):
    photo = tmp_path / "in.png"
    Image.fromarray(data.astronaut()[:64, :96]).save(photo)
    out = tmp_path / "out.png"
    assert main(["upscale", str(photo), str(out), "--config", str(config_file(tmp_path))]) == 0
    assert Image.open(out).size == (384, 256)


def test_console_scripts_are_installed(tmp_path):
    bindir = Path(sys.executable).parent
    version = subprocess.run([bindir / "wallpaperd", "--version"], capture_output=True, text=True)
    assert version.returncode == 0 and version.stdout.startswith("wallpaperd ")
    env = dict(os.environ, DBUS_SESSION_BUS_ADDRESS=f"unix:path={tmp_path}/no-bus")
    ctl = subprocess.run([bindir / "wallpaperctl", "status"], capture_output=True, text=True, env=env)
    assert ctl.returncode == 3 and "cannot reach the session bus" in ctl.stderr
    assert "Traceback" not in ctl.stderr


def test_unwritable_output_is_reported(tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir()
    out = locked / "sub" / "w.png"
    (locked / "sub").write_text("a file where a folder should be")
    rc = run("--config", str(config_file(tmp_path)), "--out", str(out), "--no-set")
    assert rc == 1
    assert f"could not write {out}" in capsys.readouterr().err


def test_without_a_prompt_generate_plans_a_theme(tmp_path):
    out = tmp_path / "w.png"
    config = config_file(tmp_path, generate__prompt=None)
    assert run("--config", str(config), "--seed", "8", "--out", str(out), "--no-set") == 0
    meta = json.loads(out.with_suffix(".json").read_text())
    plan = meta["plan"]
    assert plan["source"] == "theme" and plan["theme"]["how"] == "picked"
    assert meta["prompt"] and plan["parts"]["style"] in meta["prompt"]
    forced = tmp_path / "f.png"
    assert run("--config", str(config), "--theme", "nebula", "--seed", "8", "--out", str(forced),
               "--no-set") == 0
    assert json.loads(forced.with_suffix(".json").read_text())["plan"]["theme"]["id"] == "nebula"


def test_a_job_with_no_prompt_plans_from_live_weather_with_a_lora_stack(tmp_path, isolated_home, meteo):
    """Weather served on loopback → theme → LoRA from the user's loras.yaml → prompt."""
    from ..pipeline.test_lora import make_lora
    from wallpaperd.pipeline.tiny import build_tiny_sdxl
    from wallpaperd.planning.plan import library
    from ..planning.conftest_weather import answer

    meteo.body = answer(code=95, is_day=0, temperature=14.0)
    lora = make_lora(tmp_path / "storm_style.safetensors", build_tiny_sdxl().unet, "kohya", 5)
    user = isolated_home / ".config" / "wallpaperd"
    user.mkdir(parents=True)
    categories = sorted(library().categories)
    (user / "loras.yaml").write_text(yaml.safe_dump({"lora_library": {"stormy": {
        "path": str(lora), "type": "style", "weight_range": [0.5, 0.8],
        "compatible_themes": categories, "trigger_words": ["stormlight style"]}}}))
    config = config_file(tmp_path, generate__prompt=None, weather__latitude=52.52,
                         weather__longitude=13.41, weather__open_meteo_url=meteo.url)
    out = tmp_path / "w.png"
    assert run("--config", str(config), "--seed", "4", "--out", str(out), "--no-set") == 0
    meta = json.loads(out.with_suffix(".json").read_text())
    plan = meta["plan"]
    assert plan["weather"]["condition"] == "thunderstorm" and plan["weather"]["source"] == "live"
    assert plan["theme"]["factors"]["weather"] > 0 and plan["time_of_day"].startswith("at night")
    (active,) = meta["loras"]
    assert active["name"] == "stormy" and 0.5 <= active["weight"] <= 0.8 and len(active["sha256"]) == 64
    assert "stormlight style" in meta["prompt"]
