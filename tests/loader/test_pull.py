"""`sdxl-tigris pull` against a real SeaweedFS (and the fault proxy): the loader's verified cache.

A tiny SDXL pipeline (tools/make_tiny_sdxl.py) is uploaded once per session with `prepare-model`
(manifest with SHA-256s) and once with `cp --recursive` (a plain diffusers folder, like the seed's
Python script makes). Covers: fresh pull, rerun reuses (no object GETs), damaged cache files,
two concurrent pulls into one cache, resets mid-body, clear errors, SIGKILL mid-pull + rerun.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT / "tools"))
import kill_points  # noqa: E402  (tools/kill_points.py)

pytestmark = pytest.mark.s3

MANIFEST = "sdxl-tigris-manifest.json"
MARKER = ".sdxl-tigris-complete"
STATE = ".sdxl-tigris-cache.json"
MODEL_PATH = "tiny/lightning"
PLAIN_PATH = "plain/lightning"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def leftovers(root: Path) -> list[str]:
    return [str(p) for p in root.rglob("*") if ".sdxl-tmp-" in p.name or "sdxl-unverified" in p.name]


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("sdxl-tigris: ")]


@pytest.fixture(scope="session")
def buckets(sdxl_binary, s3_server, tiny_lightning, tmp_path_factory):
    """One bucket holding the prepared model (MODEL_PATH) and the plain copy (PLAIN_PATH)."""
    bucket = s3_server.new_bucket("pull")
    env = s3_server.env()
    for k in [k for k in env if k.startswith("HF_")]:
        del env[k]
    env["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("prep-cache"))
    prep = subprocess.run([str(sdxl_binary), "prepare-model", str(tiny_lightning), bucket,
                           "--path", MODEL_PATH], env=env, capture_output=True, text=True,
                          timeout=600)
    assert prep.returncode == 0, prep.stderr
    cp = subprocess.run([str(sdxl_binary), "-q", "cp", "--recursive", str(tiny_lightning),
                         f"s3://{bucket}/{PLAIN_PATH}"], env=env, capture_output=True, text=True,
                        timeout=600)
    assert cp.returncode == 0, cp.stderr
    s3 = s3_server.boto3_client()
    manifest = json.loads(s3.get_object(Bucket=bucket, Key=f"{MODEL_PATH}/{MANIFEST}")["Body"].read())
    return {"bucket": bucket, "manifest": manifest}


def pull(sdxl_run, *args, env=None, timeout=300):
    return sdxl_run("pull", *args, env=env, timeout=timeout)


def check_prepared_copy(model_dir: Path, manifest: dict):
    """Every manifest file is in the cache with its size and SHA-256; the folder is ready."""
    for f in manifest["files"]:
        p = model_dir / f["path"]
        assert p.is_file(), f["path"]
        assert p.stat().st_size == f["size"], f["path"]
        assert sha256(p) == f["sha256"], f["path"]
    assert json.loads((model_dir / MANIFEST).read_text()) == manifest
    assert (model_dir / MARKER).is_file()
    assert leftovers(model_dir) == []


def object_gets(fault_proxy, bucket):
    """GETs of objects (not listings) seen by the proxy, as key paths."""
    out = []
    for r in fault_proxy.requests("GET", rf"^/{bucket}/[^?]+$"):
        out.append(r["target"].split("?")[0][len(bucket) + 2:])
    return out


def test_pull_prepared_model_then_rerun_reuses(sdxl_run, s3_server, buckets, fault_proxy, tmp_path):
    bucket, manifest = buckets["bucket"], buckets["manifest"]
    cache = tmp_path / "cache"
    first = pull(sdxl_run, f"s3://{bucket}/{MODEL_PATH}", "--cache", cache)
    assert first.returncode == 0, first.stderr
    model_dir = Path(first.stdout.strip())
    assert model_dir == (cache / bucket / MODEL_PATH).resolve()
    check_prepared_copy(model_dir, manifest)
    n = len(manifest["files"])
    assert f"{n} files downloaded" in first.stderr, first.stderr
    assert "list " in first.stderr and "transfer " in first.stderr and "total " in first.stderr

    # Rerun through the proxy: only the listing and the manifest are read, no weights.
    rerun = pull(sdxl_run, f"s3://{bucket}/{MODEL_PATH}", "--cache", cache,
                 env=s3_server.env(endpoint=fault_proxy.endpoint))
    assert rerun.returncode == 0, rerun.stderr
    assert rerun.stdout.strip() == str(model_dir)
    assert f"0 files downloaded (0 B), {n} reused" in rerun.stderr, rerun.stderr
    assert object_gets(fault_proxy, bucket) == [f"{MODEL_PATH}/{MANIFEST}"]

    # A truncated and a same-size corrupted cache file are both fetched again, nothing else.
    unet = model_dir / "unet/diffusion_pytorch_model.safetensors"
    vae = model_dir / "vae/diffusion_pytorch_model.safetensors"
    os.truncate(unet, 1000)
    with open(vae, "r+b") as f:
        f.seek(4096)
        f.write(b"\x00\x01\x02\x03")
    fault_proxy.clear()
    fixed = pull(sdxl_run, f"s3://{bucket}/{MODEL_PATH}", "--cache", cache,
                 env=s3_server.env(endpoint=fault_proxy.endpoint))
    assert fixed.returncode == 0, fixed.stderr
    assert "2 files downloaded" in fixed.stderr, fixed.stderr
    assert sorted(object_gets(fault_proxy, bucket)) == sorted(
        [f"{MODEL_PATH}/{MANIFEST}", f"{MODEL_PATH}/unet/diffusion_pytorch_model.safetensors",
         f"{MODEL_PATH}/vae/diffusion_pytorch_model.safetensors"])
    check_prepared_copy(model_dir, manifest)


def test_pulled_folder_loads_with_diffusers(sdxl_run, buckets, tmp_path):
    diffusers = pytest.importorskip("diffusers")
    bucket = buckets["bucket"]
    proc = pull(sdxl_run, f"s3://{bucket}/{MODEL_PATH}", "--cache", tmp_path / "c")
    assert proc.returncode == 0, proc.stderr
    pipe = diffusers.StableDiffusionXLPipeline.from_pretrained(proc.stdout.strip())
    assert pipe.unet is not None and pipe.vae is not None


def test_plain_diffusers_bucket_and_environment(sdxl_run, s3_server, buckets, tiny_lightning,
                                                tmp_path):
    bucket = buckets["bucket"]
    cache = tmp_path / "models"
    # No URL: MODEL_BUCKET_NAME + MODEL_PATH, cache from MODEL_CACHE_DIR.
    env = s3_server.env(MODEL_BUCKET_NAME=bucket, MODEL_PATH=PLAIN_PATH, MODEL_CACHE_DIR=str(cache))
    first = pull(sdxl_run, env=env)
    assert first.returncode == 0, first.stderr
    model_dir = Path(first.stdout.strip())
    assert model_dir == (cache / bucket / PLAIN_PATH).resolve()
    assert "no manifest" in first.stderr
    for src in tiny_lightning.rglob("*"):
        if src.is_file():
            rel = src.relative_to(tiny_lightning)
            assert (model_dir / rel).read_bytes() == src.read_bytes(), rel
    assert not (model_dir / MANIFEST).exists()
    assert (model_dir / MARKER).is_file()
    again = pull(sdxl_run, "-q", env=env)
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == str(model_dir)
    assert again.stderr == ""
    state = json.loads((model_dir / STATE).read_text())
    assert set(state["files"]) == {str(p.relative_to(tiny_lightning)) for p in
                                   tiny_lightning.rglob("*") if p.is_file()}


def test_two_concurrent_pulls_share_one_download(sdxl_binary, s3_server, buckets, fault_proxy,
                                                 tmp_path):
    bucket, manifest = buckets["bucket"], buckets["manifest"]
    # Slow object GETs down so that the two processes overlap for sure.
    fault_proxy.add_rule("delay", method="GET", path=rf"^/{bucket}/{MODEL_PATH}/[^?]+$",
                         seconds=0.2, times=None)
    env = s3_server.env(endpoint=fault_proxy.endpoint)
    cache = tmp_path / "cache"
    cmd = [str(sdxl_binary), "pull", f"s3://{bucket}/{MODEL_PATH}", "--cache", str(cache),
           "--concurrency", "2"]
    procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err
    assert outs[0][0] == outs[1][0]
    model_dir = Path(outs[0][0].strip())
    check_prepared_copy(model_dir, manifest)
    n = len(manifest["files"])
    downloaded = sorted(int(err.split(" files downloaded")[0].rsplit(" ", 1)[1])
                        for _, err in outs)
    assert downloaded == [0, n], [err for _, err in outs]
    assert any("waiting for it" in err for _, err in outs)
    # Every weight file was fetched exactly once (objects this small are one ranged GET each).
    gets = object_gets(fault_proxy, bucket)
    for f in manifest["files"]:
        assert gets.count(f"{MODEL_PATH}/{f['path']}") == 1, f["path"]


def test_reset_mid_body_still_completes(sdxl_run, s3_server, buckets, fault_proxy, tmp_path):
    bucket, manifest = buckets["bucket"], buckets["manifest"]
    fault_proxy.add_rule("reset", method="GET",
                         path=rf"/{MODEL_PATH}/unet/diffusion_pytorch_model.safetensors$",
                         after_bytes=1 << 20, times=2)
    fault_proxy.add_rule("truncate", method="GET",
                         path=rf"/{MODEL_PATH}/text_encoder/model.safetensors$",
                         after_bytes=100_000, times=1)
    proc = pull(sdxl_run, f"s3://{bucket}/{MODEL_PATH}", "--cache", tmp_path / "cache",
                env=s3_server.env(endpoint=fault_proxy.endpoint))
    assert proc.returncode == 0, proc.stderr
    assert fault_proxy.faults_fired() == 3
    check_prepared_copy(Path(proc.stdout.strip()), manifest)


def test_clear_errors(sdxl_run, s3_server, buckets, tmp_path):
    bucket = buckets["bucket"]
    cache = tmp_path / "cache"
    cases = [
        (f"s3://no-such-bucket-{os.getpid()}/m", "bucket does not exist"),
        (f"s3://{bucket}/does/not/exist", f"nothing under s3://{bucket}/does/not/exist/"),
        (f"s3://{bucket}/tiny", f"did you mean s3://{bucket}/tiny/lightning?"),
        ("models/x", "must be an s3://BUCKET/PATH URL"),
        (f"s3://{bucket}/a/../b", "\"..\" path segment"),
    ]
    for url, needle in cases:
        proc = pull(sdxl_run, url, "--cache", cache)
        assert proc.returncode == 1, (url, proc.stderr)
        lines = error_lines(proc.stderr)
        assert len(lines) == 1, (url, proc.stderr)
        assert needle in lines[0], (url, proc.stderr)
        assert proc.stdout == ""
    env = s3_server.env()
    env.pop("MODEL_BUCKET_NAME", None)
    env.pop("MODEL_PATH", None)
    none = pull(sdxl_run, "--cache", cache, env=env)
    assert none.returncode == 1
    assert "MODEL_BUCKET_NAME and MODEL_PATH" in none.stderr
    # A wrong bucket or path leaves nothing behind in the cache.
    assert not cache.exists()


def test_object_corrupt_in_bucket_is_refused(sdxl_run, s3_server, buckets, tmp_path):
    """A bucket object whose bytes no longer match the manifest: error, nothing under its name."""
    bucket, manifest = s3_server.new_bucket("pullbad"), buckets["manifest"]
    s3 = s3_server.boto3_client()
    src = buckets["bucket"]
    for f in manifest["files"] + [{"path": MANIFEST}]:
        body = s3.get_object(Bucket=src, Key=f"{MODEL_PATH}/{f['path']}")["Body"].read()
        if f["path"] == "vae/diffusion_pytorch_model.safetensors":
            body = body[:-10] + b"\xff" * 10  # same size, different bytes
        s3.put_object(Bucket=bucket, Key=f"m/{f['path']}", Body=body)
    proc = pull(sdxl_run, f"s3://{bucket}/m", "--cache", tmp_path / "cache")
    assert proc.returncode == 1
    lines = error_lines(proc.stderr)
    assert len(lines) == 1, proc.stderr
    assert "vae/diffusion_pytorch_model.safetensors" in lines[0]
    assert "corrupt in the bucket or changed during download; rerun" in lines[0]
    model_dir = tmp_path / "cache" / bucket / "m"
    assert not (model_dir / "vae/diffusion_pytorch_model.safetensors").exists()
    assert not (model_dir / MARKER).exists()
    assert leftovers(model_dir) == []


def test_sigkill_mid_pull_then_rerun_completes(sdxl_binary, sdxl_run, s3_server, buckets,
                                               fault_proxy, tmp_path):
    bucket, manifest = buckets["bucket"], buckets["manifest"]
    fault_proxy.add_rule("delay", method="GET", path=rf"^/{bucket}/{MODEL_PATH}/[^?]+$",
                         seconds=0.4, times=None)
    cache = tmp_path / "cache"
    model_dir = cache / bucket / MODEL_PATH
    proc = subprocess.Popen([str(sdxl_binary), "pull", f"s3://{bucket}/{MODEL_PATH}", "--cache",
                             str(cache), "--concurrency", "2"],
                            env=s3_server.env(endpoint=fault_proxy.endpoint),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    paths = [f["path"] for f in manifest["files"]]
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if sum((model_dir / p).exists() for p in paths) >= 3:
            break
        time.sleep(0.02)
    assert proc.poll() is None, "pull finished before it could be killed:\n" + \
        proc.stderr.read().decode(errors="replace")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    # Not ready, and nothing partial or unverified under a final name.
    assert not (model_dir / MARKER).exists()
    by_path = {f["path"]: f for f in manifest["files"]}
    done_before = []
    for p in paths:
        f = model_dir / p
        if f.exists():
            assert f.stat().st_size == by_path[p]["size"], p
            assert sha256(f) == by_path[p]["sha256"], p
            done_before.append(p)
    assert len(done_before) >= 3
    assert len(done_before) < len(paths)

    fault_proxy.clear()
    rerun = pull(sdxl_run, f"s3://{bucket}/{MODEL_PATH}", "--cache", cache,
                 env=s3_server.env(endpoint=fault_proxy.endpoint))
    assert rerun.returncode == 0, rerun.stderr
    check_prepared_copy(Path(rerun.stdout.strip()), manifest)
    refetched = set(object_gets(fault_proxy, bucket))
    for p in done_before:
        assert f"{MODEL_PATH}/{p}" not in refetched, f"{p} was downloaded again after the kill"
    assert f"{len(done_before)} reused" in rerun.stderr, rerun.stderr


def test_sigkill_pull_at_random_points(sdxl_binary, sdxl_run, s3_server, buckets, fault_proxy,
                                       tmp_path):
    """SIGKILL at seeded random points (SDXL_KILL_SEED, SDXL_KILL_POINTS, as
    tests/storage/test_kill_points.py): the cache is never marked ready early, every file under a
    final name is verified, and a rerun completes with nothing left over."""
    bucket, manifest = buckets["bucket"], buckets["manifest"]
    by_path = {f["path"]: f for f in manifest["files"]}
    fault_proxy.add_rule("delay", method="GET", path=rf"^/{bucket}/{MODEL_PATH}/[^?]+$",
                         seconds=0.3, times=None)
    env = s3_server.env(endpoint=fault_proxy.endpoint)
    args = [str(sdxl_binary), "pull", f"s3://{bucket}/{MODEL_PATH}", "--concurrency", "2"]
    start = time.monotonic()
    subprocess.run([*args, "--cache", str(tmp_path / "ref")], env=env, check=True,
                   capture_output=True, timeout=300)
    duration = time.monotonic() - start
    kill_times = kill_points.schedule("pull", duration)
    for i, at in enumerate(kill_times):
        cache = tmp_path / f"cache{i}"
        model_dir = cache / bucket / MODEL_PATH
        code = kill_points.run_and_kill([*args, "--cache", cache], env, at)
        if code != 0:
            assert not (model_dir / MARKER).exists(), f"ready after a kill at {at:.2f} s"
        for p, f in by_path.items():
            if (model_dir / p).exists():
                assert sha256(model_dir / p) == f["sha256"], f"{p} unverified (kill at {at:.2f})"
        rerun = pull(sdxl_run, f"s3://{bucket}/{MODEL_PATH}", "--cache", cache, env=env)
        assert rerun.returncode == 0, rerun.stderr
        check_prepared_copy(Path(rerun.stdout.strip()), manifest)


def test_generate_pulls_s3_models(sdxl_binary, sdxl_run, s3_server, buckets, tmp_path):
    """`generate --model s3://...` (and no --model with MODEL_BUCKET_NAME/MODEL_PATH) pulls into
    the cache, then loads the folder; run with the torch-free fake engine."""
    engine = sdxl_binary.parent / "src" / "sdxl" / "libsdxl_fake_engine_ok.so"
    if not engine.exists():
        pytest.skip(f"{engine} not built (ninja sdxl_fake_engine_ok)")
    bucket, manifest = buckets["bucket"], buckets["manifest"]
    cache = tmp_path / "cache"
    env = s3_server.env(SDXL_ENGINE_LIBRARY=str(engine), MODEL_CACHE_DIR=str(cache))
    out = tmp_path / "a.png"
    proc = sdxl_run("generate", "--model", f"s3://{bucket}/{MODEL_PATH}", "--prompt", "a cat",
                    "--out", out, env=env)
    assert proc.returncode == 0, proc.stderr
    assert out.is_file()
    check_prepared_copy(cache / bucket / MODEL_PATH, manifest)

    env.update(MODEL_BUCKET_NAME=bucket, MODEL_PATH=PLAIN_PATH)
    proc = sdxl_run("generate", "--prompt", "a cat", "--out", tmp_path / "b.png", env=env)
    assert proc.returncode == 0, proc.stderr
    assert (cache / bucket / PLAIN_PATH / MARKER).is_file()

    bad = sdxl_run("generate", "--model", f"s3://{bucket}/nope", "--prompt", "a cat", "--out",
                   tmp_path / "c.png", env=env)
    assert bad.returncode == 1
    assert f"nothing under s3://{bucket}/nope/" in bad.stderr
    assert not (tmp_path / "c.png").exists()


def test_pull_load_streams_into_the_engine_through_resets(sdxl_binary, sdxl_run, s3_server,
                                                          buckets, fault_proxy, tmp_path):
    """`pull --load` with the real engine: the weights go from the download into the engine while
    connections are reset and cut mid-tensor (each retried range resumes after the bytes already
    handed over: a byte delivered twice would fail the chunk hashes and the byte counts), and the
    cache ends up complete and verified."""
    if not (sdxl_binary.parent / "libsdxl-engine.so").exists():
        pytest.skip("libsdxl-engine.so not built (SDXL_WITH_TORCH=OFF)")
    bucket, manifest = buckets["bucket"], buckets["manifest"]
    # The first matching rule acts: the faults first, then every other weight GET waits a
    # moment, so the engine (opening LibTorch meanwhile) asks for every file before its bytes
    # come: then they can only reach it straight from the download.
    resets = fault_proxy.add_rule("reset", method="GET",
                                  path=rf"/{MODEL_PATH}/unet/diffusion_pytorch_model.safetensors$",
                                  after_bytes=1 << 20, times=2)
    cut = fault_proxy.add_rule("truncate", method="GET",
                               path=rf"/{MODEL_PATH}/text_encoder/model.safetensors$",
                               after_bytes=100_000, times=1)
    fault_proxy.add_rule("delay", method="GET", path=rf"^/{bucket}/{MODEL_PATH}/.+\.safetensors$",
                         seconds=2.0, times=None)
    proc = pull(sdxl_run, f"s3://{bucket}/{MODEL_PATH}", "--cache", tmp_path / "cache", "--load",
                "--device", "cpu", env=s3_server.env(endpoint=fault_proxy.endpoint))
    assert proc.returncode == 0, proc.stderr
    assert (resets.fired, cut.fired) == (2, 1)
    line = next(x for x in proc.stderr.splitlines() if x.startswith("load: "))
    assert "pipeline on cpu (float32)" in line, line
    streamed = line.split("weights ")[1].split(" streamed")[0]
    assert streamed not in ("0 B", "0.0 B"), line
    check_prepared_copy(Path(proc.stdout.strip()), manifest)

    # Warm: the same command reads the verified cache; nothing is downloaded.
    fault_proxy.clear()
    again = pull(sdxl_run, f"s3://{bucket}/{MODEL_PATH}", "--cache", tmp_path / "cache", "--load",
                 "--device", "cpu", env=s3_server.env(endpoint=fault_proxy.endpoint))
    assert again.returncode == 0, again.stderr
    assert "0 files downloaded" in again.stderr, again.stderr
    assert "0 B streamed from the download" in again.stderr, again.stderr


def on_small_disk(mount: Path, size: int, argv: list) -> list:
    """argv run with a fresh tmpfs of `size` bytes at `mount` (a private mount namespace through
    unshare, as root or in a user namespace), so the cache there fills up for real."""
    script = 'mount -t tmpfs -o size="$1" tmpfs "$2" || exit 97; shift 2; exec "$@"'
    return ["unshare", "-rm", "sh", "-c", script, "sh", str(size), str(mount), *map(str, argv)]


def test_a_full_disk_still_loads_without_the_cache(sdxl_binary, s3_server, buckets, tmp_path):
    """The cache's disk cannot hold the weights: `generate --model s3://...` warns, streams the
    weights into the engine without caching them (bytes that came before the engine asked are
    read again from the bucket, chunk-verified) and makes the same image as a run with a roomy
    cache; the cache folder is left incomplete (no marker), so the next start pulls again.
    `pull --load` says so in its summary; a plain `pull` fails up front with what to do."""
    if not (sdxl_binary.parent / "libsdxl-engine.so").exists():
        pytest.skip("libsdxl-engine.so not built (SDXL_WITH_TORCH=OFF)")
    bucket, manifest = buckets["bucket"], buckets["manifest"]
    url = f"s3://{bucket}/{MODEL_PATH}"
    small = sum(f["size"] for f in manifest["files"] if not f["path"].endswith(".safetensors"))
    weights = sum(f["size"] for f in manifest["files"] if f["path"].endswith(".safetensors"))
    disk = small + (256 << 10)  # the small files and bookkeeping fit, the weights do not
    assert weights > (512 << 10)
    args = ["generate", "--model", url, "--prompt", "a red fox", "--seed", "7", "--steps", "2"]

    env = s3_server.env(MODEL_CACHE_DIR=str(tmp_path / "roomy"))
    ref = subprocess.run([sdxl_binary, *args, "--out", tmp_path / "ref.png"], env=env,
                         capture_output=True, text=True, timeout=300)
    assert ref.returncode == 0, ref.stderr

    cache = tmp_path / "small"
    cache.mkdir()
    env = s3_server.env(MODEL_CACHE_DIR=str(cache))
    full = subprocess.run(on_small_disk(cache, disk, [sdxl_binary, *args, "--out",
                                                      tmp_path / "full.png"]),
                          env=env, capture_output=True, text=True, timeout=300)
    if full.returncode == 97:
        pytest.skip(f"cannot mount a small tmpfs here: {full.stderr.strip()}")
    assert full.returncode == 0, full.stderr
    assert "not enough disk space in " in full.stderr, full.stderr
    assert "loaded from the network without caching them" in full.stderr, full.stderr
    assert (tmp_path / "full.png").read_bytes() == (tmp_path / "ref.png").read_bytes()

    pulled = subprocess.run(on_small_disk(cache, disk, [sdxl_binary, "pull", url, "--load",
                                                        "--device", "cpu"]),
                            env=env, capture_output=True, text=True, timeout=300)
    assert pulled.returncode == 0, pulled.stderr
    n_weights = sum(f["path"].endswith(".safetensors") for f in manifest["files"])
    assert f"{n_weights} of them" in pulled.stderr and "not cached: the disk is full" in \
        pulled.stderr, pulled.stderr
    # Not downloaded ahead (nowhere to keep it): each weight byte came once, when the engine
    # asked, from the bucket.
    assert "weights 0 B streamed from the download, 0 B read from the cache, " in pulled.stderr
    assert "read from the bucket on demand (not cached)" in pulled.stderr, pulled.stderr

    plain = subprocess.run(on_small_disk(cache, disk, [sdxl_binary, "pull", url]),
                           env=env, capture_output=True, text=True, timeout=300)
    assert plain.returncode == 1, plain.stderr
    assert error_lines(plain.stderr) and "not enough disk space in " in plain.stderr
    assert "point MODEL_CACHE_DIR (--cache) at a larger disk" in plain.stderr, plain.stderr


def test_variant_of_uncached_weights_counts_the_bucket_files(sdxl_binary, s3_server,
                                                           tiny_lightning, tmp_path):
    """`generate --variant fp16 --model s3://...` on a disk that cannot cache the weights: the
    variant check after the load goes by the model's files in the bucket, not by the (weightless)
    cache folder. A bucket filled by plain cp with fp16 weights in every component but the VAE
    warns about the VAE only, never that --variant had no effect."""
    if not (sdxl_binary.parent / "libsdxl-engine.so").exists():
        pytest.skip("libsdxl-engine.so not built (SDXL_WITH_TORCH=OFF)")
    model = tmp_path / "model"
    shutil.copytree(tiny_lightning, model)
    for component in ("unet", "text_encoder", "text_encoder_2"):
        for f in list((model / component).glob("*.safetensors")):
            shutil.copyfile(f, f.with_suffix(".fp16.safetensors"))
    env = s3_server.env()
    bucket = s3_server.new_bucket("variant")
    url = f"s3://{bucket}/m"
    cp = subprocess.run([sdxl_binary, "-q", "cp", "--recursive", model, url], env=env,
                        capture_output=True, text=True, timeout=300)
    assert cp.returncode == 0, cp.stderr
    files = [p for p in model.rglob("*") if p.is_file()]
    small = sum(p.stat().st_size for p in files if not p.name.endswith(".safetensors"))
    assert sum(p.stat().st_size for p in files if p.name.endswith(".safetensors")) > (1 << 20)
    cache = tmp_path / "small"
    cache.mkdir()
    env["MODEL_CACHE_DIR"] = str(cache)
    args = ["generate", "--model", url, "--prompt", "a red fox", "--seed", "7", "--steps", "1",
            "--variant", "fp16", "--out", tmp_path / "o.png"]
    proc = subprocess.run(on_small_disk(cache, small + (256 << 10),
                                        [sdxl_binary, *args]),
                          env=env, capture_output=True, text=True, timeout=300)
    if proc.returncode == 97:
        pytest.skip(f"cannot mount a small tmpfs here: {proc.stderr.strip()}")
    assert proc.returncode == 0, proc.stderr
    assert "not enough disk space in " in proc.stderr, proc.stderr
    warnings = [line for line in proc.stderr.splitlines() if "--variant fp16" in line]
    assert len(warnings) == 1, proc.stderr
    assert "vae has no fp16 weights" in warnings[0] and "unet" not in warnings[0], warnings
    assert "had no effect" not in proc.stderr, proc.stderr
