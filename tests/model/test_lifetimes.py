"""Peak SRAM from tensor lifetimes (accelsim.model.lifetimes), against figures derived by hand.

Byte sizes: int8 = 1 byte, int32 = 4 (accelsim.dtypes).  Weights are in flash and never
counted.  "320 KB" is the STM32F746's 320 Kbytes of SRAM (hw_configs/stm32f746.yaml, [DS]:
"320 Kbytes SRAM (including 64 Kbytes DTCM)") = 320 x 1024 = 327,680 bytes; the preset
models it as the SRAM level (SRAM1 + SRAM2, 256 KiB = 262,144 B) and the DTCM level (64 KiB).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from accelsim.arch import Architecture, load_architecture
from accelsim.errors import SpecError
from accelsim.ir import Cascade, verify
from accelsim.lower import Request, lower
from accelsim.model.lifetimes import (cascade_profile, schedule_order, sram_fit, sram_level,
                                      sram_profile, tensor_lifetimes)
from accelsim.spec import HardwareSpec

ROOT = Path(__file__).resolve().parents[2]
STM32F746 = ROOT / "hw_configs" / "stm32f746.yaml"
KB320 = 320 * 1024

# ----------------------------------------------------------------------------- a hand-built cascade

MLP = Cascade(
    name="mlp-residual", source="hand-built for this test", dtype="int8",
    ranks={"T": 4, "D": 8, "F": 16},
    tensors={"X": ["T", "D"], "W1": ["D", "F"], "W2": ["F", "D"]},
    einsums=["H[t,f] = X[t,d] * W1[d,f]", "A[t,f] = gelu(H[t,f])",
             "Z[t,d] = A[t,f] * W2[f,d]", "Y[t,d] = X[t,d] + Z[t,d]"])
WEIGHTS = {"W1": "weight", "W2": "weight"}


def test_small_cascade_lifetimes_by_hand():
    """All int8, T=4, D=8, F=16: X and Y and Z are 4 x 8 = 32 B, H and A 4 x 16 = 64 B.
    Steps H(0) A(1) Z(2) Y(3).  X is an input (from step 0) last read by Y (3); H is written
    at 0 and read by A (1); A read by Z (2); Z read by Y (3); Y the output, to the end (3).
    W1 and W2 are weights: not in SRAM."""
    verify(MLP)
    order = schedule_order(MLP)
    lives = tensor_lifetimes(MLP, order, MLP.sizes(), WEIGHTS)
    assert {t: (x.first, x.last, x.bytes) for t, x in lives.items()} == {
        "X": (0, 3, 32), "H": (0, 1, 64), "A": (1, 2, 64), "Z": (2, 3, 32), "Y": (3, 3, 32)}


SMALL_CASES = [
    # (in_place, overwrite, bytes at steps H, A, Z, Y, peak Einsum), derived by hand:
    # no reuse: X+H = 96; X+H+A = 160; X+A+Z = 128; X+Z+Y = 96.
    (False, False, [96, 160, 128, 96], "A"),
    # in place: A = gelu(H) is element-wise, H dies at A, same shape and type: A costs 0
    # (96); Y = X + Z: X dies, same shape: Y costs 0 (X+Z = 64).  Z = A*W2 is no element-wise
    # Einsum: 128 stays, and sets the peak.
    (True, False, [96, 96, 128, 64], "Z"),
    # token overwriting: at A the row is the whole index (t, f), one 1-byte element:
    # max(64, 64) + 1 = 65 for H and A, + X 32 = 97.  At Z the row is t (A[t,f] -> Z[t,d]),
    # one Z row = 8 B: max(64, 32) + 8 = 72, + X = 104.  At Y, over X: max(32, 32) + 1 = 33,
    # + Z = 65.  At H, X does not die (Y reads it): 96.
    (False, True, [96, 97, 104, 65], "Z"),
    # both: in place where it applies (A: 96, Y: 64), overwriting at Z (104).
    (True, True, [96, 96, 104, 64], "Z"),
]


@pytest.mark.parametrize("in_place, overwrite, expected, peak", SMALL_CASES)
def test_small_cascade_profile_by_hand(in_place, overwrite, expected, peak):
    steps = cascade_profile(MLP, roles=WEIGHTS, in_place=in_place, overwrite=overwrite)
    assert [s.einsum for s in steps] == ["H", "A", "Z", "Y"]
    assert [s.live_bytes for s in steps] == expected
    assert max(steps, key=lambda s: s.live_bytes).einsum == peak


def test_reuse_kinds_are_reported():
    steps = cascade_profile(MLP, roles=WEIGHTS)
    assert steps[0].reuse is None
    assert (steps[1].reuse.kind, steps[1].reuse.donor, steps[1].reuse.saved_bytes) == \
        ("in-place", "H", 64)
    # Z over A: saves min(64, 32) - one 8-byte row = 24.
    assert (steps[2].reuse.kind, steps[2].reuse.donor, steps[2].reuse.saved_bytes,
            steps[2].reuse.row_bytes) == ("overwrite", "A", 24, 8)


BRANCHES = Cascade(
    name="two-branches", source="hand-built for this test", dtype="int8",
    ranks={"T": 4, "D": 8, "F": 16},
    tensors={"X": ["T", "D"], "W1": ["D", "F"], "W2": ["D", "F"]},
    einsums=["A[t,f] = X[t,d] * W1[d,f]", "B[t] = sum(f) A[t,f]",
             "C[t,f] = X[t,d] * W2[d,f]", "S[t] = sum(f) C[t,f]", "Y[t] = B[t] + S[t]"])


@pytest.mark.parametrize("order, expected", [
    # X 32 B, A and C 64 B, B, S and Y 4 B (no reuse).  Written order A B C S Y:
    # X+A = 96; X+A+B = 100; X+B+C = 100 (X dies at C); B+C+S = 72; B+S+Y = 12.
    (None, [96, 100, 100, 72, 12]),
    # A C B S Y keeps both 64-byte branches alive at C: X+A+C = 160; A+C+B = 132.
    (["A", "C", "B", "S", "Y"], [96, 160, 132, 72, 12]),
])
def test_order_changes_the_peak(order, expected):
    steps = cascade_profile(BRANCHES, roles={"W1": "weight", "W2": "weight"}, order=order,
                            in_place=False, overwrite=False)
    assert [s.live_bytes for s in steps] == expected


@pytest.mark.parametrize("order, fragment", [
    (["B", "A", "C", "S", "Y"], "B reads A before A writes it"),
    (["A", "B", "C", "S"], "expected each of"),
    (["A", "B", "C", "S", "Q"], "expected each of"),
])
def test_bad_orders_are_named(order, fragment):
    with pytest.raises(SpecError, match=fragment):
        cascade_profile(BRANCHES, order=order)


# ----------------------------------------------------------------------------- DeiT-Tiny

@pytest.fixture(scope="module")
def deit():
    return lower(ROOT / "workloads" / "deit-tiny.yaml", "prefill", batch=1, dtype="int8",
                 attention="3pass")


def test_deit_tiny_tensor_sizes(deit):
    """197 tokens x 192 int8 = 37,824 B.  The lowering writes Q, K and V separately (no fused
    QKV): 197 x 3 heads x 64 int8 = 37,824 B each, 113,472 B together (= a fused 197 x 576
    QKV).  Its GEMM results are int32 before the bias add: QP 197 x 192 x 4 = 151,296 B."""
    sizes = deit.sizes
    size = {t: deit.layer.tensors[t].bytes(sizes) for t in ("X", "Q", "K", "V", "QP")}
    assert size["X"] == 37_824
    assert size["Q"] + size["K"] + size["V"] == 113_472
    assert size["QP"] == 151_296


DEIT_CASES = [
    # (in_place, overwrite, peak bytes, Einsum that sets it); derivation in the test below
    (False, False, 794_304, "FA"),
    (True, False, 794_304, "FA"),
    (False, True, 646_080, "F1"),
    (True, True, 646_080, "F1"),
]


@pytest.mark.parametrize("in_place, overwrite, peak, einsum", DEIT_CASES)
def test_deit_tiny_peak_by_hand(deit, in_place, overwrite, peak, einsum):
    """DeiT-Tiny int8 layer (3-pass attention), T = 197, D = 192, 3 heads of 64, MLP 768.

    Sizes: a 197 x 192 int8 activation a = 37,824; QP/KP/VP/AV/AOP/FOP (int32, 197 x 192)
    151,296; AT_QK (int32, 197 x 3 x 197) 465,708; AT_SN, AT_A (int8) 116,427; F1 (int32,
    197 x 768) 605,184; FA (int8, 197 x 768) 151,296.  Lifetimes (steps in written order):
    X 0-21, H1 21-32, XN2 27-28, F1 28-29, FA 29-30, AT_QS 12-13, K 9-13, V 11-18, AT_QK
    13-15, AT_GM 14-15, AT_SN 15-17.

    No reuse: the largest step is FA (29): H1 + F1 + FA = 37,824 + 605,184 + 151,296 =
    794,304 (F1 at 28: H1 + XN2 + F1 = 680,832; AT_SN at 15: X + V + AT_QK + AT_GM + AT_SN
    = 75,648 + 465,708 + 591 + 116,427 = 658,374).  In place changes nothing there: FA
    (int8) cannot overwrite F1 (int32) in place, so the peak stays 794,304 at FA.

    Token overwriting: at F1, XN2 dies and F1's row is one token: 768 x 4 = 3,072 B; H1 +
    max(37,824, 605,184) + 3,072 = 646,080.  At FA (row = one 1-byte element): H1 + 605,184
    + 1 = 643,009.  At AT_QK (over AT_QS, row 197 x 4 = 788): X + K + V + 465,708 + 788 =
    579,968.  So the peak is 646,080 at F1, the MLP's first GEMM.
    """
    profile = sram_profile(deit, in_place=in_place, overwrite=overwrite)
    assert profile.peak_bytes == peak
    assert (profile.peak_step.einsum, profile.peak_step.part) == (einsum, "layer")
    assert profile.part_peaks == {"layer": peak}
    assert profile.layers == 12
    assert not profile.fits(KB320)


def test_deit_tiny_in_place_lowers_softmax_step(deit):
    """At AT_A (step 17) X, V, AT_SN, AT_SD and AT_A are live: 37,824 x 2 + 116,427 + 2,364
    + 116,427 = 310,866.  AT_A = AT_SN / AT_SD is element-wise over AT_SN (int8, same shape),
    which dies there: in place it costs nothing, 310,866 - 116,427 = 194,439."""
    plain = sram_profile(deit, in_place=False, overwrite=False).steps[17]
    reused = sram_profile(deit, in_place=True, overwrite=False).steps[17]
    assert (plain.einsum, plain.live_bytes) == ("AT_A", 310_866)
    assert (reused.live_bytes, reused.reuse.kind, reused.reuse.donor) == \
        (194_439, "in-place", "AT_SN")


# ----------------------------------------------------------------------------- fitting 320 KB

INT8_3PASS = Request(dtype="int8", attention="3pass")
"""An int8 prefill of a ViT's patches (seq_len None) through the 3-pass attention cascade."""


