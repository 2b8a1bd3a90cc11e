"""`generate` argument handling that needs no LibTorch (issue 18): --out into missing folders,
--variant naming weights that do not exist, the --negative-prompt warning.

The engine is the torch-free fake (`src/sdxl/libsdxl_fake_engine_ok.so`, 2x1 images) loaded
through SDXL_ENGINE_LIBRARY, so the real binary runs end to end.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

INDEX = {"_class_name": "StableDiffusionXLPipeline", "unet": ["diffusers", "UNet2DConditionModel"],
         "vae": ["diffusers", "AutoencoderKL"], "text_encoder": ["transformers", "CLIPTextModel"],
         "scheduler": ["diffusers", "EulerDiscreteScheduler"]}


@pytest.fixture
def fake_engine(sdxl_binary) -> Path:
    lib = sdxl_binary.parent / "src" / "sdxl" / "libsdxl_fake_engine_ok.so"
    if not lib.is_file():
        pytest.skip(f"{lib} not built (it is built with the tests)")
    return lib


def make_model(root: Path, fp16: tuple[str, ...] = ()) -> Path:
    """A pipeline folder as the loader sees it (the fake engine reads no weights)."""
    root.mkdir(parents=True)
    (root / "model_index.json").write_text(json.dumps(INDEX))
    for comp, stem in (("unet", "diffusion_pytorch_model"), ("vae", "diffusion_pytorch_model"),
                       ("text_encoder", "model")):
        (root / comp).mkdir()
        (root / comp / "config.json").write_text("{}")
        (root / comp / f"{stem}.safetensors").write_bytes(b"\0" * 8)
        if comp in fp16:
            (root / comp / f"{stem}.fp16.safetensors").write_bytes(b"\0" * 8)
    (root / "scheduler").mkdir()
    (root / "scheduler" / "scheduler_config.json").write_text("{}")
    return root


def env_for(engine: Path | None, tmp_path: Path) -> dict:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AWS_", "MODEL_", "SDXL_ENGINE"))}
    env["MODEL_CACHE_DIR"] = str(tmp_path / "cache")
    if engine is not None:
        env["SDXL_ENGINE_LIBRARY"] = str(engine)
    return env


def test_out_into_missing_folders_creates_them(sdxl_run, fake_engine, tmp_path):
    model = make_model(tmp_path / "model")
    out = tmp_path / "a" / "b" / "c.png"
    proc = sdxl_run("generate", "--model", model, "--prompt", "a cat", "--seed", "1",
                    "--out", out, env=env_for(fake_engine, tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert out.read_bytes().startswith(b"\x89PNG"), "not a PNG"
    assert proc.stdout.strip() == str(out)
    assert sorted(p.name for p in out.parent.iterdir()) == ["c.png"], "temporary file left"


def test_out_under_a_file_fails_before_generating(sdxl_run, fake_engine, tmp_path):
    model = make_model(tmp_path / "model")
    (tmp_path / "file").write_text("x")
    proc = sdxl_run("generate", "--model", model, "--prompt", "a cat",
                    "--out", tmp_path / "file" / "sub" / "c.png", env=env_for(fake_engine, tmp_path))
    assert proc.returncode == 1
    lines = [l for l in proc.stderr.splitlines() if l.strip()]
    assert len(lines) == 1 and "is not a folder" in lines[0], proc.stderr
    assert "loaded" not in proc.stderr


def test_variant_without_such_weights_is_an_error(sdxl_run, tmp_path):
    model = make_model(tmp_path / "model")
    # No engine needed: the check comes before anything loads.
    proc = sdxl_run("generate", "--model", model, "--prompt", "a cat", "--variant", "fp16",
                    "--out", tmp_path / "o.png", env=env_for(None, tmp_path))
    assert proc.returncode == 1
    lines = [l for l in proc.stderr.splitlines() if l.strip()]
    assert len(lines) == 1, proc.stderr
    assert "--variant fp16" in lines[0] and "*.fp16.safetensors" in lines[0], lines[0]
    assert not (tmp_path / "o.png").exists()


def test_variant_missing_in_some_components_warns(sdxl_run, fake_engine, tmp_path):
    model = make_model(tmp_path / "model", fp16=("unet", "text_encoder"))
    proc = sdxl_run("generate", "--model", model, "--prompt", "a cat", "--variant", "fp16",
                    "--out", tmp_path / "o.png", env=env_for(fake_engine, tmp_path))
    assert proc.returncode == 0, proc.stderr
    warn = [l for l in proc.stderr.splitlines() if "--variant fp16" in l]
    assert len(warn) == 1 and "vae" in warn[0] and "unet" not in warn[0], proc.stderr
    full = make_model(tmp_path / "full", fp16=("unet", "vae", "text_encoder"))
    quiet = sdxl_run("generate", "--model", full, "--prompt", "a cat", "--variant", "fp16",
                     "--out", tmp_path / "p.png", env=env_for(fake_engine, tmp_path))
    assert quiet.returncode == 0, quiet.stderr
    assert "--variant" not in quiet.stderr


@pytest.mark.parametrize("guidance", [None, "1"])
def test_negative_prompt_without_guidance_warns(sdxl_run, fake_engine, tmp_path, guidance):
    model = make_model(tmp_path / "model")
    args = ["generate", "--model", model, "--prompt", "a cat", "--negative-prompt", "dogs",
            "--out", tmp_path / "o.png"]
    if guidance:
        args += ["--guidance", guidance]
    proc = sdxl_run(*args, env=env_for(fake_engine, tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert "--negative-prompt has no effect" in proc.stderr, proc.stderr


@pytest.mark.parametrize("fmt,magic", [("png", b"\x89PNG"), ("jpg", b"\xff\xd8\xff"),
                                       ("webp", b"RIFF")])
def test_format_picks_the_encoder_whatever_the_extension(sdxl_run, fake_engine, tmp_path, fmt,
                                                         magic):
    model = make_model(tmp_path / "model")
    out = tmp_path / "img.out"
    proc = sdxl_run("generate", "--model", model, "--prompt", "a cat", "--seed", "1",
                    "--format", fmt, "--out", out, env=env_for(fake_engine, tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert out.read_bytes().startswith(magic)


def test_aspect_ratio_choices_and_conflicts(sdxl_run, fake_engine, tmp_path):
    model = make_model(tmp_path / "model")
    env = env_for(fake_engine, tmp_path)
    ok = sdxl_run("generate", "--model", model, "--prompt", "a cat", "--aspect-ratio", "16:9",
                  "--out", tmp_path / "wide.png", env=env)
    assert ok.returncode == 0, ok.stderr
    bad = sdxl_run("generate", "--model", model, "--prompt", "a cat", "--aspect-ratio", "7:3",
                   "--out", tmp_path / "bad.png", env=env)
    assert bad.returncode == 2, bad.stderr
    assert "7:3" in bad.stderr and "16:9" in bad.stderr, bad.stderr
    both = sdxl_run("generate", "--model", model, "--prompt", "a cat", "--aspect-ratio", "1:1",
                    "--width", "64", "--height", "64", "--out", tmp_path / "x.png", env=env)
    assert both.returncode == 2, both.stderr
    assert not (tmp_path / "bad.png").exists() and not (tmp_path / "x.png").exists()
