"""FlashAttention's off-chip traffic, counted by accelsim for fused mappings of the shipped
FlashAttention-2 cascade, against the exact counts of the algorithms.

Block sizes follow FlashAttention (Dao et al. 2022, Algorithm 1, line 1): with on-chip
memory of M elements and head size d, Bc = ceil(M / 4d) and Br = min(Bc, d).  Tr = ceil(N /
Br) query blocks, Tc = ceil(N / Bc) key blocks; N need not divide into either.

FA2 order (Dao 2023, Algorithm 1: query blocks outer, key blocks inner): each query block
Q_i is loaded once (N*d reads in all), every K_j and V_j is loaded once per query block
(Tr*N*d each), O_i and the log-sum-exp L_i are written once (N*d and N).
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from accelsim.arch import Architecture
from accelsim.ir import load_cascade
from accelsim.model import evaluate_group
from accelsim.spec import HardwareSpec, MappingSpec

ROOT = Path(__file__).resolve().parents[2]
FA2 = load_cascade(ROOT / "einsum_cascades" / "flash_attention2.yaml")

def two_level(name: str, capacity: str) -> Architecture:
    """HBM and one on-chip SRAM of ``capacity`` above a processing element."""
    return Architecture.from_spec(HardwareSpec.model_validate({
        "kind": "hardware", "version": 1, "name": name, "clock": "1 GHz",
        "levels": [{"name": "HBM", "word_bits": 32},
                   {"name": "SRAM", "capacity": capacity, "word_bits": 32}],
        "compute": [{"name": "pe", "ops": ["mac", "add", "max", "exp", "divide", "elementwise"],
                     "throughput": {"fp32": 1, "bf16": 1}}]}))


HARDWARE = two_level("hbm-sram", "64 MiB")


def blocks(n: int, d: int, m: int) -> tuple[int, int]:
    bc = math.ceil(m / (4 * d))
    return min(bc, d), bc


def fa2_mapping(cascade, sizes: dict[str, int], shared: list[tuple[str, int]]) -> MappingSpec:
    """Shared loops at HBM; every member's remaining ranks as its own loops at SRAM."""
    covered = {rank for rank, _ in shared}
    einsums = {}
    for einsum in cascade.einsums:
        space = einsum.space(sizes)
        loops = []
        for rank, size in space.items():
            if rank in covered:
                continue
            if rank == "P" and "P1" in covered:      # the whole query rank, one block at a time
                size = sizes["P0"]
            loops.append({"rank": rank, "factor": size})
        einsums[einsum.name] = [{"level": "SRAM", "temporal": loops}]
    return MappingSpec.model_validate({
        "kind": "mapping", "version": 1, "name": "fused", "group": [e.name for e in cascade.einsums],
        "shared": [{"level": "HBM", "temporal": [{"rank": r, "factor": f} for r, f in shared]}],
        "einsums": einsums})


def hbm(report, tensor: str, action: str) -> int:
    return sum(getattr(t, action) for t in report.tensors if t.level == "HBM" and t.tensor == tensor)


CASES = [(n, d, m) for n in (16, 37, 64, 100) for d in (4, 8) for m in (64, 200)] + [
    (48, 16, 512), (130, 16, 1000), (64, 2, 50), (99, 3, 77)]


@pytest.mark.parametrize("n, d, m", CASES)
def test_fa2_order_traffic_is_exact(n, d, m):
    br, bc = blocks(n, d, m)
    tr, tc = math.ceil(n / br), math.ceil(n / bc)
    sizes = FA2.sizes(H=1, E=d, F=d, M=n, P=n, P0=br, M0=bc)
    mapping = fa2_mapping(FA2, sizes, [("P1", tr), ("M1", tc)])
    report = evaluate_group(FA2, HARDWARE, mapping, sizes=dict(H=1, E=d, F=d, M=n, P=n, P0=br, M0=bc))
    assert hbm(report, "Q", "reads") == n * d
    assert hbm(report, "K", "reads") == tr * n * d
    assert hbm(report, "V", "reads") == tr * n * d
    assert hbm(report, "O", "updates") == n * d
    assert hbm(report, "LSE", "updates") == n
    on_chip_only = {"S", "PT", "RM", "RL", "RO", "BM", "RS", "CF", "PV", "QS", "BQ", "BK", "BV"}
    assert not {t.tensor for t in report.tensors if t.level == "HBM"} & on_chip_only


FA1 = load_cascade(ROOT / "einsum_cascades" / "flash_attention1.yaml")


@pytest.mark.parametrize("n, d, m", CASES)
def test_fa1_order_traffic_is_exact(n, d, m):
    """FA1 order (Dao et al. 2022, Algorithm 1: key blocks outer, query blocks inner).

    Each K_j, V_j is loaded once (N*d each); every Q_i once per key block (Tc*N*d); O_i,
    l_i and m_i are written once per key block (Tc*N*d, Tc*N, Tc*N) and read back at every
    key block but the first.  Algorithm 1 as printed also writes the initial O = 0, l = 0,
    m = -inf to HBM (line 2) and reads them at j = 1; a mapping that starts from those
    known values on chip moves neither, and accelsim does not count them.
    """
    br, bc = blocks(n, d, m)
    tr, tc = math.ceil(n / br), math.ceil(n / bc)
    given = dict(H=1, E=d, F=d, M=n, P=n, P0=br, M0=bc)
    mapping = fa2_mapping(FA1, FA1.sizes(**given), [("M1", tc), ("P1", tr)])
    report = evaluate_group(FA1, HARDWARE, mapping, sizes=given)
    assert hbm(report, "K", "reads") == n * d
    assert hbm(report, "V", "reads") == n * d
    assert hbm(report, "Q", "reads") == tc * n * d
    assert (hbm(report, "O", "updates"), hbm(report, "O", "reads")) == (tc * n * d, (tc - 1) * n * d)
    for stat in ("RL", "RM"):
        assert (hbm(report, stat, "updates"), hbm(report, stat, "reads")) == (tc * n, (tc - 1) * n)


