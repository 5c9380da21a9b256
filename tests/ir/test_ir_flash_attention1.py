"""The FlashAttention-1 cascade (normalized O carried along key blocks) equals PyTorch's
scaled_dot_product_attention in float64, for block sizes that do not divide the sequence."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from accelsim.ir import load_cascade, passes

torch = pytest.importorskip("torch")
CASCADE = load_cascade(Path(__file__).resolve().parents[2] / "einsum_cascades" / "flash_attention1.yaml")


@pytest.mark.parametrize("h, n, d, br, bc", [(2, 37, 8, 4, 6), (1, 16, 4, 4, 4), (2, 20, 3, 7, 5),
                                             (1, 9, 5, 9, 2)])
def test_matches_sdpa(h, n, d, br, bc):
    rng = np.random.default_rng(n * 31 + d)
    q, k, v = (rng.standard_normal((h, n, d)) for _ in range(3))
    out = CASCADE.run({"Q": q, "K": k, "V": v}, H=h, E=d, F=d, M=n, P=n, P0=br, M0=bc)
    final = out["O"][:, :, :, -1, :].reshape(h, -1, d)[:, :n]     # O at the last key block
    ref = torch.nn.functional.scaled_dot_product_attention(
        *(torch.tensor(x, dtype=torch.float64) for x in (q, k, v))).numpy()
    np.testing.assert_allclose(final, ref, rtol=1e-10, atol=1e-12)


def test_one_pass_over_the_keys():
    assert passes(CASCADE, "M") == 1
