"""`sync`, `mv` and `--exclude/--include` (issue 18), against a real SeaweedFS:

- sync up and down compares size + mtime (aws s3 sync): a second sync is a no-op, a changed file
  is the only one copied, downloads carry the object's LastModified as mtime; --size-only,
  --exact-timestamps, --delete (only under the prefix, never excluded paths), --dryrun;
- mv up and down: the source goes only after the copy succeeded; a failed copy keeps it;
- --exclude/--include on cp, rm, mv and sync, in command-line order (the last match wins), with
  keys that hold spaces and non-ASCII characters.
"""

from __future__ import annotations

import os
import time

import pytest

pytestmark = pytest.mark.s3

ODD = "dir with space/caf\u00e9 \u00fc.txt"  # spaces and non-ASCII in a folder and a file name


def keys(s3_server, bucket, prefix=""):
    client = s3_server.boto3_client()
    out = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        out += [o["Key"] for o in page.get("Contents", [])]
    return sorted(out)


def body(s3_server, bucket, key):
    return s3_server.boto3_client().get_object(Bucket=bucket, Key=key)["Body"].read()


def put(s3_server, bucket, key, data):
    s3_server.boto3_client().put_object(Bucket=bucket, Key=key, Body=data)


def last_modified(s3_server, bucket, key):
    return int(s3_server.boto3_client().head_object(Bucket=bucket, Key=key)["LastModified"]
               .timestamp())


def make_tree(root, files):
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def local_files(root):
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def lines(proc):
    return [l for l in proc.stdout.splitlines() if l.strip()]


TREE = {"a.txt": b"alpha", "sub/b.json": b"{\"b\": 1}", "sub/c.bin": b"\x00" * 300,
        ODD: "unicode body \u00e9".encode()}


def ok(proc):
    assert proc.returncode == 0, f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n" \
                                 f"{proc.stderr}"
    return proc


# --- sync up -------------------------------------------------------------------------------------

def test_sync_up_then_a_second_sync_is_a_noop(sdxl_run, s3_server, tmp_path):
    bucket = s3_server.new_bucket("sync")
    src = make_tree(tmp_path / "src", TREE)
    first = ok(sdxl_run("sync", src, f"s3://{bucket}/m/x"))
    assert sorted(lines(first)) == sorted(
        f"upload: {src / rel} to s3://{bucket}/m/x/{rel}" for rel in TREE)
    assert keys(s3_server, bucket) == sorted(f"m/x/{rel}" for rel in TREE)
    for rel, data in TREE.items():
        assert body(s3_server, bucket, f"m/x/{rel}") == data
    # Replace one object behind sync's back with the same size: the object is now newer than the
    # file, so a correct second sync leaves it; one that re-uploaded everything would restore it.
    put(s3_server, bucket, "m/x/a.txt", b"ALPHA")
    second = ok(sdxl_run("sync", src, f"s3://{bucket}/m/x"))
    assert lines(second) == []
    assert body(s3_server, bucket, "m/x/a.txt") == b"ALPHA"


def test_sync_up_copies_only_what_changed(sdxl_run, s3_server, tmp_path):
    bucket = s3_server.new_bucket("sync")
    src = make_tree(tmp_path / "src", TREE)
    ok(sdxl_run("sync", src, f"s3://{bucket}/m"))
    # Same size, newer mtime: uploaded. Different size: uploaded. The rest: left alone.
    (src / "a.txt").write_bytes(b"ALPHA")
    future = time.time() + 30
    os.utime(src / "a.txt", (future, future))
    (src / ODD).write_bytes(b"longer unicode body")
    (src / "new.txt").write_bytes(b"new")
    proc = ok(sdxl_run("sync", src, f"s3://{bucket}/m"))
    assert sorted(lines(proc)) == sorted(
        f"upload: {src / rel} to s3://{bucket}/m/{rel}" for rel in ["a.txt", ODD, "new.txt"])
    assert body(s3_server, bucket, "m/a.txt") == b"ALPHA"
    assert body(s3_server, bucket, f"m/{ODD}") == b"longer unicode body"
    assert body(s3_server, bucket, "m/new.txt") == b"new"


