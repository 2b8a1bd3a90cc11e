"""`prepare-model` as a new user meets it (issue 18): what BUCKET means when a folder of that name
is in the working directory, an environment block that sh, docker --env-file, fly secrets import
and dotenv (sky --env-file) all read the same way, and HF_HUB_OFFLINE=1 with the Lightning recipe.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

import importlib.util as _ilu
_spec = _ilu.spec_from_file_location("prepare_conftest_cli", Path(__file__).with_name("conftest.py"))
_prepare_conftest = _ilu.module_from_spec(_spec)
_spec.loader.exec_module(_prepare_conftest)
LIGHTNING = _prepare_conftest.LIGHTNING

pytestmark = pytest.mark.s3

MANIFEST = "sdxl-tigris-manifest.json"


def run_prepare(binary, env, *args, cwd=None, timeout=300):
    return subprocess.run([str(binary), "prepare-model", *map(str, args)], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)


def keys_under(s3, bucket, prefix):
    out = set()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix + "/"):
        out |= {o["Key"][len(prefix) + 1:] for o in page.get("Contents", [])}
    return out


# --- readers of the environment block -------------------------------------------------------

def read_with_sh(path: Path) -> dict:
    """`set -a; . FILE` in a POSIX sh with an empty environment; what it exports."""
    script = 'set -a; . "$1" || exit 97; set +a; env'
    proc = subprocess.run(["sh", "-c", script, "sh", str(path)], env={"PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, f"sh cannot source the block:\n{proc.stderr}"
    assert proc.stderr == "", proc.stderr
    out = dict(line.split("=", 1) for line in proc.stdout.splitlines() if "=" in line)
    for k in ("PATH", "PWD", "SHLVL", "_", "OLDPWD"):
        out.pop(k, None)
    return out


def read_as_docker_env_file(path: Path) -> dict:
    """docker's --env-file rules (docker/cli opts/envfile.go): leading whitespace trimmed, '#'
    lines and empty lines skipped, NAME=VALUE split at the first '=', the value taken literally
    (no quotes, no expansion); a NAME without '=' would be copied from the caller's environment,
    and a NAME with whitespace is an error."""
    out = {}
    for n, raw in enumerate(path.read_bytes().decode("utf-8").split("\n"), 1):
        line = raw.lstrip()
        if not line or line.startswith("#"):
            continue
        assert "=" in line, f"line {n} has no '=': docker would import {line!r} from the host"
        name, value = line.split("=", 1)
        assert name and not any(c.isspace() for c in name), f"line {n}: bad name {name!r}"
        out[name] = value
    return out


def read_as_fly_secrets_import(path: Path) -> dict:
    """flyctl's `secrets import` parser (internal/command/secrets/parser.go): '#' in column 0
    and blank lines skipped, NAME=VALUE, key trimmed, value left-trimmed of spaces, one pair of
    surrounding double quotes removed, '\"\"\"' starts a multi-line value."""
    out = {}
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if line.startswith("#") or not line.strip():
            continue
        assert "=" in line, f"line {n}: fly needs NAME=VALUE pairs ({line!r} is invalid)"
        key, value = line.split("=", 1)
        value = value.lstrip(" ")
        assert not value.startswith('"""'), "multi-line value"
        if len(value) >= 2 and value.startswith('"') and value.endswith('"'):
            value = value[1:-1]
        out[key.strip()] = value
    return out


def read_with_dotenv(path: Path) -> dict | None:
    """python-dotenv (SkyPilot's --env-file reader), when installed."""
    try:
        from dotenv import dotenv_values
    except ImportError:
        return None
    return {k: ("" if v is None else v) for k, v in dotenv_values(path).items()}


def check_block_everywhere(text: str, tmp_path: Path) -> dict:
    path = tmp_path / "deploy.env"
    path.write_text(text)
    sh = read_with_sh(path)
    docker = read_as_docker_env_file(path)
    fly = read_as_fly_secrets_import(path)
    assert sh == docker, f"sh and docker read the block differently:\n{sh}\n{docker}"
    assert fly == docker, f"fly and docker read the block differently:\n{fly}\n{docker}"
    dot = read_with_dotenv(path)
    if dot is not None:
        assert dot == docker, f"dotenv and docker read the block differently:\n{dot}\n{docker}"
    return docker


def test_env_block_is_valid_for_sh_docker_fly_and_dotenv(sdxl_binary, s3_server, prep_env, hub,
                                                         tiny_repos, tmp_path):
    bucket = s3_server.new_bucket("prep")
    proc = run_prepare(sdxl_binary, prep_env(), tiny_repos["base"], f"s3://{bucket}/prod/",
                       "--path", "tiny/base-1.0", "--dtype", "keep")
    assert proc.returncode == 0, proc.stderr
    env = check_block_everywhere(proc.stdout, tmp_path)
    assert env == {
        "AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "",
        "AWS_ENDPOINT_URL_S3": s3_server.endpoint, "AWS_REGION": s3_server.region,
        "MODEL_BUCKET_NAME": bucket, "MODEL_PATH": "prod/tiny/base-1.0",
    }
    # The placeholders say what to fill in, on comment lines above them.
    lines = proc.stdout.splitlines()
    first_key = next(i for i, l in enumerate(lines) if l.startswith("AWS_ACCESS_KEY_ID="))
    assert any("Fill in" in l and l.startswith("#") for l in lines[:first_key]), proc.stdout
    s3 = s3_server.boto3_client()
    assert MANIFEST in keys_under(s3, bucket, "prod/tiny/base-1.0")


