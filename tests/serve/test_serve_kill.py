"""SIGKILL of `serve` at seeded random points while it uploads prediction outputs (issue 15, kill
tests; seed and count from SDXL_KILL_SEED / SDXL_KILL_POINTS as tests/storage/test_kill_points.py).

After each kill: every object in the output bucket is a whole image, byte-identical to what an
uninterrupted prediction with the same seed returns (never a cut-off PUT), and no multipart upload
is open; a new server on the same cache answers the same prediction with URLs that serve exactly
those bytes. The engine is the torch-free fake, so the test is about the server's writes.
"""

from __future__ import annotations

import signal
import time
import urllib.request

import kill_points
import pytest

pytestmark = pytest.mark.s3

REQUEST = {"input": {"prompt": "a lighthouse", "num_outputs": 3, "seed": 11,
                     "output_format": "png"}}


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as r:
        return r.read()


def test_sigkill_serve_during_output_uploads(serve_factory, s3_server, fault_proxy, fake_model,
                                            tmp_path):
    images = s3_server.new_bucket("images")
    s3 = s3_server.boto3_client()
    env = s3_server.env(endpoint=fault_proxy.endpoint, PUBLIC_BUCKET_NAME=images,
                        MODEL_CACHE_DIR=str(tmp_path / "cache"))
    fault_proxy.add_rule("delay", method="PUT", path=rf"/{images}/out-", seconds=0.3, times=None)

    ref_server = serve_factory(model=fake_model, env=env)
    start = time.monotonic()
    ref = ref_server.request("POST", "/predictions", REQUEST)
    duration = time.monotonic() - start
    assert ref.status == 200 and ref.json["status"] == "succeeded", ref.text
    outputs = [fetch(u) for u in ref.json["output"]]
    assert len(outputs) == 3 and all(b.startswith(b"\x89PNG\r\n\x1a\n") for b in outputs)
    expected = set(outputs)
    ref_server.stop()

    points = kill_points.schedule("serve-upload", duration)
    for at in points:
        s = serve_factory(model=fake_model, env=env)
        r = s.request("POST", "/predictions", REQUEST, headers={"Prefer": "respond-async"})
        assert r.status == 202, r.text
        time.sleep(at)
        s.stop(signal.SIGKILL)
        time.sleep(0.7)  # PUTs the dead server left in the delaying proxy land (or fail) first
        for obj in s3.list_objects_v2(Bucket=images).get("Contents", []):
            body = s3.get_object(Bucket=images, Key=obj["Key"])["Body"].read()
            assert body in expected, f"{obj['Key']}: not a whole output (kill at {at:.2f} s)"
        assert s3.list_multipart_uploads(Bucket=images).get("Uploads", []) == []

    again = serve_factory(model=fake_model, env=env)
    r = again.request("POST", "/predictions", REQUEST)
    assert r.status == 200 and r.json["status"] == "succeeded", r.text
    assert [fetch(u) for u in r.json["output"]] == outputs
