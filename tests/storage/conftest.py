"""Fixtures for the storage integration tests (the shared ones live in tests/conftest.py)."""

from __future__ import annotations

import pytest

from s3util import MiB, write_file


@pytest.fixture(scope="session")
def big_file(tmp_path_factory):
    """A ~100 MiB file of deterministic pseudo-random bytes (not a multiple of any part size)."""
    return write_file(tmp_path_factory.mktemp("big") / "big.bin", 100 * MiB + 12345, seed=42)
