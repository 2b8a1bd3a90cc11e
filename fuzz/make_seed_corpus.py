#!/usr/bin/env python3
"""Writes the libFuzzer seed corpora under fuzz/corpus/ (committed; rerun after changing it).

safetensors_header/: the byte-exact vectors from the reference implementation's tests (accepted
and rejected cases) plus small files written by the Python `safetensors` package when available.
manifest/: small valid and invalid manifests.
s3_xml/, hub_json/, http_headers/, url/, cog_request/, prompt/, clip_tokenizer/: small real-shaped
inputs for the network, request and prompt parsers (see each fuzz/<name>_fuzz.cc for the format).

    fuzz/make_seed_corpus.py              # every corpus
    fuzz/make_seed_corpus.py url prompt   # only these
"""

from __future__ import annotations

import hashlib
import json
import struct
import sys
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


S3NS = ' xmlns="http://s3.amazonaws.com/doc/2006-03-01/"'


def s3_xml_seeds() -> dict[str, bytes]:
    head = '<?xml version="1.0" encoding="UTF-8"?>\n'
    return {k: (head + v).encode() for k, v in {
        "list": f'<ListBucketResult{S3NS}><Name>b</Name><Prefix>models/</Prefix><KeyCount>2</KeyCount>'
                '<MaxKeys>1000</MaxKeys><IsTruncated>true</IsTruncated>'
                '<NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>'
                '<Contents><Key>models/unet/diffusion_pytorch_model.safetensors</Key>'
                '<LastModified>2024-05-01T12:00:00.000Z</LastModified>'
                '<ETag>&quot;9b2cf535f27731c974343645a3985328-3&quot;</ETag><Size>5135149760</Size>'
                '<StorageClass>STANDARD</StorageClass></Contents>'
                '<Contents><Key>models/a &amp; b.json</Key><ETag>"d41d8cd98f00b204e9800998ecf8427e"</ETag>'
                '<Size>0</Size></Contents></ListBucketResult>',
        "list_url_encoded": f'<ListBucketResult{S3NS}><EncodingType>url</EncodingType>'
                            '<IsTruncated>false</IsTruncated><Contents><Key>a+b%2Fc%25%F0%9F%98%80</Key>'
                            '<Size>12</Size><ETag>"x"</ETag></Contents></ListBucketResult>',
        "list_empty": f'<ListBucketResult{S3NS}><Name>b</Name><KeyCount>0</KeyCount>'
                      '<IsTruncated>false</IsTruncated></ListBucketResult>',
        "error": '<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message>'
                 '<Resource>/b/k</Resource><RequestId>4442587FB7D0A2F9</RequestId></Error>',
        "error_slowdown": '<Error><Code>SlowDown</Code><Message>Please reduce your request rate.'
                          '</Message></Error>',
        "initiate": f'<InitiateMultipartUploadResult{S3NS}><Bucket>b</Bucket><Key>k</Key>'
                    '<UploadId>VXBsb2FkIElEIGZvciA2aWWpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZA</UploadId>'
                    '</InitiateMultipartUploadResult>',
        "complete": f'<CompleteMultipartUploadResult{S3NS}><Location>https://b.t3.storage.dev/k</Location>'
                    '<Bucket>b</Bucket><Key>k</Key><ETag>"3858f62230ac3c915f300c664312c11f-9"</ETag>'
                    '</CompleteMultipartUploadResult>',
        "list_parts": f'<ListPartsResult{S3NS}><Bucket>b</Bucket><Key>k</Key><UploadId>u</UploadId>'
                      '<NextPartNumberMarker>2</NextPartNumberMarker><IsTruncated>true</IsTruncated>'
                      '<Part><PartNumber>1</PartNumber><ETag>"7778aef83f66abc1fa1e8477f296d394"</ETag>'
                      '<Size>5242880</Size></Part><Part><PartNumber>2</PartNumber>'
                      '<ETag>"aaaa18db4cc2f85cedef654fccc4a4x8"</ETag><Size>10</Size></Part>'
                      '</ListPartsResult>',
        "delete_result": f'<DeleteResult{S3NS}><Deleted><Key>a</Key></Deleted><Error><Key>b</Key>'
                         '<Code>AccessDenied</Code><Message>Access Denied</Message></Error></DeleteResult>',
        "list_uploads": f'<ListMultipartUploadsResult{S3NS}><Bucket>b</Bucket><KeyMarker></KeyMarker>'
                        '<NextKeyMarker>models/unet.bin</NextKeyMarker><NextUploadIdMarker>YW55</NextUploadIdMarker>'
                        '<IsTruncated>true</IsTruncated><Upload><Key>models/unet.bin</Key>'
                        '<UploadId>YW55</UploadId><Initiated>2026-12-05T12:00:00.000Z</Initiated>'
                        '</Upload></ListMultipartUploadsResult>',
        "list_buckets": f'<ListAllMyBucketsResult{S3NS}><Owner><ID>o</ID></Owner><Buckets>'
                        '<Bucket><Name>models</Name><CreationDate>2024-05-01T12:00:00.000Z</CreationDate>'
                        '</Bucket><Bucket><Name>outputs</Name><CreationDate>2024-05-02T00:00:00Z'
                        '</CreationDate></Bucket></Buckets><ContinuationToken>t</ContinuationToken>'
                        '</ListAllMyBucketsResult>',
        "truncated": f'<ListBucketResult{S3NS}><Contents><Key>a</Key><Si',
    }.items()}


