"""accelsim evaluate on a microcontroller: the schedule's peak SRAM and whether it fits.

Expected peaks are derived by hand in tests/model/test_lifetimes.py from the tensor shapes
(DeiT-Ti at 144 px: 82 tokens; the int32 MLP up-projection F1 is 82 x 768 x 4 B).
The STM32F746's activation RAM is SRAM1 + SRAM2 (256 KiB) plus DTCM (64 KiB) = 327,680 B
(ST RM0385, Fig. 1: SRAM1 240 KB, SRAM2 16 KB, DTCM 64 KB), the 320 Kbytes of SRAM
the datasheet (ST DS10916) gives.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MCU = str(ROOT / "hw_configs" / "stm32f746.yaml")


def test_small_vit_fits_the_stm32f746(run_cli):
    code, out, err = run_cli("evaluate", MCU, str(ROOT / "workloads" / "deit-tiny-144.yaml"),
                             "--dtype", "int8", "--seq", "82")
    assert code == 0, err
    text = " ".join(out.split())
    assert "SRAM fits: peak SRAM 270,720 B at F1" in text
    assert "SRAM+DTCM 327,680 B" in text


def test_deit_tiny_does_not_fit(run_cli):
    code, out, err = run_cli("evaluate", MCU, str(ROOT / "workloads" / "deit-tiny.yaml"),
                             "--dtype", "int8", "--seq", "197")
    assert code == 0, err
    text = " ".join(out.split())
    assert "SRAM does NOT fit" in text and "> SRAM+DTCM 327,680 B" in text
