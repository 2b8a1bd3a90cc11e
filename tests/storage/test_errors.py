"""User-facing failures: one clear stderr line, non-zero exit, nothing left behind."""

from __future__ import annotations

import pytest

from s3util import all_entries, assert_clean_failure, env_without, write_file

pytestmark = pytest.mark.s3


def test_missing_credentials(sdxl_run, s3_server, tmp_path):
    bucket = s3_server.new_bucket()
    env = env_without(s3_server.env(), "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
    proc = sdxl_run("ls", f"s3://{bucket}", env=env)
    line = assert_clean_failure(proc)
    assert "AWS_ACCESS_KEY_ID" in line or "credential" in line.lower(), line


def test_wrong_secret(sdxl_run, s3_server, tmp_path):
    bucket = s3_server.new_bucket()
    env = s3_server.env(AWS_SECRET_ACCESS_KEY="definitely-not-the-secret")
    proc = sdxl_run("ls", f"s3://{bucket}", env=env)
    line = assert_clean_failure(proc)
    assert "signature" in line.lower() or "secret" in line.lower(), line

    dst = tmp_path / "out"
    dst.mkdir()
    proc = sdxl_run("cp", f"s3://{bucket}/k", dst / "k", env=env)
    assert_clean_failure(proc)
    assert all_entries(dst) == []


def test_unknown_access_key(sdxl_run, s3_server):
    env = s3_server.env(AWS_ACCESS_KEY_ID="AKIDNOSUCHKEY0000000")
    proc = sdxl_run("ls", f"s3://{s3_server.new_bucket()}", env=env)
    assert_clean_failure(proc)


def test_no_such_bucket(sdxl_run, s3_server, tmp_path):
    proc = sdxl_run("ls", "s3://no-such-bucket-4f1c2a")
    assert_clean_failure(proc, "no-such-bucket-4f1c2a")
    assert "nosuchbucket" in proc.stderr.lower().replace(" ", "") or "does not exist" in proc.stderr

    dst = tmp_path / "d"
    dst.mkdir()
    proc = sdxl_run("cp", "s3://no-such-bucket-4f1c2a/key", dst / "key")
    assert_clean_failure(proc, "no-such-bucket-4f1c2a")
    assert all_entries(dst) == []


def test_no_such_key(sdxl_run, s3_server, tmp_path):
    bucket = s3_server.new_bucket()
    dst = tmp_path / "d"
    dst.mkdir()
    proc = sdxl_run("cp", f"s3://{bucket}/missing/key.bin", dst / "key.bin")
    line = assert_clean_failure(proc, "missing/key.bin")
    assert "nosuchkey" in line.lower().replace(" ", "") or "no such" in line.lower() \
        or "not found" in line.lower() or "does not exist" in line.lower(), line
    assert all_entries(dst) == []


def test_download_existing_file_untouched_on_failure(sdxl_run, s3_server, tmp_path):
    bucket = s3_server.new_bucket()
    dst = write_file(tmp_path / "precious.bin", 1000, seed=1)
    before = dst.read_bytes()
    proc = sdxl_run("cp", f"s3://{bucket}/missing", dst)
    assert_clean_failure(proc)
    assert dst.read_bytes() == before
    assert all_entries(tmp_path) == ["precious.bin"]


def test_missing_local_source(sdxl_run, s3_server, tmp_path):
    bucket = s3_server.new_bucket()
    proc = sdxl_run("cp", tmp_path / "nope.bin", f"s3://{bucket}/x")
    assert_clean_failure(proc, "nope.bin")
    assert s3_server.boto3_client().list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_upload_to_missing_bucket(sdxl_run, s3_server, tmp_path):
    src = write_file(tmp_path / "f", 10)
    # SeaweedFS auto-creates buckets for admin identities on PUT; this checks only the exit
    # code is consistent with what happened: either it failed cleanly or the object is there.
    proc = sdxl_run("cp", src, "s3://auto-created-or-not-7d2e/x")
    if proc.returncode != 0:
        assert_clean_failure(proc)
    else:
        body = s3_server.boto3_client().get_object(Bucket="auto-created-or-not-7d2e", Key="x")
        assert body["Body"].read() == src.read_bytes()


@pytest.mark.parametrize("args", [
    ["cp"],
    ["cp", "only-one-arg"],
    ["ls", "not-an-s3-url://x"],
    ["presign", "s3://bucket-only"],
])
def test_usage_errors(sdxl_run, args):
    proc = sdxl_run(*args)
    assert proc.returncode != 0
    assert proc.stderr.strip(), "usage error must say something on stderr"
    assert "terminate called" not in proc.stderr
