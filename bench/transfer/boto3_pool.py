#!/usr/bin/env python3
"""The seed template's transfer method, as a benchmark peer.

download: one ListObjectsV2 call under the prefix (no pagination, like the template), then
          boto3 `download_file` per object, one object per task in a process pool.
upload:   boto3 `upload_file` per local file, one file per task in a process pool.
Default TransferConfig, credentials and endpoint from the environment (AWS_ENDPOINT_URL_S3).

usage: boto3_pool.py download BUCKET PREFIX DEST [-j N]
       boto3_pool.py upload SRC BUCKET PREFIX [-j N]
"""

from __future__ import annotations

import argparse
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

_client = None


def client():
    global _client
    if _client is None:
        import boto3
        from botocore.config import Config

        _client = boto3.client("s3", config=Config(s3={"addressing_style": "path"}))
    return _client


def _fresh_client_in_worker():
    # A forked worker inherits the parent's client and its pooled keep-alive sockets; two
    # processes reading one socket interleave responses (truncated files, long stalls). Each
    # worker builds its own client, as the template's workers do.
    global _client
    _client = None


def _download(job):
    bucket, key, dest = job
    Path(dest).parent.mkdir(parents=True, exist_ok=True)
    client().download_file(bucket, key, dest)
    return key


def _upload(job):
    path, bucket, key = job
    client().upload_file(path, bucket, key)
    return key


def main() -> int:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("download")
    d.add_argument("bucket")
    d.add_argument("prefix")
    d.add_argument("dest")
    u = sub.add_parser("upload")
    u.add_argument("src")
    u.add_argument("bucket")
    u.add_argument("prefix")
    for p in (d, u):
        p.add_argument("-j", "--jobs", type=int, default=None, help="pool size (default: CPUs)")
    args = ap.parse_args()
    if args.cmd == "download":
        prefix = args.prefix.rstrip("/") + "/"
        resp = client().list_objects_v2(Bucket=args.bucket, Prefix=prefix)
        jobs = [(args.bucket, o["Key"], os.path.join(args.dest, o["Key"][len(prefix):]))
                for o in resp.get("Contents", [])]
        fn = _download
    else:
        src = Path(args.src)
        jobs = [(str(p), args.bucket, f"{args.prefix.rstrip('/')}/{p.relative_to(src).as_posix()}")
                for p in sorted(src.rglob("*")) if p.is_file()]
        fn = _upload
    with ProcessPoolExecutor(max_workers=args.jobs, initializer=_fresh_client_in_worker) as pool:
        for _ in pool.map(fn, jobs):
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
