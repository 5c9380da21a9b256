"""This machine as an accelsim hardware spec (``calibrate``), and accelsim's latency
predictions against timed PyTorch CPU operators (``validate``).

``calibrate()`` reads the caches, cores, memory and clock from the OS
(/sys/devices/system/cpu/cpu0/cache, /proc/meminfo, /proc/cpuinfo; ``lscpu`` as a fallback)
and measures with torch, each figure the median of timed repetitions after a warm-up:

* peak multiply-accumulates per second: a large fp32 matmul (2048^3; 1024^3 when ``quick``);
* DRAM bandwidth: a copy of 256 MiB (read + write bytes / time: accelsim charges a copy's
  reads and writes to one port, so this is the figure the model needs);
* L3 and L2 bandwidth: copies whose source and destination fit in an eighth of the L3, and
  in half of each core's L2 (per core: the aggregate divided by the cores);
* exp and elementwise throughput: ``torch.exp`` and ``torch.add`` on L2-resident buffers (an
  add, max, divide or copy costs the vector unit MAC rate / add rate MAC slots: ``op_cycles``);
* launch overhead: ``torch.add`` of one element (the fixed cost of any operator call).

The L2 bandwidth is written as a comment only: the mappings of :mod:`.cpu_mappings` keep a
fused operator's intermediates in L2 and let every operation read them there, where the
real kernels keep them in L1 and registers; charging those reads to the copy bandwidth of
L2 would make softmax and attention look L2-bound, which they are not.

It writes a ``kind: hardware`` YAML, each number with a comment naming its source ("measured on
HOST DATE by accelsim calibrate: how").  ``validate(path)`` times matmuls of 22 shapes, softmax,
layer norm and scaled_dot_product_attention on this machine (warm-up, then the median), predicts
each with accelsim under the mappings of :mod:`.cpu_mappings`, and returns the rows and the mean
absolute percentage error.
"""

from __future__ import annotations

import datetime
import os
import platform
import re
import socket
import subprocess
from dataclasses import dataclass, field
from typing import Callable

from accelsim.errors import SpecError, ValidationRunError
from accelsim.validate.output import Row, mape, median_time
from accelsim.validate.sanity import REPEATS, repeated

MiB = 1 << 20


@dataclass(frozen=True)
class Cache:
    level: int
    bytes: int
    shared_by: int
    """Logical CPUs sharing one instance."""


@dataclass
class Calibration:
    """What calibrate found; every figure's source is in ``sources``."""

    host: str
    date: str
    cores: int
    clock_hz: float
    memory_bytes: int
    caches: dict[int, Cache]
    macs_per_s: float = 0.0
    exp_per_s: float = 0.0
    elementwise_per_s: float = 0.0
    bandwidth: dict[str, float] = field(default_factory=dict)
    """Level name -> bytes per second of one instance."""
    launch_s: float = 0.0
    sources: dict[str, str] = field(default_factory=dict)
    spread: dict[str, float] = field(default_factory=dict)
    """Figure -> (largest - smallest) / median of its repetitions (sanity.repeated)."""


# ----------------------------------------------------------------------------- the OS
def _read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read().strip()
    except OSError:
        return None


def _size(text: str) -> int:
    m = re.match(r"\s*([\d.]+)\s*([KMG]?)i?B?", text, re.I)
    if not m:
        raise ValueError(f"cannot read a cache size from {text!r}")
    return int(float(m.group(1)) * {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}[m.group(2).upper()])


