"""Shared pytest fixtures for sdxl-tigris integration tests.

Run: `SDXL_BUILD_DIR=build python3 -m pytest -q tests` (what `make test` does after ctest).

Session-scoped fixtures (started once, on first use, stopped by PID at the end):

  sdxl_binary   pathlib.Path of `$SDXL_BUILD_DIR/sdxl-tigris` (default: <repo>/build). Tests that
                use it are skipped, with the reason, only when the binary does not exist.
  s3_server     tools/seaweedfs.SeaweedFS: a real SeaweedFS (`weed mini`) on 127.0.0.1, free
                ports, telemetry off, data in a temp dir, SigV4 required (an unsigned request is
                verified to be refused at start-up). Attributes/methods:
                  .endpoint .access_key .secret_key .region
                  .env(endpoint=None, **extra) -> dict for subprocesses: os.environ minus AWS_*,
                      plus AWS_ACCESS_KEY_ID/SECRET/REGION/DEFAULT_REGION/ENDPOINT_URL_S3, and
                      AWS_CONFIG_FILE / AWS_SHARED_CREDENTIALS_FILE pointing at an empty file
                      (nothing leaks from ~/.aws). `endpoint=` targets e.g. the fault proxy.
                  .boto3_client(endpoint=None, retries=3) -> path-style boto3 S3 client
                  .new_bucket(prefix="t") -> name of a freshly created, unique bucket
                Set SDXL_TEST_KEEP_S3=1 to keep its data dir (printed) after the run.
  tiny_lightning  Path of a tiny random SDXL-Lightning-style diffusers pipeline
                (tools/make_tiny_sdxl.py, made once per session; read-only).
Function-scoped:

  sdxl_run      callable(*args, env=None, timeout=120, check=False, input=None, cwd=None)
                -> subprocess.CompletedProcess (text, captured) of the binary. With env=None it
                uses s3_server.env() (starting SeaweedFS on first use); pass env=dict(os.environ)
                or similar for commands that need no S3. check=True raises with both streams.

  fault_proxy   tools/fault_proxy.FaultProxy in front of s3_server (one proxy per session;
                rules and request log are cleared before and after each test). Use
                `.endpoint`, `.add_rule(action, method=, path=, skip=, times=, status=, code=,
                forward=, after_bytes=, seconds=)`, `.requests(method, path)`, `.faults_fired()`.
                `s3_server.env(endpoint=fault_proxy.endpoint)` points the binary at it.

Markers: `slow` (skipped unless `--run-slow` or SDXL_RUN_SLOW=1), `s3` (needs SeaweedFS).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT / "tools"))

from fault_proxy import FaultProxy  # noqa: E402
from seaweedfs import SeaweedError, SeaweedFS  # noqa: E402


def pytest_addoption(parser):
    parser.addoption("--run-slow", action="store_true", default=False,
                     help="also run tests marked `slow` (or set SDXL_RUN_SLOW=1)")


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: long-running test; needs --run-slow or SDXL_RUN_SLOW=1")
    config.addinivalue_line("markers", "s3: needs the SeaweedFS server fixture")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--run-slow") or os.environ.get("SDXL_RUN_SLOW") == "1":
        return
    skip = pytest.mark.skip(reason="slow test: run with --run-slow or SDXL_RUN_SLOW=1")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


def build_dir() -> Path:
    return Path(os.environ.get("SDXL_BUILD_DIR") or REPO_ROOT / "build").resolve()


@pytest.fixture(scope="session")
def sdxl_binary() -> Path:
    path = build_dir() / "sdxl-tigris"
    if not path.is_file() or not os.access(path, os.X_OK):
        pytest.skip(f"{path} not built: run `make build` or set SDXL_BUILD_DIR to a build dir")
    return path


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    root = tmp_path_factory.mktemp("seaweedfs")
    server = SeaweedFS(root)
    try:
        server.start()
    except SeaweedError as e:
        pytest.fail(f"could not start SeaweedFS: {e}", pytrace=False)
    yield server
    keep = os.environ.get("SDXL_TEST_KEEP_S3") == "1"
    server.stop(remove_data=not keep)
    if keep:
        print(f"\nSeaweedFS data kept in {root}")


@pytest.fixture
def sdxl_run(sdxl_binary, request):
    def run(*args, env=None, timeout=120, check=False, input=None, cwd=None):
        if env is None:  # SeaweedFS starts only for tests that run the binary without an env
            env = request.getfixturevalue("s3_server").env()
        proc = subprocess.run([str(sdxl_binary), *map(str, args)], env=env, input=input,
                              capture_output=True, text=True, timeout=timeout, cwd=cwd)
        if check and proc.returncode != 0:
            raise AssertionError(f"sdxl-tigris {' '.join(map(str, args))} exited "
                                 f"{proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
        return proc

    return run


@pytest.fixture(scope="session")
def tiny_lightning(tmp_path_factory) -> Path:
    """A tiny random SDXL-Lightning-style diffusers pipeline (tools/make_tiny_sdxl.py), made once
    per session; tests upload it with prepare-model or cp and must not modify it."""
    out = tmp_path_factory.mktemp("tiny") / "lightning"
    proc = subprocess.run([sys.executable, str(REPO_ROOT / "tools/make_tiny_sdxl.py"), "--config",
                           "lightning", str(out)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return out


@pytest.fixture(scope="session")
def _fault_proxy_session(s3_server):
    proxy = FaultProxy("127.0.0.1", s3_server.s3_port).start()
    yield proxy
    proxy.stop()


@pytest.fixture
def fault_proxy(_fault_proxy_session):
    _fault_proxy_session.clear()
    yield _fault_proxy_session
    _fault_proxy_session.clear()
