#!/usr/bin/env python3
"""Writes small random SDXL diffusers pipelines (fixed seeds) for tests and benchmarks.

Configs:
  cfg        diffusers' fast-test SDXL shapes (2 UNet levels), EulerDiscrete "leading" spacing;
             used with classifier-free guidance (guidance 5).
  lightning  SDXL's 3-level UNet layout (DownBlock2D, CrossAttn x2; text_time conditioning) and a
             4-level VAE (8x), tiny widths; EulerDiscrete "trailing" spacing, used with guidance 0.
  full       the real SDXL architecture (2.6B-parameter UNet, CLIP-L + bigG), random weights
             stored in float16, for GPU timing only.
  mid        SDXL's real block structure (3 levels, no attention at level 0, transformer depths
             [1, 2, 4], 64-dim heads, text_time conditioning with 256-dim time ids, 4-level VAE)
             at reduced width, for CPU benchmarks where one step takes seconds.

Both tokenizers use the real CLIP vocabulary (tools/clip_vocab.py); tokenizer_2 pads with "!".
Weights are safetensors written by save_pretrained; the result loads with
StableDiffusionXLPipeline.from_pretrained(OUT_DIR).

Usage: python3 tools/make_tiny_sdxl.py --config cfg|lightning|mid|full OUT_DIR
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
import clip_vocab  # noqa: E402

CONFIGS = {
    "cfg": dict(
        unet=dict(
            block_out_channels=(32, 64),
            layers_per_block=2,
            sample_size=16,
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
            attention_head_dim=(2, 4),
            transformer_layers_per_block=(1, 2),
            addition_time_embed_dim=8,
            norm_num_groups=8,
        ),
        vae=dict(block_out_channels=[32, 64], norm_num_groups=32, scaling_factor=0.18215),
        text=dict(hidden_size=32, intermediate_size=37, num_hidden_layers=5, num_attention_heads=4),
        text2=dict(hidden_size=32, intermediate_size=37, num_hidden_layers=5, num_attention_heads=4,
                   projection_dim=32),
        scheduler=dict(timestep_spacing="leading"),
    ),
    "lightning": dict(
        unet=dict(
            block_out_channels=(32, 64, 64),
            layers_per_block=2,
            sample_size=8,
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
            attention_head_dim=(2, 4, 4),
            transformer_layers_per_block=(1, 1, 2),
            addition_time_embed_dim=8,
            norm_num_groups=8,
        ),
        vae=dict(block_out_channels=[16, 32, 32, 32], norm_num_groups=8, scaling_factor=0.13025,
                 force_upcast=True),
        text=dict(hidden_size=32, intermediate_size=37, num_hidden_layers=3, num_attention_heads=4),
        text2=dict(hidden_size=32, intermediate_size=37, num_hidden_layers=3, num_attention_heads=4,
                   projection_dim=32),
        scheduler=dict(timestep_spacing="trailing"),
    ),
    "mid": dict(
        unet=dict(
            block_out_channels=(128, 256, 512),
            layers_per_block=2,
            sample_size=64,
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
            attention_head_dim=(2, 4, 8),  # 64-dim heads as in SDXL
            transformer_layers_per_block=(1, 2, 4),
            addition_time_embed_dim=256,
            norm_num_groups=32,
        ),
        vae=dict(block_out_channels=[64, 128, 256, 256], norm_num_groups=32, scaling_factor=0.13025,
                 force_upcast=True),
        text=dict(hidden_size=256, intermediate_size=1024, num_hidden_layers=4,
                  num_attention_heads=4),
        text2=dict(hidden_size=512, intermediate_size=2048, num_hidden_layers=4,
                   num_attention_heads=8, projection_dim=512),
        scheduler=dict(timestep_spacing="trailing"),
    ),
    # Full-size SDXL architecture (random weights; shapes set the cost) for GPU timing.
    "full": dict(
        unet=dict(
            block_out_channels=(320, 640, 1280),
            layers_per_block=2,
            sample_size=128,
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
            attention_head_dim=(5, 10, 20),
            transformer_layers_per_block=(1, 2, 10),
            addition_time_embed_dim=256,
            norm_num_groups=32,
        ),
        vae=dict(block_out_channels=[128, 256, 512, 512], norm_num_groups=32,
                 scaling_factor=0.13025, force_upcast=True),
        text=dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
                  num_attention_heads=12),
        text2=dict(hidden_size=1280, intermediate_size=5120, num_hidden_layers=32,
                   num_attention_heads=20, projection_dim=1280),
        scheduler=dict(timestep_spacing="trailing"),
        fp16=True,
    ),
}


def build(config_name: str, out_dir: Path) -> None:
    import torch
    from diffusers import (AutoencoderKL, EulerDiscreteScheduler, StableDiffusionXLPipeline,
                           UNet2DConditionModel)
    from transformers import (CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection,
                              CLIPTokenizer)

    spec = CONFIGS[config_name]
    t1, t2 = spec["text"], spec["text2"]
    cross_dim = t1["hidden_size"] + t2["hidden_size"]
    u = dict(spec["unet"])
    u.update(
        in_channels=4,
        out_channels=4,
        use_linear_projection=True,
        addition_embed_type="text_time",
        projection_class_embeddings_input_dim=6 * u["addition_time_embed_dim"] + t2["projection_dim"],
        cross_attention_dim=cross_dim,
        time_cond_proj_dim=None,
    )
    torch.manual_seed(0)
    unet = UNet2DConditionModel(**u)
    # Random init leaves many zero-initialised projections (e.g. proj_out) that would hide bugs:
    # give every parameter a non-trivial value, scaled to keep activations bounded.
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, p in ([] if spec.get("fp16") else unet.named_parameters()):
            if p.dim() >= 2:
                p.copy_(torch.randn(p.shape, generator=gen) / (p[0].numel() ** 0.5))
            else:
                base = 1.0 if name.endswith("norm1.weight") or ".norm" in name and name.endswith(
                    "weight") else 0.0
                p.copy_(base + 0.1 * torch.randn(p.shape, generator=gen))
    torch.manual_seed(0)
    v = spec["vae"]
    nlev = len(v["block_out_channels"])
    vae = AutoencoderKL(
        block_out_channels=v["block_out_channels"],
        in_channels=3,
        out_channels=3,
        down_block_types=["DownEncoderBlock2D"] * nlev,
        up_block_types=["UpDecoderBlock2D"] * nlev,
        latent_channels=4,
        norm_num_groups=v["norm_num_groups"],
        sample_size=u["sample_size"] * (2 ** (nlev - 1)),
        scaling_factor=v["scaling_factor"],
        force_upcast=v.get("force_upcast", True),
    )
    common = dict(bos_token_id=49406, eos_token_id=2, pad_token_id=1, vocab_size=49408,
                  layer_norm_eps=1e-5, max_position_embeddings=77)
    torch.manual_seed(0)
    text_encoder = CLIPTextModel(CLIPTextConfig(hidden_act="quick_gelu", projection_dim=t1["hidden_size"],
                                                **t1, **common))
    torch.manual_seed(0)
    text_encoder_2 = CLIPTextModelWithProjection(CLIPTextConfig(hidden_act="gelu", **t2, **common))
    scheduler = EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012, steps_offset=1,
                                       beta_schedule="scaled_linear", **spec["scheduler"])
    with tempfile.TemporaryDirectory() as tmp:
        clip_vocab.write_tokenizer(Path(tmp) / "tokenizer", pad_token=clip_vocab.EOS)
        clip_vocab.write_tokenizer(Path(tmp) / "tokenizer_2", pad_token="!")
        tokenizer = CLIPTokenizer.from_pretrained(Path(tmp) / "tokenizer")
        tokenizer_2 = CLIPTokenizer.from_pretrained(Path(tmp) / "tokenizer_2")
        pipe = StableDiffusionXLPipeline(
            vae=vae, text_encoder=text_encoder, text_encoder_2=text_encoder_2, tokenizer=tokenizer,
            tokenizer_2=tokenizer_2, unet=unet, scheduler=scheduler,
            force_zeros_for_empty_prompt=True, add_watermarker=False,
        )
        if spec.get("fp16"):  # full size: store float16 like the real fp16 variant (half the disk)
            pipe.to(torch.float16)
        staging = Path(tempfile.mkdtemp(prefix=".tiny-", dir=out_dir.parent))
        try:
            pipe.save_pretrained(staging, safe_serialization=True)
            for sub in ("tokenizer", "tokenizer_2"):  # keep vocab.json + merges.txt next to them
                for f in ("vocab.json", "merges.txt"):
                    shutil.copy(Path(tmp) / sub / f, staging / sub / f)
            (staging / "tiny_config.json").write_text(json.dumps({"config": config_name}) + "\n")
            if out_dir.exists():
                shutil.rmtree(out_dir)
            os.replace(staging, out_dir)
        finally:
            if staging.exists():
                shutil.rmtree(staging)


def main() -> None:
    ap = argparse.ArgumentParser(description="Write a tiny random SDXL diffusers pipeline.")
    ap.add_argument("--config", choices=sorted(CONFIGS), required=True)
    ap.add_argument("out_dir", type=Path)
    args = ap.parse_args()
    out = args.out_dir.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    build(args.config, out)
    print(f"wrote tiny SDXL pipeline ({args.config}) to {out}")


if __name__ == "__main__":
    main()
