"""End to end: fake Hugging Face Hub -> `sdxl-tigris prepare-model` -> SeaweedFS (and local stores).

Covers issue 3 item 4/5: file selection, the Lightning recipe, dtype conversion, manifest last,
env block, clear errors (gated/private/missing/429/not SDXL), idempotent reruns, kill -9 + resume,
local folder sources and local stores, and compatibility with diffusers' from_pretrained and
huggingface_hub's cache.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import kill_points  # tools/kill_points.py (tests/conftest.py puts tools/ on sys.path)
import pytest

# Load this folder's conftest by path: several test folders have a conftest.py, and a plain
# `import conftest` gets whichever pytest imported first.
import importlib.util as _ilu
_spec = _ilu.spec_from_file_location("prepare_conftest", Path(__file__).with_name("conftest.py"))
_prepare_conftest = _ilu.module_from_spec(_spec)
_spec.loader.exec_module(_prepare_conftest)
BASE, HF_TOKEN, LIGHTNING = (_prepare_conftest.BASE, _prepare_conftest.HF_TOKEN,
                             _prepare_conftest.LIGHTNING)

pytestmark = pytest.mark.s3

MANIFEST = "sdxl-tigris-manifest.json"
JOURNAL = ".sdxl-tigris-upload.json"
PIPELINE_KEYS = {
    "model_index.json", "scheduler/scheduler_config.json",
    "text_encoder/config.json", "text_encoder/model.safetensors",
    "text_encoder_2/config.json", "text_encoder_2/model.safetensors",
    "tokenizer/merges.txt", "tokenizer/tokenizer.json", "tokenizer/tokenizer_config.json",
    "tokenizer/vocab.json", "tokenizer_2/merges.txt", "tokenizer_2/tokenizer.json",
    "tokenizer_2/tokenizer_config.json", "tokenizer_2/vocab.json", "unet/config.json",
    "unet/diffusion_pytorch_model.safetensors", "vae/config.json",
    "vae/diffusion_pytorch_model.safetensors",
}


def list_keys(s3, bucket, prefix):
    out = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix + "/"):
        for o in page.get("Contents", []):
            out[o["Key"][len(prefix) + 1:]] = o
    return out


def download_prefix(s3, bucket, prefix, dest: Path):
    for key in list_keys(s3, bucket, prefix):
        p = dest / key
        p.parent.mkdir(parents=True, exist_ok=True)
        s3.download_file(bucket, f"{prefix}/{key}", str(p))
    return dest


def size_or_zero(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:  # renamed into place meanwhile
        return 0


def run_prepare(binary, env, *args, timeout=300):
    return subprocess.run([str(binary), "prepare-model", *map(str, args)], env=env,
                          capture_output=True, text=True, timeout=timeout)


def env_block(stdout):
    return dict(line.split("=", 1) for line in stdout.splitlines()
                if "=" in line and not line.startswith("#"))


def load_and_step(model_dir: Path, steps=1):
    import torch
    from diffusers import StableDiffusionXLPipeline
    pipe = StableDiffusionXLPipeline.from_pretrained(str(model_dir), torch_dtype=torch.float32)
    out = pipe("a cat", num_inference_steps=steps, guidance_scale=0.0, height=64, width=64,
               generator=torch.Generator("cpu").manual_seed(0), output_type="np")
    img = out.images[0]
    assert img.shape == (64, 64, 3)
    assert torch.isfinite(torch.from_numpy(img)).all()
    return pipe


def test_lightning_end_to_end(sdxl_binary, s3_server, prep_env, tiny_repos, hub, tmp_path):
    s3 = s3_server.boto3_client()
    bucket = s3_server.new_bucket("prep")
    env = prep_env()
    proc = run_prepare(sdxl_binary, env, LIGHTNING, bucket)
    assert proc.returncode == 0, proc.stderr
    block = env_block(proc.stdout)
    assert block["MODEL_BUCKET_NAME"] == bucket
    assert block["MODEL_PATH"] == LIGHTNING
    assert block["AWS_ENDPOINT_URL_S3"] == s3_server.endpoint
    assert "AWS_ACCESS_KEY_ID" in block and "AWS_SECRET_ACCESS_KEY" in block

    keys = list_keys(s3, bucket, LIGHTNING)
    assert set(keys) == PIPELINE_KEYS | {MANIFEST}, "junk or missing files in the bucket"
    # The manifest was written last (no object is newer).
    newest = max(keys.values(), key=lambda o: o["LastModified"])
    assert keys[MANIFEST]["LastModified"] >= newest["LastModified"]

    manifest = json.loads(s3.get_object(Bucket=bucket, Key=f"{LIGHTNING}/{MANIFEST}")["Body"].read())
    assert manifest["source"]["repo"] == LIGHTNING
    assert manifest["source"]["revision"] == hub.commit(LIGHTNING)
    recipe = manifest["recipe"]
    assert recipe["name"] == "sdxl-lightning" and recipe["steps"] == 4 and recipe["guidance"] == 0
    assert recipe["dtype"] == "bf16"
    assert recipe["base"]["revision"] == hub.commit(BASE)
    assert {f["path"] for f in manifest["files"]} == PIPELINE_KEYS

    model = download_prefix(s3, bucket, LIGHTNING, tmp_path / "model")
    sched = json.loads((model / "scheduler/scheduler_config.json").read_text())
    assert sched["timestep_spacing"] == "trailing"
    assert sched["_class_name"] == "EulerDiscreteScheduler"

    import torch
    from safetensors.torch import load_file
    unet = load_file(model / "unet/diffusion_pytorch_model.safetensors")
    want = load_file(tiny_repos["lightning"] / "sdxl_lightning_4step_unet.safetensors")
    other = load_file(tiny_repos["lightning"] / "sdxl_lightning_8step_unet.safetensors")
    assert set(unet) == set(want)
    name = sorted(want)[0]
    for k in want:
        assert unet[k].dtype == torch.bfloat16
        assert torch.equal(unet[k], want[k].to(torch.bfloat16)), k
    assert not torch.equal(unet[name], other[name].to(torch.bfloat16))
    te = load_file(model / "text_encoder/model.safetensors")
    te_src = load_file(tiny_repos["base"] / "text_encoder/model.fp16.safetensors")
    assert all(torch.equal(te[k], te_src[k].to(torch.bfloat16)) for k in te_src)

    pipe = load_and_step(model)
    assert pipe.scheduler.config.timestep_spacing == "trailing"

    # huggingface_hub sees what we downloaded into its cache (offline, no network).
    check = subprocess.run(
        ["python3", "-c",
         "import sys; from huggingface_hub import hf_hub_download as d;"
         f"p = d('{LIGHTNING}', 'sdxl_lightning_4step_unet.safetensors');"
         f"q = d('{BASE}', 'unet/config.json');"
         "print(p); print(q)"],
        env=dict(env, HF_HUB_OFFLINE="1"), capture_output=True, text=True, timeout=120)
    assert check.returncode == 0, check.stderr
    p = Path(check.stdout.split()[0])
    assert p.read_bytes() == (tiny_repos["lightning"] / "sdxl_lightning_4step_unet.safetensors").read_bytes()


def test_rerun_on_complete_model_uploads_nothing(sdxl_binary, s3_server, prep_env, hub,
                                                  fault_proxy):
    bucket = s3_server.new_bucket("prep")
    env = prep_env()
    first = run_prepare(sdxl_binary, env, "org/tiny-sdxl", bucket, "--path", "m", "--dtype", "fp16")
    assert first.returncode == 0, first.stderr
    before = hub.stats()
    proxied = prep_env(endpoint=fault_proxy.endpoint)
    second = run_prepare(sdxl_binary, proxied, "org/tiny-sdxl", bucket, "--path", "m",
                         "--dtype", "fp16")
    assert second.returncode == 0, second.stderr
    assert "nothing to upload" in second.stderr
    writes = [r for r in fault_proxy.requests() if r["method"] in ("PUT", "POST", "DELETE")]
    assert writes == [], writes
    after = hub.stats()
    assert after["cdn_bytes"] == before["cdn_bytes"], "weights were downloaded again"
    assert after["resolve"] == before["resolve"]
    # A different dtype is a different model: it is rebuilt (manifest replaced).
    third = run_prepare(sdxl_binary, env, "org/tiny-sdxl", bucket, "--path", "m", "--dtype", "bf16")
    assert third.returncode == 0, third.stderr
    s3 = s3_server.boto3_client()
    m = json.loads(s3.get_object(Bucket=bucket, Key=f"m/{MANIFEST}")["Body"].read())
    assert m["recipe"]["dtype"] == "bf16"
    assert JOURNAL not in list_keys(s3, bucket, "m")


def test_rerun_repairs_a_damaged_model(sdxl_binary, s3_server, prep_env, hub):
    """A "complete" model that lost an object, then one whose manifest is garbage: a rerun puts
    back exactly what is missing and republishes the manifest. The destination is given as
    s3://bucket/prefix, under which MODEL_PATH defaults to the repo id."""
    s3 = s3_server.boto3_client()
    bucket = s3_server.new_bucket("prep")
    env = prep_env()
    dest = f"s3://{bucket}/models"
    first = run_prepare(sdxl_binary, env, "org/tiny-sdxl", dest)
    assert first.returncode == 0, first.stderr
    block = env_block(first.stdout)
    assert block["MODEL_BUCKET_NAME"] == bucket and block["MODEL_PATH"] == "models/org/tiny-sdxl"
    good = list_keys(s3, bucket, "models/org/tiny-sdxl")
    assert set(good) == PIPELINE_KEYS | {MANIFEST}
    manifest = s3.get_object(Bucket=bucket, Key=f"models/org/tiny-sdxl/{MANIFEST}")["Body"].read()

    lost = "vae/diffusion_pytorch_model.safetensors"
    s3.delete_object(Bucket=bucket, Key=f"models/org/tiny-sdxl/{lost}")
    second = run_prepare(sdxl_binary, env, "org/tiny-sdxl", dest)
    assert second.returncode == 0, second.stderr
    again = list_keys(s3, bucket, "models/org/tiny-sdxl")
    assert set(again) == set(good)
    assert again[lost]["Size"] == good[lost]["Size"]
    assert s3.get_object(Bucket=bucket, Key=f"models/org/tiny-sdxl/{MANIFEST}")["Body"].read() == manifest

    s3.put_object(Bucket=bucket, Key=f"models/org/tiny-sdxl/{MANIFEST}", Body=b"{not json")
    third = run_prepare(sdxl_binary, env, "org/tiny-sdxl", dest)
    assert third.returncode == 0, third.stderr
    assert json.loads(s3.get_object(Bucket=bucket, Key=f"models/org/tiny-sdxl/{MANIFEST}")["Body"].read()) \
        == json.loads(manifest)
    assert set(list_keys(s3, bucket, "models/org/tiny-sdxl")) == set(good)


