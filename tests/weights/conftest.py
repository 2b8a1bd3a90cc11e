"""Fixtures for the weights-module tests (safetensors, dtype conversion, manifest).

`weights_tool` runs `$SDXL_BUILD_DIR/weights_tool` (default <repo>/build), the small CLI over the
C++ weights library (src/weights/weights_tool.cc). Tests are skipped, with the reason, only when
that binary has not been built.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


class WeightsTool:
    def __init__(self, path: Path):
        self.path = path

    def run(self, *args, check=True, timeout=300) -> subprocess.CompletedProcess:
        proc = subprocess.run([str(self.path), *map(str, args)], capture_output=True, text=True,
                              timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"weights_tool {' '.join(map(str, args))} failed "
                                 f"(rc={proc.returncode}): {proc.stderr.strip()}")
        return proc

    def json(self, *args) -> dict:
        return json.loads(self.run(*args).stdout)


@pytest.fixture(scope="session")
def weights_tool() -> WeightsTool:
    build = Path(os.environ.get("SDXL_BUILD_DIR", REPO_ROOT / "build"))
    path = build / "weights_tool"
    if not path.exists():
        pytest.skip(f"{path} not built (build the `weights_tool` target, or set SDXL_BUILD_DIR)")
    return WeightsTool(path)