def test_deit_tiny_144_fits_320_kb_only_with_token_overwriting():
    """DeiT-Ti at 144 px (workloads/deit-tiny-144.yaml): 9 x 9 patches + class token, T = 82.
    Activation 82 x 192 = 15,744; F1 82 x 768 x 4 = 251,904; FA 82 x 768 = 62,976.

    No reuse: FA step, H1 + F1 + FA = 15,744 + 251,904 + 62,976 = 330,624 > 327,680.
    Overwriting: F1 step, H1 + max(15,744, 251,904) + 3,072 = 270,720 <= 327,680 (the
    attention steps stay below: AT_QK is 3 x 82 x 82 x 4 = 80,688 B).  270,720 is more than
    the preset's SRAM level alone (262,144): it needs the DTCM's 64 KiB too.
    """
    def fit(on, level=("SRAM", "DTCM")):
        return sram_fit(STM32F746, ROOT / "workloads" / "deit-tiny-144.yaml", INT8_3PASS,
                        in_place=on, overwrite=on, level=level)

    plain, reused, sram_only = fit(False), fit(True), fit(True, None)
    assert (plain.peak_bytes, plain.einsum, plain.part, plain.fits) == (330_624, "FA", "layer",
                                                                          False)
    assert (reused.peak_bytes, reused.einsum, reused.fits) == (270_720, "F1", True)
    assert (reused.level, reused.capacity_bytes) == ("SRAM+DTCM", KB320)
    assert (sram_only.level, sram_only.capacity_bytes, sram_only.fits) == ("SRAM", 262_144,
                                                                            False)
    assert "270,720 B at F1" in reused.note and "<=" in reused.note


