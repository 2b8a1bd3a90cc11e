"""The SDXL engine as a run-time library: sdxl-tigris never links LibTorch; `generate` dlopen()s
libsdxl-engine.so (next to the binary, or $SDXL_ENGINE_LIBRARY) and says what to do when it cannot.

Runs against both builds: with -DSDXL_WITH_TORCH=ON (the library exists) and OFF (it does not).
"""
from __future__ import annotations

import os
import shutil
import subprocess

import pytest
from engine_fixtures import BUILD

ENGINE = (BUILD / "libsdxl-engine.so").resolve()  # as /proc/self/exe names it


@pytest.fixture(scope="module")
def cli():
    binary = BUILD / "sdxl-tigris"
    if not binary.exists():
        pytest.skip(f"{binary} not built")
    return binary


def run(cli, *args, **env):
    full_env = {k: v for k, v in os.environ.items() if k != "SDXL_ENGINE_LIBRARY"}
    full_env.update(env)
    return subprocess.run([str(cli), *args], capture_output=True, text=True, env=full_env,
                          timeout=300)


def generate_args(tmp_path):
    return ["generate", "--model", str(tmp_path / "model"), "--prompt", "x", "--out",
            str(tmp_path / "x.png")]


def test_binary_does_not_link_libtorch(cli):
    if not shutil.which("ldd"):
        pytest.skip("no ldd")
    out = subprocess.run(["ldd", str(cli)], capture_output=True, text=True, check=True).stdout
    assert "torch" not in out and "libc10" not in out, out


def test_version_reports_the_engine_without_loading_it(cli):
    proc = run(cli, "version", LD_DEBUG="files")  # the dynamic loader lists what it opens
    assert proc.returncode == 0, proc.stderr
    if ENGINE.exists():
        assert f"features: torch (engine: {ENGINE})" in proc.stdout
    else:
        assert "features: (no torch: `generate` unavailable; no engine at" in proc.stdout
    assert "libtorch" not in proc.stderr and "sdxl-engine" not in proc.stderr


def test_version_follows_the_env_override(cli, tmp_path):
    proc = run(cli, "version", SDXL_ENGINE_LIBRARY=str(tmp_path / "none.so"))
    assert f"no engine at {tmp_path / 'none.so'}" in proc.stdout


def test_engine_is_found_next_to_the_real_binary(cli, tmp_path):
    # /proc/self/exe resolves symlinks: a link elsewhere still finds the build's library.
    (tmp_path / "sdxl-tigris").symlink_to(cli.resolve())
    proc = run(tmp_path / "sdxl-tigris", "version")
    assert ("features: torch" in proc.stdout) == ENGINE.exists(), proc.stdout


def test_missing_engine_is_one_clear_line(cli, tmp_path):
    proc = run(cli, *generate_args(tmp_path), SDXL_ENGINE_LIBRARY=str(tmp_path / "nope.so"))
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert lines == [f"sdxl-tigris: the SDXL engine library {tmp_path / 'nope.so'} does not "
                     "exist; point SDXL_ENGINE_LIBRARY at a libsdxl-engine.so or unset it"], lines
    assert not (tmp_path / "x.png").exists()


def test_broken_engine_reports_the_loader_error(cli, tmp_path):
    bad = tmp_path / "libsdxl-engine.so"
    bad.write_text("not a shared library")
    proc = run(cli, *generate_args(tmp_path), SDXL_ENGINE_LIBRARY=str(bad))
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    # the loader's own words (dlerror) follow the path
    assert lines[0].startswith(f"sdxl-tigris: cannot load the SDXL engine library {bad}: {bad}:"), lines


def test_torch_free_build_says_how_to_get_the_engine(cli, tmp_path):
    if ENGINE.exists():
        pytest.skip("this build has the engine")
    proc = run(cli, *generate_args(tmp_path))
    assert proc.returncode == 1
    assert "rebuild with -DSDXL_WITH_TORCH=ON" in proc.stderr, proc.stderr


def test_generate_loads_the_engine(cli, tmp_path):
    if not ENGINE.exists():
        pytest.skip("built without LibTorch")
    # The engine loads, then the pipeline reports the missing model (no torch in the binary).
    proc = run(cli, *generate_args(tmp_path))
    assert proc.returncode == 1
    assert "does not exist" in proc.stderr, proc.stderr
    assert "engine library" not in proc.stderr, proc.stderr
