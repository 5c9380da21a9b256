"""accelsim mappings of PyTorch's CPU operators onto a calibrated CPU (see :mod:`.cpu`).

The calibrated machine is DRAM -> L3 (shared) -> L2 -> L1 (one per core) -> vector units.
When a case's whole working set fits in half the L3, the timing loop keeps it there between
repetitions, so the case is evaluated on the same machine without its DRAM level (L3 is then
the backing store); :func:`backing_levels` makes that choice.

* matmul (MKL sgemm): the Goto/BLIS blocking.  The outermost level walks n in NC-column
  panels and k in KC-deep panels; L3 keeps the KC x NC panel of B; the MC x KC block of A is
  packed into each core's L2 (the loop over the NC/NR micro-panels is L2's); each core's L1
  keeps a KC x NR micro-panel of B and the MC x NR block of Z it updates.  The cores split m
  (spatial at L3), or n when m is too short to give every core rows (GEMV-like shapes, as MKL
  does).  Z is read and written once per KC panel, A read once per NC panel, B once.
  Blocks are equal and the edges padded to whole blocks (see :func:`gemm`).
  MR, NR, KC, MC, NC = 6, 16, 256, 192, 4096 (fp32; B micro-panel 16 KiB, A block 192 KiB).
* softmax and layernorm: fused, one pass over row blocks; a row block is loaded once into L2
  and every intermediate stays there (the cascades below start with a copy ``XB = X`` so
  that the later passes read the cached copy: accelsim counts each member's reads of a group
  input separately).  Rows are split across cores (spatial at L3).
* scaled_dot_product_attention: PyTorch's CPU flash-attention kernel, as the shipped
  FlashAttention-2 cascade in fp32: heads and query blocks spread over the cores, each head's
  K and V held in L3, the key-block loop at L2 and every block at L1.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from accelsim.validate.programs import cdiv, loops
from accelsim.spec import MappingSpec

MR, NR, KC, MC, NC = 6, 16, 256, 192, 4096

SOFTMAX = """
kind: cascade
version: 1
name: softmax-row-cached
source: softmax as torch computes it on a CPU (max, exp and sum, normalize) over a cached row
description: Y = softmax(X) along N; XB is the row block loaded once and then read from cache.
ranks: {R: 1024, N: 1024}
tensors:
  X: {ranks: [R, N], dtype: fp32}
  Y: {ranks: [R, N], dtype: fp32}
outputs: [Y]
dtype: fp32
einsums:
  - XB[r,n] = X[r,n]
  - GM[r] = max(n) XB[r,n]
  - EX[r,n] = exp(XB[r,n] - GM[r])
  - SE[r] = sum(n) EX[r,n]
  - Y[r,n] = EX[r,n] / SE[r]
"""

LAYERNORM = """
kind: cascade
version: 1
name: layernorm-row-cached
source: einsum_cascades/layernorm.yaml (Ba et al. 2016) over a cached row, in fp32
description: Y = layer_norm(X) * GAMMA + BETA along D; XB is the row block loaded once.
ranks: {T: 1024, D: 768}
tensors:
  X: {ranks: [T, D], dtype: fp32}
  GAMMA: {ranks: [D], dtype: fp32}
  BETA: {ranks: [D], dtype: fp32}
  Y: {ranks: [T, D], dtype: fp32}
outputs: [Y]
dtype: fp32
einsums:
  - XB[t,d] = X[t,d]
  - SX[t] = sum(d) XB[t,d]
  - MU[t] = SX[t] / D
  - XC[t,d] = XB[t,d] - MU[t]
  - SQ[t] = sum(d) XC[t,d] * XC[t,d]
  - RS[t] = rsqrt(SQ[t] / D + 1e-05)
  - Y[t,d] = XC[t,d] * RS[t] * GAMMA[d] + BETA[d]
