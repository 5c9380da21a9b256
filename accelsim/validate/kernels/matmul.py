"""Tiled matmul ``Z[m,n] = A[m,k] * B[k,n]``: Triton kernel, launcher, torch reference, mapping.

The kernel is the Triton tutorial's blocked matmul (03-matrix-multiplication) without the
grouped program order: program (i, j) computes the BM x BN block Z[i, j], looping over its
K range in steps of BK, loading a BM x BK block of A and a BK x BN block of B per step
(masked at the edges), accumulating in fp32 registers and storing its block once.

Split-K (``split_k`` = S > 1) is the *serial* split-K of CUTLASS (GemmSplitKSerial): the K
range is cut into S contiguous chunks of KC = ceil(ceil(K/BK)/S) * BK elements, one per program
along grid axis 2; the chunk-0 program stores its partial block, and the program of chunk s
waits on a per-tile semaphore for s, loads the partial block, adds its own and stores the sum.
Only as many chunks as are non-empty are launched (S_eff = ceil(K / KC)).  Axis 2 is the
slowest-launched axis on a GPU, so lower chunks are always scheduled first (no deadlock), and
the interpreter runs chunk 0..S-1 of a tile in order.
"""

from __future__ import annotations

from typing import Mapping

import torch
import triton
import triton.language as tl

from accelsim.validate.programs import Launch, cdiv, loops
from accelsim.validate.traffic import name_tensors
from accelsim.spec import MappingSpec

EINSUM = "Z[m,n] = A[m,k] * B[k,n]"


@triton.jit
def matmul_kernel(a_ptr, b_ptr, z_ptr, lock_ptr, M, N, K,
                  stride_am, stride_ak, stride_bk, stride_bn, stride_zm, stride_zn,
                  KC: tl.constexpr, BM: tl.constexpr, BN: tl.constexpr, BK: tl.constexpr,
                  SPLIT: tl.constexpr):
    pid_m = tl.program_id(0)
    pid_n = tl.program_id(1)
    pid_k = tl.program_id(2)
    rm = pid_m * BM + tl.arange(0, BM)
    rn = pid_n * BN + tl.arange(0, BN)
    acc = tl.zeros((BM, BN), dtype=tl.float32)
    k_start = pid_k * KC
    k_stop = tl.minimum(k_start + KC, K)
    for k0 in range(k_start, k_stop, BK):
        rk = k0 + tl.arange(0, BK)
        a = tl.load(a_ptr + rm[:, None] * stride_am + rk[None, :] * stride_ak,
                    mask=(rm[:, None] < M) & (rk[None, :] < k_stop), other=0.0)
        b = tl.load(b_ptr + rk[:, None] * stride_bk + rn[None, :] * stride_bn,
                    mask=(rk[:, None] < k_stop) & (rn[None, :] < N), other=0.0)
        acc = tl.dot(a, b, acc, input_precision="ieee")
    z_ptrs = z_ptr + rm[:, None] * stride_zm + rn[None, :] * stride_zn
    z_mask = (rm[:, None] < M) & (rn[None, :] < N)
    if SPLIT == 1:
        tl.store(z_ptrs, acc.to(z_ptr.dtype.element_ty), mask=z_mask)
    else:
        lock = lock_ptr + pid_m * tl.num_programs(1) + pid_n
        if pid_k > 0:
            while tl.atomic_cas(lock, pid_k, pid_k) != pid_k:
                pass
            acc += tl.load(z_ptrs, mask=z_mask, other=0.0).to(tl.float32)
        tl.store(z_ptrs, acc.to(z_ptr.dtype.element_ty), mask=z_mask)
        tl.atomic_xchg(lock, pid_k + 1)


def chunking(K: int, BK: int, split_k: int) -> tuple[int, int]:
    """(KC, S_eff): elements of K per split (a multiple of BK) and the non-empty splits."""
    kc = cdiv(cdiv(K, BK), max(split_k, 1)) * BK
    return kc, cdiv(K, kc)


