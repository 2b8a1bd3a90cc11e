"""Fixtures for the `sdxl-tigris serve` tests: start the server as a subprocess on a free
127.0.0.1 port, talk HTTP to it with the standard library, stop it by PID.

  serve_factory(model=..., engine="fake"|"real", env=None, args=()) -> Server
      Server.url, .proc, .request(method, path, body=None, headers=None) -> Reply(status, headers,
      text, json), .wait_health(*statuses, timeout), .stop(sig=SIGTERM) -> exit code, .logs()
  fake_model: a folder holding only model_index.json (the fake engine ignores the weights).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

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
