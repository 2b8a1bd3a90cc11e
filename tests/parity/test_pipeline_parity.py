"""End to end: `sdxl-tigris generate` vs diffusers' StableDiffusionXLPipeline, same seed.

No pixel may differ by more than 2/255 (float32, tiny random pipelines; CPU by default, CUDA with
SDXL_PARITY_DEVICE=cuda, where both sides use a CUDA generator).
"""
from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np
import pytest
import torch
from engine_fixtures import DEVICE, diffusers_pipeline, sdxl_cli, tiny_model  # noqa: F401
from PIL import Image

PROMPT = "A painting of a squirrel eating a burger"


def reference(model, *, steps, guidance, seed, n, size, negative=None):
    pipe = diffusers_pipeline(model).to(DEVICE)
    out = pipe(PROMPT, negative_prompt=negative, num_inference_steps=steps, guidance_scale=guidance,
               height=size[1], width=size[0], num_images_per_prompt=n,
               generator=torch.Generator(DEVICE).manual_seed(seed))
    return [np.asarray(im) for im in out.images]


def ours(cli, model, tmp_path, *, steps, guidance, seed, n, size, negative=None):
    out = tmp_path / "img.png"
    args = [str(cli), "--quiet", "generate", "--model", str(model), "--prompt", PROMPT,
            "--steps", str(steps), "--guidance", str(guidance), "--seed", str(seed),
            "--num-outputs", str(n), "--width", str(size[0]), "--height", str(size[1]),
            "--device", DEVICE, "--dtype", "fp32", "--out", str(out)]
    if negative is not None:
        args += ["--negative-prompt", negative]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    paths = proc.stdout.split()
    expected = [str(out)] if n == 1 else [str(tmp_path / f"img-{i}.png") for i in range(n)]
    assert paths == expected
    return [np.asarray(Image.open(p).convert("RGB")) for p in paths]


CASES = [
    # config, steps, guidance, n, size, negative
    ("cfg", 2, 5.0, 1, (64, 64), None),
    ("cfg", 3, 5.0, 3, (48, 64), None),
    ("cfg", 2, 7.5, 2, (64, 64), "blurry, low quality"),
    ("lightning", 4, 0.0, 1, (64, 64), None),
    ("lightning", 4, 0.0, 2, (64, 128), None),
    ("lightning", 2, 3.0, 2, (64, 64), "ugly"),
]


@pytest.mark.parametrize("config,steps,guidance,n,size,negative", CASES)
def test_same_seed_same_image(tmp_path, sdxl_cli, tiny_model, config, steps, guidance, n, size,  # noqa: F811
                              negative):
    model = tiny_model(config)
    kw = dict(steps=steps, guidance=guidance, seed=42, n=n, size=size, negative=negative)
    ref = reference(model, **kw)
    got = ours(sdxl_cli, model, tmp_path, **kw)
    assert len(got) == len(ref) == n
    for i, (a, b) in enumerate(zip(got, ref)):
        assert a.shape == b.shape == (size[1], size[0], 3)
        diff = np.abs(a.astype(int) - b.astype(int)).max()
        assert diff <= 2, f"image {i}: max pixel diff {diff}"
    assert ref[0].std() > 1.0  # not a flat image: the comparison means something
    if n > 1:  # batched outputs differ from each other (different latents)
        assert np.abs(got[0].astype(int) - got[1].astype(int)).max() > 2


def test_ancestral_scheduler_matches(tmp_path, sdxl_cli, tiny_model):  # noqa: F811
    src = tiny_model("lightning")
    model = tmp_path / "anc"
    shutil.copytree(src, model)
    cfg_path = model / "scheduler" / "scheduler_config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["_class_name"] = "EulerAncestralDiscreteScheduler"
    cfg_path.write_text(json.dumps(cfg))
    index_path = model / "model_index.json"  # diffusers instantiates the class named here
    index = json.loads(index_path.read_text())
    index["scheduler"] = ["diffusers", "EulerAncestralDiscreteScheduler"]
    index_path.write_text(json.dumps(index))
    kw = dict(steps=4, guidance=0.0, seed=7, n=2, size=(64, 64))
    ref = reference(model, **kw)
    assert type(diffusers_pipeline(model).scheduler).__name__ == "EulerAncestralDiscreteScheduler"
    got = ours(sdxl_cli, model, tmp_path, **kw)
    for a, b in zip(got, ref):
        assert np.abs(a.astype(int) - b.astype(int)).max() <= 2


def test_different_seeds_differ(tmp_path, sdxl_cli, tiny_model):  # noqa: F811
    model = tiny_model("lightning")
    images = []
    for seed in (1, 2):
        d = tmp_path / str(seed)
        d.mkdir()
        images.append(ours(sdxl_cli, model, d, steps=4, guidance=0.0, seed=seed, n=1,
                           size=(64, 64))[0])
    assert np.abs(images[0].astype(int) - images[1].astype(int)).max() > 2


def test_generate_rejects_bad_size(tmp_path, sdxl_cli, tiny_model):  # noqa: F811
    model = tiny_model("lightning")
    proc = subprocess.run([str(sdxl_cli), "generate", "--model", str(model), "--prompt", "x",
                           "--width", "60", "--height", "64", "--out", str(tmp_path / "x.png")],
                          capture_output=True, text=True)
    assert proc.returncode == 1
    assert "multiples of 8" in proc.stderr
    assert not list(tmp_path.iterdir())  # nothing written


def test_generate_missing_model_is_clear(tmp_path, sdxl_cli):  # noqa: F811
    proc = subprocess.run([str(sdxl_cli), "generate", "--model", str(tmp_path / "nope"), "--prompt",
                           "x", "--out", str(tmp_path / "x.png")], capture_output=True, text=True)
    assert proc.returncode == 1
    assert "does not exist" in proc.stderr
