"""SIGINT / SIGTERM in the middle of `cp`: no partial file or object, no open multipart upload.

The fault proxy slows every data request down (a `delay` rule) so the transfer is reliably in
flight when the signal arrives; the test waits until the proxy has seen data requests first.
"""

from __future__ import annotations

import signal
import subprocess
import time

import pytest

from s3util import MiB, all_entries, cp_tuning, list_keys, open_uploads

pytestmark = pytest.mark.s3


def _wait_for_requests(proxy, proc, method, path, count, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(proxy.requests(method, path)) >= count:
            return
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"cp exited ({proc.returncode}) before the signal: {err}")
        time.sleep(0.05)
    proc.kill()
    pytest.fail(f"only {len(proxy.requests(method, path))} {method} requests after {timeout}s")


def _interrupt(proc, sig):
    proc.send_signal(sig)
    try:
        _out, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail(f"cp did not exit within 30 s of {sig.name}")
    return err


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["INT", "TERM"])
def test_signal_during_download(sdxl_binary, s3_server, fault_proxy, big_file, tmp_path, sig):
    bucket = s3_server.new_bucket()
    s3_server.boto3_client().upload_file(str(big_file), bucket, "big.bin")
    fault_proxy.add_rule("delay", method="GET", path=r"/big\.bin(\?|$)", seconds=0.5, times=None)
    out = tmp_path / "out"
    out.mkdir()
    proc = subprocess.Popen(
        [str(sdxl_binary), "cp", *cp_tuning(8 * MiB, concurrency=2), f"s3://{bucket}/big.bin",
         str(out / "big.bin")], env=s3_server.env(endpoint=fault_proxy.endpoint),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for_requests(fault_proxy, proc, "GET", r"/big\.bin", 3)
    err = _interrupt(proc, sig)
    assert proc.returncode != 0, "an interrupted cp must not report success"
    if sig == signal.SIGINT:
        assert proc.returncode == 130, f"exit {proc.returncode}: {err}"
    assert "terminate called" not in err
    assert all_entries(out) == [], f"left behind: {all_entries(out)}"


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["INT", "TERM"])
def test_signal_during_upload(sdxl_binary, s3_server, fault_proxy, big_file, sig):
    bucket = s3_server.new_bucket()
    client = s3_server.boto3_client()
    fault_proxy.add_rule("delay", method="PUT", path=r"[?&]partNumber=", seconds=0.5, times=None)
    proc = subprocess.Popen(
        [str(sdxl_binary), "cp", *cp_tuning(8 * MiB, concurrency=2), str(big_file),
         f"s3://{bucket}/big.bin"], env=s3_server.env(endpoint=fault_proxy.endpoint),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for_requests(fault_proxy, proc, "PUT", r"[?&]partNumber=", 3)
    err = _interrupt(proc, sig)
    assert proc.returncode != 0, "an interrupted cp must not report success"
    if sig == signal.SIGINT:
        assert proc.returncode == 130, f"exit {proc.returncode}: {err}"
    assert list_keys(client, bucket) == {}, "interrupted upload left an object"
    assert open_uploads(client, bucket) == [], "interrupted upload left an open multipart upload"


def test_signal_during_recursive_download(sdxl_binary, s3_server, fault_proxy, tmp_path):
    """Interrupting a prefix download removes the in-flight temp files; finished files may stay
    but must be complete."""
    bucket = s3_server.new_bucket()
    client = s3_server.boto3_client()
    blobs = {f"m/part{i}.bin": bytes([i]) * (6 * MiB + i) for i in range(6)}
    for key, data in blobs.items():
        client.put_object(Bucket=bucket, Key=key, Body=data)
    fault_proxy.add_rule("delay", method="GET", path=r"/m/part", seconds=0.7, times=None)
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [str(sdxl_binary), "cp", "--recursive", *cp_tuning(concurrency=2), f"s3://{bucket}/m",
         str(out)], env=s3_server.env(endpoint=fault_proxy.endpoint),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for_requests(fault_proxy, proc, "GET", r"/m/part", 3)
    _interrupt(proc, signal.SIGINT)
    assert proc.returncode == 130
    left = [p for p in out.rglob("*") if p.is_file()] if out.exists() else []
    for p in left:  # anything still there must be a complete file under its final name
        key = "m/" + p.relative_to(out).as_posix()
        assert key in blobs, f"unexpected file {p}"
        assert p.read_bytes() == blobs[key], f"{p} is partial"
