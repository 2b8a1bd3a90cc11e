"""Round trips between the C++ safetensors code and the Python `safetensors` package.

Python-written files parse with ours (names, dtypes, shapes, offsets, bytes, metadata identical);
files written by ours load in Python identically, and are byte-identical to Python's own output
for the same tensors; files converted by ours match torch `.to()`; corrupt files are rejected by
both implementations.
"""

from __future__ import annotations

import hashlib
import json
import struct

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

TORCH_TO_ST = {
    torch.float64: "F64", torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
    torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8",
    torch.uint8: "U8", torch.bool: "BOOL", torch.uint16: "U16", torch.uint32: "U32",
    torch.uint64: "U64", torch.float8_e4m3fn: "F8_E4M3", torch.float8_e5m2: "F8_E5M2",
    torch.complex64: "C64",
}


def raw_bytes(t: torch.Tensor) -> bytes:
    return t.contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()


def sample_tensors() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    out = {}
    for i, (dtype, name) in enumerate(TORCH_TO_ST.items()):
        shape = [(3, 5), (7,), (2, 3, 4), (1, 1, 9)][i % 4]
        raw = torch.randint(0, 256, (int(torch.tensor(shape).prod()) * dtype.itemsize,),
                            generator=g, dtype=torch.uint8)
        t = raw.view(dtype).reshape(shape) if dtype != torch.bool else (raw % 2).bool().reshape(shape)
        out[f"layer.{name.lower()}.weight"] = t
    out["scalar"] = torch.tensor(3.5, dtype=torch.float32)
    out["empty"] = torch.zeros((4, 0), dtype=torch.float16)
    out["unet.down_blocks.0.attentions.0.proj_in.weight"] = torch.randn(64, 32, generator=g)
    return out


def python_header(path) -> tuple[int, dict]:
    data = path.read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    return n, json.loads(data[8:8 + n])


def test_python_written_files_parse_identically(weights_tool, tmp_path):
    tensors = sample_tensors()
    meta = {"format": "pt", "note": "ünïcode ✓", "empty": ""}
    path = tmp_path / "py.safetensors"
    save_file(tensors, str(path), metadata=meta)

    ours = weights_tool.json("inspect", path)
    n, header = python_header(path)
    assert ours["header_size"] == n
    assert ours["data_offset"] == n + 8
    assert ours["metadata"] == meta
    by_name = {t["name"]: t for t in ours["tensors"]}
    assert set(by_name) == set(tensors)
    for name, t in tensors.items():
        info = by_name[name]
        assert info["dtype"] == header[name]["dtype"] == TORCH_TO_ST[t.dtype]
        assert info["shape"] == list(t.shape)
        assert info["data_offsets"] == header[name]["data_offsets"]
        assert info["sha256"] == hashlib.sha256(raw_bytes(t)).hexdigest(), name
    offsets = [t["data_offsets"] for t in ours["tensors"]]
    assert offsets == sorted(offsets), "tensors must be reported in offset order"


def write_with_tool(weights_tool, tmp_path, tensors, metadata, out, reference_order=True):
    spec = {"metadata": metadata, "reference_order": reference_order, "tensors": []}
    for i, (name, t) in enumerate(tensors.items()):
        data = tmp_path / f"t{i}.bin"
        data.write_bytes(raw_bytes(t))
        spec["tensors"].append({"name": name, "dtype": TORCH_TO_ST[t.dtype],
                                "shape": list(t.shape), "data": str(data)})
    spec_path = tmp_path / "spec.json"
    spec_path.write_text(json.dumps(spec))
    weights_tool.run("write", spec_path, out)


def test_files_written_by_ours_load_in_python(weights_tool, tmp_path):
    tensors = sample_tensors()
    meta = {"format": "pt", "sdxl_tigris": "1", "quote\"and\\slash": "line\nbreak\ttab"}
    out = tmp_path / "ours.safetensors"
    write_with_tool(weights_tool, tmp_path, tensors, meta, out)
    loaded = load_file(str(out))
    assert set(loaded) == set(tensors)
    for name, t in tensors.items():
        assert loaded[name].dtype == t.dtype, name
        assert loaded[name].shape == t.shape, name
        assert raw_bytes(loaded[name]) == raw_bytes(t), name
    with safe_open(str(out), framework="pt") as f:
        assert f.metadata() == meta
    n, _ = python_header(out)
    assert n % 8 == 0


