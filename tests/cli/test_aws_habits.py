"""Habits from aws s3 / s5cmd that `sdxl-tigris` supports (issue 18), against a real SeaweedFS:

- the global flags (--endpoint-url, --profile, --region, --addressing-style, -q, -v) before or
  after the subcommand, prepare-model included;
- `mb` of a bucket that exists exits 1 (BucketAlreadyOwnedByYou) unless --ignore-existing;
- `ls` / `ls s3://` list the buckets; `ls` lines carry dates and sizes like aws s3 ls, with PRE
  folder lines in the one-level view (--no-recursive), and a documented --json;
- `cp -` streams stdin to an object (multipart, length unknown) and an object to stdout;
- a refused key (InvalidAccessKeyId, SignatureDoesNotMatch) is reported with where it came from;
- --dryrun on every writer (cp, rm, mb) prints what would be done and does nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess

import pytest

pytestmark = pytest.mark.s3

MiB = 1024 * 1024
LS_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d +(\d+) (.+)$")
PRE_LINE = re.compile(r"^ {27}PRE (.+/)$")


def keys(s3_server, bucket):
    client = s3_server.boto3_client()
    return sorted(o["Key"] for o in client.list_objects_v2(Bucket=bucket).get("Contents", []))


def bucket_exists(s3_server, name):
    return name in {b["Name"] for b in s3_server.boto3_client().list_buckets()["Buckets"]}


def env_without_endpoint(s3_server):
    env = s3_server.env()
    del env["AWS_ENDPOINT_URL_S3"]
    return env


def write_profile(tmp_path, s3_server, name, key=None, secret=None):
    creds = tmp_path / "credentials"
    creds.write_text(f"[{name}]\naws_access_key_id = {key or s3_server.access_key}\n"
                     f"aws_secret_access_key = {secret or s3_server.secret_key}\n")
    env = s3_server.env(AWS_SHARED_CREDENTIALS_FILE=str(creds))
    del env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]
    return env, creds


@pytest.fixture
def bucket(s3_server):
    name = s3_server.new_bucket("habits")
    client = s3_server.boto3_client()
    for key in ["a.txt", "models/x/config.json", "models/x/unet/w.bin", "models/y.bin"]:
        client.put_object(Bucket=name, Key=key, Body=b"z" * (len(key) + 1))
    return name


# --- a. global flags ---------------------------------------------------------------------------

def test_global_flags_before_or_after_the_subcommand(sdxl_run, s3_server, bucket):
    env = env_without_endpoint(s3_server)
    url = s3_server.endpoint
    before = sdxl_run("--endpoint-url", url, "ls", f"s3://{bucket}/models/x", env=env)
    assert before.returncode == 0, before.stderr
    after = sdxl_run("ls", f"s3://{bucket}/models/x", "--endpoint-url", url, env=env)
    assert after.returncode == 0, after.stderr
    assert before.stdout == after.stdout and "models/x/unet/w.bin" in before.stdout
    # --flag=value, several global flags, and -q after the subcommand.
    mixed = sdxl_run(f"--endpoint-url={url}", "--region", s3_server.region, "--addressing-style",
                     "path", "ls", f"s3://{bucket}", "-q", env=env)
    assert mixed.returncode == 0, mixed.stderr
    # A value after the subcommand wins over the one before it.
    wins = sdxl_run("--endpoint-url", "http://127.0.0.1:9", "ls", f"s3://{bucket}",
                    "--endpoint-url", url, env=env)
    assert wins.returncode == 0, wins.stderr


def test_global_profile_on_s3_commands(sdxl_run, s3_server, bucket, tmp_path):
    env, _ = write_profile(tmp_path, s3_server, "tester")
    proc = sdxl_run("--profile", "tester", "ls", f"s3://{bucket}/a.txt", env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.rstrip().endswith(" a.txt")
    missing = sdxl_run("--profile", "nosuch", "ls", f"s3://{bucket}", env=env)
    assert missing.returncode == 1 and 'profile "nosuch"' in missing.stderr, missing.stderr


@pytest.mark.parametrize("where", ["before", "after"])
def test_global_flags_on_prepare_model(sdxl_run, s3_server, tmp_path, where):
    flags = ["--profile", "nosuch", "--region", "auto", "--endpoint-url", s3_server.endpoint]
    args = ["prepare-model", str(tmp_path / "no-model"), "some-bucket"]
    argv = flags + args if where == "before" else args + flags
    proc = sdxl_run(*argv, env=s3_server.env())
    # The flags reach prepare-model: the profile is looked up (and is missing), not refused as
    # an unknown option (exit 2).
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert 'profile "nosuch"' in proc.stderr, proc.stderr


# --- b. mb of an existing bucket -----------------------------------------------------------------

def test_mb_of_an_existing_bucket_exits_1_unless_ignore_existing(sdxl_run, s3_server):
    name = s3_server.new_bucket("mb")
    proc = sdxl_run("mb", f"s3://{name}")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = [l for l in proc.stderr.splitlines() if l.strip()]
    assert len(lines) == 1 and "already exists" in lines[0], proc.stderr
    assert "BucketAlreadyOwnedByYou" in lines[0] and "--ignore-existing" in lines[0]
    ok = sdxl_run("mb", "--ignore-existing", f"s3://{name}")
    assert ok.returncode == 0, ok.stderr
    fresh = f"{name}-new"
    created = sdxl_run("mb", f"s3://{fresh}")
    assert created.returncode == 0, created.stderr
    assert created.stdout.strip() == f"make_bucket: s3://{fresh}"
    assert bucket_exists(s3_server, fresh)


# --- c. ls ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("argv", [["ls"], ["ls", "s3://"]])
def test_ls_without_a_bucket_lists_the_buckets(sdxl_run, s3_server, bucket, argv):
    proc = sdxl_run(*argv)
    assert proc.returncode == 0, proc.stderr
    names = []
    for line in proc.stdout.splitlines():
        m = re.match(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d (\S+)$", line)
        assert m, f"not an aws s3 ls bucket line: {line!r}"
        names.append(m.group(1))
    assert bucket in names and names == sorted(names)
    as_json = [json.loads(l) for l in sdxl_run(*argv, "--json").stdout.splitlines()]
    assert {"bucket": bucket} | {"creation_date": as_json[names.index(bucket)]["creation_date"]} \
        in as_json


def test_ls_lines_have_dates_and_sizes_and_recursive_is_accepted(sdxl_run, bucket):
    plain = sdxl_run("ls", f"s3://{bucket}")
    assert plain.returncode == 0, plain.stderr
    rows = [LS_LINE.match(l) for l in plain.stdout.splitlines()]
    assert all(rows), plain.stdout
    assert [(int(m.group(1)), m.group(2)) for m in rows] == [
        (6, "a.txt"), (21, "models/x/config.json"), (20, "models/x/unet/w.bin"),
        (13, "models/y.bin")]
    rec = sdxl_run("ls", "--recursive", f"s3://{bucket}")
    assert rec.stdout == plain.stdout
    summary = sdxl_run("ls", "--summarize", f"s3://{bucket}")
    assert "Total Objects: 4" in summary.stdout and "Total Size: 60" in summary.stdout


def test_ls_one_level_shows_pre_folder_lines(sdxl_run, bucket):
    top = sdxl_run("ls", "--no-recursive", f"s3://{bucket}")
    assert top.returncode == 0, top.stderr
    lines = top.stdout.splitlines()
    assert PRE_LINE.match(lines[0]).group(1) == "models/"
    assert LS_LINE.match(lines[1]).group(2) == "a.txt" and len(lines) == 2
    sub = sdxl_run("ls", "--no-recursive", f"s3://{bucket}/models/")
    lines = sub.stdout.splitlines()
    assert PRE_LINE.match(lines[0]).group(1) == "x/"
    assert LS_LINE.match(lines[1]).group(2) == "y.bin" and len(lines) == 2


def test_ls_json(sdxl_run, s3_server, bucket):
    proc = sdxl_run("ls", "--json", "--summarize", f"s3://{bucket}/models")
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(l) for l in proc.stdout.splitlines()]
    assert [r["key"] for r in rows[:-1]] == ["models/x/config.json", "models/x/unet/w.bin",
                                             "models/y.bin"]
    head = s3_server.boto3_client().head_object(Bucket=bucket, Key="models/y.bin")
    assert rows[2]["size"] == 13 and rows[2]["etag"] == head["ETag"].strip('"')
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", rows[2]["last_modified"])
    assert rows[-1] == {"total_objects": 3, "total_size": 54}
    one = sdxl_run("ls", "--json", "--no-recursive", f"s3://{bucket}/models/")
    assert json.loads(one.stdout.splitlines()[0]) == {"prefix": "models/x/"}


# --- d. cp - -------------------------------------------------------------------------------------

def test_cp_stdin_to_s3_is_a_multipart_upload_of_unknown_length(sdxl_binary, s3_server, bucket):
    data = os.urandom(12 * MiB + 123)
    proc = subprocess.run([str(sdxl_binary), "cp", "-",
                           f"s3://{bucket}/stream/big.bin", "--part-size", "5MiB"],
                          input=data, env=s3_server.env(), capture_output=True, timeout=120)
    assert proc.returncode == 0, proc.stderr.decode()
    assert proc.stdout == b""  # the summary goes to stderr
    client = s3_server.boto3_client()
    head = client.head_object(Bucket=bucket, Key="stream/big.bin")
    assert head["ContentLength"] == len(data)
    assert head["ETag"].strip('"').endswith("-3"), head["ETag"]  # 3 parts of 5 MiB
    body = client.get_object(Bucket=bucket, Key="stream/big.bin")["Body"].read()
    assert hashlib.sha256(body).digest() == hashlib.sha256(data).digest()
    small = subprocess.run([str(sdxl_binary), "cp", "-", f"s3://{bucket}/stream/small.txt"],
                           input=b"hello\n", env=s3_server.env(), capture_output=True)
    assert small.returncode == 0, small.stderr.decode()
    assert client.get_object(Bucket=bucket, Key="stream/small.txt")["Body"].read() == b"hello\n"


def test_cp_s3_to_stdout(sdxl_binary, s3_server, bucket):
    data = os.urandom(3 * MiB + 17)
    s3_server.boto3_client().put_object(Bucket=bucket, Key="out/blob", Body=data)
    proc = subprocess.run([str(sdxl_binary), "cp", f"s3://{bucket}/out/blob", "-"],
                          env=s3_server.env(), capture_output=True, timeout=120)
    assert proc.returncode == 0, proc.stderr.decode()
    assert proc.stdout == data
    missing = subprocess.run([str(sdxl_binary), "cp", f"s3://{bucket}/out/nothing", "-"],
                             env=s3_server.env(), capture_output=True, timeout=120)
    assert missing.returncode == 1 and missing.stdout == b""


def test_cp_stdin_needs_a_key(sdxl_run, bucket):
    proc = sdxl_run("cp", "-", f"s3://{bucket}/dir/", input="x")
    assert proc.returncode == 2 and "KEY" in proc.stderr, proc.stderr


# --- e. where the credentials came from ------------------------------------------------------------

def test_refused_keys_name_the_environment(sdxl_run, s3_server, bucket):
    env = s3_server.env(AWS_SECRET_ACCESS_KEY="not-the-secret")
    proc = sdxl_run("ls", f"s3://{bucket}", env=env)
    assert proc.returncode == 1
    assert "environment variables AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY" in proc.stderr, \
        proc.stderr
    unknown = sdxl_run("cp", f"s3://{bucket}/a.txt", "-",
                       env=s3_server.env(AWS_ACCESS_KEY_ID="AKIDNOSUCHKEY0000000"))
    assert unknown.returncode == 1
    assert "environment variables" in unknown.stderr and "****0000" in unknown.stderr, \
        unknown.stderr


def test_refused_keys_name_the_profile_and_its_file(sdxl_run, s3_server, bucket, tmp_path):
    env, creds = write_profile(tmp_path, s3_server, "stale", secret="wrong-secret")
    proc = sdxl_run("ls", f"s3://{bucket}", "--profile", "stale", env=env)
    assert proc.returncode == 1
    lines = [l for l in proc.stderr.splitlines() if l.strip()]
    assert len(lines) == 1, proc.stderr
    assert f'profile "stale" in {creds}' in lines[0], lines[0]
    assert "wrong-secret" not in proc.stderr


# --- f. --dryrun ---------------------------------------------------------------------------------

def test_dryrun_on_every_writer(sdxl_run, s3_server, bucket, tmp_path):
    src = tmp_path / "f.txt"
    src.write_text("data")
    before = keys(s3_server, bucket)

    up = sdxl_run("cp", "--dryrun", src, f"s3://{bucket}/new/")
    assert up.returncode == 0, up.stderr
    assert up.stdout.strip() == f"(dryrun) upload: {src} to s3://{bucket}/new/f.txt"

    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "sub" / "b.txt").write_text("b")
    rec_up = sdxl_run("cp", "--dryrun", "--recursive", tree, f"s3://{bucket}/t")
    assert rec_up.stdout.strip() == \
        f"(dryrun) upload: {tree / 'sub' / 'b.txt'} to s3://{bucket}/t/sub/b.txt"

    dest = tmp_path / "down"
    down = sdxl_run("cp", "--dryrun", "--recursive", f"s3://{bucket}/models/x", dest)
    assert down.returncode == 0, down.stderr
    assert down.stdout.splitlines() == [
        f"(dryrun) download: s3://{bucket}/models/x/config.json to {dest / 'config.json'}",
        f"(dryrun) download: s3://{bucket}/models/x/unet/w.bin to {dest / 'unet' / 'w.bin'}"]
    assert not dest.exists()

    rm = sdxl_run("rm", "--dryrun", "--recursive", f"s3://{bucket}/models")
    assert rm.returncode == 0, rm.stderr
    assert rm.stdout.splitlines() == [f"(dryrun) delete: s3://{bucket}/{k}" for k in
                                      ["models/x/config.json", "models/x/unet/w.bin",
                                       "models/y.bin"]]
    one = sdxl_run("rm", "--dryrun", f"s3://{bucket}/a.txt")
    assert one.stdout.strip() == f"(dryrun) delete: s3://{bucket}/a.txt"
    assert keys(s3_server, bucket) == before

    fresh = f"{bucket}-dry"
    mb = sdxl_run("mb", "--dryrun", f"s3://{fresh}")
    assert mb.returncode == 0 and mb.stdout.strip() == f"(dryrun) make_bucket: s3://{fresh}"
    assert not bucket_exists(s3_server, fresh)

