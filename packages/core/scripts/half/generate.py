#!/usr/bin/env python3
"""Rounding fixtures for @ropekit/core's float16 / bfloat16 converters, made by PyTorch itself.

For a list of float32 inputs — hand-picked edge cases (ties to even at 1 and in the subnormals, the
largest finite values and the first that overflow, the smallest subnormals, signed zeros, infinities,
NaNs, float32 subnormals) and seeded random ones (uniform over all 2^32 bit patterns, and normal
values) — the script records torch's `tensor.to(torch.float16)` and `tensor.to(torch.bfloat16)` as raw
bits, and for seeded random 16-bit patterns the float32 value torch decodes them to. The TypeScript test
(test/half.test.ts) checks the converters against this file; nothing here is computed by our code.

Inputs and outputs are written as integer bit patterns so JSON holds them exactly.

Run (torch from the machine's pip mirror, e.g. a venv: `python -m venv .venv && .venv/bin/pip install
torch numpy`):
    python generate.py            (writes ../../test/golden/half-rounding.json)
    python generate.py --check    (regenerates in memory, fails if the file differs)
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np
import torch

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "test", "golden", "half-rounding.json")


def f32_bits(values: np.ndarray) -> list[int]:
    return [int(b) for b in np.asarray(values, dtype=np.float32).view(np.uint32)]


def edge_cases() -> np.ndarray:
    f = np.float32
    two = lambda k: f(2.0**k)  # noqa: E731
    up = lambda x: np.nextafter(f(x), f(np.inf))  # noqa: E731
    down = lambda x: np.nextafter(f(x), f(-np.inf))  # noqa: E731
    cases = [
        0.0, -0.0, 1.0, -1.0, 0.5, 2.0, 3.0, 0.1, -0.1, 1 / 3, np.pi, 1e-3, 1e3, -1e4,
        # float16 ties at 1 (ulp 2^-10): 1 + 2^-11 rounds to 1 (even), 1 + 3·2^-11 to 1 + 2^-9.
        1 + 2.0**-11, 1 + 3 * 2.0**-11, up(1 + 2.0**-11), down(1 + 3 * 2.0**-11), -(1 + 2.0**-11),
        # float16 range: 65504 is the largest; 65520 is the midpoint to 2^16 and overflows (ties to even).
        65504.0, 65519.0, down(65520.0), 65520.0, up(65520.0), 65536.0, -65520.0, 1e5, 1e10, -1e20,
        # float16 subnormals: 2^-24 the smallest, 2^-25 a tie to 0, 3·2^-25 a tie up to 2^-23.
        two(-24), two(-25), up(two(-25)), 3 * 2.0**-25, 5 * 2.0**-25, two(-14), down(two(-14)),
        two(-14) - 2.0**-25, two(-15), -two(-24), 1e-8, 6e-8, 1e-5, -3e-6,
        # bfloat16 ties at 1 (ulp 2^-7): 1 + 2^-8 → 1, 1 + 3·2^-8 → 1 + 2^-6.
        1 + 2.0**-8, 1 + 3 * 2.0**-8, up(1 + 2.0**-8), down(1 + 3 * 2.0**-8),
        # bfloat16 range: largest finite (2 − 2^-7)·2^127; (2 − 2^-8)·2^127 is the tie that overflows.
        (2 - 2.0**-7) * 2.0**127, (2 - 2.0**-8) * 2.0**127, down((2 - 2.0**-8) * 2.0**127),
        np.finfo(np.float32).max, -np.finfo(np.float32).max,
        # float32 / bfloat16 subnormals and the smallest normal.
        two(-126), down(two(-126)), two(-133), two(-134), 3 * 2.0**-134, two(-149), -two(-149),
        1e-40, -1e-39,
        np.inf, -np.inf, np.nan, -np.nan,
    ]
    return np.array(cases, dtype=np.float32)


def random_cases(rng: np.random.Generator) -> np.ndarray:
    bits = rng.integers(0, 2**32, size=3000, dtype=np.uint64).astype(np.uint32).view(np.float32)
    normal = (rng.standard_normal(2000) * np.exp(rng.uniform(-12, 12, 2000))).astype(np.float32)
    return np.concatenate([bits, normal])


def build() -> dict:
    rng = np.random.default_rng(20261202)
    inputs = np.concatenate([edge_cases(), random_cases(rng)])
    t = torch.from_numpy(inputs.copy())
    f16 = t.to(torch.float16).view(torch.int16).numpy().view(np.uint16)
    bf16 = t.to(torch.bfloat16).view(torch.int16).numpy().view(np.uint16)
    cases = [[int(a), int(b), int(c)] for a, b, c in zip(f32_bits(inputs), f16, bf16)]

    patterns = rng.integers(0, 2**16, size=2000, dtype=np.int64).astype(np.uint16)
    special = np.array([0, 0x8000, 1, 0x3FF, 0x400, 0x3C00, 0x7BFF, 0x7C00, 0xFC00, 0x7E00, 0x7F80, 0xFF80,
                        0x7FC0, 0x0080, 0x007F, 0x3F80], dtype=np.uint16)
    patterns = np.concatenate([special, patterns])
    p = torch.from_numpy(patterns.astype(np.int16))
    dec16 = p.view(torch.float16).to(torch.float32).numpy()
    decbf = p.view(torch.bfloat16).to(torch.float32).numpy()
    decode = [[int(b), a, c] for b, a, c in zip(patterns, f32_bits(dec16), f32_bits(decbf))]
    return {
        "about": "float32 inputs → torch float16 / bfloat16 bits (round to nearest even); 16-bit patterns → "
        "torch's float32 value. Made by scripts/half/generate.py; do not edit.",
        "torch": torch.__version__,
        "numpy": np.__version__,
        "columns": {"cases": ["f32 bits", "float16 bits", "bfloat16 bits"],
                    "decode": ["16-bit pattern", "float16 value as f32 bits", "bfloat16 value as f32 bits"]},
        "cases": cases,
        "decode": decode,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    # Versions differ between mirrors; the bits must not, so they are left out of the comparison.
    text = json.dumps(build(), separators=(",", ":")) + "\n"
    if args.check:
        old = json.load(open(OUT))
        new = json.loads(text)
        same = old["cases"] == new["cases"] and old["decode"] == new["decode"]
        print("half-rounding.json up to date" if same else "half-rounding.json differs")
        sys.exit(0 if same else 1)
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        f.write(text)
    print(f"wrote {OUT}: {len(json.loads(text)['cases'])} cases")


if __name__ == "__main__":
    main()
