"""Helpers shared by the storage integration tests (imported as `s3util`)."""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

MiB = 1 << 20

# Part size the tests pass to `cp` so that "exactly one part" and "one part + 1 byte" are exact.
# SeaweedFS (like AWS) refuses parts under 5 MiB except the last one.
PART_SIZE = 5 * MiB


def cp_tuning(part_size: int = PART_SIZE, concurrency: int | None = None) -> list[str]:
    """Flags that set the transfer part size (bytes) and concurrency of `sdxl-tigris cp`."""
    args = ["--part-size", str(part_size)]
    if concurrency:
        args += ["--concurrency", str(concurrency)]
    return args


def pattern_bytes(size: int, seed: int) -> bytes:
    """Deterministic pseudo-random bytes (no two offsets of a file look alike)."""
    return random.Random(seed).randbytes(size)


def write_file(path: Path, size: int, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        left, block = size, 0
        while left:
            n = min(left, 16 * MiB)
            f.write(pattern_bytes(n, seed * 1_000_003 + block))
            left -= n
            block += 1
    return path


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(4 * MiB):
            h.update(chunk)
    return h.hexdigest()


def sha256_object(client, bucket: str, key: str) -> str:
    h = hashlib.sha256()
    body = client.get_object(Bucket=bucket, Key=key)["Body"]
    for chunk in iter(lambda: body.read(4 * MiB), b""):
        h.update(chunk)
    return h.hexdigest()


def list_keys(client, bucket: str, prefix: str = "") -> dict[str, int]:
    """Every key under `prefix` (paginated) -> size."""
    out = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            out[obj["Key"]] = obj["Size"]
    return out


def open_uploads(client, bucket: str) -> list[dict]:
    """Multipart uploads still open in `bucket`."""
    resp = client.list_multipart_uploads(Bucket=bucket)
    return resp.get("Uploads", [])


def tree(root: Path) -> dict[str, str]:
    """Relative path -> sha256 for every regular file under root (dirs and temp files included)."""
    return {p.relative_to(root).as_posix(): sha256_file(p)
            for p in sorted(root.rglob("*")) if p.is_file()}


def all_entries(root: Path) -> list[str]:
    """Every name under root, files and directories, hidden ones included."""
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*"))


def error_lines(stderr: str) -> list[str]:
    """Non-empty stderr lines, minus progress-bar redraws (carriage-return updates)."""
    lines = []
    for raw in stderr.splitlines():
        line = raw.split("\r")[-1].strip()
        if line:
            lines.append(line)
    return lines


def assert_clean_failure(proc, *needles: str) -> str:
    """The command failed with exactly one clear stderr line mentioning every needle."""
    assert proc.returncode != 0, f"expected failure, got 0\nstdout:{proc.stdout}\nstderr:{proc.stderr}"
    lines = error_lines(proc.stderr)
    assert len(lines) == 1, f"expected one error line, got {len(lines)}:\n{proc.stderr}"
    low = lines[0].lower()
    for needle in needles:
        assert needle.lower() in low, f"{needle!r} not in error line: {lines[0]}"
    assert "terminate called" not in low and "exception" not in low, lines[0]
    return lines[0]


def ok(proc) -> None:
    assert proc.returncode == 0, (f"exit {proc.returncode}\nstdout:\n{proc.stdout}\n"
                                  f"stderr:\n{proc.stderr}")


def md5_hex(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def expected_multipart_etag(path: Path, part_size: int) -> str:
    """S3's ETag for a multipart upload of `path` cut into `part_size` parts: md5(md5s)-N."""
    digests = []
    with open(path, "rb") as f:
        while chunk := f.read(part_size):
            digests.append(hashlib.md5(chunk).digest())
    return f"{hashlib.md5(b''.join(digests)).hexdigest()}-{len(digests)}"


def env_without(env: dict, *names: str) -> dict:
    return {k: v for k, v in env.items() if k not in names}


def s3url(bucket: str, key: str = "") -> str:
    return f"s3://{bucket}/{key}" if key else f"s3://{bucket}"