"""


def backing_levels(names: list[str], footprint_bytes: float, l3_bytes: float) -> list[str]:
    """The levels a case runs on: all of them, or from L3 down when the working set
    (``footprint_bytes``) fits in half of the L3 and so stays there between repetitions."""
    if footprint_bytes <= l3_bytes / 2 and "L3" in names:
        return names[names.index("L3"):]
    return names


def gemm(M: int, N: int, K: int, cores: int, outer: str) -> tuple[MappingSpec, dict[str, int]]:
    """The sgemm mapping of the module docstring and the sizes to evaluate it at.

    Each rank is cut into equal blocks (the last one padded: the micro-kernel computes whole
    MR x NR tiles at the edges too), so the nest factorizes exactly and accelsim counts it in
    closed form; the padded sizes are returned with the mapping.  ``outer`` is the backing
    store's name.
    """
    nk = cdiv(K, KC)
    kc = cdiv(K, nk)
    nn = cdiv(N, NC)
    if M >= cores * MR * 4:                       # rows for every core: split m
        nb = cdiv(cdiv(M, cores), MC)
        mc = cdiv(cdiv(cdiv(M, cores), nb), MR) * MR
        q = cdiv(cdiv(N, nn), NR)
        l3 = loops("L3", temporal=[("m", nb)], spatial=[("m", cores)], keep=["B"])
        sizes = {"M": nb * cores * mc, "N": nn * q * NR}
    else:                                         # skinny: split the columns
        nb = cdiv(M, MC)
        mc = cdiv(M, nb)
        q = cdiv(cdiv(cdiv(N, nn), cores), NR)
        l3 = loops("L3", temporal=[("m", nb)], spatial=[("n", cores)], keep=["B"])
        sizes = {"M": nb * mc, "N": nn * cores * q * NR}
    sizes["K"] = nk * kc
    top = loops(outer, temporal=[("n", nn), ("k", nk)])
    l2 = loops("L2", temporal=[("n", q)], keep=["A"])
    l1 = loops("L1", temporal=[("m", mc), ("n", NR), ("k", kc)], keep=["B", "Z"])
    levels = [top, l3, l2, l1] if outer != "L3" else [_merge(top, l3), l2, l1]
    spec = MappingSpec.model_validate({
        "kind": "mapping", "version": 1, "name": f"cpu-sgemm-{M}x{N}x{K}",
        "description": "Goto/BLIS blocking of an sgemm on a multicore CPU",
        "einsum": "Z", "levels": levels})
    return spec, sizes


def _merge(outer: dict, inner: dict) -> dict:
    return {"level": inner["level"], "temporal": outer["temporal"] + inner["temporal"],
            "spatial": inner["spatial"], **({"keep": inner["keep"]} if "keep" in inner else {})}


def rowwise(cascade, given: dict[str, int], rows_rank: str, cores: int, outer: str,
            l2_bytes: float) -> MappingSpec:
    """Fused one-pass mapping of a row-wise cascade (softmax, layernorm): blocks of rows that
    fit a quarter of L2 four times over (input, cached copy, intermediate, output)."""
    sizes = cascade.sizes(**given)
    rows = sizes[rows_rank]
    row_len = max(s for r, s in sizes.items() if r != rows_rank)
    rb = max(1, min(cdiv(rows, cores), int(l2_bytes // (2 * 4 * 4 * row_len))))
    p = min(cores, cdiv(rows, rb))
    shared = [loops(outer, temporal=[(rows_rank, cdiv(rows, rb * p))]),
              loops("L3", spatial=[(rows_rank, p)])]
    if outer == "L3":
        shared = [_merge(shared[0], shared[1])]
    einsums = {e.name: [loops("L2", temporal=[(r, rb if r == rows_rank else s)
                                              for r, s in e.space(sizes).items()])]
               for e in cascade.einsums}
    return MappingSpec.model_validate({
        "kind": "mapping", "version": 1, "name": f"cpu-{cascade.name}",
        "group": [e.name for e in cascade.einsums], "shared": shared, "einsums": einsums})


def attention_cascade():
    """The shipped 3-pass attention cascade (``einsum_cascades/attention_3pass.yaml``) with
    every tensor in fp32, as torch's CPU SDPA computes it."""
    from accelsim.ir import load_cascade

    path = Path(__file__).resolve().parents[2] / "einsum_cascades" / "attention_3pass.yaml"
    cascade = load_cascade(path)
    tensors = {k: replace(v, dtype="fp32") for k, v in cascade.tensors.items()}
    return replace(cascade, tensors=tensors, dtype="fp32")


def attention(cascade, given: dict[str, int], cores: int, outer: str,
              bm: int) -> tuple[MappingSpec, int]:
    """Fused attention on the CPU: the cores split the query blocks (or the heads, when there
    are fewer query blocks than cores); a block of ``bm`` queries takes every key at once in
    L2 (scores, numerators and weights of bm x M stay there) while K and V stream from L3
    (where each head's K and V stay) through L1 in 16 KiB blocks of keys.  ``bm`` is cut down to a divisor of the queries per core so
    that the nest factorizes exactly.  Returns the mapping and the block used.

    This is the 3-pass cascade, not FlashAttention-2's: torch's CPU kernel does walk the keys
    in blocks with an online softmax, but the off-chip and L3 traffic is the same (each query
    block reads the head's K and V once from L3, every intermediate stays in L2), and the
    3-pass cascade's loop nests factorize exactly, so accelsim counts them in closed form;
    FlashAttention-2's block-index projections (m1 = m // M0) need the tile walker, whose
    cost grows with the operations (minutes for a 1024-token head).
    """
    heads, P = given["H"], given["P"]
    if P % cores == 0:                            # split the queries
        bm = _divisor_at_most(P // cores, bm)
        top = loops(outer, temporal=[("H", heads)])
        l3 = loops("L3", temporal=[("P", P // cores // bm)], spatial=[("P", cores)])
    else:                                         # split the heads (or run on one core)
        p = cores if heads % cores == 0 else 1
        bm = _divisor_at_most(P, bm)
        top = loops(outer, temporal=[("H", heads // p)])
        l3 = loops("L3", temporal=[("P", P // bm)], spatial=[("H", p)])
    shared = [top, l3] if outer != "L3" else [_merge(top, l3)]
    sizes = cascade.sizes(**given)
    bk = _divisor_at_most(sizes["M"], max(1, 16384 // (4 * max(sizes["E"], sizes["F"]))))
    einsums = {}
    for e in cascade.einsums:
        space = e.space(sizes)
        l2 = [("P", bm)] if "P" in space else []
        l1 = []
        if "M" in space:
            l2.append(("M", sizes["M"] // bk))
            l1.append(("M", bk))
        l1 += [(r, n) for r, n in space.items() if r not in ("H", "P", "M")]
        streamed = [t for t in e.inputs if t in ("Q", "K", "V")]
        einsums[e.name] = [loops("L2", temporal=l2,
                                 keep=[t for t in (e.name, *e.inputs) if t not in streamed]),
                           loops("L1", temporal=l1, keep=streamed)]
    spec = MappingSpec.model_validate({
        "kind": "mapping", "version": 1, "name": f"cpu-sdpa-bm{bm}",
        "group": [e.name for e in cascade.einsums], "shared": shared, "einsums": einsums})
    return spec, bm


def _divisor_at_most(n: int, cap: int) -> int:
    return max(d for d in range(1, min(n, cap) + 1) if n % d == 0)
