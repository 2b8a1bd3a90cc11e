"""Fixtures for the SDXL engine parity tests (UNet, VAE, schedulers, end-to-end pipeline).

Tiny random pipelines are written once per session by tools/make_tiny_sdxl.py (fixed seeds) and
compared against diffusers on CPU in float32. The C++ side runs through
`$SDXL_BUILD_DIR/sdxl_parity_driver` (component calls, safetensors in/out) and
`$SDXL_BUILD_DIR/sdxl-tigris generate` (end to end). Tests are skipped, with the reason, when the
build has no LibTorch engine.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("SDXL_BUILD_DIR", REPO / "build"))
TOOLS = REPO / "tools"
DEVICE = os.environ.get("SDXL_PARITY_DEVICE", "cpu")  # tools/gpu-check.sh sets "cuda"


def _need(path: Path, what: str) -> Path:
    if not path.exists():
        pytest.skip(f"{path} not built ({what}); build with -DSDXL_WITH_TORCH=ON")
    return path


@pytest.fixture(scope="session")
def parity_driver() -> Path:
    return _need(BUILD / "sdxl_parity_driver", "engine parity driver")


@pytest.fixture(scope="session")
def sdxl_cli() -> Path:
    binary = _need(BUILD / "sdxl-tigris", "CLI")
    # `generate` loads libsdxl-engine.so at run time; `version` says whether it is there.
    out = subprocess.run([str(binary), "version"], capture_output=True, text=True)
    if "features: torch" not in out.stdout:
        pytest.skip("no SDXL engine library next to sdxl-tigris (built without LibTorch)")
    return binary


_TINY: dict[str, Path] = {}


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    """tiny_model(name) -> Path of a tiny pipeline ("cfg" or "lightning"), built once."""

    def get(name: str) -> Path:
        if name not in _TINY:
            out = tmp_path_factory.mktemp("tiny") / name
            subprocess.run([sys.executable, str(TOOLS / "make_tiny_sdxl.py"), "--config", name,
                            str(out)], check=True, capture_output=True)
            _TINY[name] = out
        return _TINY[name]

    return get


def run_driver(driver: Path, *args: str) -> None:
    proc = subprocess.run([str(driver), *args], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"driver failed: {proc.stderr.strip()}"


def diffusers_pipeline(model: Path):
    import torch
    from diffusers import StableDiffusionXLPipeline

    pipe = StableDiffusionXLPipeline.from_pretrained(str(model), torch_dtype=torch.float32,
                                                     add_watermarker=False)
    pipe.set_progress_bar_config(disable=True)
    return pipe
