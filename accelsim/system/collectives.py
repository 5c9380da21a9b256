"""Collective operations over a link: time, algorithm bandwidth and bus bandwidth.

A collective over ``n`` devices moving ``S`` bytes takes, for each protocol, a fixed start,
a latency per step of the algorithm and the bytes each device must move over its share of
the link, and the fastest protocol wins (as NCCL picks one per call)::

    time = base + steps * step_latency + factor * S / (fraction * bus_bandwidth)

* ``S`` is the size nccl-tests reports: the buffer of an all-reduce, the gathered output
  of an all-gather, the input of a reduce-scatter, the whole send buffer of an all-to-all,
  the message of a send/recv.
* ``factor`` is the bus-bandwidth factor NCCL defines (nccl-tests ``doc/PERFORMANCE.md``):
  all-reduce 2(n-1)/n; all-gather, reduce-scatter and all-to-all (n-1)/n; send/recv 1.  It
  is the fraction of ``S`` each device sends (a ring all-reduce sends (n-1)/n of the buffer
  twice: reduce-scatter, then all-gather), so ``busbw = algbw * factor`` approaches the bus
  bandwidth times the protocol's fraction for large messages.
* ``bus_bandwidth`` is what one device can send at once (:func:`bus_bandwidth`): one switch
  port; every link of a fully connected device; both neighbours' links of a ring (two rings
  turning opposite ways).
* ``steps``: ring all-reduce 2(n-1), ring all-gather and reduce-scatter n-1, all-to-all n-1
  (one exchange per peer), send/recv 1; the tree all-reduce goes up and down a binary tree,
  2 ceil(log2 n) steps, and moves the whole buffer up and down (factor 2 instead of
  2(n-1)/n).  A tree step takes the ring's per-step latency (an assumption: NCCL's own
  tree figures are per 256 kB chunk).
* send/recv is between two devices, whatever the group's size.

All-to-all over a ring has no direct path between most pairs: each message crosses
min(j, n - j) links to the peer j places away (shortest way round), and the time is the
busiest link's load (:func:`_ring_all_to_all_factor`).
"""

from __future__ import annotations

import math
from typing import NamedTuple

OPS = ("all_reduce", "all_gather", "reduce_scatter", "all_to_all", "send_recv")
"""Collectives this module times."""

ALGORITHMS = ("ring", "tree")
"""All-reduce algorithms (the other collectives run as rings, or pairwise exchanges)."""


class Protocol(NamedTuple):
    """A way of moving data: its start, per-step latency per link kind, bandwidth share."""

    name: str
    base_s: float
    """Fixed start of one collective call."""
    step_s: dict
    """Latency of one step of the algorithm, per link kind."""
    fraction: float
    """Share of the bus bandwidth the protocol delivers."""


PROTOCOLS = (
    # NCCL's tuning model, src/graph/tuning.cc (NVIDIA/nccl, the 2.7-era commit 01afd20):
    # ring base latencies LL 3.6 us and Simple 8.4 us; per-step hardware latencies of a ring
    # over NVLink / PCI / network: LL 0.47 / 1.0 / 2.7 us, Simple 3.4 / 5.7 / 9.6 us; LL
    # delivers 1/4 of the bus bandwidth (8-byte lines carry 4 bytes of data and a flag).
    Protocol("LL", 3.6e-6, {"nvlink": 0.47e-6, "pcie": 1.0e-6, "network": 2.7e-6}, 0.25),
    # Simple: a maintainer's figure (NVIDIA/nccl-tests issue 212): "450GB/s is the line
    # rate. With the protocol overhead (~20%) NCCL can get an effective NVLink bandwidth
    # of 370GB/s" on H100: 80% of the line rate.
    Protocol("Simple", 8.4e-6, {"nvlink": 3.4e-6, "pcie": 5.7e-6, "network": 9.6e-6}, 0.80),
)


