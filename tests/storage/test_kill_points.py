"""SIGKILL at seeded random points of every `cp` writer, then a rerun (issue 15, "kill tests").

A killed process cannot clean up, so the guarantees are about what the next run sees:
  - nothing partial under a final name: a key or file that exists after the kill is byte-exact;
  - a rerun completes and leaves exact bytes;
  - a rerun leaves no temporary file of a killed download (RemoveAbandonedTemps: the killed
    writer's flock is gone, so the next writer of that file deletes its temporary);
  - a killed multipart upload stays open in the bucket (S3 has no owner process to notice), and
    `sdxl-tigris uploads` lists exactly those and `uploads --abort --older-than 0` aborts them all.

Kill times come from tools/kill_points.py: uniform over 1.2 x an uninterrupted reference run (so
some land before the first request and some after the end), from SDXL_KILL_SEED and the test's
name; SDXL_KILL_POINTS per test (default 5; `make kill-test` runs 40). The seed and the points are
printed, so a failure can be replayed.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import kill_points
import pytest

from s3util import (MiB, all_entries, cp_tuning, list_keys, open_uploads, sha256_file,
                    sha256_object, write_file)

pytestmark = pytest.mark.s3

KILL_POINTS = kill_points.points()
SIZE = 17 * MiB + 4321  # 4 parts of 5 MiB (the last one short)
DELAY = 0.25  # seconds the fault proxy holds each data request, so a kill lands mid-transfer


def timed_run(binary: Path, args: list[str], env: dict) -> float:
    start = time.monotonic()
    proc = subprocess.run([str(binary), *args], env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    return time.monotonic() - start


def kill_at(binary: Path, args: list[str], env: dict, seconds: float) -> int:
    return kill_points.run_and_kill([binary, *args], env, seconds)


def temps(root: Path) -> list[str]:
    return [p for p in all_entries(root) if ".sdxl-tmp-" in p] if root.exists() else []


def uploads_listed(sdxl_run, env: dict, location: str) -> list[str]:
    """Upload ids that `sdxl-tigris uploads` lists (one line each: initiated, id, s3://...)."""
    proc = sdxl_run("uploads", location, env=env, check=True)
    return sorted(line.split()[1] for line in proc.stdout.splitlines() if line.strip())


def abort_and_check(sdxl_run, env: dict, client, bucket: str) -> int:
    """Our listing matches the server's; --dryrun aborts nothing; --abort leaves none open."""
    open_ids = sorted(u["UploadId"] for u in open_uploads(client, bucket))
    assert uploads_listed(sdxl_run, env, f"s3://{bucket}") == open_ids
    dry = sdxl_run("uploads", "--abort", "--older-than", "0", "--dryrun", f"s3://{bucket}",
                   env=env, check=True)
    assert dry.stdout.count("(dryrun) abort:") == len(open_ids)
    assert sorted(u["UploadId"] for u in open_uploads(client, bucket)) == open_ids
    sdxl_run("uploads", "--abort", "--older-than", "0", f"s3://{bucket}", env=env, check=True)
    assert open_uploads(client, bucket) == [], "uploads --abort left open multipart uploads"
    return len(open_ids)


def test_sigkill_upload_at_random_points(sdxl_binary, sdxl_run, s3_server, fault_proxy, tmp_path):
    bucket = s3_server.new_bucket()
    client = s3_server.boto3_client()
    src = write_file(tmp_path / "model.bin", SIZE, seed=7)
    want = sha256_file(src)
    env = s3_server.env(endpoint=fault_proxy.endpoint)
    fault_proxy.add_rule("delay", method="PUT", path=r"[?&]partNumber=", seconds=DELAY, times=None)
    args = ["cp", *cp_tuning(5 * MiB, concurrency=2), str(src)]
    duration = timed_run(sdxl_binary, [*args, f"s3://{bucket}/ref.bin"], env)
    for i, at in enumerate(kill_points.schedule("upload", duration)):
        key = f"k{i}/model.bin"
        kill_at(sdxl_binary, [*args, f"s3://{bucket}/{key}"], env, at)
        if key in list_keys(client, bucket, f"k{i}/"):
            assert sha256_object(client, bucket, key) == want, f"partial object after kill at {at}"
        subprocess.run([str(sdxl_binary), *args, f"s3://{bucket}/{key}"], env=env, check=True,
                       capture_output=True, timeout=120)
        assert sha256_object(client, bucket, key) == want
    fault_proxy.clear()
    aborted = abort_and_check(sdxl_run, s3_server.env(), client, bucket)
    print(f"upload: {aborted} open multipart upload(s) left by the kills, all aborted")
    assert set(list_keys(client, bucket)) == {"ref.bin"} | {f"k{i}/model.bin"
                                                            for i in range(KILL_POINTS)}


def test_sigkill_download_at_random_points(sdxl_binary, s3_server, fault_proxy, tmp_path):
    bucket = s3_server.new_bucket()
    client = s3_server.boto3_client()
    src = write_file(tmp_path / "src.bin", SIZE, seed=8)
    want = sha256_file(src)
    client.upload_file(str(src), bucket, "model.bin")
    env = s3_server.env(endpoint=fault_proxy.endpoint)
    fault_proxy.add_rule("delay", method="GET", path=r"/model\.bin$", seconds=DELAY, times=None)
    args = ["cp", *cp_tuning(5 * MiB, concurrency=2), f"s3://{bucket}/model.bin"]
    duration = timed_run(sdxl_binary, [*args, str(tmp_path / "ref.bin")], env)
    for i, at in enumerate(kill_points.schedule("download", duration)):
        out = tmp_path / f"out{i}"
        out.mkdir()
        dest = out / "model.bin"
        kill_at(sdxl_binary, [*args, str(dest)], env, at)
        if dest.exists():
            assert sha256_file(dest) == want, f"partial file under the final name (kill at {at})"
        time.sleep(1.1)  # RemoveAbandonedTemps spares temporaries changed in the last second
        subprocess.run([str(sdxl_binary), *args, str(dest)], env=env, check=True,
                       capture_output=True, timeout=120)
        assert sha256_file(dest) == want
        assert all_entries(out) == ["model.bin"], f"left after the rerun: {all_entries(out)}"


def test_sigkill_recursive_copies_at_random_points(sdxl_binary, sdxl_run, s3_server, fault_proxy,
                                                   tmp_path):
    """A folder up (several files, some multipart) and a prefix down, killed and rerun."""
    bucket = s3_server.new_bucket()
    client = s3_server.boto3_client()
    folder = tmp_path / "model"
    files = {f"unet/part{i}.bin": write_file(folder / f"unet/part{i}.bin", (i + 1) * 3 * MiB + i,
                                             seed=20 + i) for i in range(4)}
    files["model_index.json"] = folder / "model_index.json"
    files["model_index.json"].write_text('{"_class_name": "StableDiffusionXLPipeline"}')
    want = {k: sha256_file(p) for k, p in files.items()}
    env = s3_server.env(endpoint=fault_proxy.endpoint)
    fault_proxy.add_rule("delay", method="PUT", path=r"/unet/", seconds=DELAY, times=None)
    fault_proxy.add_rule("delay", method="GET", path=r"/unet/part\d\.bin$", seconds=DELAY,
                         times=None)
    up = ["cp", "--recursive", *cp_tuning(5 * MiB, concurrency=2), str(folder)]
    down = ["cp", "--recursive", *cp_tuning(5 * MiB, concurrency=2)]
    t_up = timed_run(sdxl_binary, [*up, f"s3://{bucket}/ref"], env)
    t_down = timed_run(sdxl_binary, [*down, f"s3://{bucket}/ref", str(tmp_path / "ref")], env)
    for i, at in enumerate(kill_points.schedule("recursive-up", t_up)):
        prefix = f"up{i}"
        kill_at(sdxl_binary, [*up, f"s3://{bucket}/{prefix}"], env, at)
        for key in list_keys(client, bucket, prefix + "/"):
            rel = key[len(prefix) + 1:]
            assert sha256_object(client, bucket, key) == want[rel], f"partial {key} (kill at {at})"
        subprocess.run([str(sdxl_binary), *up, f"s3://{bucket}/{prefix}"], env=env, check=True,
                       capture_output=True, timeout=120)
        assert {k[len(prefix) + 1:] for k in list_keys(client, bucket, prefix + "/")} == set(want)
    for i, at in enumerate(kill_points.schedule("recursive-down", t_down)):
        out = tmp_path / f"down{i}"
        kill_at(sdxl_binary, [*down, f"s3://{bucket}/ref", str(out)], env, at)
        if out.exists():
            for p in out.rglob("*"):
                if p.is_file() and ".sdxl-tmp-" not in p.name:
                    rel = p.relative_to(out).as_posix()
                    assert sha256_file(p) == want[rel], f"partial {rel} (kill at {at})"
        time.sleep(1.1)
        subprocess.run([str(sdxl_binary), *down, f"s3://{bucket}/ref", str(out)], env=env,
                       check=True, capture_output=True, timeout=120)
        got = {p.relative_to(out).as_posix(): sha256_file(p) for p in out.rglob("*")
               if p.is_file()}
        assert got == want, f"after the rerun: {sorted(got)}"
        assert temps(out) == []
    fault_proxy.clear()
    abort_and_check(sdxl_run, s3_server.env(), client, bucket)