def test_sync_size_only_ignores_newer_files(sdxl_run, s3_server, tmp_path):
    bucket = s3_server.new_bucket("sync")
    src = make_tree(tmp_path / "src", {"a.txt": b"alpha", "b.txt": b"beta"})
    ok(sdxl_run("sync", src, f"s3://{bucket}/p"))
    (src / "a.txt").write_bytes(b"ALPHA")  # same size
    future = time.time() + 30
    os.utime(src / "a.txt", (future, future))
    sized = ok(sdxl_run("sync", "--size-only", src, f"s3://{bucket}/p"))
    assert lines(sized) == []
    assert body(s3_server, bucket, "p/a.txt") == b"alpha"
    # Without --size-only the newer file goes up.
    timed = ok(sdxl_run("sync", src, f"s3://{bucket}/p"))
    assert lines(timed) == [f"upload: {src / 'a.txt'} to s3://{bucket}/p/a.txt"]
    assert body(s3_server, bucket, "p/a.txt") == b"ALPHA"


def test_sync_delete_removes_only_extra_keys_under_the_prefix(sdxl_run, s3_server, tmp_path):
    bucket = s3_server.new_bucket("sync")
    src = make_tree(tmp_path / "src", {"a.txt": b"a"})
    for key in ["p/extra.txt", "p/deep/old.bin", "p-neighbour/keep.txt", "px/keep.txt"]:
        put(s3_server, bucket, key, b"old")
    kept = ok(sdxl_run("sync", src, f"s3://{bucket}/p"))
    assert lines(kept) == [f"upload: {src / 'a.txt'} to s3://{bucket}/p/a.txt"]
    assert "p/extra.txt" in keys(s3_server, bucket)  # no --delete: extra keys stay
    proc = ok(sdxl_run("sync", "--delete", src, f"s3://{bucket}/p"))
    assert sorted(lines(proc)) == [f"delete: s3://{bucket}/p/deep/old.bin",
                                   f"delete: s3://{bucket}/p/extra.txt"]
    assert keys(s3_server, bucket) == ["p-neighbour/keep.txt", "p/a.txt", "px/keep.txt"]


def test_sync_dryrun_changes_nothing(sdxl_run, s3_server, tmp_path):
    bucket = s3_server.new_bucket("sync")
    src = make_tree(tmp_path / "src", {"a.txt": b"a", "new.txt": b"n"})
    put(s3_server, bucket, "p/a.txt", b"a")
    put(s3_server, bucket, "p/gone.txt", b"g")
    before = keys(s3_server, bucket)
    up = ok(sdxl_run("sync", "--dryrun", "--delete", src, f"s3://{bucket}/p"))
    # a.txt: the object (same size) was written after the file, so it is not copied.
    assert lines(up) == [f"(dryrun) upload: {src / 'new.txt'} to s3://{bucket}/p/new.txt",
                         f"(dryrun) delete: s3://{bucket}/p/gone.txt"]
    assert keys(s3_server, bucket) == before
    dest = tmp_path / "down"
    down = ok(sdxl_run("sync", "--dryrun", f"s3://{bucket}/p", dest))
    assert lines(down) == [f"(dryrun) download: s3://{bucket}/p/a.txt to {dest / 'a.txt'}",
                           f"(dryrun) download: s3://{bucket}/p/gone.txt to {dest / 'gone.txt'}"]
    assert not dest.exists()


# --- sync down -----------------------------------------------------------------------------------

