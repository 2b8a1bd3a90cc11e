"""`sdxl-tigris cp` round trips against a real SeaweedFS, cross-checked with boto3."""

from __future__ import annotations

import pytest

from s3util import (MiB, PART_SIZE, cp_tuning, expected_multipart_etag, list_keys, ok,
                    open_uploads, sha256_file, sha256_object, tree, write_file)

pytestmark = pytest.mark.s3

SIZES = {
    "empty": 0,
    "one-byte": 1,
    "exactly-one-part": PART_SIZE,
    "one-part-plus-one": PART_SIZE + 1,
    "three-parts-minus-one": 3 * PART_SIZE - 1,
}


@pytest.mark.parametrize("size", SIZES.values(), ids=SIZES.keys())
def test_file_round_trip(sdxl_run, s3_server, tmp_path, size):
    bucket = s3_server.new_bucket()
    client = s3_server.boto3_client()
    src = write_file(tmp_path / "src.bin", size, seed=size)
    ok(sdxl_run("cp", *cp_tuning(), src, f"s3://{bucket}/dir/obj.bin"))

    head = client.head_object(Bucket=bucket, Key="dir/obj.bin")
    assert head["ContentLength"] == size
    assert sha256_object(client, bucket, "dir/obj.bin") == sha256_file(src)
    if size > PART_SIZE:  # must have gone multipart, with the part size we asked for
        assert head["ETag"].strip('"') == expected_multipart_etag(src, PART_SIZE)
    assert open_uploads(client, bucket) == []

    dst = tmp_path / "out" / "copy.bin"
    dst.parent.mkdir()
    ok(sdxl_run("cp", *cp_tuning(), f"s3://{bucket}/dir/obj.bin", dst))
    assert dst.stat().st_size == size
    assert sha256_file(dst) == sha256_file(src)
    assert [p.name for p in dst.parent.iterdir()] == ["copy.bin"]  # no temp files left


def test_download_object_uploaded_by_boto3(sdxl_run, s3_server, tmp_path):
    """An object written by another client (boto3 multipart, its own part size) reads back."""
    from boto3.s3.transfer import TransferConfig

    bucket = s3_server.new_bucket()
    client = s3_server.boto3_client()
    src = write_file(tmp_path / "b.bin", 13 * MiB + 7, seed=3)
    client.upload_file(str(src), bucket, "by-boto3.bin",
                       Config=TransferConfig(multipart_threshold=6 * MiB, multipart_chunksize=6 * MiB))
    assert client.head_object(Bucket=bucket, Key="by-boto3.bin")["ETag"].endswith('-3"')
    dst = tmp_path / "b.out"
    ok(sdxl_run("cp", f"s3://{bucket}/by-boto3.bin", dst))
    assert sha256_file(dst) == sha256_file(src)


def test_download_into_directory_keeps_basename(sdxl_run, s3_server, tmp_path):
    bucket = s3_server.new_bucket()
    s3_server.boto3_client().put_object(Bucket=bucket, Key="a/b/name.json", Body=b'{"x": 1}')
    out = tmp_path / "outdir"
    out.mkdir()
    ok(sdxl_run("cp", f"s3://{bucket}/a/b/name.json", f"{out}/"))
    assert (out / "name.json").read_bytes() == b'{"x": 1}'


def test_overwrite_existing_file_and_object(sdxl_run, s3_server, tmp_path):
    bucket = s3_server.new_bucket()
    client = s3_server.boto3_client()
    first = write_file(tmp_path / "first", 6 * MiB, seed=1)
    second = write_file(tmp_path / "second", 1000, seed=2)
    ok(sdxl_run("cp", *cp_tuning(), first, f"s3://{bucket}/k"))
    ok(sdxl_run("cp", *cp_tuning(), second, f"s3://{bucket}/k"))
    assert sha256_object(client, bucket, "k") == sha256_file(second)
    dst = write_file(tmp_path / "dst", 8 * MiB, seed=9)  # longer than the object: must shrink
    ok(sdxl_run("cp", f"s3://{bucket}/k", dst))
    assert dst.read_bytes() == second.read_bytes()