class Collective(NamedTuple):
    """One collective's time and the bandwidths nccl-tests would print for it."""

    op: str
    algorithm: str
    devices: int
    size_bytes: float
    time_s: float
    protocol: str

    @property
    def algbw(self) -> float:
        """Algorithm bandwidth: size over time (bytes per second)."""
        return self.size_bytes / self.time_s if self.time_s else 0.0

    @property
    def busbw(self) -> float:
        """Bus bandwidth: algbw times NCCL's factor for the operation."""
        return self.algbw * bus_factor(self.op, self.devices)

    def to_dict(self) -> dict:
        """Plain values for JSON, the two bandwidths included."""
        return dict(self._asdict(), algbw=self.algbw, busbw=self.busbw)


def bus_factor(op: str, n: int) -> float:
    """NCCL's bus-bandwidth factor of ``op`` over ``n`` devices (module docstring)."""
    if op == "all_reduce":
        return 2 * (n - 1) / n
    if op in ("all_gather", "reduce_scatter", "all_to_all"):
        return (n - 1) / n
    return 1.0


def bus_bandwidth(topology: str, link_bytes_per_s: float, n: int) -> float:
    """Bytes per second one device sends at once over ``topology`` (module docstring)."""
    if topology == "switch":
        return link_bytes_per_s
    if topology == "fully_connected":
        return (n - 1) * link_bytes_per_s
    return (1 if n == 2 else 2) * link_bytes_per_s


def _steps(op: str, algorithm: str, n: int) -> int:
    if op == "send_recv":
        return 1
    if op == "all_reduce":
        return 2 * math.ceil(math.log2(n)) if algorithm == "tree" else 2 * (n - 1)
    return n - 1


def _ring_all_to_all_factor(n: int) -> float:
    """Bytes one device's two outgoing link directions carry per byte of S, in an
    all-to-all over a ring: each device sends S/n to each peer j places away over
    min(j, n - j) links (shortest way round), so the ring's 2n link directions carry
    S * sum_j min(j, n - j) bytes in all, evenly: sum_j min(j, n - j) / n per device."""
    hops = sum(min(j, n - j) for j in range(1, n))
    return hops / n


def _factor(op: str, algorithm: str, n: int, topology: str) -> float:
    """Bytes one device moves over its bus bandwidth, per byte of S."""
    if op == "all_reduce" and algorithm == "tree":
        return 2.0
    if op == "all_to_all" and topology == "ring" and n > 2:
        return _ring_all_to_all_factor(n)
    return bus_factor(op, n)


class Link(NamedTuple):
    """What a collective needs of a link."""

    kind: str
    topology: str
    bytes_per_s: float


def collective(op: str, size_bytes: float, n: int, link: Link,
               algorithm: str = "ring") -> Collective:
    """Time of ``op`` moving ``size_bytes`` among ``n`` devices over ``link``: the fastest
    protocol's (module docstring).  One device moves nothing and takes no time."""
    if op not in OPS:
        raise ValueError(f"unknown collective {op!r}; expected one of {', '.join(OPS)}")
    if algorithm not in ALGORITHMS or (algorithm == "tree" and op != "all_reduce"):
        raise ValueError(f"algorithm {algorithm!r} is not one of {op}'s: "
                         f"{'ring, tree' if op == 'all_reduce' else 'ring'}")
    if n < 2 and op != "send_recv":
        return Collective(op, algorithm, n, size_bytes, 0.0, "-")
    peers = 2 if op == "send_recv" else n
    bus = (link.bytes_per_s if op == "send_recv"
           else bus_bandwidth(link.topology, link.bytes_per_s, n))
    moved = _factor(op, algorithm, peers, link.topology) * size_bytes
    steps = _steps(op, algorithm, peers)
    times = [(p.base_s + steps * p.step_s[link.kind] + moved / (p.fraction * bus), p.name)
             for p in PROTOCOLS]
    time, name = min(times)
    return Collective(op, algorithm, peers, size_bytes, time, name)