def read_caches() -> tuple[dict[int, Cache], str]:
    """Data/unified caches by level, and where they were read from."""
    root = "/sys/devices/system/cpu/cpu0/cache"
    found: dict[int, Cache] = {}
    if os.path.isdir(root):
        for entry in sorted(os.listdir(root)):
            base = os.path.join(root, entry)
            kind, level, size = (_read(os.path.join(base, n)) for n in ("type", "level", "size"))
            if not (kind and level and size) or kind == "Instruction":
                continue
            shared = _read(os.path.join(base, "shared_cpu_list")) or "0"
            found[int(level)] = Cache(int(level), _size(size), _count_cpus(shared))
        if found:
            return found, root
    out = subprocess.run(["lscpu", "-B"], capture_output=True, text=True, check=False).stdout
    for line in out.splitlines():
        m = re.match(r"L(\d)d? cache:\s+(\d+)(?:\s+\((\d+) instances?\))?", line)
        if m:
            level, total, inst = int(m.group(1)), int(m.group(2)), int(m.group(3) or 1)
            found[level] = Cache(level, total // inst, max(1, (os.cpu_count() or 1) // inst))
    if not found:
        raise RuntimeError("no cache sizes in /sys/devices/system/cpu/cpu0/cache or lscpu")
    return found, "lscpu -B"


def _count_cpus(cpu_list: str) -> int:
    n = 0
    for part in cpu_list.split(","):
        lo, _, hi = part.partition("-")
        n += int(hi) - int(lo) + 1 if hi else 1
    return n


def read_clock_hz() -> tuple[float, str]:
    """The core clock: cpufreq's maximum, else /proc/cpuinfo's 'cpu MHz', else lscpu."""
    khz = _read("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq")
    if khz:
        return float(khz) * 1e3, "/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq"
    info = _read("/proc/cpuinfo") or ""
    m = re.search(r"cpu MHz\s*:\s*([\d.]+)", info)
    if m:
        return float(m.group(1)) * 1e6, "/proc/cpuinfo 'cpu MHz'"
    out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
    m = re.search(r"CPU max MHz:\s*([\d.]+)", out)
    if m:
        return float(m.group(1)) * 1e6, "lscpu 'CPU max MHz'"
    raise RuntimeError("no clock frequency in cpufreq, /proc/cpuinfo or lscpu")


def read_memory_bytes() -> int:
    m = re.search(r"MemTotal:\s*(\d+)\s*kB", _read("/proc/meminfo") or "")
    return int(m.group(1)) * 1024 if m else 64 << 30


# ----------------------------------------------------------------------------- measuring
def _measure_macs(torch, sizes: tuple[int, ...]) -> tuple[float, int]:
    """The best of the median MAC rates of square fp32 matmuls of ``sizes``, and its size."""
    best = (0.0, 0)
    for n in sizes:
        a, b, out = torch.randn(n, n), torch.randn(n, n), torch.empty(n, n)
        t = median_time(lambda: torch.matmul(a, b, out=out), warmup=2, min_reps=3, budget_s=0.5)
        best = max(best, (n ** 3 / t, n))
    return best


def _slope(make, big: int, small: int) -> float:
    """Units per second of ``make(n)``'s timed call between sizes ``small`` and ``big``: the
    difference of the two medians, so that the call's fixed cost drops out."""
    t_big = median_time(make(big), min_reps=7, budget_s=0.4)
    t_small = median_time(make(small), min_reps=7, budget_s=0.4)
    return (big - small) / max(t_big - t_small, 1e-12)


def _measure_copy(torch, nbytes: int) -> float:
    """(read + write bytes) per second of ``dst.copy_(src)``, sources of ``nbytes``."""
    def make(n):
        src = torch.rand(max(n // 4, 1))
        dst = torch.empty_like(src)
        return lambda: dst.copy_(src)
    return 2 * _slope(make, nbytes, nbytes // 4)


def _measure_add(torch, nbytes: int) -> float:
    def make(n):
        x, y = torch.rand(max(n // 4, 1)), torch.rand(max(n // 4, 1))
        z = torch.empty_like(x)
        return lambda: torch.add(x, y, out=z)
    return _slope(make, nbytes, nbytes // 4) / 4


def _measure_exp(torch, nbytes: int) -> float:
    def make(n):
        x = torch.rand(max(n // 4, 1))
        y = torch.empty_like(x)
        return lambda: torch.exp(x, out=y)
    return _slope(make, nbytes, nbytes // 4) / 4


def measure(quick: bool = False, threads: int | None = None,
            progress: Callable[[str], None] | None = None) -> Calibration:
    """Read the OS and time torch (see the module docstring) with ``threads`` threads
    (default: torch's own choice, one per core); each figure the median of
    :data:`~accelsim.validate.sanity.REPEATS` measurements.  Figures no CPU could produce
    (:func:`~accelsim.validate.sanity.impossible`) are measured again, up to
    :data:`~accelsim.validate.sanity.TRIES` times, then refused with the reasons.
    ``progress(step)`` is called as each measurement starts."""
    import torch

    from accelsim.validate.sanity import TRIES, impossible

    old = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    say = progress or (lambda step: None)
    try:
        for attempt in range(1, TRIES + 1):
            cal = _measure(torch, quick, say)
            wrong = impossible(cal)
            if not wrong:
                return cal
            say(f"attempt {attempt} gave impossible figures ({'; '.join(wrong)}); "
                "measuring again")
    finally:
        torch.set_num_threads(old)
    raise ValidationRunError(f"calibration gave physically impossible figures {TRIES} times: "
                             f"{'; '.join(wrong)}. The machine is probably busy: rerun on an "
                             "idle machine, or with --threads 1")


def _measure(torch, quick: bool, say: Callable[[str], None]) -> Calibration:
    host = socket.gethostname()
    date = datetime.date.today().isoformat()
    caches, cache_src = read_caches()
    clock, clock_src = read_clock_hz()
    cores = torch.get_num_threads()
    cal = Calibration(host, date, cores, clock, read_memory_bytes(), caches)
    l2, l3 = caches.get(2), caches.get(max(caches))
    how = cal.sources
    how["caches"] = f"{cache_src}"
    how["clock"] = clock_src
    how["memory"] = "/proc/meminfo MemTotal"
    how["cores"] = "torch.get_num_threads()"
    times = 2 if quick else REPEATS

    def figure(name: str, step: str, fn) -> float:
        say(step)
        got = repeated(fn, times)
        cal.spread[name] = got.spread
        return got.value

    sizes = (512, 1024) if quick else (512, 1024, 2048)
    n = _measure_macs(torch, sizes)[1]
    cal.macs_per_s = figure("macs", f"matmul {n}^3", lambda: _measure_macs(torch, (n,))[0])
    how["macs"] = (f"fp32 torch.matmul n^3 on {cores} threads, n = 512, 1024(, 2048): the "
                   f"best n^3 / median time (n = {n})")
    dram = (128 if quick else 256) * MiB
    cal.bandwidth["DRAM"] = figure("DRAM", "DRAM copy", lambda: _measure_copy(
        torch, max(dram, 8 * l3.bytes)))
    how["DRAM"] = (f"copies of {max(dram, 8 * l3.bytes) // MiB} and a quarter of that, fp32: "
                   "(read + write bytes) / difference of median times")
    if 3 in caches:
        size = caches[3].bytes // 8
        cal.bandwidth["L3"] = figure("L3", "L3 copy", lambda: _measure_copy(torch, size))
        how["L3"] = (f"copies of {size // 1024} KiB and a quarter of that, fp32 (in the L3): "
                    "(read + write bytes) / difference of median times")
    if l2 is not None:
        size = cores * l2.bytes // 4
        cal.bandwidth["L2"] = figure("L2", "L2 copy",
                                     lambda: _measure_copy(torch, size) / cores)
        how["L2"] = (f"copies of {size // 1024} KiB and a quarter of that, fp32, on {cores} "
                     "threads (in the L2s): (read + write bytes) / difference of median times "
                     "/ cores")
    size = cores * (l2.bytes if l2 else 256 * 1024) // 8
    cal.exp_per_s = figure("exp", "exp", lambda: _measure_exp(torch, size))
    cal.elementwise_per_s = figure("add", "add", lambda: _measure_add(torch, size))
    how["add"] = (f"torch.add on {size // 1024} KiB and a quarter of that, fp32 (in the L2s): "
                  "elements / difference of median times")
    how["exp"] = (f"torch.exp on {size // 1024} KiB and a quarter of that, fp32 (in the L2s): "
                  "elements / difference of median times")
    a, b, c = torch.ones(1), torch.ones(1), torch.empty(1)
    say("launch overhead")
    cal.launch_s = median_time(lambda: torch.add(a, b, out=c), warmup=20, min_reps=200,
                               max_reps=2000, budget_s=0.1)
    how["launch"] = "torch.add of one fp32 element: median time"
    return cal


# ----------------------------------------------------------------------------- the YAML
def _qty(value: float, units: list[tuple[float, str]]) -> str:
    for scale, name in units:
        if value >= scale:
            return f"{value / scale:.4g} {name}"
    return f"{value / units[-1][0]:.4g} {units[-1][1]}"


_BYTES = [(1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB"), (1, "B")]
_BW = [(1e12, "TB/s"), (1e9, "GB/s"), (1e6, "MB/s")]


def hardware_yaml(cal: Calibration) -> str:
    """The ``kind: hardware`` document for ``cal``; every number cites its measurement."""
    src = f"measured on {cal.host} {cal.date} by accelsim calibrate"
    how = cal.sources
    lines = [
        f"# {platform.processor() or platform.machine()} CPU, {cal.cores} cores, calibrated by "
        "accelsim.validate.cpu.calibrate().",
        "kind: hardware", "version: 1", f"name: cpu-{_slug(cal.host)}", "family: cpu",
        f"description: {cal.host} as measured by accelsim calibrate on {cal.date}",
        f"clock: {cal.clock_hz / 1e9:.4g} GHz  # {src}: {how['clock']}",
        f"launch_overhead: {cal.launch_s * 1e6:.4g} us  # {src}: {how['launch']}",
        *_spread_comment(cal),
        "levels:",
        "  - name: DRAM",
        f"    capacity: {_qty(cal.memory_bytes, _BYTES)}  # {src}: {how['memory']}",
        "    word_bits: 32",
        f"    read_bandwidth: {_qty(cal.bandwidth['DRAM'], _BW)}  # {src}: {how['DRAM']}",
    ]
    for level, name in ((3, "L3"), (2, "L2"), (1, "L1")):
        cache = cal.caches.get(level)
        if cache is None:
            continue
        instances = max(1, cal.cores // cache.shared_by) if cache.shared_by < cal.cores else 1
        lines += [f"  - name: {name}",
                  f"    capacity: {_qty(cache.bytes, _BYTES)}  # {src}: {how['caches']}",
                  "    word_bits: 32",
                  f"    instances: [{instances}]  # {src}: cores / CPUs sharing one, "
                  f"{cal.cores} / {min(cache.shared_by, cal.cores)}"]
        if name == "L3" and name in cal.bandwidth:
            lines.append(f"    read_bandwidth: {_qty(cal.bandwidth[name], _BW)}  # {src}: {how[name]}")
        elif name in cal.bandwidth:   # recorded, not imposed: see the module docstring
            lines.append(f"    # per-core copy bandwidth {_qty(cal.bandwidth[name], _BW)}, {src}: "
                         f"{how[name]}; left out of the model")
    macs = cal.macs_per_s / (cal.clock_hz * cal.cores)
    exps = cal.exp_per_s / (cal.clock_hz * cal.cores)
    ratio = max(1.0, cal.macs_per_s / max(cal.elementwise_per_s, 1.0))
    lines += [
        "compute:",
        "  - name: vector",
        "    ops: [mac, add, max, elementwise, divide]",
        f"    instances: [{cal.cores}]  # {src}: {how['cores']}",
        f"    throughput: {{fp32: {macs:.4g}}}  # {src}: {how['macs']} / clock / cores",
        f"    op_cycles: {{add: {ratio:.3g}, max: {ratio:.3g}, elementwise: {ratio:.3g}, "
        f"divide: {ratio:.3g}}}  # {src}: MAC rate / elementwise rate, {how['add']}",
        "  - name: exp",
        "    ops: [exp]",
        f"    instances: [{cal.cores}]  # {src}: {how['cores']}",
        f"    throughput: {{fp32: {exps:.4g}}}  # {src}: {how['exp']} / clock / cores",
    ]
    return "\n".join(lines) + "\n"


def _spread_comment(cal: Calibration) -> list[str]:
    """The YAML comment giving each figure's spread over its repetitions (none if unknown)."""
    if not cal.spread:
        return []
    return ["# spread of repeated measurements ((largest - smallest) / median): "
            + ", ".join(f"{k} {100 * v:.0f}%" for k, v in cal.spread.items())]


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-").lower() or "host"


def calibrate(path: str | os.PathLike | None = None, *, quick: bool = False,
              threads: int | None = None,
              progress: Callable[[str], None] | None = None) -> str:
    """Measure this machine and write its hardware YAML to ``path`` (default
    ``cpu-HOST.yaml`` in the working directory); returns the path written.

    ``threads`` is the number of torch threads (= cores the spec describes); on a machine
    shared with other jobs, 1 avoids the stalls of a parallel region waiting for a thread
    that the scheduler gave to someone else (a 2-thread layer norm of 0.3 ms then takes 16 ms).
    Figures whose repetitions spread more than sanity.NOISY are named in an
    AccelsimWarning (and in the YAML's spread comment).
    """
    import warnings

    from accelsim.errors import AccelsimWarning
    from accelsim.validate.sanity import noisy

    cal = measure(quick=quick, threads=threads, progress=progress)
    for note in noisy(cal.spread):
        warnings.warn(f"calibrate: {note}; the figure written is the median", AccelsimWarning,
                      stacklevel=2)
    path = os.fspath(path) if path is not None else f"cpu-{_slug(cal.host)}.yaml"
    with open(path, "w", encoding="utf-8") as f:
        f.write(hardware_yaml(cal))
    return path


def validate(hardware_yaml_path: str | os.PathLike, *, quick: bool = False,
             ops: tuple[str, ...] | None = None,
             progress: Callable[[int, int], None] | None = None) -> tuple[list[Row], float]:
    """Time PyTorch CPU operators and compare them with accelsim on the calibrated machine.

    Returns (rows, MAPE in percent).  ``quick`` runs a subset (a few shapes per operator);
    ``ops`` picks operator families (matmul, softmax, layernorm, sdpa).  torch runs with as
    many threads as the spec's vector unit has instances (the cores it was calibrated with).
    ``progress(done, total)`` is called after each case.  A busy or noisy machine is named
    in an AccelsimWarning (:func:`_warn_if_noisy`).
    """
    import torch

    from accelsim.spec.load import load_spec
    from accelsim.validate.cpu_cases import cases, run

    path = os.fspath(hardware_yaml_path)
    spec = load_spec(path, kind="hardware")
    if spec.family != "cpu":
        raise SpecError(f"is a {spec.family!r} machine; accelsim validate times this machine's "
                        "CPU against the spec `accelsim calibrate --device cpu` writes "
                        "(family: cpu)", file=path, path="family")
    old = torch.get_num_threads()
    threads = 1
    for n in spec.compute[0].instances:
        threads *= n
    torch.set_num_threads(threads)
    try:
        _warn_if_noisy(torch, "before")
        todo, rows = cases(quick, ops), []
        for case in todo:
            rows.append(run(case, path))
            if progress:
                progress(len(rows), len(todo))
        _warn_if_noisy(torch, "after")
    finally:
        torch.set_num_threads(old)
    return rows, mape(rows)


def _warn_if_noisy(torch, when: str) -> None:
    """An AccelsimWarning when the machine is busy, or when ten timings of one reference
    call (an add of 2^20 fp32 elements, median of 5 each) do not repeat."""
    import warnings

    from accelsim.errors import AccelsimWarning
    from accelsim.validate.sanity import load_note, noise_note

    x, y = torch.rand(1 << 20), torch.empty(1 << 20)
    times = [median_time(lambda: torch.add(x, x, out=y), warmup=1, min_reps=5, max_reps=5)
             for _ in range(10)]
    for note in (load_note(), noise_note(times)):
        if note:
            warnings.warn(f"validate ({when} timing): {note}", AccelsimWarning, stacklevel=3)
