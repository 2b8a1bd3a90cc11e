"""The manifest built by the C++ code, checked against Python's hashlib and safetensors headers."""

from __future__ import annotations

import hashlib
import json
import random
import struct

import pytest
import torch
from safetensors.torch import save_file


def make_model_dir(root):
    (root / "unet").mkdir(parents=True)
    (root / "text_encoder").mkdir()
    (root / ".cache").mkdir()
    (root / ".cache" / "lock").write_text("hidden, skipped")
    (root / "model_index.json").write_text('{"_class_name": "StableDiffusionXLPipeline"}')
    (root / "empty.txt").write_bytes(b"")
    g = torch.Generator().manual_seed(3)
    save_file({"conv.weight": torch.randn(40, 30, generator=g).bfloat16(),
               "conv.bias": torch.randn(40, generator=g).bfloat16()},
              str(root / "unet" / "diffusion_pytorch_model.safetensors"),
              metadata={"format": "pt"})
    (root / "text_encoder" / "config.json").write_bytes(bytes(range(256)) * 17)


def test_manifest_matches_python_hashes_and_headers(weights_tool, tmp_path):
    root = tmp_path / "model"
    make_model_dir(root)
    chunk = 1000
    m = json.loads(weights_tool.run("manifest", root, chunk).stdout)
    assert m["format_version"] == 1
    paths = [f["path"] for f in m["files"]]
    assert paths == ["empty.txt", "model_index.json", "text_encoder/config.json",
                     "unet/diffusion_pytorch_model.safetensors"]
    for f in m["files"]:
        data = (root / f["path"]).read_bytes()
        assert f["size"] == len(data)
        assert f["sha256"] == hashlib.sha256(data).hexdigest()
        assert f["chunk_size"] == chunk
        assert len(f["chunk_xxh3"]) == (len(data) + chunk - 1) // chunk
        assert all(len(h) == 16 and int(h, 16) >= 0 for h in f["chunk_xxh3"])
    st = m["files"][3]["safetensors"]
    data = (root / "unet" / "diffusion_pytorch_model.safetensors").read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    assert st["header_size"] == n
    assert st["metadata"] == header["__metadata__"]
    assert {t["name"]: [t["dtype"], t["shape"], t["data_offsets"]] for t in st["tensors"]} == {
        k: [v["dtype"], v["shape"], v["data_offsets"]] for k, v in header.items()
        if k != "__metadata__"}


def test_chunk_hashes_match_python_xxhash(weights_tool, tmp_path):
    """Per-chunk XXH3-64 (seed 0) equals the reference xxHash binding, at odd chunk sizes and
    sizes around the chunk boundaries."""
    xxhash = pytest.importorskip("xxhash", reason="pip install xxhash (deps/requirements.txt)")
    root = tmp_path / "d"
    root.mkdir()
    rng = random.Random(11)
    chunk = 4099
    for size in (0, 1, 240, 241, chunk - 1, chunk, chunk + 1, 5 * chunk + 17):
        (root / f"f{size:06d}.bin").write_bytes(rng.randbytes(size))
    m = json.loads(weights_tool.run("manifest", root, chunk).stdout)
    assert len(m["files"]) == 8
    for f in m["files"]:
        data = (root / f["path"]).read_bytes()
        want = [xxhash.xxh3_64_hexdigest(data[i:i + chunk]) for i in range(0, len(data), chunk)]
        assert f["chunk_xxh3"] == want, f["path"]


def test_verify_detects_corruption_and_missing_files(weights_tool, tmp_path):
    root = tmp_path / "model"
    make_model_dir(root)
    manifest = tmp_path / "sdxl-tigris-manifest.json"
    manifest.write_text(weights_tool.run("manifest", root, 512).stdout)
    ok = weights_tool.run("verify", manifest, root)
    assert ok.stdout.startswith("ok: 4 files")

    cfg = root / "text_encoder" / "config.json"
    data = bytearray(cfg.read_bytes())
    data[1500] ^= 0x01
    cfg.write_bytes(bytes(data))
    bad = weights_tool.run("verify", manifest, root, check=False)
    assert bad.returncode == 1
    assert "chunk 2 of text_encoder/config.json (bytes 1024-1535) is corrupt" in bad.stderr

    cfg.unlink()
    gone = weights_tool.run("verify", manifest, root, check=False)
    assert gone.returncode == 1 and "NOT_FOUND" in gone.stderr


def test_malformed_manifest_is_rejected_with_one_line(weights_tool, tmp_path):
    root = tmp_path / "model"
    make_model_dir(root)
    m = json.loads(weights_tool.run("manifest", root).stdout)
    m["files"][1]["sha256"] = "0" * 63
    manifest = tmp_path / "m.json"
    manifest.write_text(json.dumps(m))
    proc = weights_tool.run("verify", manifest, root, check=False)
    assert proc.returncode == 1
    assert "invalid manifest" in proc.stderr and "sha256" in proc.stderr
    assert proc.stderr.count("\n") == 1
