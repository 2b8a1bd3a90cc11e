"""Transfers through tools/fault_proxy.py: every download is byte-exact or fails cleanly, every
upload completes or leaves nothing (no object under the final key, no open multipart upload).

Each test also asserts that its fault really fired, so a rule that stops matching (because the
client changed its request shapes) fails loudly instead of passing vacuously.
"""

from __future__ import annotations

import pytest

from s3util import (MiB, PART_SIZE, all_entries, assert_clean_failure, cp_tuning, list_keys, ok,
                    open_uploads, sha256_file, sha256_object, write_file)

pytestmark = pytest.mark.s3

OBJ = 4 * PART_SIZE + 12345  # 5 ranges / parts
OBJ_RE = r"/obj\.bin(\?|$)"  # the object path, with or without a query string


@pytest.fixture
def remote_obj(s3_server, tmp_path):
    bucket = s3_server.new_bucket()
    src = write_file(tmp_path / "src.bin", OBJ, seed=77)
    s3_server.boto3_client().upload_file(str(src), bucket, "obj.bin")
    return bucket, src


def _download(sdxl_run, s3_server, proxy, bucket, dst, timeout=120):
    return sdxl_run("cp", *cp_tuning(concurrency=4), f"s3://{bucket}/obj.bin", dst,
                    env=s3_server.env(endpoint=proxy.endpoint), timeout=timeout)


DOWNLOAD_FAULTS = {
    "500-twice": [dict(action="error", method="GET", path=OBJ_RE, status=500, times=2)],
    "503-slowdown-x3": [dict(action="error", method="GET", path=OBJ_RE, status=503, times=3)],
    "head-503": [dict(action="error", method="HEAD", path=OBJ_RE, status=503, times=1)],
    "reset-mid-body": [dict(action="reset", method="GET", path=OBJ_RE, after_bytes=MiB + 17,
                            times=2)],
    "truncated-body": [dict(action="truncate", method="GET", path=OBJ_RE, after_bytes=3 * MiB,
                            times=2)],
    "reset-before-response": [dict(action="reset", method="GET", path=OBJ_RE, after_bytes=-1,
                                   skip=1, times=1)],
    "mixed": [dict(action="error", method="GET", path=OBJ_RE, status=503, times=1),
              dict(action="reset", method="GET", path=OBJ_RE, after_bytes=100, skip=1, times=1),
              dict(action="truncate", method="GET", path=OBJ_RE, after_bytes=2 * MiB, skip=2,
                   times=1)],
}


@pytest.mark.parametrize("rules", DOWNLOAD_FAULTS.values(), ids=DOWNLOAD_FAULTS.keys())
def test_download_survives_transient_fault(sdxl_run, s3_server, fault_proxy, remote_obj,
                                           tmp_path, rules):
    bucket, src = remote_obj
    for rule in rules:
        fault_proxy.add_rule(**rule)
    out = tmp_path / "out"
    out.mkdir()
    proc = _download(sdxl_run, s3_server, fault_proxy, bucket, out / "obj.bin")
    assert fault_proxy.faults_fired() >= 1, f"fault never fired: {fault_proxy.requests()}"
    ok(proc)
    assert sha256_file(out / "obj.bin") == sha256_file(src)
    assert all_entries(out) == ["obj.bin"]


@pytest.mark.parametrize("rule", [
    dict(action="error", method="GET", status=500, times=None),
    dict(action="error", method="GET", status=503, times=None),
    dict(action="reset", method="GET", after_bytes=1000, times=None),
], ids=["500", "503", "reset"])
def test_download_persistent_fault_fails_cleanly(sdxl_run, s3_server, fault_proxy, remote_obj,
                                                 tmp_path, rule):
    bucket, _ = remote_obj
    fault_proxy.add_rule(path=OBJ_RE, **rule)
    out = tmp_path / "out"
    out.mkdir()
    proc = _download(sdxl_run, s3_server, fault_proxy, bucket, out / "obj.bin", timeout=240)
    assert_clean_failure(proc)
    assert all_entries(out) == [], "a failed download left files behind"
    attempts = len(fault_proxy.requests("GET"))
    assert 2 <= attempts <= 200, f"{attempts} GET attempts: retries must be bounded"


def test_download_stall_is_detected(sdxl_run, s3_server, fault_proxy, remote_obj, tmp_path):
    """Headers then silence: the client's stall detection must give up on it and retry.
    (~21 s: the stall limit is 20 s.)"""
    bucket, src = remote_obj
    fault_proxy.add_rule("stall", method="GET", path=OBJ_RE, after_bytes=64 * 1024, times=1)
    out = tmp_path / "out"
    out.mkdir()
    proc = _download(sdxl_run, s3_server, fault_proxy, bucket, out / "obj.bin", timeout=280)
    assert fault_proxy.faults_fired() == 1
    ok(proc)
    assert sha256_file(out / "obj.bin") == sha256_file(src)