def test_sync_down_sets_mtime_and_a_second_sync_is_a_noop(sdxl_run, s3_server, tmp_path):
    bucket = s3_server.new_bucket("sync")
    for rel, data in TREE.items():
        put(s3_server, bucket, f"m/{rel}", data)
    put(s3_server, bucket, "m-other/x.txt", b"not under m/")
    time.sleep(1.2)  # so that a file's own write time cannot pass for the object's LastModified
    dest = tmp_path / "dest"
    first = ok(sdxl_run("sync", f"s3://{bucket}/m", dest))
    assert sorted(lines(first)) == sorted(
        f"download: s3://{bucket}/m/{rel} to {dest / rel}" for rel in TREE)
    assert local_files(dest) == sorted(TREE)
    for rel, data in TREE.items():
        assert (dest / rel).read_bytes() == data
        assert int((dest / rel).stat().st_mtime) == last_modified(s3_server, bucket, f"m/{rel}")
    second = ok(sdxl_run("sync", f"s3://{bucket}/m", dest))
    assert lines(second) == []
    # A local change of size is undone; an extra local file goes with --delete only.
    (dest / "a.txt").write_bytes(b"changed locally")
    (dest / "extra.txt").write_bytes(b"x")
    third = ok(sdxl_run("sync", "--delete", f"s3://{bucket}/m", dest))
    assert sorted(lines(third)) == [f"delete: {dest / 'extra.txt'}",
                                    f"download: s3://{bucket}/m/a.txt to {dest / 'a.txt'}"]
    assert (dest / "a.txt").read_bytes() == b"alpha" and not (dest / "extra.txt").exists()


def test_sync_down_fetches_an_object_newer_than_the_file(sdxl_run, s3_server, tmp_path):
    bucket = s3_server.new_bucket("sync")
    put(s3_server, bucket, "p/a.txt", b"one")
    put(s3_server, bucket, "p/b.txt", b"two")
    dest = tmp_path / "dest"
    ok(sdxl_run("sync", f"s3://{bucket}/p", dest))
    time.sleep(1.2)  # LastModified has whole seconds
    put(s3_server, bucket, "p/a.txt", b"ONE")  # same size, newer
    sized = ok(sdxl_run("sync", "--size-only", f"s3://{bucket}/p", dest))
    assert lines(sized) == [] and (dest / "a.txt").read_bytes() == b"one"
    proc = ok(sdxl_run("sync", f"s3://{bucket}/p", dest))
    assert lines(proc) == [f"download: s3://{bucket}/p/a.txt to {dest / 'a.txt'}"]
    assert (dest / "a.txt").read_bytes() == b"ONE"
    # --exact-timestamps: a local file newer than its (same-size) object is replaced too.
    future = time.time() + 60
    os.utime(dest / "b.txt", (future, future))
    assert lines(ok(sdxl_run("sync", f"s3://{bucket}/p", dest))) == []
    exact = ok(sdxl_run("sync", "--exact-timestamps", f"s3://{bucket}/p", dest))
    assert lines(exact) == [f"download: s3://{bucket}/p/b.txt to {dest / 'b.txt'}"]
    assert int((dest / "b.txt").stat().st_mtime) == last_modified(s3_server, bucket, "p/b.txt")


def test_sync_usage_errors_and_empty_source(sdxl_run, s3_server, tmp_path):
    bucket = s3_server.new_bucket("sync")
    both = sdxl_run("sync", f"s3://{bucket}/a", f"s3://{bucket}/b")
    assert both.returncode == 2 and "two s3:// locations" in both.stderr, both.stderr
    assert sdxl_run("sync", tmp_path, tmp_path / "x").returncode == 2
    flags = sdxl_run("sync", "--size-only", "--exact-timestamps", tmp_path, f"s3://{bucket}/a")
    assert flags.returncode == 2, flags.stderr
    # A missing or empty prefix is not silently "in sync" (with --delete it would empty DIR).
    (tmp_path / "keep.txt").write_text("k")
    empty = sdxl_run("sync", "--delete", f"s3://{bucket}/nothing", tmp_path)
    assert empty.returncode == 1 and "nothing to sync" in empty.stderr, empty.stderr
    assert (tmp_path / "keep.txt").exists()
    missing = sdxl_run("sync", tmp_path / "no-such-dir", f"s3://{bucket}/a")
    assert missing.returncode == 1 and "does not exist" in missing.stderr, missing.stderr


