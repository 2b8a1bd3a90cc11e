"""Fixtures for the deployment tests (deploy/): the image's root filesystem, the image itself, a
way to run containers on this machine. Helpers are in deploy_helpers.py; the tiny pipeline
(`tiny_lightning`) comes from tests/conftest.py.

  image_context    Path of a build context made by `deploy/build-image.sh --rootfs-only` (rootfs/,
                   owned/, Containerfile, libs.tsv); needs build/libsdxl-engine.so and torch
  container_tool   "podman" (skips when podman is not installed)
  image            tag of the image built from deploy/Containerfile for this session (removed at
                   the end), or $SDXL_TEST_IMAGE when set (an image built before, kept)
  run_args         extra `podman` arguments this machine needs to run a container, found by
                   trying the image (see _RUN_VARIANTS); skips, with each attempt's error, when
                   none works
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from deploy_helpers import DEPLOY, REPO, build_dir  # noqa: E402


def _engine_or_skip() -> Path:
    engine = build_dir() / "libsdxl-engine.so"
    if not engine.is_file():
        pytest.skip(f"{engine} not built (the image needs the LibTorch engine: make build)")
    return engine


@pytest.fixture(scope="session")
def image_context(tmp_path_factory, sdxl_binary):
    _engine_or_skip()
    ctx = tmp_path_factory.mktemp("image") / "context"
    proc = subprocess.run(["bash", str(DEPLOY / "build-image.sh"), "--build", str(build_dir()),
                           "--context", str(ctx), "--rootfs-only"],
                          capture_output=True, text=True, timeout=600, cwd=REPO)
    assert proc.returncode == 0, \
        f"build-image.sh --rootfs-only failed:\n{proc.stdout}\n{proc.stderr}"
    print(proc.stdout)
    yield ctx
    # 3.2 GB when the libraries could not be hard-linked (another file system): not left behind.
    shutil.rmtree(ctx, ignore_errors=True)


@pytest.fixture(scope="session")
def container_tool():
    if not shutil.which("podman"):
        pytest.skip("podman not installed: apt-get install -y podman buildah runc")
    return "podman"


@pytest.fixture(scope="session")
def image(container_tool, sdxl_binary, tmp_path_factory):
    given = os.environ.get("SDXL_TEST_IMAGE")
    if given:
        yield given
        return
    _engine_or_skip()
    tag = f"localhost/sdxl-tigris:test-{uuid.uuid4().hex[:8]}"
    ctx = tmp_path_factory.mktemp("image-build") / "context"
    t0 = time.monotonic()
    proc = subprocess.run(["bash", str(DEPLOY / "build-image.sh"), "--build", str(build_dir()),
                           "--context", str(ctx), "--tag", tag],
                          capture_output=True, text=True, timeout=1200, cwd=REPO)
    assert proc.returncode == 0, f"build-image.sh failed:\n{proc.stdout[-4000:]}\n{proc.stderr}"
    print(f"\nimage {tag} built in {time.monotonic() - t0:.0f} s:\n"
          + "\n".join(line for line in proc.stdout.splitlines() if "build-image:" in line or
                      line.startswith("  ")))
    shutil.rmtree(ctx, ignore_errors=True)
    yield tag
    subprocess.run([container_tool, "rmi", "-f", tag], capture_output=True, timeout=300)


def _limit_args() -> list[str]:
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    nproc = resource.getrlimit(resource.RLIMIT_NPROC)[1]
    args = []
    if nofile != resource.RLIM_INFINITY:
        args += ["--ulimit", f"nofile={nofile}:{nofile}"]
    # podman lowers its own RLIMIT_NPROC to 32768 and asks for more in the container, which needs
    # CAP_SYS_RESOURCE; ask for what podman itself has.
    nproc = min(nproc, 32768) if nproc != resource.RLIM_INFINITY else 32768
    return args + ["--ulimit", f"nproc={nproc}:{nproc}"]


# What to try, in order, to run a container here. Plain `podman run` works on an ordinary host. In
# this sandbox (a VM whose root lacks CAP_SYS_RESOURCE, with cgroup v1/v2 "hybrid" mounts) crun
# refuses hybrid cgroups and both runtimes fail to raise RLIMIT_NOFILE/NPROC to podman's defaults.
_RUN_VARIANTS = (
    ("default", []),
    ("runc", ["--runtime", "runc"]),
    ("runc + host rlimits", ["--runtime", "runc", *_limit_args()]),
    ("crun + host rlimits", _limit_args()),
)


@pytest.fixture(scope="session")
def run_args(container_tool, image):
    failures = []
    for name, extra in _RUN_VARIANTS:
        if "runc" in extra and not shutil.which("runc"):
            failures.append(f"{name}: runc not installed")
            continue
        cmd = [container_tool, "run", "--rm", *extra, "--entrypoint", "/usr/local/bin/sdxl-tigris",
               image, "version"]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if proc.returncode == 0 and "features: torch" in proc.stdout:
            return extra
        failures.append(f"{name}: `{' '.join(cmd)}` -> rc {proc.returncode}: "
                        f"{(proc.stderr or proc.stdout).strip()[-300:]}")
    pytest.skip("cannot run containers on this machine:\n" + "\n".join(failures))
