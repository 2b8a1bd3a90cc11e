"""Exit status of `sdxl-tigris` (issue 18): 0 ok, 1 failure, 2 usage error, 130 interrupted.

A usage error (unknown command or flag, missing or malformed argument) exits 2 with one line on
stderr that says what is wrong; an unknown command is named, with the list of commands. The codes
are in --help. (SIGINT -> 130 during a transfer: tests/storage/test_signals.py.)
"""

from __future__ import annotations

import os

import pytest

COMMANDS = ["version", "generate", "serve", "tokenize", "mb", "ls", "cp", "rm", "presign", "pull",
            "prepare-model"]


def no_s3_env():
    """An environment with no AWS settings (usage errors must not need any)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "HF_"))}
    env["AWS_CONFIG_FILE"] = env["AWS_SHARED_CREDENTIALS_FILE"] = "/nonexistent"
    return env


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.strip()]


def assert_usage_error(proc, *needles: str) -> str:
    assert proc.returncode == 2, (f"exit {proc.returncode}, want 2\nstdout:\n{proc.stdout}\n"
                                  f"stderr:\n{proc.stderr}")
    lines = error_lines(proc.stderr)
    assert len(lines) == 1, f"want one stderr line, got:\n{proc.stderr}"
    line = lines[0]
    assert line.startswith("sdxl-tigris: "), line
    for needle in needles:
        assert needle in line, f"{needle!r} not in {line!r}"
    return line


def test_unknown_command_is_named_with_the_list(sdxl_run):
    proc = sdxl_run("lss", "s3://bucket", env=no_s3_env())
    line = assert_usage_error(proc, "unknown command 'lss'")
    assert "A subcommand is required" not in line
    for name in COMMANDS:
        assert name in line, f"{name} missing from the command list: {line}"


def test_unknown_command_after_global_flags(sdxl_run):
    assert_usage_error(sdxl_run("-q", "cpp", "a", "b", env=no_s3_env()), "unknown command 'cpp'")


def test_no_command(sdxl_run):
    line = assert_usage_error(sdxl_run(env=no_s3_env()), "command is required")
    assert "ls" in line and "prepare-model" in line
    assert_usage_error(sdxl_run("-v", env=no_s3_env()), "command is required")


@pytest.mark.parametrize("args,needle", [
    (["ls", "--bogus", "s3://b"], "--bogus"),
    (["cp"], "required"),
    (["cp", "only-one-arg"], "required"),
    (["rm"], "required"),
    (["prepare-model", "ByteDance/SDXL-Lightning"], "BUCKET"),
    (["prepare-model", "org/m", "bucket", "--lightning-steps", "3"], "--lightning-steps"),
    (["prepare-model", "org/m", "bucket", "--dtype", "fp64"], "--dtype"),
    (["generate", "--prompt", "x", "--out", "o.png", "--steps", "0"], "--steps"),
    (["generate", "--out", "o.png"], "--prompt"),
    (["presign", "s3://b/k", "--method", "DELETE"], "--method"),
])
def test_parse_errors_exit_2_with_one_line(sdxl_run, args, needle):
    line = assert_usage_error(sdxl_run(*args, env=no_s3_env()), needle)
    assert "Run with --help" not in line


@pytest.mark.parametrize("args,needle", [
    (["ls", "not-an-s3-url://x"], "s3://"),
    (["cp", "a", "b"], "one s3:// side"),
    (["cp", "s3://a/x", "s3://b/y"], "not supported"),
    (["cp", "s3://bucket/prefix/", "out"], "--recursive"),
    (["rm", "s3://bucket"], "--recursive"),
    (["mb", "s3://bucket/key"], "without a key"),
    (["presign", "s3://bucket-only"], "s3://BUCKET/KEY"),
    (["cp", "f", "s3://b/k", "--part-size", "1KiB"], "--part-size"),
    (["prepare-model", "org/m", "models/prod"], "s3://models/prod"),
])
def test_malformed_arguments_exit_2_before_any_request(sdxl_run, args, needle):
    assert_usage_error(sdxl_run(*args, env=no_s3_env()), needle)


def test_directory_without_recursive_is_a_usage_error(sdxl_run, tmp_path):
    assert_usage_error(sdxl_run("cp", tmp_path, "s3://b/k", env=no_s3_env()), "--recursive")


def test_help_exits_0_and_documents_the_codes(sdxl_run):
    for args in (["--help"], ["ls", "--help"], ["prepare-model", "--help"]):
        proc = sdxl_run(*args, env=no_s3_env())
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.strip()
    top = sdxl_run("--help", env=no_s3_env()).stdout
    assert "Exit status" in top and "2 usage" in top and "130" in top


@pytest.mark.s3
def test_failures_exit_1(sdxl_run, s3_server):
    proc = sdxl_run("ls", "s3://no-such-bucket-18e1")
    assert proc.returncode == 1, proc.stderr
    assert len(error_lines(proc.stderr)) == 1, proc.stderr
    no_keys = s3_server.env()
    for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        no_keys.pop(k, None)
    proc = sdxl_run("ls", f"s3://{s3_server.new_bucket()}", env=no_keys)
    assert proc.returncode == 1, proc.stderr
