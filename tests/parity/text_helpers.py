"""Helpers shared by the text-side parity tests (tokenizer, text encoders, compel weighting).

tiny_pipeline(request, config) builds a tiny random SDXL pipeline with tools/make_tiny_sdxl.py
once and caches it in pytest's cache dir, keyed by the generator script's content, so every
module and later runs reuse it. text_driver() finds the C++ driver in $SDXL_BUILD_DIR.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
TOOLS = REPO_ROOT / "tools"


def build_dir() -> Path:
    return Path(os.environ.get("SDXL_BUILD_DIR") or REPO_ROOT / "build").resolve()


def text_driver() -> Path:
    path = build_dir() / "sdxl_text_driver"
    if not path.is_file():
        pytest.skip(f"{path} not built (needs -DSDXL_WITH_TORCH=ON): run `make build` or set "
                    "SDXL_BUILD_DIR")
    return path


def tiny_pipeline(request, config: str) -> Path:
    digest = hashlib.sha256()
    for name in ("make_tiny_sdxl.py", "clip_vocab.py"):
        digest.update((TOOLS / name).read_bytes())
    cache = Path(request.config.cache.mkdir(f"tiny_sdxl_{config}_{digest.hexdigest()[:12]}"))
    model = cache / "model"
    if (model / "model_index.json").exists():
        return model
    staging = cache / "staging"
    shutil.rmtree(staging, ignore_errors=True)
    subprocess.run([sys.executable, str(TOOLS / "make_tiny_sdxl.py"), "--config", config,
                    str(staging)], check=True, capture_output=True, timeout=900)
    shutil.rmtree(model, ignore_errors=True)
    staging.rename(model)
    return model


def run_driver(command: str, model: Path | str, payload, out: Path) -> subprocess.CompletedProcess:
    request = out.with_suffix(".json")
    request.write_text(json.dumps(payload), encoding="utf-8")
    proc = subprocess.run([str(text_driver()), command, str(model), str(request), str(out)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"sdxl_text_driver {command} failed:\n{proc.stderr}"
    return proc


def max_abs(a, b) -> float:
    import torch

    assert tuple(a.shape) == tuple(b.shape), f"shape {tuple(a.shape)} != {tuple(b.shape)}"
    return float((a.float() - b.float()).abs().max()) if a.numel() else 0.0
