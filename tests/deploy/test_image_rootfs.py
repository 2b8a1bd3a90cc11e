"""The image's root filesystem as deploy/build-image.sh collects it (`--rootfs-only`, seconds, no
podman): every library resolves inside it, nothing that must come from the host (libcuda) or from
the user (credentials) is in it, and `sdxl-tigris serve` boots from it as the non-root user against
SeaweedFS with the tiny pipeline and predicts (chroot + private mount/PID namespaces, so this runs
wherever the tests run as root, with or without a container runtime). test_container.py does the
same with the built image under podman (slow)."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import urllib.request
from pathlib import Path

import pytest

from deploy_helpers import DEPLOY, free_port, http, prepare_tiny, wait_health

LD = "/usr/lib64/ld-linux-x86-64.so.2"
IMAGE_LIB_DIR = "/usr/local/lib/sdxl-tigris"


def need_root_tools():
    if os.geteuid() != 0:
        pytest.skip("chroot/unshare need root")
    for tool in ("chroot", "unshare"):
        if not shutil.which(tool) and not Path(f"/usr/sbin/{tool}").exists():
            pytest.skip(f"{tool} not found")


def chroot_cmd(rootfs: Path, *args, user="10001:10001"):
    return [shutil.which("chroot") or "/usr/sbin/chroot", f"--userspec={user}", str(rootfs), *args]


def manifest(ctx: Path):
    rows = []
    for line in (ctx / "libs.tsv").read_text().splitlines():
        size, group, dest, src = line.split("\t")
        rows.append((int(size), group, dest, src))
    return rows


def test_rootfs_holds_the_engine_and_its_libraries_only(image_context):
    rootfs = image_context / "rootfs"
    rows = manifest(image_context)
    names = {Path(dest).name for _, _, dest, _ in rows}
    # What the engine links (ldd) and what LibTorch/cuDNN dlopen().
    for lib in ("libtorch_cpu.so", "libtorch_cuda.so", "libc10_cuda.so", "libcudart.so.13",
                "libcublasLt.so.13", "libcudnn.so.9", "libcudnn_engines_precompiled.so.9",
                "libcudnn_cnn.so.9", "libcurl.so.4", "libc.so.6", "ld-linux-x86-64.so.2"):
        assert lib in names, f"{lib} missing from the image"
    # The driver comes from the host's NVIDIA runtime, never from the image.
    assert not [n for n in names if n.startswith(("libcuda.so", "libnvidia-"))]
    # Nothing from the wheel that the engine neither links nor opens.
    for lib in ("libtorch_python.so", "libshm.so", "libcufftw.so.12", "libnvblas.so.13",
                "libcusolverMg.so.12"):
        assert lib not in names, f"{lib} is in the image but nothing loads it"
    assert (rootfs / "usr/local/bin/sdxl-tigris").stat().st_mode & 0o111
    assert (rootfs / "usr/local/bin/libsdxl-engine.so").is_file()  # beside the binary
    assert (rootfs / "etc/ssl/certs/ca-certificates.crt").stat().st_size > 10_000
    passwd = (rootfs / "etc/passwd").read_text()
    assert re.search(r"^sdxl:x:10001:10001:", passwd, re.M)
    assert (rootfs / "tmp").stat().st_mode & 0o1777 == 0o1777
    assert (image_context / "owned/cache").stat().st_uid == 10001
    total = sum(size for size, *_ in rows)
    assert total < 4 * 2**30, f"{total / 2**30:.1f} GiB of libraries: what grew?"


def test_rootfs_has_no_credentials(image_context):
    containerfile = (image_context / "Containerfile").read_text()
    assert containerfile == (DEPLOY / "Containerfile").read_text()
    env_lines = " ".join(l for l in containerfile.splitlines() if not l.lstrip().startswith("#"))
    for secret in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                   "SDXL_API_TOKEN", "HF_TOKEN"):
        assert secret not in env_lines
    for p in (image_context / "rootfs").rglob("*"):
        assert not p.name.startswith((".aws", "credentials", ".netrc", ".env")), p
    assert list((image_context / "rootfs/home/sdxl").iterdir()) == []


def test_every_library_resolves_inside_the_rootfs(image_context):
    """The image's own dynamic loader, chrooted, resolves every file's dependencies from the
    image alone (LD_LIBRARY_PATH as the Containerfile sets it)."""
    need_root_tools()
    rootfs = image_context / "rootfs"
    files = ["/usr/local/bin/sdxl-tigris", "/usr/local/bin/libsdxl-engine.so", "/usr/bin/cat"]
    files += [f"{IMAGE_LIB_DIR}/{p.name}" for p in sorted((rootfs / IMAGE_LIB_DIR[1:]).iterdir())]
    env = {"LD_LIBRARY_PATH": IMAGE_LIB_DIR, "PATH": "/usr/bin"}
    for f in files:
        proc = subprocess.run(chroot_cmd(rootfs, LD, "--list", f, user="0:0"), env=env,
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, f"{f}: {proc.stderr}{proc.stdout}"
        assert "not found" not in proc.stdout, f"{f} in the image:\n{proc.stdout}"


@pytest.mark.s3
def test_serve_boots_from_the_rootfs_and_predicts(image_context, sdxl_binary, s3_server,
                                                  tiny_lightning, tmp_path):
    """`serve` from the image's files only, as user 10001, with the image's environment."""
    need_root_tools()
    rootfs = image_context / "rootfs"
    models, images = s3_server.new_bucket("models"), s3_server.new_bucket("images")
    prepare_tiny(sdxl_binary, tiny_lightning, models, "tiny/lightning", s3_server.env())
    port = free_port()
    env = {  # the Containerfile's ENV plus what a deployment sets; nothing from this machine
        "LD_LIBRARY_PATH": IMAGE_LIB_DIR, "MODEL_CACHE_DIR": "/tmp/cache", "HOME": "/home/sdxl",
        "PORT": str(port), "KUBERNETES_SERVICE_HOST": "10.0.0.1",
        "AWS_ACCESS_KEY_ID": s3_server.access_key, "AWS_SECRET_ACCESS_KEY": s3_server.secret_key,
        "AWS_ENDPOINT_URL_S3": s3_server.endpoint, "AWS_REGION": s3_server.region,
        "MODEL_BUCKET_NAME": models, "MODEL_PATH": "tiny/lightning", "PUBLIC_BUCKET_NAME": images,
    }
    (rootfs / "var/run/cog").mkdir(parents=True, exist_ok=True)
    os.chown(rootfs / "var/run/cog", 10001, 10001)
    # Private mount + PID namespaces: /proc (serve finds its engine through /proc/self/exe) and
    # /dev are mounted for this process tree only and vanish with it.
    script = (f"mount -t proc proc {rootfs}/proc && mount --rbind /dev {rootfs}/dev && "
              f"exec {' '.join(chroot_cmd(rootfs, '/usr/local/bin/sdxl-tigris', 'serve'))}")
    log_path = tmp_path / "serve.log"
    log = open(log_path, "wb")
    proc = subprocess.Popen(["unshare", "--mount", "--pid", "--fork", "--kill-child", "sh", "-c",
                             script], env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        health = wait_health(url, timeout=240, alive=lambda: proc.poll() is None,
                             logs=lambda: log_path.read_text(errors="replace"))
        assert "READY in" in health["setup"]["logs"]
        assert (rootfs / "var/run/cog/ready").exists()  # the Kubernetes readiness file
        status, text = http("POST", url + "/predictions", {"input": {
            "prompt": "a lighthouse", "num_inference_steps": 2, "output_format": "png",
            "seed": 3}}, timeout=300)
        assert status == 200, text
        body = json.loads(text)
        assert body["status"] == "succeeded", body
        with urllib.request.urlopen(body["output"][0], timeout=30) as r:
            assert r.read()[:8] == b"\x89PNG\r\n\x1a\n"
        cached = [p for p in (rootfs / "tmp/cache").rglob("*") if p.is_file()]
        assert cached and all(p.stat().st_uid == 10001 for p in cached)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        log.close()
    assert proc.returncode == 0, log_path.read_text(errors="replace")[-3000:]
    assert s3_server.secret_key not in log_path.read_text(errors="replace")


def test_build_script_says_what_is_missing(tmp_path):
    proc = subprocess.run(["bash", str(DEPLOY / "build-image.sh"), "--build", str(tmp_path),
                           "--rootfs-only"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert f"{tmp_path}/sdxl-tigris missing: run `make build` first" in proc.stderr
    proc = subprocess.run(["bash", str(DEPLOY / "build-image.sh"), "--frobnicate"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "unknown argument --frobnicate" in proc.stderr
    assert "Usage" in proc.stderr
