"""The seed's whole flow with the real engine on a tiny pipeline: prepare-model into SeaweedFS,
`serve` boots from the bucket (MODEL_BUCKET_NAME/MODEL_PATH, empty cache), the seed's example
request, the image fetched from its presigned URL in the output bucket."""

from __future__ import annotations

import subprocess
import urllib.request

import pytest

@pytest.fixture
def real_engine(sdxl_binary):
    out = subprocess.run([str(sdxl_binary), "version"], capture_output=True, text=True)
    if "features: torch" not in out.stdout:
        pytest.skip("no SDXL engine library next to sdxl-tigris (built without LibTorch)")


@pytest.mark.s3
def test_boot_from_bucket_and_presigned_output(real_engine, serve_factory, sdxl_run, s3_server,
                                               tiny_lightning, tmp_path):
    models = s3_server.new_bucket("models")
    images = s3_server.new_bucket("images")
    prep = sdxl_run("prepare-model", tiny_lightning, f"s3://{models}", "--path", "tiny/lightning",
                    timeout=300)
    assert prep.returncode == 0, prep.stderr
    env = s3_server.env(MODEL_BUCKET_NAME=models, MODEL_PATH="tiny/lightning",
                        PUBLIC_BUCKET_NAME=images, MODEL_CACHE_DIR=str(tmp_path / "cache"))
    s = serve_factory(engine="real", env=env, timeout=300)
    logs = s.health()["setup"]["logs"]
    assert "downloaded" in logs and "READY in" in logs
    req = {"input": {"prompt": "A girl smiling", "aspect_ratio": "1:1", "guidance_scale": 3.5,
                     "num_inference_steps": 2, "max_sequence_length": 512,
                     "output_format": "png", "num_outputs": 2, "seed": 7}}
    r = s.request("PUT", "/predictions/e2e-1", req, timeout=300)
    assert r.status == 200, r.text
    body = r.json
    assert body["status"] == "succeeded", body
    assert len(body["output"]) == 2
    for url in body["output"]:
        assert url.startswith(s3_server.endpoint) and "X-Amz-Signature=" in url
        assert f"/{images}/out-" in url and ".png?" in url
        with urllib.request.urlopen(url, timeout=30) as resp:
            assert resp.headers["Content-Type"] == "image/png"
            assert resp.read()[:8] == b"\x89PNG\r\n\x1a\n"
    assert body["metrics"]["seed"] == 7
    assert "step 2/2" in body["logs"]
    # The same seed gives the same image (the engine is deterministic on CPU).
    r2 = s.request("POST", "/predictions", dict(req, input=dict(req["input"], num_outputs=1)),
                   timeout=300)
    with urllib.request.urlopen(r2.json["output"][0]) as a, \
            urllib.request.urlopen(body["output"][0]) as b:
        assert a.read() == b.read()
    # A second server on the same cache reuses every file (no download).
    s2 = serve_factory(engine="real", env=env, timeout=300)
    assert "0 file(s) / 0.0 MiB downloaded" in s2.health()["setup"]["logs"]


@pytest.mark.s3
def test_setup_failed_for_missing_model_path(serve_factory, s3_server, tmp_path):
    bucket = s3_server.new_bucket("empty")
    env = s3_server.env(MODEL_BUCKET_NAME=bucket, MODEL_PATH="no/such/model",
                        MODEL_CACHE_DIR=str(tmp_path / "cache"))
    s = serve_factory(env=env, wait=("SETUP_FAILED",))
    assert "no/such/model" in s.health()["setup"]["logs"]


@pytest.mark.s3
def test_output_upload_failure_fails_the_prediction(serve_factory, s3_server, fault_proxy,
                                                    fake_model, tmp_path):
    images = s3_server.new_bucket("images")
    env = s3_server.env(endpoint=fault_proxy.endpoint, PUBLIC_BUCKET_NAME=images,
                        MODEL_CACHE_DIR=str(tmp_path / "cache"))
    fault_proxy.add_rule("error", method="PUT", path=rf"/{images}/out-", status=403,
                         code="AccessDenied")
    s = serve_factory(model=fake_model, env=env)
    r = s.request("POST", "/predictions", {"input": {"prompt": "x"}})
    assert r.status == 200
    assert r.json["status"] == "failed" and r.json["output"] is None
    assert images in r.json["error"]
    assert s3_server.secret_key not in r.text and s3_server.secret_key not in s.logs()
    assert fault_proxy.faults_fired()


@pytest.mark.s3
def test_corrupt_unet_in_the_bucket_fails_setup_with_the_pull_error(
        real_engine, serve_factory, sdxl_run, s3_server, tiny_lightning, tmp_path):
    """The engine loads the text encoders while the UNet downloads; a UNet that fails its
    SHA-256 check must end setup with that error (not a load error), and nothing corrupt may be
    loaded or left under a final name in the cache."""
    models = s3_server.new_bucket("models")
    prep = sdxl_run("prepare-model", tiny_lightning, f"s3://{models}", "--path", "m", timeout=300)
    assert prep.returncode == 0, prep.stderr
    s3 = s3_server.boto3_client()
    key = next(o["Key"] for o in s3.list_objects_v2(Bucket=models, Prefix="m/unet/")["Contents"]
               if o["Key"].endswith(".safetensors"))
    body = bytearray(s3.get_object(Bucket=models, Key=key)["Body"].read())
    body[-1] ^= 0xFF  # same size, one byte of tensor data changed
    s3.put_object(Bucket=models, Key=key, Body=bytes(body))
    cache = tmp_path / "cache"
    env = s3_server.env(MODEL_BUCKET_NAME=models, MODEL_PATH="m", MODEL_CACHE_DIR=str(cache))
    s = serve_factory(engine="real", env=env, wait=("SETUP_FAILED",), timeout=300)
    logs = s.health()["setup"]["logs"]
    assert "does not match the manifest" in logs, logs
    assert not (cache / models / key).exists()
