#!/usr/bin/env python3
"""Peer: Run:ai Model Streamer (PyPI runai-model-streamer + runai-model-streamer-s3) streaming every
safetensors file of a model in the bucket into CPU tensors (its zero-copy views over its buffer,
in the stored dtype), i.e. "tensors ready". Endpoint and keys from the environment
(AWS_ENDPOINT_URL_S3 is copied to AWS_ENDPOINT_URL, which the streamer reads; path addressing).

usage: runai_load.py BUCKET PREFIX
"""
import os
import sys
import time

bucket, prefix = sys.argv[1], sys.argv[2].strip("/")
os.environ.setdefault("AWS_ENDPOINT_URL", os.environ.get("AWS_ENDPOINT_URL_S3", ""))
os.environ.setdefault("RUNAI_STREAMER_S3_USE_VIRTUAL_ADDRESSING", "0")
os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
t0 = time.perf_counter()
import boto3  # noqa: E402
from botocore.config import Config  # noqa: E402
from runai_model_streamer import SafetensorsStreamer  # noqa: E402

s3 = boto3.client("s3", config=Config(s3={"addressing_style": "path"}))
keys = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket,
                                                                           Prefix=prefix + "/")
        for o in page.get("Contents", []) if o["Key"].endswith(".safetensors")]
t_list = time.perf_counter()
tensors, nbytes = 0, 0
with SafetensorsStreamer() as streamer:
    streamer.stream_files([f"s3://{bucket}/{k}" for k in keys])
    for _name, tensor in streamer.get_tensors():
        tensors += 1
        nbytes += tensor.numel() * tensor.element_size()
t_done = time.perf_counter()
print(f"runai: {len(keys)} files, {tensors} tensors, {nbytes / 2**30:.2f} GiB; list "
      f"{t_list - t0:.2f} s, stream {t_done - t_list:.2f} s", file=sys.stderr)
