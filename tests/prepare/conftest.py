"""Fixtures for the prepare-model tests: tiny SDXL repos served by tools/fake_hub.py."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT / "tools"))

import fake_hub  # noqa: E402
import make_tiny_repos  # noqa: E402

HF_TOKEN = "hf_test_token"
LIGHTNING = "ByteDance/SDXL-Lightning"
BASE = "stabilityai/stable-diffusion-xl-base-1.0"


@pytest.fixture(scope="session")
def tiny_repos(tmp_path_factory):
    """{"base": Path, "lightning": Path, "not_sdxl": Path, "single_file": Path}."""
    out = Path(os.environ.get("SDXL_TINY_REPOS_DIR") or tmp_path_factory.mktemp("tiny-repos"))
    make_tiny_repos.build(out)
    not_sdxl = out / "not-sdxl"
    if not not_sdxl.exists():
        (not_sdxl / "unet").mkdir(parents=True)
        (not_sdxl / "model_index.json").write_text(json.dumps({
            "_class_name": "StableDiffusionPipeline", "unet": ["diffusers", "UNet2DConditionModel"],
            "vae": ["diffusers", "AutoencoderKL"]}))
        (not_sdxl / "unet" / "config.json").write_text("{}")
    single = out / "single-file"
    if not single.exists():
        single.mkdir()
        (single / "kohaku-xl.safetensors").write_bytes(
            (base := (out / "base" / "sd_xl_base_1.0.safetensors")).read_bytes())
        (single / "README.md").write_text("a single-file checkpoint\n")
    return {"base": out / "base", "lightning": out / "lightning", "not_sdxl": not_sdxl,
            "single_file": single}


@pytest.fixture(scope="session")
def _hub_session(tiny_repos):
    hub = fake_hub.FakeHub({
        BASE: tiny_repos["base"],
        LIGHTNING: tiny_repos["lightning"],
        "org/tiny-sdxl": tiny_repos["base"],
        "org/gated-sdxl": tiny_repos["base"],
        "org/private-sdxl": tiny_repos["base"],
        "org/not-sdxl": tiny_repos["not_sdxl"],
        "org/single-file": tiny_repos["single_file"],
    }, token=HF_TOKEN, gated=["org/gated-sdxl"], private=["org/private-sdxl"], page_size=7).start()
    yield hub
    hub.stop()


@pytest.fixture
def hub(_hub_session):
    """The fake Hub, with failure injection reset before each test."""
    _hub_session.configure(rate_limit_first=0, fail_first=0, cdn_bytes_per_sec=0)
    yield _hub_session
    _hub_session.configure(rate_limit_first=0, fail_first=0, cdn_bytes_per_sec=0)


@pytest.fixture
def prep_env(s3_server, hub, tmp_path):
    """Environment for `sdxl-tigris prepare-model`: SeaweedFS + the fake Hub + a fresh HF cache."""
    def make(endpoint=None, **extra):
        env = s3_server.env(endpoint=endpoint)
        for k in list(env):
            if k.startswith("HF_") or k in ("HUGGING_FACE_HUB_TOKEN", "XDG_CACHE_HOME"):
                del env[k]
        env.update(HF_ENDPOINT=hub.url, HF_HOME=str(tmp_path / "hf"),
                   XDG_CACHE_HOME=str(tmp_path / "cache"))
        env.update({k: str(v) for k, v in extra.items()})
        return env
    return make
