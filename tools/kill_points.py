"""Seeded SIGKILL points for the kill tests (docs/testing.md "Kill tests"); imported by tests.

    times = schedule("upload", duration)        # SDXL_KILL_POINTS times in [0, 1.2 x duration)
    code = run_and_kill([binary, "cp", ...], env, times[0])   # 0 (it ended first) or -SIGKILL

SDXL_KILL_SEED (default 20261205) and the name pick the points; SDXL_KILL_POINTS (default 5)
how many. The seed and points are printed (pytest -s, or in the report of a failing test) so a
failure can be replayed.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess

DEFAULT_SEED = 20261205


def points() -> int:
    return int(os.environ.get("SDXL_KILL_POINTS", "5"))


def seed() -> int:
    return int(os.environ.get("SDXL_KILL_SEED", str(DEFAULT_SEED)))


def schedule(name: str, duration: float) -> list[float]:
    """Sorted kill times over 1.2 x an uninterrupted run: some land before the first request,
    some after the end (a run that finished must leave the same state)."""
    rng = random.Random(f"{seed()}:{name}")
    times = sorted(rng.uniform(0.0, 1.2 * duration) for _ in range(points()))
    print(f"\n{name}: SDXL_KILL_SEED={seed()}, reference run {duration:.2f} s, kill at "
          + ", ".join(f"{t:.2f}" for t in times) + " s")
    return times


def run_and_kill(cmd: list[str], env: dict, seconds: float) -> int:
    """Starts `cmd`, SIGKILLs it after `seconds` unless it ended first; its exit code, which must
    be 0 or -SIGKILL (anything else fails with its stderr)."""
    proc = subprocess.Popen([str(c) for c in cmd], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    try:
        proc.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode in (0, -signal.SIGKILL), f"exit {proc.returncode}: {err!r}"
    return proc.returncode
