"""Key-name torture: our client and boto3 must agree on every awkward key, both ways.

SeaweedFS stores keys as filer paths, so it normalises some of them (`a//b` lists as `a/b`, a
backslash lists as `/`) and limits one path segment to 255 bytes. The checks are therefore
differential: the same keys written by sdxl-tigris and by boto3 into two buckets must list
identically, every key must read back by the exact name it was written with, and sdxl-tigris'
`ls` must show what boto3 lists.
"""

from __future__ import annotations

import zlib

import pytest

from s3util import list_keys, ok, sha256_file, write_file

pytestmark = pytest.mark.s3

TORTURE_KEYS = [
    "plain.txt",
    "with space/and more spaces.txt",
    "plus+sign+key.bin",
    "percent%20literal%2F.txt",
    "100%.txt",
    "unicode/ünïcødé/ファイル名.txt",
    "emoji/😀🚀🔥.safetensors",
    "double//slash/x.json",
    "reserved/~!@$&'()*,;=:[]{}.txt",
    "query?x=1&y=2#frag.txt",
    "tilde~and.dots..txt",
    "long/" + "/".join(c * 250 for c in "abcd") + "/end.bin",  # ~1 KiB key, 250-byte segments
]


def _ids(keys):
    return [k[:24].encode("ascii", "backslashreplace").decode() for k in keys]


@pytest.fixture(scope="module")
def torture_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("torture")
    return {k: write_file(root / f"f{i}", 100 + i, seed=500 + i) for i, k in enumerate(TORTURE_KEYS)}


def test_keys_uploaded_by_us_match_boto3(sdxl_run, s3_server, torture_files, tmp_path):
    ours, theirs = s3_server.new_bucket("ours"), s3_server.new_bucket("boto")
    client = s3_server.boto3_client()
    for key, path in torture_files.items():
        ok(sdxl_run("cp", path, f"s3://{ours}/{key}"))
        client.upload_file(str(path), theirs, key)
    assert list_keys(client, ours) == list_keys(client, theirs)
    for key, path in torture_files.items():
        got = client.get_object(Bucket=ours, Key=key)["Body"].read()
        assert got == path.read_bytes(), key


@pytest.mark.parametrize("key", TORTURE_KEYS, ids=_ids(TORTURE_KEYS))
def test_key_written_by_boto3_reads_back_with_us(sdxl_run, s3_server, tmp_path, key):
    bucket = s3_server.new_bucket()
    client = s3_server.boto3_client()
    src = write_file(tmp_path / "src", 777, seed=zlib.crc32(key.encode()))
    client.upload_file(str(src), bucket, key)
    dst = tmp_path / "dst.bin"
    ok(sdxl_run("cp", f"s3://{bucket}/{key}", dst))
    assert sha256_file(dst) == sha256_file(src)

    proc = sdxl_run("ls", f"s3://{bucket}")
    ok(proc)
    (listed,) = list_keys(client, bucket)  # what the server calls it (maybe normalised)
    assert listed in proc.stdout, f"{listed!r} not in ls output:\n{proc.stdout}"


def test_recursive_upload_of_awkward_file_names(sdxl_run, s3_server, tmp_path):
    bucket = s3_server.new_bucket()
    client = s3_server.boto3_client()
    src = tmp_path / "tree"
    names = ["a b/c d.txt", "plus+/x+y.txt", "pct%/50%.txt", "ü/😀.txt", "q?/k=v&w.txt"]
    for i, name in enumerate(names):
        write_file(src / name, 10 + i, seed=i)
    ok(sdxl_run("cp", "--recursive", src, f"s3://{bucket}/up"))
    assert list_keys(client, bucket) == {f"up/{n}": 10 + i for i, n in enumerate(names)}
    out = tmp_path / "back"
    ok(sdxl_run("cp", "--recursive", f"s3://{bucket}/up", out))
    for name in names:
        assert (out / name).read_bytes() == (src / name).read_bytes(), name
