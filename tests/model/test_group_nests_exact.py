"""Fused-group mappings are counted as member loop nests; on each of them (merged split
ranks with a partial last block, block-index tensors, repeat-only ranks of enclosing loops,
carried state updated in place) the numba kernel counts exactly what the oracle counts."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "cost"))
sys.path.insert(0, str(HERE))

from test_flash_attention import FA1, FA2, HARDWARE, blocks, fa2_mapping  # noqa: E402
from test_kernel import assert_same  # noqa: E402

from accelsim.mapping.group import build_group_nests  # noqa: E402
from accelsim.model import default_roles  # noqa: E402


@pytest.mark.parametrize("cascade, outer", [(FA2, "P1"), (FA2, "M1"), (FA1, "M1"), (FA1, "P1")])
@pytest.mark.parametrize("n, d, m", [(9, 2, 20), (7, 3, 30)])
def test_member_nests_kernel_equals_oracle(cascade, outer, n, d, m):
    br, bc = blocks(n, d, m)
    given = dict(H=1, E=d, F=d, M=n, P=n, P0=br, M0=bc)
    loops = {"P1": math.ceil(n / br), "M1": math.ceil(n / bc)}
    inner = "M1" if outer == "P1" else "P1"
    mapping = fa2_mapping(cascade, cascade.sizes(**given), [(outer, loops[outer]),
                                                            (inner, loops[inner])])
    dtypes = {t: x.dtype for t, x in cascade.tensors.items()}
    members = build_group_nests(cascade, given, dtypes, default_roles(cascade), HARDWARE, mapping)
    assert len(members) == len(cascade.einsums)
    for member in members:
        assert_same(member.nest)
