"""Helpers for the interop suite (imported as `interop_servers`): moto's S3 server, output checks.

`MotoServer` runs `python3 -m moto.server` (PyPI `moto[server]`, pinned in deps/requirements.txt)
on 127.0.0.1 on a free port, as a subprocess stopped by PID. It offers the same interface as
tools/seaweedfs.SeaweedFS (`endpoint`, `access_key`, `secret_key`, `region`, `env()`,
`boto3_client()`, `new_bucket()`), so the suite runs one scenario against both.

moto checks no signatures by default. `with moto.auth_enabled() as (key, secret):` turns its IAM
authentication on (POST /moto-api/reset-auth), creates an IAM user with an allow-all policy and
yields that user's access key; on exit authentication is off again. Only the wrong-credentials
test uses it: moto 5.2.1's signature check mis-handles percent-encoded paths (boto3's own
requests for keys with `+`, `%`, `=` or non-ASCII fail it too) and answers presigned URLs with a
500, so the rest of the suite runs with authentication off.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

MOTO_ACCESS_KEY = "SDXLMOTOACCESSKEY01"
MOTO_SECRET_KEY = "sdxl-moto-secret-key-0123456789abcdef"
REGION = "us-east-1"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MotoError(RuntimeError):
    """moto's server could not be started."""


class MotoServer:
    """One `python3 -m moto.server` process on 127.0.0.1 (not thread-safe)."""

    name = "moto"

    def __init__(self, root: Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.access_key = MOTO_ACCESS_KEY
        self.secret_key = MOTO_SECRET_KEY
        self.region = REGION
        self._proc: subprocess.Popen | None = None
        self._log = self.root / "moto.log"
        self._counter = 0

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> "MotoServer":
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MOTO_"))}
        env["INITIAL_NO_AUTH_ACTION_COUNT"] = "inf"  # authentication off (see auth_enabled)
        with open(self._log, "wb") as log:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
                stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise MotoError(f"moto exited with {self._proc.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.endpoint + "/moto-api/data.json", timeout=2):
                    return self
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(0.1)
        self.stop()
        raise MotoError(f"moto not ready on {self.endpoint} after {timeout:.0f} s:\n"
                        f"{self.log_tail()}")

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self._log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def env(self, endpoint: str | None = None, **extra: str) -> dict[str, str]:
        """Environment for a subprocess talking to this server (nothing from ~/.aws)."""
        empty = self.root / "empty-aws-file"
        if not empty.exists():
            empty.write_text("")
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update({
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_ENDPOINT_URL_S3": endpoint or self.endpoint,
            "AWS_CONFIG_FILE": str(empty),
            "AWS_SHARED_CREDENTIALS_FILE": str(empty),
            "AWS_EC2_METADATA_DISABLED": "true",
        })
        env.update(extra)
        return env

    def _client(self, service: str, key: str | None = None, secret: str | None = None,
                **config_kwargs):
        import boto3
        from botocore.config import Config

        session = boto3.session.Session(aws_access_key_id=key or self.access_key,
                                        aws_secret_access_key=secret or self.secret_key,
                                        region_name=self.region)
        cfg = Config(signature_version="s3v4", s3={"addressing_style": "path"},
                     retries={"total_max_attempts": 4, "mode": "standard"}, **config_kwargs)
        return session.client(service, endpoint_url=self.endpoint, config=cfg)

    def boto3_client(self, **config_kwargs):
        return self._client("s3", **config_kwargs)

    def new_bucket(self, prefix: str = "t") -> str:
        self._counter += 1
        name = f"{prefix}-{self._counter}-{uuid.uuid4().hex[:10]}".lower()[:63]
        self.boto3_client().create_bucket(Bucket=name)
        return name

    def _reset_auth(self, count: str) -> None:
        req = urllib.request.Request(self.endpoint + "/moto-api/reset-auth", method="POST",
                                     data=count.encode(),
                                     headers={"Content-Type": "text/plain"})
        with urllib.request.urlopen(req, timeout=10) as r:
            json.loads(r.read())

    @contextlib.contextmanager
    def auth_enabled(self):
        """Turns moto's IAM authentication on; yields (access key, secret) of an allowed user."""
        self._reset_auth("3")  # the next 3 requests (the IAM set-up below) go unauthenticated
        try:
            iam = self._client("iam")
            user = f"sdxl-{uuid.uuid4().hex[:8]}"
            iam.create_user(UserName=user)
            iam.put_user_policy(UserName=user, PolicyName="all", PolicyDocument=json.dumps({
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
            key = iam.create_access_key(UserName=user)["AccessKey"]
            yield key["AccessKeyId"], key["SecretAccessKey"]
        finally:
            self._reset_auth("inf")


# ------------------------------------------------------------------------------ output checks


def error_lines(stderr: str) -> list[str]:
    """Non-empty stderr lines, minus progress-bar redraws (carriage-return updates)."""
    return [line for raw in stderr.splitlines() if (line := raw.split("\r")[-1].strip())]


def describe(proc) -> str:
    return f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"


def ok(proc) -> None:
    assert proc.returncode == 0, describe(proc)
    assert not [ln for ln in error_lines(proc.stderr) if ln.startswith("sdxl-tigris:")], \
        describe(proc)


def fails(proc, *needles: str, code: int = 1) -> str:
    """The command exited `code` with one clear `sdxl-tigris: ...` line holding every needle."""
    assert proc.returncode == code, describe(proc)
    lines = [ln for ln in error_lines(proc.stderr) if ln.startswith("sdxl-tigris:")] \
        if code == 1 else error_lines(proc.stderr)
    assert lines, describe(proc)
    text = " ".join(lines).lower()
    if code == 1:
        assert len(lines) == 1, describe(proc)
    for needle in needles:
        assert needle.lower() in text, f"{needle!r} not in: {text}\n{describe(proc)}"
    for bad in ("terminate called", "exception", "malformed", "traceback"):
        assert bad not in text, describe(proc)
    return lines[0]
