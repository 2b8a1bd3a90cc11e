"""The peer of bench/serve/run.py: the seed template's predict.py on CPU, run by coglet.

setup(): the template's download (one ListObjectsV2 call under MODEL_PATH/, boto3 `download_file`
per object in a process pool: bench/transfer/boto3_pool.py) into MODEL_CACHE_DIR unless
model_index.json is there, then diffusers `StableDiffusionXLPipeline.from_pretrained` (float32
on CPU: the template's bfloat16-on-CUDA has no fast CPU equivalent, and our side runs fp32 too).
predict(): the template's inputs (the bundled schema is tests/serve/cog_oracle's), the image made
by diffusers with a CPU generator seeded as given, saved with PIL in the requested format and
quality, uploaded to PUBLIC_BUCKET_NAME with boto3 and returned as a presigned GET URL (3600 s),
as the template does. Size: the template's aspect-ratio table scaled to the model's default long
side (BENCH_LONG_SIDE, the pipeline's sample size), the rule sdxl/request_shaping.h follows.
"""

import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path as FsPath
from typing import List, Optional

from cog import BasePredictor, Input, Path

RATIOS = {"1:1": (1024, 1024), "16:9": (1408, 832), "21:9": (1536, 640), "3:2": (1216, 832),
          "2:3": (832, 1216), "4:5": (896, 1088), "5:4": (1088, 896), "9:16": (768, 1344),
          "9:21": (640, 1536)}


class Predictor(BasePredictor):
    def setup(self) -> None:
        t0 = time.perf_counter()
        cache = FsPath(os.environ["MODEL_CACHE_DIR"])
        if not (cache / "model_index.json").exists():
            subprocess.run([sys.executable, os.environ["BENCH_BOTO3_POOL"], "download",
                            os.environ["MODEL_BUCKET_NAME"], os.environ["MODEL_PATH"], str(cache)],
                           check=True)
        import boto3
        import torch
        from botocore.config import Config
        from diffusers import StableDiffusionXLPipeline

        torch.set_num_threads(int(os.environ.get("BENCH_THREADS", "2")))
        self.torch = torch
        self.pipe = StableDiffusionXLPipeline.from_pretrained(str(cache), torch_dtype=torch.float32,
                                                              add_watermarker=False)
        self.pipe.set_progress_bar_config(disable=True)
        self.s3 = boto3.client("s3", config=Config(s3={"addressing_style": "path"}))
        self.bucket = os.environ["PUBLIC_BUCKET_NAME"]
        self.long_side = int(os.environ["BENCH_LONG_SIDE"])
        print(f"setup took {time.perf_counter() - t0:.2f} s")

    def size(self, aspect_ratio: str) -> tuple:
        w, h = RATIOS[aspect_ratio]
        scale = self.long_side / max(w, h)
        step = max(8, 32 * self.long_side // 1024)
        return (max(step, int(w * scale) // step * step), max(step, int(h * scale) // step * step))

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
        if seed is None:
            seed = int.from_bytes(os.urandom(2), "big")
        width, height = self.size(aspect_ratio)
        with self.torch.inference_mode():
            images = self.pipe(prompt=prompt, negative_prompt=negative_prompt or None,
                               num_inference_steps=num_inference_steps or 4,
                               guidance_scale=guidance_scale, width=width, height=height,
                               num_images_per_prompt=num_outputs,
                               generator=self.torch.Generator("cpu").manual_seed(seed)).images
        urls = []
        for img in images:
            name = f"out-{uuid.uuid4().hex[:12]}.{output_format}"
            path = FsPath(tempfile.mkdtemp()) / name
            fmt = {"jpg": "JPEG", "webp": "WEBP", "png": "PNG"}[output_format]
            img.save(path, format=fmt, **({} if fmt == "PNG" else {"quality": output_quality}))
            self.s3.upload_file(str(path), self.bucket, name,
                                ExtraArgs={"ContentType": f"image/{'jpeg' if fmt == 'JPEG' else output_format}"})
            urls.append(self.s3.generate_presigned_url(
                "get_object", Params={"Bucket": self.bucket, "Key": name}, ExpiresIn=3600))
        return urls