# ----------------------------------------------------------------------------- uploads

PART = r"[?&]partNumber="
UPLOAD_FAULTS = {
    "part-500": [dict(action="error", method="PUT", path=PART + r"2(&|$)", status=500, times=1)],
    "part-503-x2": [dict(action="error", method="PUT", path=PART, status=503, times=2)],
    "create-503": [dict(action="error", method="POST", path=r"[?&]uploads(=|&|$)", status=503,
                        times=1)],
    "complete-500": [dict(action="error", method="POST", path=r"[?&]uploadId=", status=500,
                          times=1)],
    "part-reset": [dict(action="reset", method="PUT", path=PART + r"3(&|$)", after_bytes=-1,
                        times=1)],
    "part-reset-after-upstream": [dict(action="reset", method="PUT", path=PART + r"1(&|$)",
                                       forward=True, after_bytes=-1, times=1)],
    "part-500-after-upstream": [dict(action="error", method="PUT", path=PART, status=500,
                                     forward=True, times=2)],
    "complete-500-after-upstream": [dict(action="error", method="POST", path=r"[?&]uploadId=",
                                         status=500, forward=True, times=1)],
}


def _upload_outcome_ok(proc, client, bucket, key, src):
    """Either success with the exact bytes, or failure with nothing left; never in between."""
    assert open_uploads(client, bucket) == [], "open multipart uploads left behind"
    if proc.returncode == 0:
        assert sha256_object(client, bucket, key) == sha256_file(src)
    else:
        assert_clean_failure(proc)
        assert key not in list_keys(client, bucket), "failed upload left an object"


@pytest.mark.parametrize("rules", UPLOAD_FAULTS.values(), ids=UPLOAD_FAULTS.keys())
def test_upload_survives_transient_fault(sdxl_run, s3_server, fault_proxy, tmp_path, rules):
    bucket = s3_server.new_bucket()
    client = s3_server.boto3_client()
    src = write_file(tmp_path / "up.bin", OBJ, seed=78)
    for rule in rules:
        fault_proxy.add_rule(**rule)
    proc = sdxl_run("cp", *cp_tuning(concurrency=3), src, f"s3://{bucket}/obj.bin",
                    env=s3_server.env(endpoint=fault_proxy.endpoint), timeout=120)
    assert fault_proxy.faults_fired() >= 1, f"fault never fired: {fault_proxy.requests()}"
    _upload_outcome_ok(proc, client, bucket, "obj.bin", src)
    ok(proc)  # transient faults must be retried to success


@pytest.mark.parametrize("rules", [
    [dict(action="error", method="PUT", status=500, times=None)],
    [dict(action="reset", method="PUT", after_bytes=-1, times=None)],
    [dict(action="error", method="POST", path=r"[?&]uploadId=", status=500, times=None)],
], ids=["every-put-500", "every-put-reset", "complete-always-500"])
def test_upload_persistent_fault_leaves_nothing(sdxl_run, s3_server, fault_proxy, tmp_path, rules):
    bucket = s3_server.new_bucket()
    client = s3_server.boto3_client()
    src = write_file(tmp_path / "up.bin", OBJ, seed=79)
    for rule in rules:
        fault_proxy.add_rule(**rule)
    proc = sdxl_run("cp", *cp_tuning(concurrency=3), src, f"s3://{bucket}/obj.bin",
                    env=s3_server.env(endpoint=fault_proxy.endpoint), timeout=240)
    assert proc.returncode != 0
    _upload_outcome_ok(proc, client, bucket, "obj.bin", src)


@pytest.mark.parametrize("size", [0, 1000, PART_SIZE], ids=["empty", "small", "one-part"])
def test_single_put_retries_503(sdxl_run, s3_server, fault_proxy, tmp_path, size):
    bucket = s3_server.new_bucket()
    client = s3_server.boto3_client()
    src = write_file(tmp_path / "s.bin", size, seed=size)
    fault_proxy.add_rule("error", method="PUT", path=r"/s\.bin(\?|$)", status=503, times=2)
    proc = sdxl_run("cp", *cp_tuning(), src, f"s3://{bucket}/s.bin",
                    env=s3_server.env(endpoint=fault_proxy.endpoint))
    assert fault_proxy.faults_fired() == 2
    ok(proc)
    assert sha256_object(client, bucket, "s.bin") == sha256_file(src)
    assert len(fault_proxy.requests("PUT")) >= 3
