"""Fixtures for the `sdxl-tigris serve` tests: start the server as a subprocess on a free
127.0.0.1 port, talk HTTP to it with the standard library, stop it by PID.

  serve_factory(model=..., engine="fake"|"real", env=None, args=()) -> Server
      Server.url, .proc, .request(method, path, body=None, headers=None) -> Reply(status, headers,
      text, json), .wait_health(*statuses, timeout), .stop(sig=SIGTERM) -> exit code, .logs()
  fake_model: a folder holding only model_index.json (the fake engine ignores the weights).
  coglet_server: Cog's own server (PyPI coglet + cog >= 0.17) running tests/serve/cog_oracle/
      (the seed's inputs; its bundled schema in .cog/openapi_schema.json) on a free 127.0.0.1
      port, READY; a Server as above, stopped by PID (its worker subprocess too). Skipped, with
      the reason, when coglet is not installed.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


def build_dir() -> Path:
    return Path(os.environ.get("SDXL_BUILD_DIR") or REPO_ROOT / "build").resolve()


@dataclass
class Reply:
    status: int
    headers: dict
    text: str

    @property
    def json(self):
        return json.loads(self.text)


class Server:
    def __init__(self, proc: subprocess.Popen, port: int, log_path: Path):
        self.proc = proc
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = log_path

    def request(self, method, path, body=None, headers=None, raw=None, timeout=60) -> Reply:
        data = raw
        hdrs = dict(headers or {})
        if body is not None:
            data = json.dumps(body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=hdrs)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return Reply(r.status, dict(r.headers), r.read().decode())
        except urllib.error.HTTPError as e:
            return Reply(e.code, dict(e.headers), e.read().decode())

    def health(self):
        return self.request("GET", "/health-check").json

    def wait_health(self, *statuses, timeout=60):
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited {self.proc.returncode}:\n{self.logs()}")
            try:
                last = self.health()
                if last["status"] in statuses:
                    return last
            except (urllib.error.URLError, ConnectionError):
                pass
            time.sleep(0.05)
        raise AssertionError(f"health never reached {statuses}: {last}\n{self.logs()}")

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, sig=signal.SIGTERM, timeout=30) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def fake_engine_path() -> Path:
    return build_dir() / "src" / "sdxl" / "libsdxl_fake_engine_ok.so"


@pytest.fixture
def fake_model(tmp_path) -> Path:
    d = tmp_path / "fake-model"
    d.mkdir()
    (d / "model_index.json").write_text('{"_class_name": "StableDiffusionXLPipeline"}')
    return d


@pytest.fixture
def serve_factory(sdxl_binary, tmp_path):
    servers = []

    def start(model=None, engine="fake", env=None, args=(), wait=("READY",), timeout=120):
        env = dict(env if env is not None else os.environ)
        if engine == "fake":
            lib = fake_engine_path()
            if not lib.exists():
                pytest.skip(f"{lib} not built")
            env["SDXL_ENGINE_LIBRARY"] = str(lib)
        env.setdefault("MODEL_CACHE_DIR", str(tmp_path / "cache"))
        n = len(servers)
        port_file = tmp_path / f"port-{n}"
        log_path = tmp_path / f"serve-{n}.log"
        cmd = [str(sdxl_binary), "serve", "--host", "127.0.0.1", "--port", "0",
               "--port-file", str(port_file)]
        if model is not None:
            cmd += ["--model", str(model)]
        cmd += list(args)
        log = open(log_path, "wb")
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.time() + 30
        while not port_file.exists():
            if proc.poll() is not None or time.time() > deadline:
                proc.kill()
                raise AssertionError(f"server did not start:\n{log_path.read_text()}")
            time.sleep(0.02)
        server = Server(proc, int(port_file.read_text()), log_path)
        servers.append(server)
        if wait:
            server.wait_health(*wait, timeout=timeout)
        return server

    yield start
    for s in servers:
        s.stop(signal.SIGKILL if s.proc.poll() is None else signal.SIGTERM, timeout=10)


COG_ORACLE = Path(__file__).resolve().parent / "cog_oracle"


def coglet_unavailable() -> str | None:
    """Why coglet cannot run here, or None."""
    try:
        import cog
        import coglet  # noqa: F401
    except ImportError as e:
        return f"coglet/cog not installed ({e}); `pip install -r deps/requirements.txt`"
    major, minor = (int(x) for x in cog.__version__.split(".")[:2])
    if (major, minor) < (0, 17):
        return f"cog {cog.__version__} < 0.17 runs the FastAPI server, not coglet"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def coglet_server(tmp_path):
    reason = coglet_unavailable()
    if reason:
        pytest.skip(reason)
    work = tmp_path / "coglet"
    (work / ".cog").mkdir(parents=True)
    shutil.copy(COG_ORACLE / "predict.py", work / "predict.py")
    shutil.copy(COG_ORACLE / "openapi_schema.json", work / ".cog" / "openapi_schema.json")
    port = free_port()
    env = dict(os.environ, PORT=str(port), COG_PREDICT_TYPE_STUB="predict.py:Predictor",
               PYTHONDONTWRITEBYTECODE="1")
    env.pop("KUBERNETES_SERVICE_HOST", None)
    log_path = tmp_path / "coglet.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "cog.server.http", "--host", "127.0.0.1"],
                                cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT)
    server = Server(proc, port, log_path)
    try:
        server.wait_health("READY", timeout=60)
        yield server
    finally:
        try:
            children = psutil.Process(proc.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            children = []
        server.stop(signal.SIGTERM, timeout=15)
        for child in children:  # the worker subprocess, by PID, should it outlive the server
            try:
                child.kill()
            except psutil.NoSuchProcess:
                pass