def matmul(a: torch.Tensor, b: torch.Tensor, *, BM: int = 32, BN: int = 32, BK: int = 32,
           split_k: int = 1, out_dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Launch the kernel: Z = A @ B in ``out_dtype`` (fp32 accumulation)."""
    M, K = a.shape
    K2, N = b.shape
    if K != K2:
        raise ValueError(f"inner dimensions differ: A is {M}x{K}, B is {K2}x{N}")
    kc, splits = chunking(K, BK, split_k)
    z = torch.empty((M, N), device=a.device, dtype=out_dtype)
    locks = torch.zeros(cdiv(M, BM) * cdiv(N, BN), device=a.device, dtype=torch.int32)
    name_tensors(A=a, B=b, Z=z, semaphores=locks)
    grid = (cdiv(M, BM), cdiv(N, BN), splits)
    matmul_kernel[grid](a, b, z, locks, M, N, K, a.stride(0), a.stride(1), b.stride(0),
                        b.stride(1), z.stride(0), z.stride(1), KC=kc, BM=BM, BN=BN, BK=BK,
                        SPLIT=splits)
    return z


def reference(a: torch.Tensor, b: torch.Tensor, out_dtype=torch.float32) -> torch.Tensor:
    """torch's own matmul at the inputs' precision."""
    return torch.matmul(a, b).to(out_dtype)


def launches(sizes: Mapping[str, int], tiles: Mapping[str, int], split_k: int = 1,
             in_dtype: str = "fp16", out_dtype: str = "fp32") -> list[Launch]:
    """The accelsim mapping of one launch of :func:`matmul` on ``sizes`` (M, N, K) with
    ``tiles`` (BM, BN, BK).

    GMEM spreads m, n and the K chunks over the programs (the grid: ceil(M/BM) x ceil(N/BN) x
    S_eff, spatial); PROGRAM keeps the accumulator Z and owns the loop over the chunk's K
    blocks (KC/BK, temporal); TILE keeps the A and B blocks and owns m BM, n BN, k BK.  So
    k = chunk*KC + block*BK + k0 and m = i*BM + m0, each clipped at its size, as in the kernel.

    What accelsim then counts, and the kernel does: every program loads its A rows once per K
    block, so A is read ceil(N/BN) times (M*K*ceil(N/BN) elements) and B ceil(M/BM) times;
    without split-K each program stores its Z block once (M*N updates, no reads).  With
    S_eff chunks GMEM does not reduce across programs, so Z gets S_eff partial sums per
    element (updates S_eff*M*N), and every one but the first reads the old value (reads
    (S_eff-1)*M*N) -- exactly the serial split-K's stores and loads.  The semaphore's atomics
    are synchronization, not Einsum traffic, and are reported apart.
    """
    M, N, K = sizes["M"], sizes["N"], sizes["K"]
    BM, BN, BK = tiles["BM"], tiles["BN"], tiles["BK"]
    kc, splits = chunking(K, BK, split_k)
    tm, tn = cdiv(M, BM), cdiv(N, BN)
    spec = MappingSpec.model_validate({
        "kind": "mapping", "version": 1, "name": f"triton-matmul-{BM}x{BN}x{BK}-s{splits}",
        "description": "Triton tiled matmul: program grid spatial at GMEM, K blocks at PROGRAM",
        "einsum": "Z",
        "levels": [loops("GMEM", spatial=[("m", tm), ("n", tn), ("k", splits)]),
                   loops("PROGRAM", temporal=[("k", kc // BK)], keep=["Z"]),
                   loops("TILE", temporal=[("m", BM), ("n", BN), ("k", BK)], keep=["A", "B"])],
    })
    from accelsim.ir import Einsum

    return [Launch(Einsum.parse(EINSUM), spec, {"M": M, "N": N, "K": K}, tm * tn * splits,
                   {"A": in_dtype, "B": in_dtype, "Z": out_dtype})]
