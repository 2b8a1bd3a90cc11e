"""CLIPTextModel / CLIPTextModelWithProjection and diffusers' encode_prompt: C++ vs Python.

Tiny random SDXL pipelines (tools/make_tiny_sdxl.py, real CLIP vocabulary) are run through
`sdxl_text_driver` and through transformers / diffusers on CPU in fp32; every output must agree to
1e-4 (token ids exactly).
"""
from __future__ import annotations

import pytest
import torch

from text_helpers import max_abs, run_driver, tiny_pipeline

TOL = 1e-4

PROMPTS = [
    "a photo of an astronaut riding a horse on mars",
    "",
    "! !! hello!world",
    "A CAT, wearing a hat; 12 dogs: 3.5 birds... ☆ 😊 falsé 生活",
    "word " * 90,  # truncated at 77 tokens
    "(a cat)1.2 with dog++",  # weight syntax is plain text for the encoders
]


@pytest.fixture(scope="module", params=["cfg", "lightning"])
def model(request):
    return tiny_pipeline(request, request.param)


def test_encoders_match_transformers(model, tmp_path):
    from safetensors.torch import load_file
    from transformers import CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

    run_driver("encoders", model, PROMPTS, tmp_path / "out.safetensors")
    got = load_file(tmp_path / "out.safetensors")
    tok1 = CLIPTokenizer.from_pretrained(model / "tokenizer")
    tok2 = CLIPTokenizer.from_pretrained(model / "tokenizer_2")
    te1 = CLIPTextModel.from_pretrained(model / "text_encoder").eval()
    te2 = CLIPTextModelWithProjection.from_pretrained(model / "text_encoder_2").eval()
    for i, prompt in enumerate(PROMPTS):
        kw = dict(padding="max_length", max_length=77, truncation=True, return_tensors="pt")
        ids1 = tok1(prompt, **kw).input_ids
        ids2 = tok2(prompt, **kw).input_ids
        assert torch.equal(got[f"{i}.ids1"], ids1), prompt
        assert torch.equal(got[f"{i}.ids2"], ids2), prompt
        with torch.no_grad():
            o1 = te1(ids1, output_hidden_states=True)
            o2 = te2(ids2, output_hidden_states=True)
        checks = {
            "te1.penultimate": o1.hidden_states[-2], "te1.last": o1.last_hidden_state,
            "te1.pooled": o1.pooler_output, "te2.penultimate": o2.hidden_states[-2],
            "te2.last": o2.last_hidden_state, "te2.text_embeds": o2.text_embeds,
        }
        for name, ref in checks.items():
            err = max_abs(got[f"{i}.{name}"], ref)
            assert err <= TOL, f"{name} of {prompt!r}: max abs err {err}"
        # The pooled row is the EOS position's final-normed state (legacy eos_token_id == 2).
        eos = int(ids2[0].argmax())
        assert max_abs(got[f"{i}.te2.pooled"][0], o2.last_hidden_state[0, eos]) <= TOL


@pytest.mark.parametrize("negative", [None, "", "blurry, low quality"])
def test_diffusers_mode_matches_encode_prompt(model, tmp_path, negative):
    from diffusers import StableDiffusionXLPipeline
    from safetensors.torch import load_file

    pipe = StableDiffusionXLPipeline.from_pretrained(str(model))
    prompts = ["a photo of a cat", "word " * 90]
    requests = [dict(prompt=p, negative=negative, mode="diffusers", with_negative=True,
                     num_images=2) for p in prompts]
    run_driver("encode", model, requests, tmp_path / "out.safetensors")
    got = load_file(tmp_path / "out.safetensors")
    for i, prompt in enumerate(prompts):
        with torch.no_grad():
            pe, ne, pp, npool = pipe.encode_prompt(
                prompt, device="cpu", num_images_per_prompt=2, do_classifier_free_guidance=True,
                negative_prompt=negative)
        assert max_abs(got[f"{i}.prompt_embeds"], pe) <= TOL
        assert max_abs(got[f"{i}.pooled"], pp) <= TOL
        assert max_abs(got[f"{i}.negative_prompt_embeds"], ne) <= TOL
        assert max_abs(got[f"{i}.negative_pooled"], npool) <= TOL
        if negative is None:  # force_zeros_for_empty_prompt
            assert float(got[f"{i}.negative_prompt_embeds"].abs().max()) == 0.0
