"""The oracle predictor for tests/serve/test_cog_differential.py: the seed template's predict.py
inputs (names, types, bounds, defaults, choices, order), run by coglet, Cog's own server.

It does no image work: it returns `num_outputs` tiny files (a data URL each, as coglet encodes
Path outputs without --upload-url). Like the fake engine library, a prompt starting with "slow"
takes 100 ms per step, so busy (409), PUT-in-flight and cancel can be exercised; an empty prompt
fails with "empty prompt" (the fake engine's error)."""

import tempfile
import time
from typing import List, Optional

from cog import BasePredictor, Input, Path

# The smallest valid PNG (1x1, grey); the bytes do not matter to the comparison.
_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010800000000"
    "3a7e9b550000000a49444154789c63600000000200015de6ed390000000049454e44ae426082")


class Predictor(BasePredictor):
    def setup(self) -> None:
        print("oracle setup done")

    def predict(
        self,
        prompt: str = Input(description="Prompt for the generated image", default=""),
        negative_prompt: str = Input(description="Things the image should not show", default=""),
        aspect_ratio: str = Input(
            description="Aspect ratio of the generated image",
            choices=["1:1", "16:9", "21:9", "3:2", "2:3", "4:5", "5:4", "9:16", "9:21"],
            default="1:1"),
        num_outputs: int = Input(description="Number of images to generate", ge=1, le=3,
                                 default=1),
        guidance_scale: float = Input(description="Classifier-free guidance scale", ge=0, le=50,
                                      default=0.0),
        max_sequence_length: int = Input(description="Maximum prompt length in tokens", ge=1,
                                         le=2048, default=256),
        num_inference_steps: Optional[int] = Input(description="Number of denoising steps",
                                                   ge=1, le=100, default=4),
        prompt_strength: float = Input(description="Prompt strength for image-to-image", ge=0,
                                       le=1, default=0.6),
        seed: Optional[int] = Input(description="Random seed", default=None),
        output_format: str = Input(description="Format of the output images",
                                   choices=["webp", "jpg", "png"], default="webp"),
        output_quality: int = Input(description="Quality of the output images", ge=0, le=100,
                                    default=80),
    ) -> List[Path]:
        if not prompt:
            raise ValueError("empty prompt")
        steps = num_inference_steps or 4
        for i in range(steps):
            if prompt.startswith("slow"):
                time.sleep(0.1)
            print(f"step {i + 1}/{steps}")
        out = []
        for i in range(num_outputs):
            p = Path(tempfile.mkdtemp()) / f"out-{i}.{output_format}"
            p.write_bytes(_PNG)
            out.append(p)
        return out
