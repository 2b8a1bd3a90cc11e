"""S3 error codes a real provider sends and SeaweedFS does not (issue 15, item 6): each is injected
by the fault proxy on the request that gets it from AWS, and the binary must exit 1 with the one
line that says what to do, leaving nothing partial (no file, no temporary, no open upload)."""

from __future__ import annotations

import pytest

from s3util import MiB, all_entries, cp_tuning, list_keys, open_uploads, write_file

pytestmark = pytest.mark.s3


def error_line(proc) -> str:
    lines = [line for line in proc.stderr.splitlines() if line.startswith("sdxl-tigris: ")]
    assert lines, proc.stderr
    return lines[-1]


def test_expired_session_token(sdxl_run, s3_server, fault_proxy, tmp_path):
    bucket = s3_server.new_bucket()
    s3_server.boto3_client().put_object(Bucket=bucket, Key="k", Body=b"x" * 1000)
    fault_proxy.add_rule("error", method="GET", path=r"/k$", status=400, code="ExpiredToken",
                         times=None)
    out = tmp_path / "out"
    out.mkdir()
    proc = sdxl_run("cp", f"s3://{bucket}/k", out / "k",
                    env=s3_server.env(endpoint=fault_proxy.endpoint))
    assert proc.returncode == 1
    assert "session token expired or invalid; refresh AWS_SESSION_TOKEN" in error_line(proc)
    assert all_entries(out) == []
    assert len(fault_proxy.requests("GET", r"/k$")) == 1, "an expired token is not retried"


def test_invalid_range(sdxl_run, s3_server, fault_proxy, tmp_path):
    bucket = s3_server.new_bucket()
    src = write_file(tmp_path / "src.bin", 12 * MiB, seed=3)
    s3_server.boto3_client().upload_file(str(src), bucket, "big.bin")
    # The second ranged GET finds the object shorter than its listing said (it changed).
    fault_proxy.add_rule("error", method="GET", path=r"/big\.bin$", status=416,
                         code="InvalidRange", skip=1, times=None)
    out = tmp_path / "out"
    out.mkdir()
    proc = sdxl_run("cp", *cp_tuning(5 * MiB, concurrency=1), f"s3://{bucket}/big.bin",
                    out / "big.bin", env=s3_server.env(endpoint=fault_proxy.endpoint))
    assert proc.returncode == 1
    assert "requested range is outside the object (it changed?); run again" in error_line(proc)
    assert all_entries(out) == []


def test_bucket_name_taken_by_another_account(sdxl_run, s3_server, fault_proxy):
    fault_proxy.add_rule("error", method="PUT", path=r"^/taken-by-someone/?$", status=409,
                         code="BucketAlreadyExists")
    proc = sdxl_run("mb", "s3://taken-by-someone",
                    env=s3_server.env(endpoint=fault_proxy.endpoint))
    assert proc.returncode == 1
    assert "bucket name is taken by another account; pick another name" in error_line(proc)


def test_part_too_small_aborts_the_upload(sdxl_run, s3_server, fault_proxy, tmp_path):
    bucket = s3_server.new_bucket()
    client = s3_server.boto3_client()
    src = write_file(tmp_path / "src.bin", 20 * MiB, seed=4)
    fault_proxy.add_rule("error", method="POST", path=r"/obj\.bin\?uploadId=", status=400,
                         code="EntityTooSmall")
    proc = sdxl_run("cp", *cp_tuning(5 * MiB), src, f"s3://{bucket}/obj.bin",
                    env=s3_server.env(endpoint=fault_proxy.endpoint))
    assert proc.returncode == 1
    assert "use a part size of at least 5 MiB" in error_line(proc)
    assert list_keys(client, bucket) == {}
    assert open_uploads(client, bucket) == [], "the failed multipart upload was not aborted"


@pytest.mark.parametrize("status,code", [(301, "PermanentRedirect"),
                                         (400, "AuthorizationHeaderMalformed")])
def test_wrong_region(sdxl_run, s3_server, fault_proxy, status, code):
    bucket = s3_server.new_bucket()
    fault_proxy.add_rule("error", method="GET", path=rf"^/{bucket}\?", status=status, code=code,
                         times=None)
    proc = sdxl_run("ls", f"s3://{bucket}", env=s3_server.env(endpoint=fault_proxy.endpoint))
    assert proc.returncode == 1
    line = error_line(proc)
    assert "wrong region or endpoint for this bucket" in line and "AWS_REGION" in line, line
