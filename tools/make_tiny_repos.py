#!/usr/bin/env python3
"""Writes tiny Hugging Face model repos (directory trees) that look like the real SDXL repos.

  OUT/base       like stabilityai/stable-diffusion-xl-base-1.0: a diffusers SDXL pipeline
                 (tools/make_tiny_sdxl.py, "lightning" shapes = SDXL's 3-level UNet) with fp32
                 weights AND fp16 variant files (*.fp16.safetensors), the base's "leading"
                 scheduler config, plus the junk a selector must skip: pickle .bin weights, ONNX,
                 Flax .msgpack, OpenVINO files, extra VAE folders that model_index.json does not
                 name (vae_1_0/, vae_decoder/), a single-file checkpoint at the root
                 (sd_xl_base_1.0.safetensors), README and an image.
  OUT/lightning  like ByteDance/SDXL-Lightning: sdxl_lightning_{2,4,8}step_unet.safetensors
                 (diffusers-format UNet state dicts in fp16, each a distinct perturbation of the
                 base UNet so tests can tell which one was used), the 1-step x0 UNet, all-in-one
                 checkpoints and LoRA files (junk for our purpose), comfyui/ workflows, README.

Deterministic (fixed seeds). Skips the work when OUT/.complete exists with the same version.
Usage: python3 tools/make_tiny_repos.py OUT
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_tiny_sdxl  # noqa: E402

VERSION = "1"
BASE_SCHEDULER = {
    "_class_name": "EulerDiscreteScheduler", "_diffusers_version": "0.19.0.dev0",
    "beta_end": 0.012, "beta_schedule": "scaled_linear", "beta_start": 0.00085,
    "clip_sample": False, "interpolation_type": "linear", "num_train_timesteps": 1000,
    "prediction_type": "epsilon", "sample_max_value": 1.0, "set_alpha_to_one": False,
    "skip_prk_steps": True, "steps_offset": 1, "timestep_spacing": "leading",
    "trained_betas": None, "use_karras_sigmas": False,
}
COMPONENT_WEIGHTS = {
    "unet": "diffusion_pytorch_model", "vae": "diffusion_pytorch_model",
    "text_encoder": "model", "text_encoder_2": "model",
}


def write_fp16_variants(base: Path) -> None:
    import torch
    from safetensors.torch import load_file, save_file
    for comp, stem in COMPONENT_WEIGHTS.items():
        src = base / comp / f"{stem}.safetensors"
        tensors = load_file(src)
        half = {k: (v.to(torch.float16) if v.is_floating_point() else v) for k, v in tensors.items()}
        save_file(half, base / comp / f"{stem}.fp16.safetensors", metadata={"format": "pt"})


def add_base_junk(base: Path) -> None:
    import torch
    from safetensors.torch import save_file
    rnd = torch.Generator().manual_seed(7)
    (base / "unet" / "diffusion_pytorch_model.bin").write_bytes(b"PK\x03\x04 pickle junk" * 64)
    (base / "unet" / "diffusion_pytorch_model.fp16.bin").write_bytes(b"PK\x03\x04 junk" * 64)
    (base / "unet" / "diffusion_flax_model.msgpack").write_bytes(b"\x81\xa4junk" * 64)
    (base / "text_encoder" / "model.onnx").write_bytes(b"\x08\x07onnx junk" * 64)
    (base / "text_encoder" / "flax_model.msgpack").write_bytes(b"\x81\xa4junk" * 64)
    (base / "text_encoder" / "openvino_model.xml").write_text("<net name='junk'/>\n")
    (base / "text_encoder" / "openvino_model.bin").write_bytes(b"openvino junk" * 64)
    (base / "text_encoder_2" / "model.onnx_data").write_bytes(b"onnx data junk" * 64)
    for extra in ("vae_1_0", "vae_decoder", "vae_encoder"):
        d = base / extra
        d.mkdir()
        shutil.copy(base / "vae" / "config.json", d / "config.json")
    shutil.copy(base / "vae" / "diffusion_pytorch_model.safetensors",
                base / "vae_1_0" / "diffusion_pytorch_model.safetensors")
    (base / "vae_decoder" / "model.onnx").write_bytes(b"onnx junk" * 64)
    save_file({"model.diffusion_model.input_blocks.0.0.weight": torch.randn(8, 4, 3, 3, generator=rnd)},
              base / "sd_xl_base_1.0.safetensors")
    save_file({"first_stage_model.decoder.conv_in.weight": torch.randn(8, 4, 3, 3, generator=rnd)},
              base / "sd_xl_base_1.0_0.9vae.safetensors")
    (base / "README.md").write_text("---\nlicense: openrail++\n---\n# tiny SDXL base (test)\n")
    (base / "LICENSE.md").write_text("test license\n")
    (base / "01.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)


def write_lightning(base: Path, out: Path) -> None:
    import torch
    from safetensors.torch import load_file, save_file
    out.mkdir(parents=True)
    unet = load_file(base / "unet" / "diffusion_pytorch_model.safetensors")
    for i, steps in enumerate((2, 4, 8)):
        gen = torch.Generator().manual_seed(100 + steps)
        sd = {k: (v + 0.01 * (i + 1) * torch.randn(v.shape, generator=gen)).to(torch.float16)
              for k, v in unet.items()}
        save_file(sd, out / f"sdxl_lightning_{steps}step_unet.safetensors", metadata={"format": "pt"})
        # All-in-one SGM checkpoint and LoRA: present in the real repo, not used by the recipe.
        save_file({"model.diffusion_model.out.2.bias": torch.zeros(4)},
                  out / f"sdxl_lightning_{steps}step.safetensors")
        save_file({"lora_unet_down_blocks_1_attentions_0_proj_in.alpha": torch.tensor(8.0)},
                  out / f"sdxl_lightning_{steps}step_lora.safetensors")
    gen = torch.Generator().manual_seed(101)
    save_file({k: (v + 0.05 * torch.randn(v.shape, generator=gen)).to(torch.float16)
               for k, v in unet.items()}, out / "sdxl_lightning_1step_unet_x0.safetensors")
    save_file({"model.diffusion_model.out.2.bias": torch.zeros(4)},
              out / "sdxl_lightning_1step_x0.safetensors")
    (out / "comfyui").mkdir()
    (out / "comfyui" / "sdxl_lightning_workflow_full.json").write_text('{"nodes": []}\n')
    (out / "README.md").write_text("---\nlicense: openrail++\n---\n# tiny SDXL-Lightning (test)\n")
    (out / "LICENSE.md").write_text("test license\n")
    (out / "sdxl_lightning_report.pdf").write_bytes(b"%PDF-1.4 junk\n")


def build(out: Path) -> None:
    stamp = out / ".complete"
    if stamp.exists() and stamp.read_text().strip() == VERSION:
        return
    out.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".tiny-repos-", dir=out))
    try:
        base = staging / "base"
        make_tiny_sdxl.build("lightning", base)
        (base / "tiny_config.json").unlink(missing_ok=True)
        (base / "scheduler" / "scheduler_config.json").write_text(
            json.dumps(BASE_SCHEDULER, indent=2) + "\n")
        write_fp16_variants(base)
        write_lightning(base, staging / "lightning")
        add_base_junk(base)
        for name in ("base", "lightning"):
            if (out / name).exists():
                shutil.rmtree(out / name)
            os.replace(staging / name, out / name)
        stamp.write_text(VERSION + "\n")
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description="Write tiny SDXL base and Lightning repos.")
    ap.add_argument("out_dir", type=Path)
    args = ap.parse_args()
    out = args.out_dir.resolve()
    build(out)
    print(f"wrote tiny repos to {out}/base and {out}/lightning")


if __name__ == "__main__":
    main()