# --- mv ------------------------------------------------------------------------------------------

def test_mv_up_and_down_one_file(sdxl_run, s3_server, tmp_path):
    bucket = s3_server.new_bucket("mv")
    data = os.urandom(3000)
    src = tmp_path / "caf\u00e9 file.bin"
    src.write_bytes(data)
    up = ok(sdxl_run("mv", src, f"s3://{bucket}/in/"))
    key = "in/caf\u00e9 file.bin"
    assert lines(up) == [f"move: {src} to s3://{bucket}/{key}"]
    assert not src.exists()
    assert body(s3_server, bucket, key) == data
    dest = tmp_path / "back.bin"
    down = ok(sdxl_run("mv", f"s3://{bucket}/{key}", dest))
    assert lines(down) == [f"move: s3://{bucket}/{key} to {dest}"]
    assert dest.read_bytes() == data
    assert keys(s3_server, bucket) == []


def test_mv_recursive_with_filters(sdxl_run, s3_server, tmp_path):
    bucket = s3_server.new_bucket("mv")
    src = make_tree(tmp_path / "src", TREE)
    up = ok(sdxl_run("mv", "--recursive", "--exclude", "*.bin", src, f"s3://{bucket}/t"))
    assert len(lines(up)) == 3
    assert local_files(src) == ["sub/c.bin"]  # the excluded file stays
    assert keys(s3_server, bucket) == sorted(f"t/{r}" for r in TREE if not r.endswith(".bin"))
    dest = tmp_path / "dest"
    down = ok(sdxl_run("mv", "-r", f"s3://{bucket}/t", dest, "--exclude", "*", "--include",
                       "dir with*"))
    assert lines(down) == [f"move: s3://{bucket}/t/{ODD} to {dest / ODD}"]
    assert local_files(dest) == [ODD] and (dest / ODD).read_bytes() == TREE[ODD]
    assert keys(s3_server, bucket) == ["t/a.txt", "t/sub/b.json"]
    dry = ok(sdxl_run("mv", "-r", "--dryrun", f"s3://{bucket}/t", dest))
    assert lines(dry) == [f"(dryrun) move: s3://{bucket}/t/a.txt to {dest / 'a.txt'}",
                          f"(dryrun) move: s3://{bucket}/t/sub/b.json to {dest / 'sub/b.json'}"]
    assert keys(s3_server, bucket) == ["t/a.txt", "t/sub/b.json"]


def test_mv_failure_leaves_the_source(sdxl_run, s3_server, tmp_path):
    bucket = s3_server.new_bucket("mv")
    src = tmp_path / "keep.txt"
    src.write_bytes(b"precious")
    env = s3_server.env(AWS_SECRET_ACCESS_KEY="wrong-secret")
    refused = sdxl_run("mv", src, f"s3://{bucket}/keep.txt", env=env)
    assert refused.returncode == 1, refused.stderr
    assert src.read_bytes() == b"precious"
    put(s3_server, bucket, "obj.txt", b"object")
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where a folder should be")
    failed = sdxl_run("mv", f"s3://{bucket}/obj.txt", blocker / "sub" / "obj.txt")
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert body(s3_server, bucket, "obj.txt") == b"object"
    assert lines(failed) == []
    missing = sdxl_run("mv", f"s3://{bucket}/nope.txt", tmp_path / "x")
    assert missing.returncode == 1 and not (tmp_path / "x").exists()
    both = sdxl_run("mv", f"s3://{bucket}/obj.txt", f"s3://{bucket}/o2.txt")
    assert both.returncode == 2 and keys(s3_server, bucket) == ["obj.txt"]


# --- --exclude / --include -----------------------------------------------------------------------