@pytest.mark.parametrize("metadata", [None, {"format": "pt"}])
def test_ours_is_byte_identical_to_python_save_file(weights_tool, tmp_path, metadata):
    tensors = sample_tensors()
    ours = tmp_path / "ours.safetensors"
    theirs = tmp_path / "theirs.safetensors"
    write_with_tool(weights_tool, tmp_path, dict(reversed(list(tensors.items()))), metadata or {},
                    ours)
    save_file(tensors, str(theirs), metadata=metadata)
    assert ours.read_bytes() == theirs.read_bytes()


def test_caller_order_is_kept_and_still_loads(weights_tool, tmp_path):
    tensors = {"z": torch.arange(6, dtype=torch.int8), "a": torch.ones(3, dtype=torch.float64)}
    out = tmp_path / "o.safetensors"
    write_with_tool(weights_tool, tmp_path, tensors, {}, out, reference_order=False)
    _, header = python_header(out)
    assert header["z"]["data_offsets"] == [0, 6]
    assert header["a"]["data_offsets"] == [6, 30]
    loaded = load_file(str(out))
    assert torch.equal(loaded["z"], tensors["z"]) and torch.equal(loaded["a"], tensors["a"])


@pytest.mark.parametrize("target", ["BF16", "F16", "F32"])
def test_convert_matches_torch_and_keeps_non_floats(weights_tool, tmp_path, target):
    g = torch.Generator().manual_seed(5)
    tensors = {
        "w32": torch.randn(300, 7, generator=g) * 10,
        "w16": (torch.randn(50, generator=g) * 1000).half(),
        "wbf": torch.randn(9, 9, generator=g).bfloat16(),
        "w64": torch.randn(13, generator=g, dtype=torch.float64),
        "ids": torch.arange(-5, 20, dtype=torch.int64),
        "mask": torch.tensor([True, False, True]),
        "q": torch.randn(16, generator=g).to(torch.float8_e4m3fn),
        "empty": torch.zeros(0, 3),
    }
    src = tmp_path / "in.safetensors"
    dst = tmp_path / "out.safetensors"
    save_file(tensors, str(src), metadata={"format": "pt", "origin": "test"})
    stats = json.loads(weights_tool.run("convert", src, dst, target).stdout)
    assert stats["tensors"] == len(tensors)
    assert stats["output_bytes"] == dst.stat().st_size
    dtype = {"BF16": torch.bfloat16, "F16": torch.float16, "F32": torch.float32}[target]
    out = load_file(str(dst))
    for name, t in tensors.items():
        if t.dtype in (torch.float64, torch.float32, torch.float16, torch.bfloat16):
            want = t.to(dtype)
        else:
            want = t
        assert out[name].dtype == want.dtype, name
        assert raw_bytes(out[name]) == raw_bytes(want), name
    with safe_open(str(dst), framework="pt") as f:
        assert f.metadata() == {"format": "pt", "origin": "test"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.safetensors", "out.safetensors"]


def corruptions(data: bytes):
    (n,) = struct.unpack("<Q", data[:8])
    header = data[8:8 + n]
    yield "truncated by one byte", data[:-1]
    yield "trailing polyglot bytes", data + b"<html>"
    yield "length prefix too large", struct.pack("<Q", n + 8) + data[8:]
    yield "length prefix too small", struct.pack("<Q", n - 8) + data[8:]
    yield "huge length", struct.pack("<Q", 1 << 40) + data[8:]
    yield "only the prefix", data[:8]
    yield "empty file", b""
    yield "dtype unknown", data.replace(b'"F32"', b'"F33"', 1)
    yield "offsets shifted", data.replace(b'"data_offsets":[0,', b'"data_offsets":[1,', 1)
    yield "shape grown", data.replace(b'"shape":[64,32]', b'"shape":[64,33]', 1)
    yield "not json", data[:8] + b"[" + header[1:]
    yield "bad utf-8", data[:8] + header.replace(b"unet", b"\xff\xfeet", 1) + data[8 + n:]


def test_corrupt_files_are_rejected_by_both(weights_tool, tmp_path):
    path = tmp_path / "good.safetensors"
    save_file({"unet.w": torch.randn(64, 32), "b": torch.arange(4, dtype=torch.int32)},
              str(path))
    data = path.read_bytes()
    assert weights_tool.run("inspect", path).returncode == 0
    for label, bad in corruptions(data):
        assert bad != data, label
        p = tmp_path / "bad.safetensors"
        p.write_bytes(bad)
        proc = weights_tool.run("inspect", p, check=False)
        assert proc.returncode == 1, f"{label}: accepted by ours"
        assert proc.stderr.startswith("weights_tool: DATA_LOSS: "), f"{label}: {proc.stderr}"
        assert proc.stderr.count("\n") == 1, f"{label}: multi-line error {proc.stderr!r}"
        with pytest.raises(Exception):
            load_file(str(p))
