"""One UNet call vs diffusers' UNet2DConditionModel on tiny SDXL configs (fp32 CPU, <= 1e-4)."""
from __future__ import annotations

import pytest
import torch
from engine_fixtures import parity_driver, run_driver, tiny_model  # noqa: F401
from safetensors.torch import load_file, save_file


@pytest.mark.parametrize("config,batch,hw,t", [
    ("cfg", 1, (16, 16), 501.0),
    ("cfg", 2, (12, 20), 1.0),
    ("lightning", 1, (8, 8), 999.0),
    ("lightning", 3, (10, 6), 249.0),  # not a multiple of 4: upsample-to-skip-size path
])
def test_unet_matches_diffusers(tmp_path, parity_driver, tiny_model, config, batch, hw, t):  # noqa: F811
    from diffusers import UNet2DConditionModel

    model = tiny_model(config)
    unet = UNet2DConditionModel.from_pretrained(str(model / "unet")).eval()
    cfg = unet.config
    g = torch.Generator().manual_seed(1234)
    proj_dim = cfg.projection_class_embeddings_input_dim - 6 * cfg.addition_time_embed_dim
    inputs = {
        "sample": torch.randn(batch, cfg.in_channels, *hw, generator=g),
        "timestep": torch.tensor(t, dtype=torch.float32),
        "encoder_hidden_states": torch.randn(batch, 77, cfg.cross_attention_dim, generator=g),
        "text_embeds": torch.randn(batch, proj_dim, generator=g),
        "time_ids": torch.tensor([[hw[0] * 8, hw[1] * 8, 0, 0, hw[0] * 8, hw[1] * 8]],
                                 dtype=torch.float32).repeat(batch, 1),
    }
    save_file(inputs, str(tmp_path / "in.safetensors"))
    with torch.no_grad():
        ref = unet(inputs["sample"], inputs["timestep"], inputs["encoder_hidden_states"],
                   added_cond_kwargs={"text_embeds": inputs["text_embeds"],
                                      "time_ids": inputs["time_ids"]}).sample
    run_driver(parity_driver, "unet", str(model), str(tmp_path / "in.safetensors"),
               str(tmp_path / "out.safetensors"))
    got = load_file(str(tmp_path / "out.safetensors"))["out"]
    assert got.shape == ref.shape
    assert ref.abs().max() > 1e-2  # the output is not trivially zero
    err = (got - ref).abs().max().item()
    assert err <= 1e-4, f"max abs err {err}"


def test_unet_reports_missing_weights(tmp_path, parity_driver, tiny_model):  # noqa: F811
    import shutil
    import subprocess

    model = tiny_model("cfg")
    broken = tmp_path / "broken"
    shutil.copytree(model / "unet", broken / "unet")
    from safetensors.torch import load_file as lf
    weights = lf(str(broken / "unet" / "diffusion_pytorch_model.safetensors"))
    weights.pop("conv_out.bias")
    save_file(weights, str(broken / "unet" / "diffusion_pytorch_model.safetensors"))
    save_file({"sample": torch.zeros(1, 4, 8, 8)}, str(tmp_path / "in.safetensors"))
    proc = subprocess.run([str(parity_driver), "unet", str(broken), str(tmp_path / "in.safetensors"),
                           str(tmp_path / "out.safetensors")], capture_output=True, text=True)
    assert proc.returncode != 0
    assert "conv_out.bias" in proc.stderr