def test_cp_filters_apply_in_order(sdxl_run, s3_server, tmp_path):
    bucket = s3_server.new_bucket("filt")
    src = make_tree(tmp_path / "src", TREE)
    only_json = ok(sdxl_run("cp", "-r", src, f"s3://{bucket}/j", "--exclude", "*", "--include",
                            "*.json"))
    assert keys(s3_server, bucket) == ["j/sub/b.json"], only_json.stdout
    # The other order: the exclude comes last and wins, so nothing is left to copy.
    none = sdxl_run("cp", "-r", src, f"s3://{bucket}/n", "--include", "*.json", "--exclude", "*")
    assert none.returncode == 1 and "nothing to copy" in none.stderr, none.stderr
    # Patterns see the path below the source: "?" is one character, "é" included.
    ok(sdxl_run("cp", "-r", src, f"s3://{bucket}/u", "--exclude", "dir with space/caf? *"))
    assert keys(s3_server, bucket, "u/") == ["u/a.txt", "u/sub/b.json", "u/sub/c.bin"]
    dest = tmp_path / "dest"
    ok(sdxl_run("cp", "-r", f"s3://{bucket}/u", dest, "--exclude", "sub/*", "--include",
                "sub/c*"))
    assert local_files(dest) == ["a.txt", "sub/c.bin"]
    dry = ok(sdxl_run("cp", "-r", "--dryrun", f"s3://{bucket}/u", dest, "--exclude", "*.txt"))
    assert [l.split(" to ")[0] for l in lines(dry)] == [
        f"(dryrun) download: s3://{bucket}/u/sub/b.json",
        f"(dryrun) download: s3://{bucket}/u/sub/c.bin"]
    usage = sdxl_run("cp", src / "a.txt", f"s3://{bucket}/x", "--exclude", "*")
    assert usage.returncode == 2 and "--recursive" in usage.stderr, usage.stderr


def test_rm_filters_apply_in_order(sdxl_run, s3_server):
    bucket = s3_server.new_bucket("filt")
    for key in ["m/a.json", "m/b.bin", "m/sub/c.json", "m/sub/d.bin", f"m/{ODD}"]:
        put(s3_server, bucket, key, b"x")
    dry = ok(sdxl_run("rm", "-r", "--dryrun", f"s3://{bucket}/m", "--exclude", "*",
                      "--include", "sub/*", "--exclude", "*.json"))
    assert lines(dry) == [f"(dryrun) delete: s3://{bucket}/m/sub/d.bin"]
    ok(sdxl_run("rm", "-r", f"s3://{bucket}/m", "--exclude", "*.json"))
    assert keys(s3_server, bucket) == ["m/a.json", "m/sub/c.json"]
    none = sdxl_run("rm", "-r", f"s3://{bucket}/m", "--exclude", "*")
    assert none.returncode == 1 and "nothing to delete" in none.stderr, none.stderr
    assert "kept none of the 2" in none.stderr
    assert keys(s3_server, bucket) == ["m/a.json", "m/sub/c.json"]


def test_sync_filters_skip_and_protect(sdxl_run, s3_server, tmp_path):
    bucket = s3_server.new_bucket("filt")
    src = make_tree(tmp_path / "src", {"a.txt": b"a", "cache/big.bin": b"b" * 100,
                                       ODD: b"odd"})
    put(s3_server, bucket, "p/cache/remote-only.bin", b"r")
    put(s3_server, bucket, "p/stale.txt", b"s")
    proc = ok(sdxl_run("sync", "--delete", src, f"s3://{bucket}/p", "--exclude", "cache/*"))
    # cache/ is neither uploaded nor, being excluded, deleted on the destination.
    assert sorted(lines(proc)) == sorted([
        f"upload: {src / 'a.txt'} to s3://{bucket}/p/a.txt",
        f"upload: {src / ODD} to s3://{bucket}/p/{ODD}",
        f"delete: s3://{bucket}/p/stale.txt"])
    assert keys(s3_server, bucket) == sorted(["p/a.txt", f"p/{ODD}", "p/cache/remote-only.bin"])
    dest = tmp_path / "dest"
    ok(sdxl_run("sync", f"s3://{bucket}/p", dest, "--exclude", "*", "--include", "*\u00fc*"))
    assert local_files(dest) == [ODD]
