"""Texts and names shared by the IR tests (imported by them; not a test module)."""

from __future__ import annotations

from pathlib import Path

CASCADES = Path(__file__).resolve().parents[2] / "einsum_cascades"
"""The folder of shipped cascades."""

SHIPPED = sorted(p.stem for p in CASCADES.glob("*.yaml"))
"""File stems of every shipped cascade."""

ATTENTION = """\
kind: cascade
version: 1
name: attention
source: written for the tests
description: a small 3-pass attention
ranks: {H: 2, E: 4, F: 4, M: 8, P: 8}
tensors:
  Q: {ranks: [H, P, E]}
  K: {ranks: [H, M, E]}
  V: {ranks: [H, M, F]}
einsums:
  - QS[h,p,e] = Q[h,p,e] * rsqrt(E)
  - QK[h,m,p] = QS[h,p,e] * K[h,m,e]
  - GM[h,p] = max(m) QK[h,m,p]
  - SN[h,m,p] = exp(QK[h,m,p] - GM[h,p])
  - SD[h,p] = sum(m) SN[h,m,p]
  - A[h,m,p] = SN[h,m,p] / SD[h,p]
  - AV[h,p,f] = A[h,m,p] * V[h,m,f]
"""
