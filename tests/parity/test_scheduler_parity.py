"""Euler schedules (timesteps, sigmas, init_noise_sigma) vs diffusers, max abs err <= 1e-4."""
from __future__ import annotations

import json

import pytest
import torch
from engine_fixtures import parity_driver, run_driver  # noqa: F401
from safetensors.torch import load_file

BASE = dict(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", steps_offset=1,
            num_train_timesteps=1000)

CASES = [
    ("EulerDiscreteScheduler", dict(timestep_spacing="leading")),
    ("EulerDiscreteScheduler", dict(timestep_spacing="trailing")),
    ("EulerDiscreteScheduler", dict(timestep_spacing="linspace")),
    ("EulerDiscreteScheduler", dict(timestep_spacing="trailing", prediction_type="sample")),
    ("EulerDiscreteScheduler", dict(timestep_spacing="leading", final_sigmas_type="sigma_min")),
    ("EulerDiscreteScheduler", dict(timestep_spacing="linspace", beta_schedule="linear",
                                    beta_start=0.0001, beta_end=0.02, num_train_timesteps=1100)),
    ("EulerDiscreteScheduler", dict(timestep_spacing="trailing",
                                    beta_schedule="squaredcos_cap_v2")),
    ("EulerAncestralDiscreteScheduler", dict(timestep_spacing="trailing")),
    ("EulerAncestralDiscreteScheduler", dict(timestep_spacing="leading",
                                             prediction_type="v_prediction")),
]


@pytest.mark.parametrize("cls,overrides", CASES, ids=[f"{c}-{i}" for i, (c, _) in enumerate(CASES)])
def test_schedule_matches_diffusers(tmp_path, parity_driver, cls, overrides):  # noqa: F811
    import diffusers

    cfg = dict(BASE, **overrides)
    (tmp_path / "scheduler").mkdir()
    (tmp_path / "scheduler" / "scheduler_config.json").write_text(
        json.dumps({"_class_name": cls, **cfg}))
    ref_cls = getattr(diffusers, cls)
    for steps in (1, 2, 3, 4, 7, 8, 25, 50):
        ref = ref_cls.from_pretrained(str(tmp_path / "scheduler"))
        ref.set_timesteps(steps)
        out = tmp_path / f"s{steps}.safetensors"
        run_driver(parity_driver, "schedule", str(tmp_path), str(steps), str(out))
        got = load_file(str(out))
        assert got["timesteps"].shape == ref.timesteps.shape, f"{steps} steps"
        assert torch.allclose(got["timesteps"], ref.timesteps.float(), atol=1e-4, rtol=0)
        assert got["sigmas"].shape == ref.sigmas.shape, f"{steps} steps"
        assert (got["sigmas"] - ref.sigmas.float()).abs().max().item() <= 1e-4, f"{steps} steps"
        init = float(ref.init_noise_sigma)
        assert abs(got["init_noise_sigma"].item() - init) <= 1e-4 * max(1.0, init)


def test_bad_step_count_is_a_clear_error(tmp_path, parity_driver):  # noqa: F811
    import subprocess

    (tmp_path / "scheduler").mkdir()
    (tmp_path / "scheduler" / "scheduler_config.json").write_text(json.dumps(BASE))
    proc = subprocess.run([str(parity_driver), "schedule", str(tmp_path), "0", str(tmp_path / "x")],
                          capture_output=True, text=True)
    assert proc.returncode != 0
    assert "steps must be between 1 and 1000" in proc.stderr