def test_large_multipart_round_trip(sdxl_run, s3_server, tmp_path, big_file):
    """~100 MiB: many parts in flight both ways."""
    bucket = s3_server.new_bucket()
    client = s3_server.boto3_client()
    ok(sdxl_run("cp", *cp_tuning(8 * MiB, concurrency=8), big_file, f"s3://{bucket}/big.bin",
                timeout=300))
    head = client.head_object(Bucket=bucket, Key="big.bin")
    assert head["ContentLength"] == big_file.stat().st_size
    assert head["ETag"].strip('"') == expected_multipart_etag(big_file, 8 * MiB)
    assert open_uploads(client, bucket) == []
    dst = tmp_path / "big.out"
    ok(sdxl_run("cp", *cp_tuning(8 * MiB, concurrency=8), f"s3://{bucket}/big.bin", dst,
                timeout=300))
    assert sha256_file(dst) == sha256_file(big_file)


def _make_tree(root):
    files = {
        "model_index.json": 120,
        "unet/config.json": 1500,
        "unet/diffusion_pytorch_model.safetensors": 11 * MiB + 3,
        "vae/config.json": 700,
        "vae/diffusion_pytorch_model.safetensors": 2 * MiB,
        "text_encoder/model.safetensors": 0,
        "tokenizer/vocab.json": 4096,
        "deep/a/b/c/d/leaf.txt": 1,
        "with space/file name.txt": 33,
    }
    for i, (rel, size) in enumerate(files.items()):
        write_file(root / rel, size, seed=100 + i)
    return files


def test_recursive_prefix_round_trip(sdxl_run, s3_server, tmp_path):
    bucket = s3_server.new_bucket()
    client = s3_server.boto3_client()
    src = tmp_path / "model"
    files = _make_tree(src)
    ok(sdxl_run("cp", "--recursive", *cp_tuning(), src, f"s3://{bucket}/models/sdxl"))

    assert list_keys(client, bucket) == {f"models/sdxl/{k}": v for k, v in files.items()}
    for rel in files:
        assert sha256_object(client, bucket, f"models/sdxl/{rel}") == sha256_file(src / rel)
    assert open_uploads(client, bucket) == []

    out = tmp_path / "restored"
    ok(sdxl_run("cp", "--recursive", f"s3://{bucket}/models/sdxl", out))
    assert tree(out) == tree(src)


def test_recursive_download_respects_prefix_boundary(sdxl_run, s3_server, tmp_path):
    """`s3://b/models/a` must not pull in `models/ab/...` as if it were under `models/a/`."""
    bucket = s3_server.new_bucket()
    client = s3_server.boto3_client()
    for key in ("models/a/x.txt", "models/a/sub/y.txt", "models/ab/z.txt", "models/other.txt"):
        client.put_object(Bucket=bucket, Key=key, Body=key.encode())
    out = tmp_path / "a"
    ok(sdxl_run("cp", "--recursive", f"s3://{bucket}/models/a/", out))
    assert tree(out).keys() == {"x.txt", "sub/y.txt"}
    assert (out / "sub/y.txt").read_bytes() == b"models/a/sub/y.txt"


def test_recursive_download_many_small_objects(sdxl_run, s3_server, tmp_path):
    """More than one ListObjectsV2 page (1000 keys): nothing may be silently missed."""
    bucket = s3_server.new_bucket()
    client = s3_server.boto3_client()
    from concurrent.futures import ThreadPoolExecutor

    keys = [f"many/{i // 100:02d}/{i:05d}.txt" for i in range(1100)]
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda k: client.put_object(Bucket=bucket, Key=k, Body=k.encode()), keys))
    out = tmp_path / "many"
    ok(sdxl_run("cp", "--recursive", f"s3://{bucket}/many", out, timeout=300))
    got = tree(out)
    assert len(got) == len(keys)
    assert (out / "10/01000.txt").read_bytes() == b"many/10/01000.txt"


def test_rm_single_and_recursive(sdxl_run, s3_server):
    bucket = s3_server.new_bucket()
    client = s3_server.boto3_client()
    for key in ("p/one", "p/two/three", "p2/keep", "solo"):
        client.put_object(Bucket=bucket, Key=key, Body=b"x")
    ok(sdxl_run("rm", f"s3://{bucket}/solo"))
    assert "solo" not in list_keys(client, bucket)
    ok(sdxl_run("rm", "--recursive", f"s3://{bucket}/p/"))
    assert list_keys(client, bucket) == {"p2/keep": 1}


def test_mb_creates_bucket(sdxl_run, s3_server):
    import uuid

    name = f"mb-{uuid.uuid4().hex[:12]}"
    ok(sdxl_run("mb", f"s3://{name}"))
    assert name in {b["Name"] for b in s3_server.boto3_client().list_buckets()["Buckets"]}
