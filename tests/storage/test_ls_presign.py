"""`sdxl-tigris ls` output and `presign` URLs (fetched with curl) against SeaweedFS."""

from __future__ import annotations

import subprocess
import time
import urllib.parse

import pytest

from s3util import MiB, assert_clean_failure, ok, sha256_file, write_file

pytestmark = pytest.mark.s3

LS_FLAGS: list[str] = []  # `ls` is always recursive


def find_entry(proc, bucket: str, key: str, size: int) -> bool:
    """True if some ls line shows `key` (bare or as s3://bucket/key) with `size`."""
    for line in proc.stdout.splitlines():
        stripped = line.rstrip()
        if (stripped.endswith(" " + key) or stripped.endswith(f"s3://{bucket}/{key}")
                or stripped == key) and str(size) in line.split():
            return True
    return False


def test_ls_shows_keys_and_sizes(sdxl_run, s3_server):
    bucket = s3_server.new_bucket()
    client = s3_server.boto3_client()
    objects = {"model_index.json": 543, "unet/config.json": 1801, "unet/w.safetensors": 70000,
               "vae/sub dir/x y.bin": 0}
    for key, size in objects.items():
        client.put_object(Bucket=bucket, Key=key, Body=b"z" * size)
    proc = sdxl_run("ls", *LS_FLAGS, f"s3://{bucket}")
    ok(proc)
    for key, size in objects.items():
        assert find_entry(proc, bucket, key, size), f"{key} ({size}) missing from:\n{proc.stdout}"
    assert len([l for l in proc.stdout.splitlines() if l.strip()]) == len(objects)


def test_ls_prefix_filters(sdxl_run, s3_server):
    bucket = s3_server.new_bucket()
    client = s3_server.boto3_client()
    for key in ("unet/a", "unet/b/c", "unetx/d", "vae/e"):
        client.put_object(Bucket=bucket, Key=key, Body=b"1234")
    proc = sdxl_run("ls", *LS_FLAGS, f"s3://{bucket}/unet/")
    ok(proc)
    assert find_entry(proc, bucket, "unet/a", 4) or find_entry(proc, bucket, "a", 4)
    assert "unetx" not in proc.stdout and "vae" not in proc.stdout


def test_ls_paginates_past_1000(sdxl_run, s3_server):
    from concurrent.futures import ThreadPoolExecutor

    bucket = s3_server.new_bucket()
    client = s3_server.boto3_client()
    keys = [f"k/{i:05d}" for i in range(1203)]
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda k: client.put_object(Bucket=bucket, Key=k, Body=b"ab"), keys))
    proc = sdxl_run("ls", *LS_FLAGS, f"s3://{bucket}/k/")
    ok(proc)
    lines = [l for l in proc.stdout.splitlines() if l.strip()]
    assert len(lines) == len(keys)
    assert any(l.rstrip().endswith("k/01202") for l in lines)


def test_ls_empty_bucket_is_empty_success(sdxl_run, s3_server):
    proc = sdxl_run("ls", *LS_FLAGS, f"s3://{s3_server.new_bucket()}")
    ok(proc)
    assert proc.stdout.strip() == ""


def curl(*args, timeout=60):
    return subprocess.run(["curl", "-sS", "--max-time", "30", *args], capture_output=True,
                          timeout=timeout)


def test_presigned_get_with_curl(sdxl_run, s3_server, tmp_path):
    bucket = s3_server.new_bucket()
    src = write_file(tmp_path / "src", 3 * MiB + 5, seed=11)
    key = "dir/with space+plus%pct ü.bin"
    s3_server.boto3_client().upload_file(str(src), bucket, key)
    proc = sdxl_run("presign", f"s3://{bucket}/{key}", "--expires", "600")
    ok(proc)
    url = proc.stdout.strip()
    assert url.startswith(s3_server.endpoint + "/"), url
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
    assert query["X-Amz-Expires"] == ["600"]
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    out = tmp_path / "fetched"
    c = curl("-f", "-o", str(out), url)
    assert c.returncode == 0, c.stderr
    assert sha256_file(out) == sha256_file(src)
    # The signature covers the key: another key with the same query string is refused.
    other = url.replace(urllib.parse.quote("ü"), urllib.parse.quote("u"), 1)
    assert other != url
    assert curl("-o", "/dev/null", "-w", "%{http_code}", other).stdout == b"403"


def test_presigned_put_with_curl(sdxl_run, s3_server, tmp_path):
    bucket = s3_server.new_bucket()
    src = write_file(tmp_path / "up", 2 * MiB + 1, seed=12)
    proc = sdxl_run("presign", "--method", "PUT", f"s3://{bucket}/uploads/out.png")
    ok(proc)
    url = proc.stdout.strip()
    c = curl("-f", "-T", str(src), url)
    assert c.returncode == 0, c.stderr
    got = s3_server.boto3_client().get_object(Bucket=bucket, Key="uploads/out.png")["Body"].read()
    assert got == src.read_bytes()


def test_presigned_url_expires(sdxl_run, s3_server):
    bucket = s3_server.new_bucket()
    s3_server.boto3_client().put_object(Bucket=bucket, Key="k", Body=b"data")
    proc = sdxl_run("presign", f"s3://{bucket}/k", "--expires", "1")
    ok(proc)
    url = proc.stdout.strip()
    time.sleep(2.5)
    assert curl("-o", "/dev/null", "-w", "%{http_code}", url).stdout == b"403"


def test_presign_rejects_bad_expiry(sdxl_run, s3_server):
    bucket = s3_server.new_bucket()
    for bad in ("0", "-5", "soon"):
        proc = sdxl_run("presign", f"s3://{bucket}/k", "--expires", bad)
        assert proc.returncode == 2, f"--expires {bad}: exit {proc.returncode}: {proc.stderr}"
        assert proc.stdout.strip() == ""