A3 = load_cascade(ROOT / "einsum_cascades" / "attention_3pass.yaml")


@pytest.mark.parametrize("n, d", [(16, 4), (37, 8), (64, 16)])
def test_unfused_3pass_moves_the_score_matrix(n, d):
    """Each Einsum of the 3-pass cascade as its own kernel: every intermediate goes to HBM.

    The N x N scores QK are written once (N^2) and read by the max pass and the numerator
    pass (2 N^2); the numerators SN are written (N^2) and read by the sum and the division
    (2 N^2); the weights A are written (N^2) and read by the product with V (N^2).
    """
    sizes = A3.sizes(H=1, E=d, F=d, M=n, P=n)
    group = lambda name: MappingSpec.model_validate({
        "kind": "mapping", "version": 1, "name": name, "group": [name],
        "shared": [], "einsums": {name: [{"level": "SRAM", "temporal": [
            {"rank": r, "factor": s} for r, s in A3.einsum(name).space(sizes).items()]}]}})
    traffic: dict[tuple[str, str], int] = {}
    for einsum in A3.einsums:
        report = evaluate_group(A3, HARDWARE, group(einsum.name), sizes=dict(H=1, E=d, F=d, M=n, P=n))
        for t in report.tensors:
            if t.level == "HBM":
                key = (t.tensor, "writes")
                traffic[key] = traffic.get(key, 0) + t.updates
                key = (t.tensor, "reads")
                traffic[key] = traffic.get(key, 0) + t.reads
    assert (traffic["QK", "writes"], traffic["QK", "reads"]) == (n * n, 2 * n * n)
    assert (traffic["SN", "writes"], traffic["SN", "reads"]) == (n * n, 2 * n * n)
    assert (traffic["A", "writes"], traffic["A", "reads"]) == (n * n, n * n)


A1 = load_cascade(ROOT / "einsum_cascades" / "attention_1pass.yaml")


@pytest.mark.parametrize("n, d, block", [(16, 4, 4), (37, 8, 5), (64, 8, 16)])
def test_fusemax_mapping_moves_only_compulsory_traffic(n, d, block):
    """FuseMax's mapping of its 1-pass cascade (Nayak et al. 2024, Section 5): the key-block
    loop m1 is the only loop above the buffer and every query stays on chip, so Q, K and V
    are read once and AV written once (N*d each), with nothing else crossing HBM."""
    given = dict(H=1, E=d, F=d, M=n, P=n, M0=block)
    mapping = fa2_mapping(A1, A1.sizes(**given), [("M1", math.ceil(n / block))])
    report = evaluate_group(A1, HARDWARE, mapping, sizes=given)
    assert {t.tensor for t in report.tensors if t.level == "HBM" and t.bytes} == {"Q", "K", "V", "AV"}
    for tensor in ("Q", "K", "V"):
        assert hbm(report, tensor, "reads") == n * d
    assert hbm(report, "AV", "updates") == n * d


def test_carried_state_that_cannot_stay_on_chip_is_refused():
    """The FlashAttention-2 cascade in FA1 order keeps its accumulators RO, RL, RM live
    across all query blocks (N*d + 2N values); a buffer smaller than that must refuse the
    mapping rather than report traffic that assumes they stay on chip."""
    n, d = 64, 8
    br, bc = blocks(n, d, 256)
    given = dict(H=1, E=d, F=d, M=n, P=n, P0=br, M0=bc)
    small = two_level("small-sram", "2 KiB")
    mapping = fa2_mapping(FA2, FA2.sizes(**given), [("M1", math.ceil(n / bc)),
                                                    ("P1", math.ceil(n / br))])
    from accelsim.errors import CapacityError

    # Br = Bc = 8, d = 8. One iteration's tiles at SRAM: twelve 8 x 8 bf16 tiles (QS, Q, BQ,
    # BK, K, BV, V, S, PT, PV, RO, O) of 128 B, five 8-element bf16 vectors (BM, RM, RS, CF,
    # RL) of 16 B and LSE (8 fp32, 32 B): 1,536 + 80 + 32 = 1,648 B. RO (128 B), RL and RM
    # (16 B each) stay live over the 7 other query blocks: 7 x 160 = 1,120 B more; 2,768 > 2,048.
    with pytest.raises(CapacityError, match=r"RO \+896 B.*2768 bytes at 'SRAM', which holds 2048"):
        evaluate_group(FA2, small, mapping, sizes=given)
    fa2_order = fa2_mapping(FA2, FA2.sizes(**given), [("P1", math.ceil(n / br)),
                                                      ("M1", math.ceil(n / bc))])
    assert evaluate_group(FA2, small, fa2_order, sizes=given).offchip_bytes > 0