def test_paths_that_cannot_be_written_unquoted_are_refused_up_front(sdxl_binary, s3_server,
                                                                    prep_env, tiny_repos):
    bucket = s3_server.new_bucket("prep")
    proc = run_prepare(sdxl_binary, prep_env(), tiny_repos["base"], bucket, "--path", "my model")
    assert proc.returncode == 1, proc.stderr
    assert "cannot be MODEL_PATH" in proc.stderr
    s3 = s3_server.boto3_client()
    assert s3.list_objects_v2(Bucket=bucket).get("KeyCount", 0) == 0


def test_bare_name_is_the_bucket_even_when_a_folder_has_that_name(sdxl_binary, s3_server,
                                                                  prep_env, tiny_repos, tmp_path):
    bucket = s3_server.new_bucket("prep")
    work = tmp_path / "work"
    (work / bucket).mkdir(parents=True)
    proc = run_prepare(sdxl_binary, prep_env(), tiny_repos["base"], bucket, "--path", "m",
                       "--dtype", "keep", cwd=work)
    assert proc.returncode == 0, proc.stderr
    assert list((work / bucket).iterdir()) == [], "the model went into the local folder"
    s3 = s3_server.boto3_client()
    assert MANIFEST in keys_under(s3, bucket, "m")
    env = check_block_everywhere(proc.stdout, tmp_path)
    assert env["MODEL_BUCKET_NAME"] == bucket and env["MODEL_PATH"] == "m"
    assert f"write ./{bucket}" in proc.stderr, "no note that a folder of that name was ignored"

    # Written as a path, it is the folder; the block then names no bucket.
    local = run_prepare(sdxl_binary, prep_env(), tiny_repos["base"], f"./{bucket}", "--path", "m",
                        "--dtype", "keep", cwd=work)
    assert local.returncode == 0, local.stderr
    assert (work / bucket / "m" / MANIFEST).is_file()
    env = check_block_everywhere(local.stdout, tmp_path)
    assert "MODEL_BUCKET_NAME" not in env
    assert f"--model {work / bucket / 'm'}" in local.stdout


def test_ambiguous_bucket_is_a_usage_error(sdxl_binary, s3_server, prep_env, tiny_repos, tmp_path):
    (tmp_path / "models" / "prod").mkdir(parents=True)
    proc = run_prepare(sdxl_binary, prep_env(), tiny_repos["base"], "models/prod", cwd=tmp_path)
    assert proc.returncode == 2
    lines = [l for l in proc.stderr.splitlines() if l.startswith("sdxl-tigris: ")]
    assert len(lines) == 1 and "s3://models/prod" in lines[0] and "./models/prod" in lines[0]
    assert list((tmp_path / "models" / "prod").iterdir()) == []


def test_offline_lightning_from_a_complete_cache(sdxl_binary, s3_server, prep_env, hub):
    s3 = s3_server.boto3_client()
    online_bucket = s3_server.new_bucket("prep")
    env = prep_env()
    first = run_prepare(sdxl_binary, env, LIGHTNING, online_bucket)
    assert first.returncode == 0, first.stderr
    before = hub.stats()

    offline = dict(env, HF_HUB_OFFLINE="1")
    bucket = s3_server.new_bucket("prep")
    proc = run_prepare(sdxl_binary, offline, LIGHTNING, bucket)
    assert proc.returncode == 0, proc.stderr
    assert hub.stats()["requests"] == before["requests"], "offline run talked to the Hub"
    assert keys_under(s3, bucket, LIGHTNING) == keys_under(s3, online_bucket, LIGHTNING)
    m = json.loads(s3.get_object(Bucket=bucket, Key=f"{LIGHTNING}/{MANIFEST}")["Body"].read())
    m0 = json.loads(s3.get_object(Bucket=online_bucket, Key=f"{LIGHTNING}/{MANIFEST}")["Body"].read())
    assert m["recipe"] == m0["recipe"]
    assert [(f["path"], f["sha256"]) for f in m["files"]] == \
        [(f["path"], f["sha256"]) for f in m0["files"]]

    # A UNet the cache does not hold: the message says offline mode is why.
    other = run_prepare(sdxl_binary, offline, LIGHTNING, bucket, "--lightning-steps", "8",
                        "--path", "l8")
    assert other.returncode == 1
    lines = [l for l in other.stderr.splitlines() if l.startswith("sdxl-tigris: ")]
    assert len(lines) == 1, other.stderr
    assert "HF_HUB_OFFLINE" in lines[0] and "sdxl_lightning_8step_unet.safetensors" in lines[0]
