"""One scenario, two S3 servers: every command of sdxl-tigris against SeaweedFS and moto.

Each test runs twice ([seaweedfs], [moto]); both servers are started by the harness on
127.0.0.1 (tests/interop/conftest.py). The exit status (0 ok, 1 failure, 2 usage) and the
message of every command are checked, and what landed in the bucket is checked with boto3 (an
independent client). Differences found between the servers, and how the client handles each, are
listed in docs/storage.md ("Interop").
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from interop_servers import fails, ok

REPO_ROOT = Path(__file__).resolve().parents[2]
MiB = 1 << 20
PART = 5 * MiB
MANIFEST = "sdxl-tigris-manifest.json"

ODD_KEYS = [
    "sp ace/with  two spaces.txt",
    "unicode/ü-é-€-日本-😀.txt",
    "plus+sign+.txt",
    "percent%20not-a-space%2F.txt",
    "equals=a&b=c.txt",
    "tilde~star*(paren)!'quote'.txt",
    "semi;colon,comma:colon@at$dollar.txt",
    "brackets[1]{2}^caret`tick|pipe.txt",
    "question?mark#hash.txt",
]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def all_keys(client, bucket: str, prefix: str = "") -> dict[str, int]:
    out = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            out[obj["Key"]] = obj["Size"]
    return out


def missing_bucket_name() -> str:
    return f"io-missing-{random.getrandbits(40):010x}"


# ----------------------------------------------------------------------------------- buckets


def test_mb_new_then_existing(cli, s3):
    name = missing_bucket_name()
    first = cli("mb", f"s3://{name}")
    ok(first)
    assert f"make_bucket: s3://{name}" in first.stdout
    assert name in [b["Name"] for b in s3.boto3_client().list_buckets()["Buckets"]]

    again = cli("mb", f"s3://{name}")
    fails(again, name, "already exists", "--ignore-existing")

    ignored = cli("mb", "--ignore-existing", f"s3://{name}")
    ok(ignored)
    assert "already exists" in ignored.stdout

    listed = cli("ls")
    ok(listed)
    assert name in listed.stdout.split()

    fails(cli("mb", "not-an-s3-url"), code=2)


# ------------------------------------------------------------------------------------- listing


def test_ls_cp_rm_past_1000_keys(cli, s3, bucket, tmp_path):
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(1001):
        (folder / f"f{i:04d}.txt").write_text(str(i))
    ok(cli("-q", "cp", "--recursive", folder, f"s3://{bucket}/many", timeout=300))
    # One more key beside the folder, with a common prefix: it must not be listed below.
    s3.boto3_client().put_object(Bucket=bucket, Key="many-not/x", Body=b"x")

    keys = all_keys(s3.boto3_client(), bucket, "many/")
    assert len(keys) == 1001

    listed = cli("ls", f"s3://{bucket}/many")
    ok(listed)
    lines = listed.stdout.splitlines()
    assert len(lines) == 1001, listed.stdout[-500:]
    names = sorted(line.split()[-1] for line in lines)
    assert names == sorted(keys)

    # Download the whole folder back: 1001 files, same bytes.
    back = tmp_path / "back"
    ok(cli("-q", "cp", "--recursive", f"s3://{bucket}/many", back, timeout=300))
    got = sorted(p.name for p in back.rglob("*") if p.is_file())
    assert got == sorted(p.name for p in folder.iterdir())
    assert (back / "f1000.txt").read_text() == "1000"

    # And remove it: two DeleteObjects batches (1000 + 1); the neighbour with a common prefix stays.
    removed = cli("rm", "--recursive", f"s3://{bucket}/many")
    ok(removed)
    assert removed.stdout.count("delete: ") == 1001, removed.stdout[-300:]
    assert list(all_keys(s3.boto3_client(), bucket, "many")) == ["many-not/x"]


# ------------------------------------------------------------------------------------------ cp


@pytest.fixture(scope="module")
def payloads(tmp_path_factory):
    root = tmp_path_factory.mktemp("payloads")
    rng = random.Random(17)
    files = {
        "small.bin": rng.randbytes(1234),
        "empty.bin": b"",
        "multi.bin": rng.randbytes(2 * PART + 3),  # 3 parts at --part-size 5 MiB
    }
    for name, data in files.items():
        (root / name).write_bytes(data)
    return root, files


def test_cp_up_and_down_single_and_multipart(cli, s3, bucket, payloads, tmp_path):
    root, files = payloads
    client = s3.boto3_client()
    for name, data in files.items():
        up = cli("cp", "--part-size", PART, root / name, f"s3://{bucket}/obj/{name}")
        ok(up)
        assert f"upload: {root / name} -> s3://{bucket}/obj/{name}" in up.stdout + up.stderr
        body = client.get_object(Bucket=bucket, Key=f"obj/{name}")["Body"].read()
        assert sha256(body) == sha256(data), name

    # The big one went up in 3 parts: its ETag is the multipart kind, quotes or not.
    etag = client.head_object(Bucket=bucket, Key="obj/multi.bin")["ETag"].strip('"')
    assert etag.endswith("-3"), etag

    for name, data in files.items():
        dest = tmp_path / "down" / name
        down = cli("cp", "--part-size", PART, f"s3://{bucket}/obj/{name}", dest)
        ok(down)
        assert dest.read_bytes() == data, name

    # An object written by another client (boto3, single PUT) downloads as well, into stdout.
    client.put_object(Bucket=bucket, Key="obj/boto.txt", Body=b"from boto3\n")
    out = cli("cp", f"s3://{bucket}/obj/boto.txt", "-")
    ok(out)
    assert out.stdout == "from boto3\n"


def test_cp_recursive_multipart_tree(cli, s3, bucket, payloads, tmp_path):
    root, files = payloads
    ok(cli("-q", "cp", "--recursive", "--part-size", PART, root, f"s3://{bucket}/tree"))
    assert all_keys(s3.boto3_client(), bucket, "tree/") == {
        f"tree/{n}": len(d) for n, d in files.items()}
    back = tmp_path / "tree"
    ok(cli("-q", "cp", "--recursive", "--part-size", PART, f"s3://{bucket}/tree", back))
    for name, data in files.items():
        assert (back / name).read_bytes() == data


def test_odd_key_names(cli, s3, bucket, tmp_path):
    client = s3.boto3_client()
    src = tmp_path / "src.txt"
    for i, key in enumerate(ODD_KEYS):
        src.write_bytes(f"{i}:{key}".encode())
        ok(cli("cp", src, f"s3://{bucket}/odd/{key}"))
    # Exactly these keys, byte for byte, as another client sees them.
    assert sorted(all_keys(client, bucket, "odd/")) == sorted(f"odd/{k}" for k in ODD_KEYS)

    listed = cli("ls", f"s3://{bucket}/odd")
    ok(listed)
    for key in ODD_KEYS:
        assert f"odd/{key}" in listed.stdout, key

    for i, key in enumerate(ODD_KEYS):
        dest = tmp_path / f"down-{i}"
        ok(cli("cp", f"s3://{bucket}/odd/{key}", dest))
        assert dest.read_bytes() == f"{i}:{key}".encode(), key
        # Objects written by boto3 under the same odd names read back too.
        client.put_object(Bucket=bucket, Key=f"boto/{key}", Body=key.encode())
        out = cli("cp", f"s3://{bucket}/boto/{key}", "-")
        ok(out)
        assert out.stdout == key

    ok(cli("rm", f"s3://{bucket}/odd/{ODD_KEYS[0]}"))
    ok(cli("-q", "rm", "--recursive", f"s3://{bucket}/odd"))
    assert all_keys(client, bucket, "odd/") == {}


# ------------------------------------------------------------------------------------- presign


@pytest.mark.parametrize("key", ["presigned/plain.bin", "presigned/odd name+ü=%.bin"])
def test_presign_put_then_get(cli, s3, bucket, key):
    data = random.Random(5).randbytes(70_000)
    put = cli("presign", "--method", "PUT", "--expires", "600", f"s3://{bucket}/{key}")
    ok(put)
    url = put.stdout.strip()
    assert url.startswith(s3.endpoint) and "X-Amz-Signature=" in url
    # An explicit Content-Type: urllib's default (form data) makes moto's server (werkzeug) read
    # the body as a form and the PUT hang.
    req = urllib.request.Request(url, data=data, method="PUT",
                                 headers={"Content-Type": "application/octet-stream"})
    with urllib.request.urlopen(req, timeout=30) as r:
        assert r.status == 200
    body = s3.boto3_client().get_object(Bucket=bucket, Key=key)["Body"].read()
    assert body == data

    get = cli("presign", f"s3://{bucket}/{key}")
    ok(get)
    with urllib.request.urlopen(get.stdout.strip(), timeout=30) as r:
        assert r.read() == data

    # An expiry out of range is a usage error, refused before any request.
    bad = cli("presign", "--expires", "0", f"s3://{bucket}/{key}")
    assert bad.returncode == 2 and "--expires" in bad.stderr, bad.stderr


# ------------------------------------------------------------------------------------------ rm


def test_rm_recursive(cli, s3, bucket):
    client = s3.boto3_client()

    def put(key):
        client.put_object(Bucket=bucket, Key=key, Body=key.encode())

    keep = ["models-keep/a", "modelsx", "other/models/a"]
    gone = [f"models/{i:03d}/w.bin" for i in range(40)] + ["models/a b+c.json"]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(put, keep + gone))

    dry = cli("rm", "--recursive", "--dryrun", f"s3://{bucket}/models")
    ok(dry)
    assert len(all_keys(client, bucket)) == len(keep) + len(gone)

    rm = cli("rm", "--recursive", f"s3://{bucket}/models")
    ok(rm)
    assert sorted(all_keys(client, bucket)) == sorted(keep)
    assert f"delete: s3://{bucket}/models/a b+c.json" in rm.stdout

    # Nothing left under the prefix: the tool says so and fails (a typo in a prefix shows).
    fails(cli("rm", "--recursive", f"s3://{bucket}/models"), "nothing to delete")


# ------------------------------------------------------------------------------- failure cases


def test_missing_bucket(cli, s3, tmp_path):
    name = missing_bucket_name()
    src = tmp_path / "f.txt"
    src.write_text("x")
    fails(cli("ls", f"s3://{name}"), name, "bucket does not exist")
    fails(cli("ls", f"s3://{name}/some/prefix"), name, "bucket does not exist")
    if s3.kind == "moto":  # like AWS: NoSuchBucket
        fails(cli("cp", src, f"s3://{name}/k.txt"), name, "bucket does not exist")
    else:  # SeaweedFS creates the bucket on the first PutObject (a server difference)
        ok(cli("cp", src, f"s3://{name}/k.txt"))
        ok(cli("rm", f"s3://{name}/k.txt"))
        s3.boto3_client().delete_bucket(Bucket=name)
    dest = tmp_path / "out.txt"
    fails(cli("cp", f"s3://{name}/k.txt", dest), name, "bucket does not exist")
    assert not dest.exists()
    fails(cli("rm", f"s3://{name}/k.txt"), name, "bucket does not exist")
    fails(cli("rm", "--recursive", f"s3://{name}/k"), name, "bucket does not exist")
    fails(cli("pull", f"s3://{name}/model", "--cache", tmp_path / "cache"), name,
          "bucket does not exist")


def test_missing_key(cli, s3, bucket, tmp_path):
    s3.boto3_client().put_object(Bucket=bucket, Key="present.txt", Body=b"here")
    dest = tmp_path / "out.txt"
    fails(cli("cp", f"s3://{bucket}/absent.txt", dest), "absent.txt", "no such object")
    assert not dest.exists() and list(tmp_path.iterdir()) == []
    fails(cli("cp", f"s3://{bucket}/absent.txt", "-"), "absent.txt", "no such object")
    fails(cli("-q", "cp", "--recursive", f"s3://{bucket}/absent/", tmp_path / "d"), "absent")
    # Deleting a key that is not there succeeds, like `aws s3 rm` (S3's DELETE is idempotent).
    ok(cli("rm", f"s3://{bucket}/absent.txt"))
    fails(cli("pull", f"s3://{bucket}/absent-model", "--cache", tmp_path / "cache"),
          "absent-model")
    assert s3.boto3_client().get_object(Bucket=bucket, Key="present.txt")["Body"].read() == b"here"


def test_usage_errors_exit_2(cli, bucket):
    fails(cli("cp", f"s3://{bucket}/only-one-arg"), code=2)
    fails(cli("ls", "--no-such-flag"), code=2)
    fails(cli("rm"), code=2)
    fails(cli("frobnicate"), code=2)


@pytest.fixture
def bad_credentials(s3):
    """(a known access key, its secret, an unknown access key) on `s3`, auth enforced."""
    if s3.kind == "moto":
        with s3.auth_enabled() as (key, secret):
            yield key, secret
    else:
        yield s3.access_key, s3.secret_key


def test_wrong_credentials(cli, s3, bucket, bad_credentials, tmp_path):
    key, secret = bad_credentials
    good = s3.env(AWS_ACCESS_KEY_ID=key, AWS_SECRET_ACCESS_KEY=secret)
    ok(cli("ls", f"s3://{bucket}", env=good))

    wrong_secret = s3.env(AWS_ACCESS_KEY_ID=key, AWS_SECRET_ACCESS_KEY=secret + "x")
    fails(cli("ls", f"s3://{bucket}", env=wrong_secret), "signature does not match",
          "AWS_SECRET_ACCESS_KEY")
    src = tmp_path / "f.txt"
    src.write_text("x")
    fails(cli("cp", src, f"s3://{bucket}/f.txt", env=wrong_secret), "signature does not match")
    # mb starts with HeadBucket, whose 403 has no body to say why: the message names both causes.
    fails(cli("mb", f"s3://{missing_bucket_name()}", env=wrong_secret), "AWS_SECRET_ACCESS_KEY",
          "policy")

    unknown = s3.env(AWS_ACCESS_KEY_ID="AKIAUNKNOWNKEY000000", AWS_SECRET_ACCESS_KEY=secret)
    fails(cli("ls", f"s3://{bucket}", env=unknown), "access key is unknown", "AWS_ACCESS_KEY_ID")
    fails(cli("cp", f"s3://{bucket}/f.txt", tmp_path / "o", env=unknown))
    assert not (tmp_path / "o").exists()
    listed = cli("ls", f"s3://{bucket}", env=good)  # nothing was written with bad credentials
    ok(listed)
    assert "f.txt" not in listed.stdout


# ------------------------------------------------------------------------ prepare-model + pull


def test_prepare_model_then_pull(cli, s3, bucket, tiny_lightning, tmp_path):
    env = {k: v for k, v in s3.env().items() if not k.startswith("HF_")}
    env["XDG_CACHE_HOME"] = str(tmp_path / "xdg")
    prep = cli("prepare-model", tiny_lightning, bucket, "--path", "m/tiny", env=env, timeout=300)
    ok(prep)
    assert f"MODEL_BUCKET_NAME={bucket}" in prep.stdout, prep.stdout
    assert "MODEL_PATH=m/tiny" in prep.stdout, prep.stdout

    client = s3.boto3_client()
    manifest = json.loads(client.get_object(Bucket=bucket, Key=f"m/tiny/{MANIFEST}")["Body"].read())
    keys = all_keys(client, bucket, "m/tiny/")
    for f in manifest["files"]:
        assert keys[f"m/tiny/{f['path']}"] == f["size"], f["path"]

    # Running it again finds everything in place.
    ok(cli("prepare-model", tiny_lightning, bucket, "--path", "m/tiny", env=env, timeout=300))

    cache = tmp_path / "cache"
    pulled = cli("pull", f"s3://{bucket}/m/tiny", "--cache", cache, timeout=300)
    ok(pulled)
    model_dir = Path(pulled.stdout.strip())
    assert model_dir.is_dir()
    for f in manifest["files"]:
        p = model_dir / f["path"]
        assert p.stat().st_size == f["size"], f["path"]
        assert hashlib.sha256(p.read_bytes()).hexdigest() == f["sha256"], f["path"]
    assert f"{len(manifest['files'])} files downloaded" in pulled.stderr

    again = cli("pull", f"s3://{bucket}/m/tiny", "--cache", cache, timeout=300)
    ok(again)
    assert again.stdout.strip() == str(model_dir)
    assert "0 files downloaded" in again.stderr
    assert os.access(model_dir / "model_index.json", os.R_OK)