def test_deit_tiny_on_stm32f746_does_not_fit():
    fit = sram_fit(STM32F746, ROOT / "workloads" / "deit-tiny.yaml", INT8_3PASS)
    assert (fit.peak_bytes, fit.einsum, fit.level, fit.fits) == (646_080, "F1", "SRAM", False)
    data = json.loads(json.dumps(fit.to_dict()))
    assert (data["einsum"], data["profile"]["steps"][28]["einsum"]) == ("F1", "F1")


def _arch(levels) -> Architecture:
    return Architecture.from_spec(HardwareSpec.model_validate({
        "kind": "hardware", "version": 1, "name": "tiny", "clock": "100 MHz",
        "levels": levels,
        "compute": [{"name": "core", "ops": ["mac"], "throughput": {"int8": 1}}]}))


def test_sram_level_is_found_by_name_or_role():
    assert sram_level(load_architecture(str(STM32F746))) == ("SRAM", 262_144)
    # no level called SRAM: the outermost on-chip level that may keep intermediates
    arch = _arch([{"name": "FLASH", "capacity": "1 MiB", "keep": ["weight"]},
                  {"name": "WBUF", "capacity": "8 KiB", "keep": ["weight"]},
                  {"name": "RAM", "capacity": "96 KiB"}])
    assert sram_level(arch) == ("RAM", 96 * 1024)
    with pytest.raises(SpecError, match="no level called SRAM"):
        sram_level(_arch([{"name": "FLASH", "capacity": "1 MiB"},
                          {"name": "WBUF", "capacity": "8 KiB", "keep": ["weight"]}]))
    with pytest.raises(SpecError, match="unknown level 'L9'"):
        sram_level(arch, "L9")


def test_unknown_part_in_orders(deit):
    with pytest.raises(SpecError, match="unknown part 'mid'"):
        sram_profile(deit, orders={"mid": []})
    with pytest.raises(SpecError, match="has no pre cascade"):
        sram_profile(deit, orders={"pre": []})