def hub_json_seeds() -> dict[str, bytes]:
    tree = [
        {"type": "directory", "oid": "a" * 40, "size": 0, "path": "unet"},
        {"type": "file", "oid": "b" * 40, "size": 1234, "path": "model_index.json"},
        {"type": "file", "oid": "c" * 40, "size": 135,
         "lfs": {"oid": "d" * 64, "size": 5135149760, "pointerSize": 135},
         "path": "unet/diffusion_pytorch_model.fp16.safetensors"},
    ]
    return {
        "tree": json.dumps(tree).encode(),
        "tree_empty": b"[]",
        "tree_unsafe": json.dumps([{"type": "file", "path": "../etc/passwd", "oid": "x"}]).encode(),
        "tree_float_size": b'[{"type":"file","path":"a","size":1.5,"oid":"x"}]',
        "revision": json.dumps({"_id": "x", "id": "ByteDance/SDXL-Lightning", "sha": "c9a24f48e1c025556787b0c58dd67a091ece2e44",
                                "siblings": [{"rfilename": "README.md"}], "private": False}).encode(),
        "revision_bad_sha": b'{"sha":"main"}',
        "link": b'<https://huggingface.co/api/models/x/tree/main?recursive=true&cursor=abc>; rel="next"',
        "link_two": b'<https://h/p?page=1>; rel="prev", <https://h/p?page=3>; REL=next',
        "etag": b'W/"a5b3c2d1"',
        "error_code": b"RepoNotFound",
    }


def http_headers_seeds() -> dict[str, bytes]:
    return {
        "content_range": b"Content-Range: bytes 0-99/1000\r\n",
        "content_range_star": b"Content-Range: bytes 5-5/*\n",
        "content_range_bare": b"bytes 21010-47021/47022",
        "content_range_bad": b"Content-Range: bytes 100-99/1000\n",
        "retry_after": b"Retry-After: 120\r\n",
        "retry_after_date": b"Retry-After: Wed, 21 Oct 2015 07:28:00 GMT\n",
        "ratelimit": b'RateLimit: "api";r=0;t=55\nRateLimit-Policy: "fixed window";"api";q=500;w=300\n',
        "both": b"retry-after: 3\nratelimit: \"x\";r=1;t=9999999999999\ncontent-range: bytes 0-0/1\n",
    }


def url_seeds() -> dict[str, bytes]:
    return {
        "endpoint": b"https://t3.storage.dev",
        "port_path_query": b"http://127.0.0.1:8333/bucket/key%20x?X-Amz-Expires=3600&a=b",
        "ipv6": b"http://[::1]:9000/b",
        "redirect_relative": b"https://huggingface.co/org/name/resolve/main/unet/x.safetensors\n"
                             b"../../resolve/abc/x?download=true#frag",
        "redirect_absolute": b"https://huggingface.co/a/b\nhttps://cdn-lfs.hf.co/repos/x/y?X-Amz-Signature=z",
        "redirect_network": b"http://h:80/a/b\n//other:8080/c",
        "redirect_query": b"https://H.example:443/p/q?x=1\n?y=2",
        "model_ref": b"s3://models/ByteDance/SDXL-Lightning/",
        "model_ref_bad": b"s3://models/a/../b",
        "model_env": b"s3://models/\n/ByteDance/SDXL-Lightning/",
        "userinfo": b"https://user:pw@host/x",
    }


