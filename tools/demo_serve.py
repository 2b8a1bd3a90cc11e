#!/usr/bin/env python3
"""`make demo`: the seed tutorial's whole flow on this machine, with no cloud account.

1. a private SeaweedFS on 127.0.0.1 stands in for Tigris (tools/seaweedfs.py);
2. a tiny random SDXL-Lightning-style pipeline (tools/make_tiny_sdxl.py) is prepared into the
   bucket `model-storage` with `sdxl-tigris prepare-model` (prints the deployment env block);
3. `sdxl-tigris serve` boots from the bucket (MODEL_BUCKET_NAME/MODEL_PATH, empty cache) and
   uploads images to the bucket `public-images` (PUBLIC_BUCKET_NAME);
4. the seed's example request, `PUT /predictions/<uuid>`, gets a presigned URL back;
5. the image is fetched from that URL into out/demo/.

Usage: python3 tools/demo_serve.py --binary build/sdxl-tigris [--out out/demo]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from seaweedfs import SeaweedFS  # noqa: E402


def http(method, url, body=None, timeout=600):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json"} if data else {})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.status, r.read()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--binary", type=Path, required=True)
    ap.add_argument("--out", type=Path, default=Path("out/demo"))
    args = ap.parse_args()
    binary = args.binary.resolve()
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    model_dir = out / "tiny-lightning"
    if not (model_dir / "model_index.json").exists():
        subprocess.run([sys.executable, str(HERE / "make_tiny_sdxl.py"), "--config", "lightning",
                        str(model_dir)], check=True)

    with tempfile.TemporaryDirectory(prefix="sdxl-demo-") as tmp, SeaweedFS(Path(tmp) / "s3") as s3:
        env = s3.env()
        print(f"== S3 server (stands in for Tigris): {s3.endpoint}")
        subprocess.run([str(binary), "mb", "s3://model-storage"], env=env, check=True)
        subprocess.run([str(binary), "mb", "s3://public-images"], env=env, check=True)
        print("== prepare-model ./tiny-lightning -> s3://model-storage (the deployment env block):")
        prep = subprocess.run([str(binary), "prepare-model", str(model_dir), "s3://model-storage",
                               "--path", "tiny-lightning"], env=env, check=True,
                              capture_output=True, text=True)
        print(prep.stdout)
        serve_env = dict(env, MODEL_BUCKET_NAME="model-storage", MODEL_PATH="tiny-lightning",
                         PUBLIC_BUCKET_NAME="public-images",
                         MODEL_CACHE_DIR=str(Path(tmp) / "cache"))
        port_file = Path(tmp) / "port"
        print("== sdxl-tigris serve (boots from the bucket with an empty cache)")
        t0 = time.time()
        proc = subprocess.Popen([str(binary), "serve", "--host", "127.0.0.1", "--port", "0",
                                 "--port-file", str(port_file)], env=serve_env)
        try:
            while not port_file.exists():
                if proc.poll() is not None:
                    raise SystemExit("serve exited early")
                time.sleep(0.05)
            base = f"http://127.0.0.1:{int(port_file.read_text())}"
            while True:
                _, body = http("GET", base + "/health-check")
                health = json.loads(body)
                if health["status"] == "READY":
                    break
                if health["status"] == "SETUP_FAILED":
                    raise SystemExit("setup failed:\n" + health["setup"].get("logs", ""))
                time.sleep(0.1)
            print(f"== READY in {time.time() - t0:.2f} s; PUT /predictions/<uuid> "
                  "(the seed's example request)")
            req = {"input": {"prompt": "a watercolor painting of a lighthouse at dawn",
                             "aspect_ratio": "1:1", "guidance_scale": 3.5,
                             "num_inference_steps": 4, "max_sequence_length": 512,
                             "output_format": "png", "num_outputs": 1, "seed": 42}}
            _, body = http("PUT", f"{base}/predictions/{uuid.uuid4()}", req)
            pred = json.loads(body)
            print(f"   status {pred['status']}, predict_time "
                  f"{pred['metrics']['predict_time']:.2f} s")
            if pred["status"] != "succeeded":
                raise SystemExit(f"prediction failed: {pred['error']}")
            url = pred["output"][0]
            print(f"   presigned URL: {url[:100]}...")
            _, png = http("GET", url)
            dest = out / "demo.png"
            dest.write_bytes(png)
            print(f"== image fetched from its presigned URL: {dest} ({len(png)} bytes; random "
                  "tiny weights: expect colourful noise)")
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
    return 0


if __name__ == "__main__":
    sys.exit(main())