def test_kill_during_upload_then_resume(sdxl_binary, s3_server, prep_env, hub, fault_proxy):
    s3 = s3_server.boto3_client()
    bucket = s3_server.new_bucket("prep")
    # Slow every PUT down so the kill lands in the middle of the upload.
    fault_proxy.add_rule("delay", method="PUT", path=r"/m/", seconds=0.4)
    env = prep_env(endpoint=fault_proxy.endpoint)
    proc = subprocess.Popen([str(sdxl_binary), "prepare-model", "org/tiny-sdxl", bucket,
                             "--path", "m", "-j", "2"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    journal = {}
    while time.time() < deadline and proc.poll() is None:
        keys = list_keys(s3, bucket, "m")
        if JOURNAL in keys:
            journal = json.loads(s3.get_object(Bucket=bucket, Key=f"m/{JOURNAL}")["Body"].read())
            if len(journal["files"]) >= 3:
                break
        time.sleep(0.05)
    assert proc.poll() is None, ("prepare-model finished before it could be killed:\n"
                                 + proc.stderr.read().decode(errors="replace"))
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    time.sleep(1.0)  # let requests the killed process left in the (delaying) proxy drain first
    keys = list_keys(s3, bucket, "m")
    assert MANIFEST not in keys
    journal = json.loads(s3.get_object(Bucket=bucket, Key=f"m/{JOURNAL}")["Body"].read())["files"]
    assert journal, "nothing was journaled before the kill"
    done_before = {k: keys[k]["ETag"].strip('"') for k in journal if k in keys}

    fault_proxy.clear()
    rerun = run_prepare(sdxl_binary, env, "org/tiny-sdxl", bucket, "--path", "m")
    assert rerun.returncode == 0, rerun.stderr
    reput = {r["target"] for r in fault_proxy.requests("PUT")}
    for key in done_before:
        assert not any(t.split("?")[0].endswith("/m/" + key) for t in reput), \
            f"{key} was uploaded again after the resume"
    final = list_keys(s3, bucket, "m")
    assert set(final) == PIPELINE_KEYS | {MANIFEST}
    manifest = json.loads(s3.get_object(Bucket=bucket, Key=f"m/{MANIFEST}")["Body"].read())
    sizes = {f["path"]: f["size"] for f in manifest["files"]}
    # Nothing partial under a final key: every object that existed after the kill is whole.
    for key, obj in keys.items():
        if key in sizes:
            assert obj["Size"] == sizes[key], key
    for key, etag in done_before.items():
        assert final[key]["ETag"].strip('"') == etag


def test_sigkill_at_random_points_then_rerun(sdxl_binary, s3_server, prep_env, hub, fault_proxy,
                                             tmp_path):
    """SIGKILL at seeded random points of the whole run (Hub download, conversion, upload; seed
    and count from SDXL_KILL_SEED / SDXL_KILL_POINTS as tests/storage/test_kill_points.py), each
    with a fresh HF cache and prefix: no manifest before the model is complete, every object under
    a final key is exact, the rerun completes and no multipart upload is left open."""
    import hashlib

    s3 = s3_server.boto3_client()
    bucket = s3_server.new_bucket("prep")
    fault_proxy.add_rule("delay", method="PUT", path=r"/p\d+/", seconds=0.2, times=None)
    hub.configure(cdn_bytes_per_sec=8 << 20)

    def env_for(i):
        return prep_env(endpoint=fault_proxy.endpoint, HF_HOME=tmp_path / f"hf{i}",
                        XDG_CACHE_HOME=tmp_path / f"cache{i}")

    start = time.monotonic()
    ref = run_prepare(sdxl_binary, env_for("ref"), "org/tiny-sdxl", bucket, "--path", "pref",
                      "-j", "2")
    assert ref.returncode == 0, ref.stderr
    duration = time.monotonic() - start
    manifest = json.loads(s3.get_object(Bucket=bucket, Key=f"pref/{MANIFEST}")["Body"].read())
    sha = {f["path"]: f["sha256"] for f in manifest["files"]}
    kill_times = kill_points.schedule("prepare-model", duration)
    for i, at in enumerate(kill_times):
        prefix = f"p{i}"
        env = env_for(i)
        code = kill_points.run_and_kill([sdxl_binary, "prepare-model", "org/tiny-sdxl", bucket,
                                         "--path", prefix, "-j", "2"], env, at)
        time.sleep(0.5)  # requests the killed process left in the delaying proxy land first
        keys = list_keys(s3, bucket, prefix)
        if code != 0:
            assert MANIFEST not in keys, f"manifest published by a run killed at {at:.2f} s"
        for key in keys:
            if key in sha:
                body = s3.get_object(Bucket=bucket, Key=f"{prefix}/{key}")["Body"].read()
                assert hashlib.sha256(body).hexdigest() == sha[key], \
                    f"{key} partial after a kill at {at:.2f} s"
        rerun = run_prepare(sdxl_binary, env, "org/tiny-sdxl", bucket, "--path", prefix)
        assert rerun.returncode == 0, rerun.stderr
        assert set(list_keys(s3, bucket, prefix)) == PIPELINE_KEYS | {MANIFEST}
        again = json.loads(s3.get_object(Bucket=bucket, Key=f"{prefix}/{MANIFEST}")["Body"].read())
        assert {f["path"]: f["sha256"] for f in again["files"]} == sha
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_kill_during_download_resumes_with_range(sdxl_binary, s3_server, prep_env, hub, tmp_path):
    bucket = s3_server.new_bucket("prep")
    env = prep_env()
    hub.configure(cdn_bytes_per_sec=2 << 20)
    before = hub.stats()
    blobs = tmp_path / "hf/hub/models--org--tiny-sdxl/blobs"

    def partials(min_size):
        return [p for p in (blobs.glob("*.incomplete") if blobs.exists() else [])
                if size_or_zero(p) > min_size]

    # Kill while a blob is half downloaded. On a loaded machine the blob can complete between
    # seeing it and the kill; then try again (completed blobs stay cached, the rest restarts).
    for _ in range(4):
        proc = subprocess.Popen([str(sdxl_binary), "prepare-model", "org/tiny-sdxl", bucket,
                                 "--path", "m"], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        deadline = time.time() + 60
        while time.time() < deadline and proc.poll() is None and not partials(1 << 20):
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        if partials(0):
            break
    assert partials(0), "no partial download left to resume"
    hub.configure(cdn_bytes_per_sec=0)
    rerun = run_prepare(sdxl_binary, env, "org/tiny-sdxl", bucket, "--path", "m")
    assert rerun.returncode == 0, rerun.stderr
    after = hub.stats()
    assert after["range_requests"] > before["range_requests"]
    assert not list(blobs.glob("*.incomplete"))


@pytest.mark.parametrize("repo,extra_env,needle", [
    ("org/gated-sdxl", {}, "ask for access at {hub}/org/gated-sdxl"),
    ("org/gated-sdxl", {"HF_TOKEN": HF_TOKEN}, "ask for access at {hub}/org/gated-sdxl"),
    ("org/private-sdxl", {}, "check the name"),
    ("org/does-not-exist", {}, "not found or not accessible"),
    ("org/tiny-sdxl", {"HF_TOKEN": "hf_wrong"}, "token was rejected"),
    ("org/not-sdxl", {}, "not an SDXL diffusers pipeline: model_index.json names the pipeline "
                         "class 'StableDiffusionPipeline'"),
    ("org/single-file", {}, "has no model_index.json"),
    ("not a repo!", {}, "is not a Hugging Face repo id"),
])
def test_clear_errors(sdxl_binary, s3_server, prep_env, hub, repo, extra_env, needle):
    bucket = s3_server.new_bucket("prep")
    proc = run_prepare(sdxl_binary, prep_env(**extra_env), repo, bucket)
    assert proc.returncode == 1
    lines = [l for l in proc.stderr.splitlines() if l.startswith("sdxl-tigris: ")]
    assert len(lines) == 1, proc.stderr
    assert needle.format(hub=hub.url) in lines[0], proc.stderr
    s3 = s3_server.boto3_client()
    assert s3.list_objects_v2(Bucket=bucket).get("KeyCount", 0) == 0


def test_missing_revision_and_lightning_steps(sdxl_binary, s3_server, prep_env, hub):
    bucket = s3_server.new_bucket("prep")
    proc = run_prepare(sdxl_binary, prep_env(), LIGHTNING, bucket, "--revision", "v9")
    assert proc.returncode == 1
    assert "revision 'v9' not found" in proc.stderr
    bad = run_prepare(sdxl_binary, prep_env(), LIGHTNING, bucket, "--lightning-steps", "3")
    assert bad.returncode != 0


def test_private_repo_with_token_and_rate_limits(sdxl_binary, s3_server, prep_env, hub):
    bucket = s3_server.new_bucket("prep")
    hub.configure(rate_limit_first=2, fail_first=1)
    before = hub.stats()
    proc = run_prepare(sdxl_binary, prep_env(HF_TOKEN=HF_TOKEN), "org/private-sdxl", bucket,
                       "--dtype", "keep")
    assert proc.returncode == 0, proc.stderr
    after = hub.stats()
    assert after["429"] - before["429"] == 2
    assert after["5xx"] - before["5xx"] == 1
    s3 = s3_server.boto3_client()
    assert MANIFEST in list_keys(s3, bucket, "org/private-sdxl")


def test_local_folder_into_local_store(sdxl_binary, tiny_repos, tmp_path):
    store = tmp_path / "store"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "HF_"))}
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    proc = run_prepare(sdxl_binary, env, tiny_repos["base"], store, "--path", "tiny/base")
    assert proc.returncode == 0, proc.stderr
    root = store / "tiny/base"
    files = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}
    assert files == PIPELINE_KEYS | {MANIFEST}
    # A local store is not a bucket: the block names no MODEL_BUCKET_NAME/MODEL_PATH, it says
    # how to use the folder.
    assert env_block(proc.stdout) == {}
    assert f"--model {root}" in proc.stdout
    manifest = json.loads((root / MANIFEST).read_text())
    assert manifest["recipe"] == {"dtype": "bf16", "name": "sdxl"}
    # fp16 variant chosen, converted to bf16; scheduler untouched ("leading" as in the base).
    assert json.loads((root / "scheduler/scheduler_config.json").read_text())["timestep_spacing"] == "leading"
    load_and_step(root)
    # Rerun: nothing changes (same bytes, same mtimes).
    mtimes = {p: p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()}
    again = run_prepare(sdxl_binary, env, f"file://{tiny_repos['base']}", f"file://{store}",
                        "--path", "tiny/base")
    assert again.returncode == 0, again.stderr
    assert "nothing to upload" in again.stderr
    assert {p: p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()} == mtimes