def cog_request_seeds() -> dict[str, bytes]:
    seeds = {
        "seed_example": {"input": {"prompt": "A photo of a cat", "num_outputs": 1,
                                   "aspect_ratio": "16:9", "output_format": "png"}},
        "full": {"id": "abc", "input": {"prompt": "a (red)1.2 fox+", "negative_prompt": "blurry",
                                        "aspect_ratio": "1:1", "num_outputs": 3, "guidance_scale": 0,
                                        "max_sequence_length": 256, "num_inference_steps": 4.0,
                                        "prompt_strength": 0.6, "seed": 42, "output_format": "webp",
                                        "output_quality": 80},
                 "webhook": "https://example.com/hook", "webhook_events_filter": ["start", "completed"],
                 "created_at": "2026-01-02T03:04:05.678Z", "context": {"k": "v"}},
        "nulls": {"input": {"seed": None, "num_inference_steps": None}},
        "invalid": {"input": {"prompt": 5, "num_outputs": 4.5, "guidance_scale": True, "seed": "1",
                              "aspect_ratio": "2:1", "output_quality": 101},
                    "webhook": "ftp://x", "webhook_events_filter": ["nope"], "context": []},
        "input_not_object": {"input": [1, 2]},
        "empty": {},
    }
    return {k: json.dumps(v).encode() for k, v in seeds.items()}


def prompt_seeds() -> dict[str, bytes]:
    return {k: v.encode() for k, v in {
        "plain": "a photo of an astronaut riding a horse on mars",
        "weights": "a (red cat)1.3 playing with a ball++ in the (garden)0.8, 4k",
        "nested": "((a cat)1.2 on a (mat)-)1.1 \"quoted (text)\"+",
        "escapes": "a \\(literal\\) paren, and \\+ plus",
        "attend": "a cat.attend(1.5) dog",
        "unsupported": "(a cat, a dog).and()",
        "commas": "cat,dog,  bird,\u3000fish",
        "empty": "",
        "deep": "(" * 12 + "x" + ")" * 12,
    }.items()}


def clip_tokenizer_seeds() -> dict[str, bytes]:
    vocab = {"l": 0, "o": 1, "w": 2, "e": 3, "r": 4, "lo": 5, "low</w>": 6, "er</w>": 7,
             "<|startoftext|>": 8, "<|endoftext|>": 9, "!": 10}
    files = ("FILES\n" + json.dumps(vocab) + "\n====\n#version: 0.2\nl o\nlo w</w>\ne r</w>\n"
             + "\n====\n" + json.dumps({"pad_token": "!", "model_max_length": 8})
             + "\n====\nlower <|endoftext|> low low low low low low")
    return {
        "text": "A photo of a cat, and the dog.".encode(),
        "specials": "<|startoftext|>hello<|endoftext|>!!  world".encode(),
        "unicode": "Café ＡＢＣ 東京 🐈 e\u0301 don't 123".encode(),
        "long": ("the cat " * 60).encode(),
        "files": files.encode(),
        "files_no_config": ("FILES\n" + json.dumps(vocab) + "\n====\nl o\n").encode(),
        "files_bad_merge": ("FILES\n" + json.dumps(vocab) + "\n====\nl o x\n").encode(),
        "tokenizer_json": ("TOKJSON\n" + json.dumps({"model": {"type": "BPE", "vocab": vocab,
                                                                "merges": ["l o", ["lo", "w</w>"]]}})
                           + "\n====\n" + json.dumps({"pad_token": {"content": "!"}})
                           + "\n====\nlow lower").encode(),
        "tokenizer_json_float_id": ("TOKJSON\n" + json.dumps(
            {"model": {"vocab": {"<|startoftext|>": 0, "<|endoftext|>": 1.5e30}, "merges": []}})).encode(),
    }


SEEDS = {
    "safetensors_header": safetensors_seeds,
    "manifest": manifest_seeds,
    "s3_xml": s3_xml_seeds,
    "hub_json": hub_json_seeds,
    "http_headers": http_headers_seeds,
    "url": url_seeds,
    "cog_request": cog_request_seeds,
    "prompt": prompt_seeds,
    "clip_tokenizer": clip_tokenizer_seeds,
}


def main():
    for name in sys.argv[1:] or SEEDS:
        seeds = SEEDS[name]()
        out = HERE / "corpus" / name
        out.mkdir(parents=True, exist_ok=True)
        for f in out.iterdir():
            f.unlink()
        for key, value in seeds.items():
            (out / key).write_bytes(value)
        print(f"{out}: {len(seeds)} seeds")


if __name__ == "__main__":
    main()
