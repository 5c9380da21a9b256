"""The top-level API: accelsim.evaluate from file paths and strings, and the IR names."""

from __future__ import annotations

from pathlib import Path

import pytest

import accelsim

ROOT = Path(__file__).resolve().parents[2]


def test_evaluate_from_paths_and_an_einsum_string():
    report = accelsim.evaluate("Z[m,n] = A[m,k] * B[k,n]", ROOT / "hw_configs" / "shared-ws-32x32.yaml",
                               ROOT / "mappings" / "gemm-ws-32x32.yaml",
                               sizes={"M": 512, "N": 512, "K": 512},
                               dtypes={"A": "int8", "B": "int8", "Z": "int32"})
    # as derived in test_evaluate_gemm.py: A 4,194,304 + B 262,144 bytes read, Z 262,144 x 4 written
    assert report.offchip_bytes == 4_194_304 + 262_144 + 4 * 262_144


def test_public_ir_names():
    for name in ("Cascade", "Einsum", "Tensor", "verify", "passes", "load_cascade", "evaluate"):
        assert hasattr(accelsim, name)
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        accelsim.nothing  # noqa: B018


def test_einsum_without_sizes_is_a_clear_error():
    with pytest.raises(accelsim.SpecError, match="needs the rank sizes"):
        accelsim.evaluate("Z[m,n] = A[m,k] * B[k,n]", ROOT / "hw_configs" / "shared-ws-32x32.yaml",
                          ROOT / "mappings" / "gemm-ws-32x32.yaml")
