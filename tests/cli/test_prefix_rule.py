"""One prefix rule for `ls`, `cp --recursive` and `rm --recursive` (issue 18), as aws s3 has for
its recursive commands: the key part of s3://BUCKET/KEY names a folder, never the start of a
name, so `models/x` covers `models/x/...` and never `models/xl/...`. `ls` also shows the object
named exactly KEY. A listing or recursive copy/delete that matches nothing exits 1 and says so.
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.s3

KEYS = ["models/x", "models/x/a.json", "models/x/sub/b.bin", "models/xl/c.bin", "models/x-y/d",
        "other/e"]


@pytest.fixture
def bucket(s3_server):
    name = s3_server.new_bucket("prefix")
    client = s3_server.boto3_client()
    for key in KEYS:
        client.put_object(Bucket=name, Key=key, Body=key.encode())
    return name


def remaining(s3_server, bucket):
    client = s3_server.boto3_client()
    return sorted(o["Key"] for o in client.list_objects_v2(Bucket=bucket).get("Contents", []))


def listed_keys(stdout: str) -> list[str]:
    return [line.split()[-1] for line in stdout.splitlines() if line.strip()]


def test_ls_prefix_is_a_folder_plus_the_exact_object(sdxl_run, bucket):
    proc = sdxl_run("ls", f"s3://{bucket}/models/x")
    assert proc.returncode == 0, proc.stderr
    assert listed_keys(proc.stdout) == ["models/x", "models/x/a.json", "models/x/sub/b.bin"]
    slash = sdxl_run("ls", f"s3://{bucket}/models/x/")
    assert listed_keys(slash.stdout) == ["models/x/a.json", "models/x/sub/b.bin"]
    # --recursive is accepted (aws s3 habit); ls is always recursive.
    rec = sdxl_run("ls", "--recursive", f"s3://{bucket}/models/x/")
    assert listed_keys(rec.stdout) == listed_keys(slash.stdout)
    everything = sdxl_run("ls", f"s3://{bucket}")
    assert listed_keys(everything.stdout) == sorted(KEYS)


def test_ls_of_nothing_exits_1_with_one_line(sdxl_run, bucket):
    proc = sdxl_run("ls", f"s3://{bucket}/models/nothing")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = [l for l in proc.stderr.splitlines() if l.strip()]
    assert len(lines) == 1 and "models/nothing" in lines[0], proc.stderr
    assert proc.stdout == ""
    # Part of a name is not a match.
    assert sdxl_run("ls", f"s3://{bucket}/models/x/su").returncode == 1


def test_cp_recursive_download_uses_the_same_rule(sdxl_run, bucket, tmp_path):
    out = tmp_path / "out"
    proc = sdxl_run("cp", "--recursive", f"s3://{bucket}/models/x", out)
    assert proc.returncode == 0, proc.stderr
    got = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert got == ["a.json", "sub/b.bin"]
    none = sdxl_run("cp", "--recursive", f"s3://{bucket}/models/nothing", tmp_path / "none")
    assert none.returncode == 1
    assert "models/nothing/" in none.stderr
    assert not (tmp_path / "none").exists()


def test_cp_recursive_upload_puts_files_under_the_folder(sdxl_run, s3_server, tmp_path):
    bucket = s3_server.new_bucket("prefix")
    src = tmp_path / "tree"
    (src / "sub").mkdir(parents=True)
    (src / "a.txt").write_text("a")
    (src / "sub" / "b.txt").write_text("b")
    proc = sdxl_run("cp", "--recursive", src, f"s3://{bucket}/up/x")
    assert proc.returncode == 0, proc.stderr
    assert remaining(s3_server, bucket) == ["up/x/a.txt", "up/x/sub/b.txt"]


def test_rm_recursive_uses_the_same_rule(sdxl_run, s3_server, bucket):
    proc = sdxl_run("rm", "--recursive", f"s3://{bucket}/models/x")
    assert proc.returncode == 0, proc.stderr
    # models/x/... gone; models/xl, models/x-y and the object models/x itself stay (aws s3 rm
    # --recursive deletes what is under the folder).
    assert remaining(s3_server, bucket) == ["models/x", "models/x-y/d", "models/xl/c.bin",
                                            "other/e"]


def test_rm_recursive_of_nothing_exits_1_and_says_so(sdxl_run, s3_server, bucket):
    before = remaining(s3_server, bucket)
    proc = sdxl_run("rm", "--recursive", f"s3://{bucket}/models/nothing")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = [l for l in proc.stderr.splitlines() if l.strip()]
    assert len(lines) == 1 and "nothing to delete" in lines[0], proc.stderr
    assert "models/nothing/" in lines[0]
    # Part of a name is not a match either.
    assert sdxl_run("rm", "--recursive", f"s3://{bucket}/models/x-").returncode == 1
    assert remaining(s3_server, bucket) == before
