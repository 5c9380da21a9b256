"""accelsim evaluate on a microcontroller: the schedule's peak SRAM and whether it fits.

Expected peaks are derived by hand in tests/model/test_lifetimes.py from the tensor shapes
(DeiT-Ti at 144 px: 82 tokens; the int32 MLP up-projection F1 is 82 x 768 x 4 B).
The STM32F746's activation RAM is SRAM1 + SRAM2 (256 KiB) plus DTCM (64 KiB) = 327,680 B
(ST RM0385, Fig. 1: SRAM1 240 KB, SRAM2 16 KB, DTCM 64 KB), the 320 Kbytes of SRAM
the datasheet (ST DS10916) gives.
"""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MCU = str(ROOT / "hw_configs" / "stm32f746.yaml")


def test_small_vit_fits_the_stm32f746(run_cli):
    code, out, err = run_cli("evaluate", MCU, str(ROOT / "workloads" / "deit-tiny-144.yaml"),
                             "--dtype", "int8")
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


def test_a_vit_prompt_is_its_patches_and_energy_without_a_figure_is_unknown(run_cli):
    """Without --seq a ViT's prompt is its patches plus the class token: (144 / 16)^2 + 1
    = 82. An encoder keeps no KV cache; the flash holds the weights alone. The shipped
    STM32F746 preset has no run-mode power: the energy is 'unknown', not 0 J."""
    code, out, err = run_cli("evaluate", MCU, str(ROOT / "workloads" / "deit-tiny-144.yaml"),
                             "--dtype", "int8")
    assert code == 0, err
    text = " ".join(out.split())
    assert "(82 token(s):" in text
    fits = next(line for line in out.splitlines() if line.startswith("fits"))
    assert "KV cache" not in fits and "> FLASH 1.05 MB" in fits   # 1 MiB = 1,048,576 B
    assert "energy      unknown" in out and " 0 J" not in out


def test_run_power_gives_energy_as_power_times_time(run_cli, tmp_path):
    """With a run power (a value chosen here, 0.25 W), the model's energy is 0.25 W x its
    latency and nothing is left out."""
    import json

    import yaml

    spec = yaml.safe_load(Path(MCU).read_text())
    path = tmp_path / "mcu-powered.yaml"
    path.write_text(yaml.safe_dump({**spec, "run_power": "0.25 W"}))
    out_json = tmp_path / "result.json"
    code, out, err = run_cli("evaluate", str(path), str(ROOT / "workloads" / "deit-tiny-144.yaml"),
                             "--dtype", "int8", "--json", str(out_json))
    assert code == 0, err
    result = json.loads(out_json.read_text())["workload"]
    assert result["energy_j"] == pytest.approx(0.25 * result["model_latency_s"], rel=1e-9)
    energy = " ".join(line for line in out.splitlines() if line.startswith("energy"))
    assert energy and "leaves out" not in energy


def test_compare_says_unknown_where_neither_has_a_figure(run_cli):
    """Neither STM32 preset has a run-mode power: compare shows 'unknown', no ratio."""
    code, out, err = run_cli("compare", MCU, str(ROOT / "hw_configs" / "stm32h743.yaml"),
                             str(ROOT / "workloads" / "deit-tiny-144.yaml"), "--dtype", "int8",
                             "--budget", "40")
    assert code == 0, err
    energy = next(line for line in out.splitlines() if "energy per token" in line)
    assert energy.count("unknown") == 2 and "n/a" in energy
