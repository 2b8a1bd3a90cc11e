"""Helpers for the deployment tests (tests/deploy/): paths, free ports, HTTP, health polling,
preparing the tiny pipeline into a bucket."""

from __future__ import annotations

import json
import re
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
sys.path.insert(0, str(REPO / "tools"))

from seaweedfs import free_ports  # noqa: E402


def build_dir() -> Path:
    return Path(os.environ.get("SDXL_BUILD_DIR") or REPO / "build").resolve()


def free_port() -> int:
    return free_ports(1)[0]


def http(method, url, body=None, headers=None, timeout=60):
    data = json.dumps(body).encode() if body is not None else None
    hdrs = dict(headers or {})
    if data is not None:
        hdrs.setdefault("Content-Type", "application/json")
    req = urllib.request.Request(url, data=data, method=method, headers=hdrs)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def wait_health(base_url, statuses=("READY",), timeout=240, alive=None, logs=None):
    """Polls GET /health-check until its status is one of `statuses`; raises with the last answer
    (and `logs()`) on timeout or when `alive()` says the server is gone."""
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        if alive is not None and not alive():
            raise AssertionError(f"server exited; last health {last}\n{logs() if logs else ''}")
        try:
            status, text = http("GET", base_url + "/health-check", timeout=5)
            last = json.loads(text) if status == 200 else (status, text)
            if status == 200 and last.get("status") in statuses:
                return last
        except (urllib.error.URLError, ConnectionError, OSError):
            pass
        time.sleep(0.2)
    raise AssertionError(f"health never reached {statuses} in {timeout} s: {last}\n"
                         f"{logs() if logs else ''}")


def prepare_tiny(binary: Path, model_dir: Path, bucket: str, path: str, env: dict):
    proc = subprocess.run([str(binary), "prepare-model", str(model_dir), f"s3://{bucket}",
                           "--path", path], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"prepare-model failed:\n{proc.stdout}\n{proc.stderr}"


def serve_read_env_names() -> set[str]:
    """The environment variables the binary reads: the names passed to core::Environment's
    Get/GetOr/GetFirst in the non-test C++ sources (the one place configuration comes from)."""
    names = set()
    lookup = re.compile(r'(?:\.|->)(?:Get|GetOr|GetFirst)\(\s*\{?\s*'
                        r'((?:"[A-Z][A-Z0-9_]*"\s*,?\s*)+)')
    for path in (REPO / "src").rglob("*"):
        if path.suffix in (".cc", ".h") and not path.name.endswith("_test.cc"):
            for m in lookup.finditer(path.read_text()):
                names |= set(re.findall(r'"([A-Z][A-Z0-9_]*)"', m.group(1)))
    return names


class ServeProc:
    """`sdxl-tigris serve` on a free 127.0.0.1 port. fake=True: with the fake engine library and a
    stand-in model folder unless `model` is given (for checking a deploy file's probe against the
    real HTTP server without a model); fake=False: the real engine beside the binary, the model
    from `model` or MODEL_BUCKET_NAME/MODEL_PATH in `env`."""

    def __init__(self, binary: Path, tmp: Path, env: dict, model: str | None = None,
                 fake: bool = True):
        env = dict(env)
        if fake:
            lib = build_dir() / "src" / "sdxl" / "libsdxl_fake_engine_ok.so"
            if not lib.exists():
                import pytest
                pytest.skip(f"{lib} not built")
            env["SDXL_ENGINE_LIBRARY"] = str(lib)
        if model is None and fake:
            d = tmp / "fake-model"
            d.mkdir(exist_ok=True)
            (d / "model_index.json").write_text('{"_class_name": "StableDiffusionXLPipeline"}')
            model = str(d)
        port_file = tmp / f"port-{time.monotonic_ns()}"
        self.log_path = tmp / f"serve-{time.monotonic_ns()}.log"
        env.setdefault("MODEL_CACHE_DIR", str(tmp / "cache"))
        self._log = open(self.log_path, "wb")
        cmd = [str(binary), "serve", "--host", "127.0.0.1", "--port", "0", "--port-file",
               str(port_file)] + (["--model", model] if model else [])
        self.proc = subprocess.Popen(cmd, env=env, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.time() + 30
        while not port_file.exists():
            if self.proc.poll() is not None or time.time() > deadline:
                self.stop()
                raise AssertionError(f"serve did not start:\n{self.logs()}")
            time.sleep(0.02)
        time.sleep(0.05)
        self.url = f"http://127.0.0.1:{int(port_file.read_text())}"

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return self.proc.returncode
