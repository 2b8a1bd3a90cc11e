#!/usr/bin/env python3
"""Writes the libFuzzer seed corpora under fuzz/corpus/ (committed; rerun after changing it).

safetensors_header/: the byte-exact vectors from the reference implementation's tests (accepted
and rejected cases) plus small files written by the Python `safetensors` package when available.
manifest/: small valid and invalid manifests.
"""

from __future__ import annotations

import hashlib
import json
import struct
from pathlib import Path

HERE = Path(__file__).resolve().parent


def st(header: str | bytes, data: bytes = b"", n: int | None = None) -> bytes:
    h = header.encode() if isinstance(header, str) else header
    return struct.pack("<Q", len(h) if n is None else n) + h + data


def safetensors_seeds() -> dict[str, bytes]:
    i32 = '{"test":{"dtype":"I32","shape":[2,2],"data_offsets":[0,16]}}'
    seeds = {
        "empty": st("{}      "),
        "metadata": st('{"__metadata__":{"framework":"pt"}}     '),
        "f32": st('{"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}}',
                  b"".join(struct.pack("<f", i) for i in range(6))),
        "f4": st('{"attn.0":{"dtype":"F4","shape":[1,2],"data_offsets":[0,1]}}    ', b"\x12"),
        "scalar": st('{"s":{"dtype":"I32","shape":[],"data_offsets":[0,4]}}', b"abcd"),
        "zero_sized": st('{"e":{"dtype":"F32","shape":[2,0],"data_offsets":[0,0]}}'),
        "deserialize": st(i32, bytes(16)),
        "python_i32": st(i32 + "    ", bytes(16)),
        "two_dtypes": st('{"test1":{"dtype":"I32","shape":[2,2],"data_offsets":[0,16]},'
                         '"test2":{"dtype":"F16","shape":[2,2],"data_offsets":[16,24]}}',
                         bytes(24)),
        "unordered": st('{"b":{"dtype":"U8","shape":[2],"data_offsets":[3,5]},'
                        '"a":{"dtype":"BF16","shape":[],"data_offsets":[1,3]},'
                        '"z":{"dtype":"BOOL","shape":[1],"data_offsets":[0,1]}}', b"12345"),
        "leading_ws": st("\t\n{}\r \t\n"),
        "trailing_bytes": st(i32, bytes(16) + b"extra_bogus_data_for_polyglot_file"),
        "truncated": st(i32, bytes(14)),
        "too_large": b"<\0\0\0\0\xff\xff\xff",
        "prefix_only": st(b"", n=60),
        "non_utf8": st(b"\xff"),
        "not_json": st(b"{"),
        "invalid_info": st('{"test":{"dtype":"I32","shape":[2,2],"data_offsets":[0,4]}}', bytes(4)),
        "overflow": st('{"t":{"dtype":"I32","shape":[2,18446744073709551614],'
                       '"data_offsets":[0,16]}}'),
        "json_attack": st("{" + ",".join(
            f'"t{i}":{{"dtype":"I32","shape":[2,2],"data_offsets":[0,16]}}' for i in range(10))
            + "}", bytes(16)),
        "duplicate": st('{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},'
                        '"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}', b"12"),
    }
    try:
        import torch
        from safetensors.torch import save

        seeds["python_mixed"] = save({"w": torch.arange(6, dtype=torch.float16).reshape(2, 3),
                                      "ids": torch.arange(3), "m": torch.tensor([True])},
                                     metadata={"format": "pt"})
    except ImportError:
        pass
    return seeds


def manifest_seeds() -> dict[str, bytes]:
    data = b"abc"
    tensor_file = st('{"w":{"dtype":"F16","shape":[3,2],"data_offsets":[0,12]}}    ', bytes(12))
    good = {
        "format_version": 1,
        "source": {"repo": "ByteDance/SDXL-Lightning", "revision": "0" * 40},
        "recipe": {"steps": 4, "guidance": 0, "dtype": "bf16"},
        "files": [
            {"path": "empty.txt", "size": 0, "sha256": hashlib.sha256(b"").hexdigest(),
             "chunk_size": 8, "chunk_xxh3": []},
            {"path": "a/b.txt", "size": 3, "sha256": hashlib.sha256(data).hexdigest(),
             "chunk_size": 2, "chunk_xxh3": ["0123456789abcdef", "fedcba9876543210"]},
            {"path": "unet/m.safetensors", "size": len(tensor_file),
             "sha256": hashlib.sha256(tensor_file).hexdigest(), "chunk_size": 8388608,
             "chunk_xxh3": ["0000000000000000"],
             "safetensors": {"header_size": 64, "metadata": {"format": "pt"},
                             "tensors": [{"name": "w", "dtype": "F16", "shape": [3, 2],
                                          "data_offsets": [0, 12]}]}},
        ],
    }
    bad_path = json.loads(json.dumps(good))
    bad_path["files"][1]["path"] = "../x"
    return {
        "good": json.dumps(good, indent=2).encode(),
        "bad_path": json.dumps(bad_path).encode(),
        "future_version": b'{"format_version": 2}',
        "empty_object": b"{}",
    }


def main():
    for name, seeds in (("safetensors_header", safetensors_seeds()), ("manifest", manifest_seeds())):
        out = HERE / "corpus" / name
        out.mkdir(parents=True, exist_ok=True)
        for f in out.iterdir():
            f.unlink()
        for key, value in seeds.items():
            (out / key).write_bytes(value)
        print(f"{out}: {len(seeds)} seeds")


if __name__ == "__main__":
    main()
