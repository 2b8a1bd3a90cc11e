"""AutoencoderKL decode vs diffusers on tiny configs (fp32 CPU, <= 1e-4)."""
from __future__ import annotations

import pytest
import torch
from engine_fixtures import parity_driver, run_driver, tiny_model  # noqa: F401
from safetensors.torch import load_file, save_file


@pytest.mark.parametrize("config,batch,hw", [("cfg", 1, (16, 16)), ("cfg", 2, (8, 12)),
                                              ("lightning", 2, (8, 8))])
def test_vae_decode_matches_diffusers(tmp_path, parity_driver, tiny_model, config, batch, hw):  # noqa: F811
    from diffusers import AutoencoderKL

    model = tiny_model(config)
    vae = AutoencoderKL.from_pretrained(str(model / "vae")).eval()
    g = torch.Generator().manual_seed(7)
    latents = torch.randn(batch, vae.config.latent_channels, *hw, generator=g)
    save_file({"latents": latents}, str(tmp_path / "in.safetensors"))
    with torch.no_grad():
        ref = vae.decode(latents / vae.config.scaling_factor).sample
    run_driver(parity_driver, "vae", str(model), str(tmp_path / "in.safetensors"),
               str(tmp_path / "out.safetensors"))
    got = load_file(str(tmp_path / "out.safetensors"))["image"]
    assert got.shape == ref.shape
    err = (got - ref).abs().max().item()
    assert err <= 1e-4, f"max abs err {err}"


def test_vae_accepts_legacy_attention_keys(tmp_path, parity_driver, tiny_model):  # noqa: F811
    """Old checkpoints name the mid-block attention query/key/value/proj_attn."""
    import shutil

    from diffusers import AutoencoderKL

    model = tiny_model("cfg")
    legacy = tmp_path / "legacy"
    shutil.copytree(model / "vae", legacy / "vae")
    path = legacy / "vae" / "diffusion_pytorch_model.safetensors"
    w = load_file(str(path))
    renamed = {}
    for k, v in w.items():
        for new, old in ((".to_q.", ".query."), (".to_k.", ".key."), (".to_v.", ".value."),
                         (".to_out.0.", ".proj_attn.")):
            if k.startswith("decoder.mid_block.attentions.0") and new in k:
                k = k.replace(new, old)
        renamed[k] = v
    save_file(renamed, str(path))
    latents = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(3))
    save_file({"latents": latents}, str(tmp_path / "in.safetensors"))
    run_driver(parity_driver, "vae", str(legacy), str(tmp_path / "in.safetensors"),
               str(tmp_path / "out.safetensors"))
    vae = AutoencoderKL.from_pretrained(str(model / "vae")).eval()
    with torch.no_grad():
        ref = vae.decode(latents / vae.config.scaling_factor).sample
    got = load_file(str(tmp_path / "out.safetensors"))["image"]
    assert (got - ref).abs().max().item() <= 1e-4
