"""The restricted runner key of deploy/iam/model-runner.json (the seed's policy: list both buckets,
read both, write the image bucket only), enforced by a real S3 server: the policy is turned into a
SeaweedFS identity (policy_to_seaweed_actions; a statement it cannot express exactly fails the
test), buckets get the policy's own names, and

  * `serve` with that key alone boots from the model bucket, predicts and uploads to the image
    bucket, whose presigned URL (signed with the runner key) is readable;
  * with that key, writing or deleting in the model bucket, reading or listing another bucket,
    creating and deleting buckets are all AccessDenied, also through `sdxl-tigris cp`.

SeaweedFS's `Write` covers DeleteObject, so a delete in the image bucket is allowed here although
the policy (PutObject only) denies it on Tigris/AWS; that one case is not asserted."""

from __future__ import annotations

import json
import subprocess
import urllib.request

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from deploy_helpers import DEPLOY, ServeProc, http, prepare_tiny, wait_health

RUNNER_KEY = "SDXLRUNNERKEY0001"
RUNNER_SECRET = "sdxl-runner-secret-0123456789abcdef"
OTHER = "other-bucket"
_ACTIONS = {"s3:ListBucket": ("List", "bucket"), "s3:GetObject": ("Read", "objects"),
            "s3:PutObject": ("Write", "objects")}


def policy_to_seaweed_actions(policy: dict) -> list[str]:
    """IAM policy -> SeaweedFS identity actions ("List:bucket", "Read:bucket", "Write:bucket").
    Only what maps exactly: Allow statements, the three actions of the seed's policy, bucket ARNs
    for ListBucket and `bucket/*` object ARNs for Get/PutObject."""
    assert policy["Version"] == "2012-10-17"
    out = set()
    for st in policy["Statement"]:
        assert st["Effect"] == "Allow", st
        actions = [st["Action"]] if isinstance(st["Action"], str) else st["Action"]
        resources = [st["Resource"]] if isinstance(st["Resource"], str) else st["Resource"]
        for action in actions:
            assert action in _ACTIONS, f"{action}: no exact SeaweedFS equivalent"
            verb, kind = _ACTIONS[action]
            for arn in resources:
                assert arn.startswith("arn:aws:s3:::"), arn
                name = arn.removeprefix("arn:aws:s3:::")
                if kind == "objects":
                    assert name.endswith("/*") and "/" not in name[:-2], arn
                    name = name[:-2]
                else:
                    assert "/" not in name and "*" not in name, arn
                out.add(f"{verb}:{name}")
    return sorted(out)


@pytest.fixture(scope="module")
def policy():
    return json.loads((DEPLOY / "iam/model-runner.json").read_text())


@pytest.fixture(scope="module")
def runner_s3(tmp_path_factory, policy):
    from seaweedfs import SeaweedError, SeaweedFS

    ident = {"name": "model-runner",
             "credentials": [{"accessKey": RUNNER_KEY, "secretKey": RUNNER_SECRET}],
             "actions": policy_to_seaweed_actions(policy)}
    server = SeaweedFS(tmp_path_factory.mktemp("seaweed-runner"), extra_identities=(ident,))
    try:
        server.start()
    except SeaweedError as e:
        pytest.fail(f"could not start SeaweedFS: {e}", pytrace=False)
    yield server
    server.stop()


def test_policy_is_the_seeds(policy):
    assert policy_to_seaweed_actions(policy) == [
        "List:generated-images", "List:model-storage", "Read:generated-images",
        "Read:model-storage", "Write:generated-images"]


def runner_client(s3):
    import boto3
    session = boto3.session.Session(aws_access_key_id=RUNNER_KEY,
                                    aws_secret_access_key=RUNNER_SECRET, region_name=s3.region)
    return session.client("s3", endpoint_url=s3.endpoint, config=Config(
        signature_version="s3v4", s3={"addressing_style": "path"},
        retries={"total_max_attempts": 1}))


def denied(fn):
    with pytest.raises(ClientError) as e:
        fn()
    assert e.value.response["Error"]["Code"] == "AccessDenied", e.value.response
    return True


@pytest.mark.s3
def test_serve_runs_on_the_runner_key_and_nothing_more(runner_s3, sdxl_binary, tiny_lightning,
                                                       tmp_path):
    version = subprocess.run([str(sdxl_binary), "version"], capture_output=True, text=True)
    if "features: torch" not in version.stdout:
        pytest.skip("no SDXL engine library next to sdxl-tigris (built without LibTorch)")
    admin = runner_s3.boto3_client()
    for bucket in ("model-storage", "generated-images", OTHER):
        admin.create_bucket(Bucket=bucket)
    admin.put_object(Bucket=OTHER, Key="secret.txt", Body=b"not for the runner")
    prepare_tiny(sdxl_binary, tiny_lightning, "model-storage", "tiny/lightning", runner_s3.env())

    env = runner_s3.env(AWS_ACCESS_KEY_ID=RUNNER_KEY, AWS_SECRET_ACCESS_KEY=RUNNER_SECRET,
                        MODEL_BUCKET_NAME="model-storage", MODEL_PATH="tiny/lightning",
                        PUBLIC_BUCKET_NAME="generated-images")
    s = ServeProc(sdxl_binary, tmp_path, env, fake=False)
    try:
        health = wait_health(s.url, ("READY", "SETUP_FAILED"), timeout=300, logs=s.logs)
        assert health["status"] == "READY", health["setup"]["logs"]
        status, text = http("POST", s.url + "/predictions", {"input": {
            "prompt": "a red boat", "num_inference_steps": 2, "output_format": "png",
            "seed": 11}}, timeout=300)
        assert status == 200, text
        body = json.loads(text)
        assert body["status"] == "succeeded", body
        url = body["output"][0]
        assert "/generated-images/out-" in url and f"X-Amz-Credential={RUNNER_KEY}" in url
        with urllib.request.urlopen(url, timeout=30) as r:
            assert r.read()[:8] == b"\x89PNG\r\n\x1a\n"
    finally:
        assert s.stop() == 0, s.logs()[-3000:]
    assert RUNNER_SECRET not in s.logs()

    runner = runner_client(runner_s3)
    keys = [o["Key"] for o in runner.list_objects_v2(Bucket="model-storage")["Contents"]]
    assert "tiny/lightning/model_index.json" in keys
    assert denied(lambda: runner.put_object(Bucket="model-storage", Key="tiny/lightning/x",
                                            Body=b"tampered"))
    assert denied(lambda: runner.delete_object(Bucket="model-storage",
                                               Key="tiny/lightning/model_index.json"))
    assert denied(lambda: runner.list_objects_v2(Bucket=OTHER))
    assert denied(lambda: runner.get_object(Bucket=OTHER, Key="secret.txt"))
    assert denied(lambda: runner.put_object(Bucket=OTHER, Key="x", Body=b"x"))
    assert denied(lambda: runner.create_bucket(Bucket="runner-made"))
    assert denied(lambda: runner.delete_bucket(Bucket="generated-images"))
    visible = {b["Name"] for b in runner.list_buckets()["Buckets"]}
    assert OTHER not in visible
    # The model is untouched.
    assert admin.head_object(Bucket="model-storage", Key="tiny/lightning/model_index.json")
    # The binary reports the refusal clearly when the runner key is used to write models.
    src = tmp_path / "x.txt"
    src.write_text("x")
    cp = subprocess.run([str(sdxl_binary), "cp", str(src), "s3://model-storage/tiny/x.txt"],
                        env=env, capture_output=True, text=True, timeout=120)
    assert cp.returncode != 0 and "AccessDenied" in cp.stderr, cp.stderr
