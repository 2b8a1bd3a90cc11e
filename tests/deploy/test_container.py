"""The serve image (deploy/Containerfile, built by deploy/build-image.sh with podman, no registry)
started the way a platform starts it: host networking, credentials and bucket names from the
environment (`-e NAME`, never on the command line or in the image), the model cache on a volume,
as the image's non-root user; it boots from SeaweedFS with the tiny pipeline, reports READY, answers
one prediction with a presigned URL into the output bucket, writes Cog's Kubernetes readiness file
(read with the very probe deploy/k8s/ uses), runs with the Deployment's security context (read-only
root filesystem, no capabilities) and stops cleanly on SIGTERM.

Slow (the image is ~3.3 GB and takes ~2-3 minutes to build on 2 cores): SDXL_RUN_SLOW=1 or
--run-slow. SDXL_TEST_IMAGE=<tag> reuses an image built before (bash deploy/build-image.sh).
Needs podman (apt-get install -y podman buildah runc) and root."""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.request
import uuid

import pytest

from deploy_helpers import free_port, http, prepare_tiny, wait_health

pytestmark = pytest.mark.slow


def test_image_config(container_tool, image):
    out = subprocess.run([container_tool, "image", "inspect", image], capture_output=True,
                         text=True, check=True)
    info = json.loads(out.stdout)[0]
    cfg = info["Config"]
    assert cfg["User"] == "10001:10001"
    assert cfg["Entrypoint"] == ["/usr/local/bin/sdxl-tigris", "serve"]
    assert "5000/tcp" in cfg["ExposedPorts"]
    assert "/cache" in cfg["Volumes"]
    env = dict(e.split("=", 1) for e in cfg["Env"])
    assert env["MODEL_CACHE_DIR"] == "/cache" and env["PORT"] == "5000"
    assert not [k for k in env if k.startswith("AWS_") or "TOKEN" in k or "SECRET" in k]
    assert info["Size"] < 4 * 2**30
    print(f"\nimage {image}: {info['Size'] / 2**20:.0f} MiB uncompressed")


@pytest.mark.s3
def test_container_boots_from_bucket_and_predicts(container_tool, image, run_args, sdxl_binary,
                                                  s3_server, tiny_lightning, tmp_path):
    models, images = s3_server.new_bucket("models"), s3_server.new_bucket("images")
    prepare_tiny(sdxl_binary, tiny_lightning, models, "tiny/lightning", s3_server.env())
    cache, cog = tmp_path / "cache", tmp_path / "cog"
    for d in (cache, cog):
        d.mkdir()
        os.chown(d, 10001, 10001)
    port = free_port()
    name = f"sdxl-test-{uuid.uuid4().hex[:8]}"
    # Values travel in podman's environment; the command line names them only.
    env = dict(os.environ)
    env.update({
        "AWS_ACCESS_KEY_ID": s3_server.access_key, "AWS_SECRET_ACCESS_KEY": s3_server.secret_key,
        "AWS_ENDPOINT_URL_S3": s3_server.endpoint, "AWS_REGION": s3_server.region,
        "MODEL_BUCKET_NAME": models, "MODEL_PATH": "tiny/lightning", "PUBLIC_BUCKET_NAME": images,
        "PORT": str(port), "KUBERNETES_SERVICE_HOST": "10.0.0.1",
    })
    names = ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL_S3", "AWS_REGION",
             "MODEL_BUCKET_NAME", "MODEL_PATH", "PUBLIC_BUCKET_NAME", "PORT",
             "KUBERNETES_SERVICE_HOST"]
    # As deploy/k8s/deployment.yaml runs it: read-only root filesystem, no capabilities, no
    # privilege escalation, writable /cache, /tmp and /var/run/cog only.
    cmd = [container_tool, "run", "--rm", "--name", name, *run_args, "--network", "host",
           "--read-only", "--cap-drop", "all", "--security-opt", "no-new-privileges",
           "--tmpfs", "/tmp:mode=1777", "-v", f"{cache}:/cache", "-v", f"{cog}:/var/run/cog"]
    for n in names:
        cmd += ["-e", n]
    cmd.append(image)
    assert s3_server.secret_key not in " ".join(cmd)
    log_path = tmp_path / "container.log"
    log = open(log_path, "wb")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    logs = lambda: log_path.read_text(errors="replace")  # noqa: E731

    def probe():  # deploy/k8s/deployment.yaml's readiness probe, run in the container
        return subprocess.run([container_tool, "exec", name, "cat", "/var/run/cog/ready"],
                              capture_output=True, timeout=60).returncode

    try:
        t0 = time.monotonic()
        health = wait_health(url, timeout=300, alive=lambda: proc.poll() is None, logs=logs)
        boot = time.monotonic() - t0
        assert "READY in" in health["setup"]["logs"], health
        assert probe() == 0
        top = subprocess.run([container_tool, "top", name, "user", "comm"], capture_output=True,
                             text=True, timeout=60).stdout
        assert "sdxl-tigris" in top and "root" not in top, top
        status, text = http("PUT", url + "/predictions/container-1", {"input": {
            "prompt": "A girl smiling", "aspect_ratio": "1:1", "guidance_scale": 3.5,
            "num_inference_steps": 2, "max_sequence_length": 512, "output_format": "png",
            "num_outputs": 1, "seed": 7}}, timeout=300)
        assert status == 200, text
        body = json.loads(text)
        assert body["status"] == "succeeded", body
        out_url = body["output"][0]
        assert out_url.startswith(f"{s3_server.endpoint}/{images}/out-") and ".png?" in out_url
        with urllib.request.urlopen(out_url, timeout=30) as r:
            assert r.headers["Content-Type"] == "image/png"
            assert r.read()[:8] == b"\x89PNG\r\n\x1a\n"
        cached = [p for p in cache.rglob("*") if p.is_file()]
        assert cached and all(p.stat().st_uid == 10001 for p in cached)  # non-root wrote them
        print(f"\ncontainer READY {boot:.1f} s after start")
        stop = subprocess.run([container_tool, "stop", "-t", "60", name], capture_output=True,
                              text=True, timeout=120)
        assert stop.returncode == 0, stop.stderr
        assert proc.wait(timeout=120) == 0, logs()[-3000:]
    finally:
        if proc.poll() is None:
            subprocess.run([container_tool, "rm", "-f", name], capture_output=True, timeout=120)
            proc.wait(timeout=60)
        log.close()
    assert s3_server.secret_key not in logs()
