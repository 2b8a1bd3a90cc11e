"""Bit-for-bit comparison of the C++ float conversions with torch `.to()` on CPU.

Inputs cover random values at many scales, every F16 / BF16 bit pattern, 0 / -0, subnormals,
max / min, +-Inf, values exactly at rounding ties (and one ulp either side), and NaNs with
assorted payloads and signs. For non-NaN outputs the bits must equal torch's. For NaN outputs
both must be NaN; ours additionally follows the documented policy (quiet, sign kept), which
torch matches for F16 but not for BF16 (torch writes 0xFFFF for every BF16 NaN).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

FLOATS = {"F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}
INT_VIEW = {torch.float64: torch.int64, torch.float32: torch.int32, torch.float16: torch.int16,
            torch.bfloat16: torch.int16}
EXP_MASK = {"F64": 0x7FF0000000000000, "F32": 0x7F800000, "F16": 0x7C00, "BF16": 0x7F80}
MANT_MASK = {"F64": (1 << 52) - 1, "F32": (1 << 23) - 1, "F16": 0x3FF, "BF16": 0x7F}
SIGN = {"F64": 1 << 63, "F32": 1 << 31, "F16": 1 << 15, "BF16": 1 << 15}
WIDTH = {"F64": 64, "F32": 32, "F16": 16, "BF16": 16}


def bits_of(t: torch.Tensor) -> np.ndarray:
    mask = (1 << (t.element_size() * 8)) - 1
    return np.array(t.contiguous().view(INT_VIEW[t.dtype]).tolist(), dtype=object) & mask


def from_bits(bits, dtype) -> torch.Tensor:
    width = torch.tensor([], dtype=dtype).element_size() * 8
    signed = [b - (1 << width) if b >= (1 << (width - 1)) else b for b in bits]
    return torch.tensor(signed, dtype=INT_VIEW[dtype]).view(dtype)


def f32_inputs() -> torch.Tensor:
    g = torch.Generator().manual_seed(1234)
    parts = [torch.randn(20000, generator=g, dtype=torch.float32) * s
             for s in (1e-42, 1e-39, 1e-8, 6e-8, 1e-5, 1.0, 1e3, 6e4, 1e38)]
    bits = []
    rng = np.random.default_rng(7)
    # BF16 ties: low 16 bits exactly 0x8000, plus one ulp either side, across all exponents.
    for hi in rng.integers(0, 1 << 16, 4000):
        base = int(hi) << 16
        bits += [base | 0x8000, base | 0x7FFF, base | 0x8001]
    # F16 ties in the normal range: 13 dropped bits exactly 0x1000.
    for e in range(100, 145):
        for m in rng.integers(0, 1 << 10, 40):
            base = (e << 23) | (int(m) << 13)
            for s in (0, 1 << 31):
                bits += [s | base | 0x1000, s | base | 0x0FFF, s | base | 0x1001]
    # Every F16 subnormal tie: (k + 0.5) * 2^-24.
    for k in range(0, 1024):
        v = np.float32((k + 0.5) * 2.0 ** -24)
        b = int(np.array([v]).view(np.uint32)[0])
        bits += [b, b - 1, b + 1, b | (1 << 31)]
    specials = [0, 1 << 31, 1, 0x80000001, 0x007FFFFF, 0x00800000, 0x7F7FFFFF, 0xFF7FFFFF,
                0x7F800000, 0xFF800000, 0x477FE000, 0x477FEFFF, 0x477FF000, 0x477FF001,
                0x38800000, 0x387FE000, 0x33000000, 0x33000001, 0x7F7F7FFF, 0x7F7F8000,
                0x7FC00000, 0xFFC00000, 0x7F800001, 0xFF800001, 0x7FC00001, 0x7FFFFFFF,
                0xFFFFFFFF, 0x7FA00000, 0xFF812345, 0x7FBFFFFF]
    bits += specials
    return torch.cat(parts + [from_bits(bits, torch.float32)])


def all_16bit(dtype) -> torch.Tensor:
    return torch.arange(0, 1 << 16, dtype=torch.int32).to(torch.int16).view(dtype)


def f64_inputs() -> torch.Tensor:
    g = torch.Generator().manual_seed(99)
    parts = [torch.randn(20000, generator=g, dtype=torch.float64) * s
             for s in (1e-310, 1e-45, 1e-7, 1.0, 7e4, 1e39, 1e300)]
    # Values just above float32 ties: double rounding through F32 can differ from direct rounding.
    specials = [1 + 2.0 ** -24 + 2.0 ** -60, 1 + 2.0 ** -11 + 2.0 ** -40, 1 + 2.0 ** -8 + 2.0 ** -30,
                65520.0 - 2.0 ** -20, 2.0 ** -25 + 2.0 ** -60, 0.0, -0.0, float("inf"),
                float("-inf"), float("nan"), 1e-320, -1e-320, 3.5e38, -3.5e38]
    return torch.cat(parts + [torch.tensor(specials, dtype=torch.float64)])


INPUTS = {
    "F32": f32_inputs,
    "F16": lambda: all_16bit(torch.float16),
    "BF16": lambda: all_16bit(torch.bfloat16),
    "F64": f64_inputs,
}

PAIRS = [(a, b) for a in FLOATS for b in FLOATS if a != b]


@pytest.mark.parametrize("src,dst", PAIRS, ids=[f"{a}->{b}" for a, b in PAIRS])
def test_conversion_matches_torch_bit_for_bit(weights_tool, tmp_path, src, dst):
    x = INPUTS[src]()
    assert x.dtype == FLOATS[src]
    inp = tmp_path / "in.bin"
    out = tmp_path / "out.bin"
    inp.write_bytes(x.contiguous().view(torch.uint8).numpy().tobytes())
    weights_tool.run("convert-raw", src, dst, inp, out)
    ours = torch.frombuffer(bytearray(out.read_bytes()), dtype=torch.uint8).view(FLOATS[dst])
    theirs = x.to(FLOATS[dst])
    assert ours.shape == theirs.shape

    ob, tb = bits_of(ours), bits_of(theirs)
    their_nan = torch.isnan(theirs).numpy()
    our_nan = torch.isnan(ours).numpy()
    assert (our_nan == their_nan).all(), "NaN-ness differs from torch"
    mismatch = np.nonzero((ob != tb) & ~their_nan)[0]
    if len(mismatch):
        xb = bits_of(x)
        examples = [(hex(xb[i]), hex(ob[i]), hex(tb[i])) for i in mismatch[:10]]
        pytest.fail(f"{len(mismatch)} of {len(x)} values differ from torch (input, ours, torch): "
                    f"{examples}")
    # NaN policy: quiet, sign kept.
    xb = bits_of(x)
    quiet_bit = (MANT_MASK[dst] + 1) >> 1
    for i in np.nonzero(our_nan)[0]:
        assert ob[i] & quiet_bit, f"NaN {hex(xb[i])} -> {hex(ob[i])} is not quiet"
        assert bool(ob[i] & SIGN[dst]) == bool(xb[i] & SIGN[src]), f"NaN sign lost: {hex(xb[i])}"
    # The comparison covered what it claims to cover.
    assert (~their_nan).sum() > 0.9 * len(x)
    if src in ("F32", "F64") and dst != "F64":
        assert torch.isinf(theirs).any() and (theirs == 0).any()


def test_f16_nan_payloads_match_torch_exactly(weights_tool, tmp_path):
    """For F32 -> F16, torch (F16C) keeps sign and top payload bits like we do: compare bits."""
    bits = [0x7FC00001, 0xFFC00001, 0x7F800001, 0xFF812345, 0x7FFFFFFF, 0x7FA5A5A5, 0xFFB00000]
    x = from_bits(bits, torch.float32).repeat(40)  # long enough for torch's vectorized path
    inp, out = tmp_path / "in.bin", tmp_path / "out.bin"
    inp.write_bytes(x.view(torch.uint8).numpy().tobytes())
    weights_tool.run("convert-raw", "F32", "F16", inp, out)
    ours = torch.frombuffer(bytearray(out.read_bytes()), dtype=torch.int16)
    assert ours.tolist() == x.to(torch.float16).view(torch.int16).tolist()


def test_unsupported_conversion_is_a_clear_error(weights_tool, tmp_path):
    inp = tmp_path / "in.bin"
    inp.write_bytes(b"\0" * 8)
    proc = weights_tool.run("convert-raw", "I32", "F16", inp, tmp_path / "o", check=False)
    assert proc.returncode == 1
    assert "can only convert between F64, F32, F16 and BF16" in proc.stderr
    assert proc.stderr.count("\n") == 1
