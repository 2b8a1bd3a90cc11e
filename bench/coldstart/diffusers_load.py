#!/usr/bin/env python3
"""Peer: diffusers `StableDiffusionXLPipeline.from_pretrained(DIR)` on the CPU in float32 (what our
engine loads on the CPU), i.e. the seed template's load step. Prints the load time.

usage: diffusers_load.py DIR
"""
import sys
import time

t0 = time.perf_counter()
import torch  # noqa: E402
from diffusers import StableDiffusionXLPipeline  # noqa: E402

t_import = time.perf_counter()
pipe = StableDiffusionXLPipeline.from_pretrained(sys.argv[1], torch_dtype=torch.float32)
t_load = time.perf_counter()
params = sum(p.numel() for m in (pipe.unet, pipe.vae, pipe.text_encoder, pipe.text_encoder_2)
             for p in m.parameters())
print(f"diffusers: import {t_import - t0:.2f} s, from_pretrained {t_load - t_import:.2f} s, "
      f"{params / 1e9:.2f} B parameters", file=sys.stderr)
