"""Fixtures of the interop suite: one scenario, two independent S3 servers.

  moto_server  interop_servers.MotoServer: `python3 -m moto.server` on 127.0.0.1, a free port,
               started once per session, stopped by PID.
  s3           parametrized (session): SeaweedFS (tests/conftest.py's `s3_server`) or moto.
               Tests using it run once per server, with ids [seaweedfs] and [moto].
  cli          callable(*args, env=None, timeout=120, cwd=None) -> CompletedProcess of the
               binary against `s3` (env defaults to s3.env()).
  bucket       a fresh bucket on `s3`.
"""

from __future__ import annotations

import subprocess

import pytest

from interop_servers import MotoError, MotoServer

pytestmark = pytest.mark.s3


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory):
    server = MotoServer(tmp_path_factory.mktemp("moto"))
    try:
        server.start()
    except MotoError as e:
        pytest.fail(f"could not start moto's S3 server: {e}", pytrace=False)
    yield server
    server.stop()


@pytest.fixture(scope="session", params=["seaweedfs", "moto"])
def s3(request):
    if request.param == "seaweedfs":
        server = request.getfixturevalue("s3_server")
    else:
        server = request.getfixturevalue("moto_server")
    server.kind = request.param
    return server


@pytest.fixture
def cli(sdxl_binary, s3):
    def run(*args, env=None, timeout=120, cwd=None, input=None):
        return subprocess.run([str(sdxl_binary), *map(str, args)],
                              env=env if env is not None else s3.env(), input=input,
                              capture_output=True, text=True, timeout=timeout, cwd=cwd)

    return run


@pytest.fixture
def bucket(s3):
    return s3.new_bucket("io")
