#!/usr/bin/env python3
"""Writes a synthetic SDXL-sized diffusers pipeline (~6.9 GB bf16) for the prepare-model benchmark.

Real key names and shapes (the diffusers/transformers SDXL base configs, instantiated on the meta
device, so no memory is used), random bytes as values, bf16 safetensors, plus the real config,
tokenizer and scheduler files. Loading it gives noise, not images: it exists to move bytes.
Deterministic (seeded); reuses OUT when its marker says it is complete.

Usage: python3 bench/prepare/make_synthetic_sdxl.py OUT [--scale 1.0]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import struct
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tools"))

UNET = {"act_fn": "silu", "addition_embed_type": "text_time", "addition_embed_type_num_heads": 64,
        "addition_time_embed_dim": 256, "attention_head_dim": [5, 10, 20],
        "block_out_channels": [320, 640, 1280], "center_input_sample": False,
        "cross_attention_dim": 2048,
        "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"],
        "downsample_padding": 1, "flip_sin_to_cos": True, "freq_shift": 0, "in_channels": 4,
        "layers_per_block": 2, "mid_block_type": "UNetMidBlock2DCrossAttn", "norm_eps": 1e-05,
        "norm_num_groups": 32, "out_channels": 4, "projection_class_embeddings_input_dim": 2816,
        "sample_size": 128, "transformer_layers_per_block": [1, 2, 10],
        "up_block_types": ["CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"],
        "use_linear_projection": True}
VAE = {"act_fn": "silu", "block_out_channels": [128, 256, 512, 512],
       "down_block_types": ["DownEncoderBlock2D"] * 4, "force_upcast": True, "in_channels": 3,
       "latent_channels": 4, "layers_per_block": 2, "norm_num_groups": 32, "out_channels": 3,
       "sample_size": 1024, "scaling_factor": 0.13025, "up_block_types": ["UpDecoderBlock2D"] * 4}
TE = {"attention_dropout": 0.0, "bos_token_id": 0, "dropout": 0.0, "eos_token_id": 2,
      "hidden_act": "quick_gelu", "hidden_size": 768, "initializer_factor": 1.0,
      "initializer_range": 0.02, "intermediate_size": 3072, "layer_norm_eps": 1e-05,
      "max_position_embeddings": 77, "model_type": "clip_text_model", "num_attention_heads": 12,
      "num_hidden_layers": 12, "pad_token_id": 1, "projection_dim": 768, "vocab_size": 49408}
TE2 = dict(TE, hidden_act="gelu", hidden_size=1280, intermediate_size=5120, num_attention_heads=20,
           num_hidden_layers=32, projection_dim=1280)
SCHEDULER = {"_class_name": "EulerDiscreteScheduler", "_diffusers_version": "0.19.0.dev0",
             "beta_end": 0.012, "beta_schedule": "scaled_linear", "beta_start": 0.00085,
             "interpolation_type": "linear", "num_train_timesteps": 1000,
             "prediction_type": "epsilon", "steps_offset": 1, "timestep_spacing": "leading",
             "use_karras_sigmas": False}
MODEL_INDEX = {"_class_name": "StableDiffusionXLPipeline", "_diffusers_version": "0.19.0.dev0",
               "force_zeros_for_empty_prompt": True, "add_watermarker": None,
               "scheduler": ["diffusers", "EulerDiscreteScheduler"],
               "text_encoder": ["transformers", "CLIPTextModel"],
               "text_encoder_2": ["transformers", "CLIPTextModelWithProjection"],
               "tokenizer": ["transformers", "CLIPTokenizer"],
               "tokenizer_2": ["transformers", "CLIPTokenizer"],
               "unet": ["diffusers", "UNet2DConditionModel"], "vae": ["diffusers", "AutoencoderKL"]}


def shapes():
    from accelerate import init_empty_weights
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection
    with init_empty_weights():
        models = {
            "unet/diffusion_pytorch_model.safetensors": UNet2DConditionModel(**UNET),
            "vae/diffusion_pytorch_model.safetensors": AutoencoderKL(**VAE),
            "text_encoder/model.safetensors": CLIPTextModel(CLIPTextConfig(**TE)),
            "text_encoder_2/model.safetensors": CLIPTextModelWithProjection(CLIPTextConfig(**TE2)),
        }
    return {path: {k: list(v.shape) for k, v in m.state_dict().items()} for path, m in models.items()}


def write_safetensors(path: Path, tensors: dict, rng, scale: float):
    header, offset = {"__metadata__": {"format": "pt"}}, 0
    for name in sorted(tensors):
        shape = tensors[name]
        n = 1
        for d in shape:
            n *= d
        size = max(2, int(n * 2 * scale) // 2 * 2) if scale != 1.0 else n * 2
        if scale != 1.0:
            shape = [size // 2]
        header[name] = {"dtype": "BF16", "shape": shape, "data_offsets": [offset, offset + size]}
        offset += size
    hb = json.dumps(header, separators=(",", ":")).encode()
    hb += b" " * (-len(hb) % 8)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(hb)))
        f.write(hb)
        left = offset
        while left:
            n = min(left, 64 << 20)
            f.write(rng.bytes(n))
            left -= n
    os.replace(tmp, path)
    return 8 + len(hb) + offset


def build(out: Path, scale: float = 1.0) -> int:
    import numpy as np
    marker = out.parent / (out.name + ".synthetic.json")  # outside: uploaded as is
    want = {"version": 1, "scale": scale}
    if marker.exists() and json.loads(marker.read_text()) == want:
        return sum(p.stat().st_size for p in out.rglob("*") if p.is_file() and p.name[0] != ".")
    shutil.rmtree(out, ignore_errors=True)
    marker.unlink(missing_ok=True)
    out.mkdir(parents=True)
    rng = np.random.default_rng(0)
    total = 0
    for path, tensors in shapes().items():
        (out / path).parent.mkdir(parents=True, exist_ok=True)
        total += write_safetensors(out / path, tensors, rng, scale)
    configs = {"unet/config.json": dict(UNET, _class_name="UNet2DConditionModel"),
               "vae/config.json": dict(VAE, _class_name="AutoencoderKL"),
               "text_encoder/config.json": dict(TE, architectures=["CLIPTextModel"]),
               "text_encoder_2/config.json": dict(TE2, architectures=["CLIPTextModelWithProjection"]),
               "scheduler/scheduler_config.json": SCHEDULER, "model_index.json": MODEL_INDEX}
    for path, cfg in configs.items():
        (out / path).parent.mkdir(parents=True, exist_ok=True)
        (out / path).write_text(json.dumps(cfg, indent=2) + "\n")
    import clip_vocab
    clip_vocab.write_tokenizer(out / "tokenizer", pad_token=clip_vocab.EOS)
    clip_vocab.write_tokenizer(out / "tokenizer_2", pad_token="!")
    marker.write_text(json.dumps(want))
    return sum(p.stat().st_size for p in out.rglob("*") if p.is_file() and p.name[0] != ".")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--scale", type=float, default=1.0, help="scale the weights' sizes (tests)")
    args = ap.parse_args()
    total = build(args.out.resolve(), args.scale)
    print(f"wrote {total / 1e9:.2f} GB to {args.out}")


if __name__ == "__main__":
    main()
