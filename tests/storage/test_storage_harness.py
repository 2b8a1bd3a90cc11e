"""Tests of the test harness itself: SeaweedFS fixture and fault proxy (no sdxl-tigris needed).

If these fail, every storage test's verdict is suspect, so they check that the server really
demands SigV4 and that each fault really reaches a standard client (urllib / boto3).
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import time
import urllib.error
import urllib.request

import botocore.exceptions
import pytest


def test_unsigned_request_is_refused(s3_server):
    bucket = s3_server.new_bucket()
    s3_server.boto3_client().put_object(Bucket=bucket, Key="k", Body=b"x")
    for url in (s3_server.endpoint + "/", f"{s3_server.endpoint}/{bucket}/k"):
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(url, timeout=10)
        assert e.value.code == 403
        assert b"AccessDenied" in e.value.read()


def test_wrong_secret_is_refused(s3_server):
    client = s3_server.boto3_client()
    client._request_signer._credentials.secret_key = "wrong"  # noqa: SLF001
    with pytest.raises(botocore.exceptions.ClientError) as e:
        client.list_buckets()
    assert e.value.response["Error"]["Code"] == "SignatureDoesNotMatch"


def test_env_has_no_home_leakage(s3_server, monkeypatch):
    monkeypatch.setenv("AWS_PROFILE", "someone-else")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "stale")
    env = s3_server.env()
    assert "AWS_PROFILE" not in env and "AWS_SESSION_TOKEN" not in env
    assert env["AWS_ENDPOINT_URL_S3"] == s3_server.endpoint
    for var in ("AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        assert os.path.getsize(env[var]) == 0
    assert s3_server.env(endpoint="http://x:1")["AWS_ENDPOINT_URL_S3"] == "http://x:1"


def test_new_bucket_is_unique_and_exists(s3_server):
    a, b = s3_server.new_bucket(), s3_server.new_bucket()
    assert a != b
    names = {x["Name"] for x in s3_server.boto3_client().list_buckets()["Buckets"]}
    assert {a, b} <= names


def _put(s3_server, size=1 << 20):
    bucket = s3_server.new_bucket()
    data = os.urandom(size)
    s3_server.boto3_client().put_object(Bucket=bucket, Key="obj", Body=data)
    return bucket, data


def test_proxy_passes_sigv4_through(s3_server, fault_proxy):
    bucket, data = _put(s3_server)
    client = s3_server.boto3_client(endpoint=fault_proxy.endpoint)
    assert client.get_object(Bucket=bucket, Key="obj")["Body"].read() == data
    client.put_object(Bucket=bucket, Key="via-proxy", Body=data[:1000])
    assert s3_server.boto3_client().get_object(Bucket=bucket, Key="via-proxy")["Body"].read() == data[:1000]
    url = client.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "obj"})
    assert url.startswith(fault_proxy.endpoint)
    assert urllib.request.urlopen(url, timeout=10).read() == data
    assert [e["method"] for e in fault_proxy.requests()] == ["GET", "PUT", "GET"]


def test_proxy_error_rule_gives_s3_xml_and_counts(s3_server, fault_proxy):
    bucket, data = _put(s3_server)
    fault_proxy.add_rule("error", method="GET", path=r"/obj$", status=503, times=2)
    client = s3_server.boto3_client(endpoint=fault_proxy.endpoint, retries=0)
    for _ in range(2):
        with pytest.raises(botocore.exceptions.ClientError) as e:
            client.get_object(Bucket=bucket, Key="obj")
        assert e.value.response["Error"]["Code"] == "SlowDown"
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
    assert client.get_object(Bucket=bucket, Key="obj")["Body"].read() == data
    assert fault_proxy.faults_fired() == 2
    fault_proxy.add_rule("error", method="HEAD", status=500)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        client.head_object(Bucket=bucket, Key="obj")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500


def test_proxy_error_forwarded_still_executes_upstream(s3_server, fault_proxy):
    bucket = s3_server.new_bucket()
    fault_proxy.add_rule("error", method="PUT", path=r"/ambiguous$", status=500, forward=True)
    client = s3_server.boto3_client(endpoint=fault_proxy.endpoint, retries=0)
    with pytest.raises(botocore.exceptions.ClientError):
        client.put_object(Bucket=bucket, Key="ambiguous", Body=b"made it")
    assert s3_server.boto3_client().get_object(Bucket=bucket, Key="ambiguous")["Body"].read() == b"made it"


def _raw_get(proxy, path, timeout=10):
    conn = http.client.HTTPConnection(proxy.host, proxy.port, timeout=timeout)
    conn.request("GET", path)
    return conn, conn.getresponse()


@pytest.mark.parametrize("action", ["reset", "truncate"])
def test_proxy_cuts_body(s3_server, fault_proxy, action):
    bucket, data = _put(s3_server)
    fault_proxy.add_rule(action, method="GET", path=r"/obj(\?|$)", after_bytes=100_000)
    url = s3_server.boto3_client(endpoint=fault_proxy.endpoint).generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "obj"})
    target = url[len(fault_proxy.endpoint):]
    _conn, resp = _raw_get(fault_proxy, target)
    assert resp.status == 200 and int(resp.headers["Content-Length"]) == len(data)
    got = b""
    with pytest.raises((http.client.IncompleteRead, ConnectionResetError)):
        while chunk := resp.read(65536):
            got += chunk
        raise http.client.IncompleteRead(got)  # EOF before Content-Length
    assert len(got) <= 100_000
    assert fault_proxy.requests()[0]["action"] == action


def test_proxy_stall_sends_headers_then_nothing(s3_server, fault_proxy):
    bucket, data = _put(s3_server)
    fault_proxy.add_rule("stall", method="GET", path=r"/obj(\?|$)", after_bytes=10, seconds=30)
    url = s3_server.boto3_client(endpoint=fault_proxy.endpoint).generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "obj"})
    _conn, resp = _raw_get(fault_proxy, url[len(fault_proxy.endpoint):], timeout=1.5)
    assert resp.status == 200
    assert resp.read(10) == data[:10]
    t0 = time.monotonic()
    with pytest.raises((socket.timeout, TimeoutError)):
        resp.read(1)
    assert time.monotonic() - t0 >= 1.0


def test_proxy_reset_before_response(s3_server, fault_proxy):
    bucket, _ = _put(s3_server)
    fault_proxy.add_rule("reset", method="GET", after_bytes=-1)
    client = s3_server.boto3_client(endpoint=fault_proxy.endpoint, retries=0)
    with pytest.raises((botocore.exceptions.ConnectionError, botocore.exceptions.HTTPClientError)):
        client.get_object(Bucket=bucket, Key="obj")


def test_proxy_control_endpoint(s3_server, fault_proxy):
    def call(method, path, body=None):
        req = urllib.request.Request(fault_proxy.endpoint + "/__fault__/" + path, method=method,
                                     data=json.dumps(body).encode() if body is not None else None)
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.load(r)

    ids = call("POST", "rules", [{"action": "error", "method": "GET", "status": 500},
                                 {"action": "delay", "seconds": 0.01}])["ids"]
    assert len(ids) == 2
    assert [r["action"] for r in call("GET", "rules")] == ["error", "delay"]
    with pytest.raises(urllib.error.HTTPError) as e:
        call("POST", "rules", {"action": "explode"})
    assert e.value.code == 400
    call("DELETE", "rules")
    assert call("GET", "rules") == [] and call("GET", "log") == []
