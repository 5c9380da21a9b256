"""``kind: system`` files: the shipped presets load, and bad input fails naming the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from accelsim.errors import AccelsimError
from accelsim.system import load_system

ROOT = Path(__file__).resolve().parents[2]
SYSTEMS = ROOT / "hw_configs" / "systems"


@pytest.mark.parametrize("name, groups, links", [
    ("dgx-a100", {"gpu": 8}, {"nvlink3": 300e9}),
    ("dgx-h100", {"gpu": 8}, {"nvlink4": 450e9}),
    ("pcie-4x-a100", {"gpu": 4}, {"pcie4": 31.5e9}),
    ("offload-h100-a100", {"compute": 4, "attention": 4},
     {"nvlink4": 450e9, "nvlink3": 300e9, "ndr": 50e9}),
])
def test_presets_load_with_their_cited_figures(name, groups, links):
    system = load_system(str(SYSTEMS / f"{name}.yaml"))
    assert {g.name: g.count for g in system.groups} == groups
    assert {lk.name: lk.link.bytes_per_s for lk in system.links} == links
    assert all(g.arch.family == "gpu" for g in system.groups)


def test_a_group_uses_its_own_link_and_the_groups_share_the_network():
    system = load_system(str(SYSTEMS / "offload-h100-a100.yaml"))
    assert system.link_of("attention").name == "nvlink3"
    assert system.link_of("compute", "attention").name == "ndr"
    # 4 x A100 over 300 GB/s: 2 (n - 1) / n = 1.5 of the buffer, 6 Simple steps
    c = system.collective("all_reduce", 1 << 30, group="attention")
    assert c.time_s == pytest.approx(8.4e-6 + 6 * 3.4e-6 + 1.5 * (1 << 30) / 240e9)


def _write(tmp_path, body: str) -> str:
    path = tmp_path / "system.yaml"
    path.write_text("kind: system\nversion: 1\nname: s\n" + body)
    return str(path)


HW = str(ROOT / "hw_configs" / "a100-sxm4-80gb.yaml")
GROUP = f"devices:\n  - {{name: gpu, hardware: {HW}, count: 4}}\n"


@pytest.mark.parametrize("body, fragment", [
    (GROUP + "links:\n  - {name: l, kind: nvlink, topology: switch, bandwidth: 0 GB/s}\n",
     "links[0].bandwidth"),
    (GROUP + "links:\n  - {name: l, kind: nvlink, topology: mesh, bandwidth: 1 GB/s}\n",
     "links[0].topology"),
    (GROUP + "links:\n  - {name: l, kind: nvlink, topology: ring, bandwidth: 1 GB/s, "
             "groups: [cpu]}\n", "unknown device group(s) cpu"),
    ("devices:\n  - {name: gpu, hardware: missing.yaml, count: 4}\n"
     "links:\n  - {name: l, kind: nvlink, topology: ring, bandwidth: 1 GB/s}\n",
     "devices[0].hardware"),
    (GROUP.replace("count: 4", "count: 0")
     + "links:\n  - {name: l, kind: pcie, topology: ring, bandwidth: 1 GB/s}\n",
     "devices[0].count"),
])
def test_bad_systems_name_the_field(tmp_path, body, fragment):
    with pytest.raises(AccelsimError) as caught:
        load_system(_write(tmp_path, body))
    assert fragment in str(caught.value)
    assert "system.yaml" in str(caught.value)


def test_cli_prints_nccl_tests_columns_and_fails_cleanly(run_cli, tmp_path):
    code, out, err = run_cli("collective", str(SYSTEMS / "dgx-a100.yaml"), "--size", "1 GiB",
                             "--json", str(tmp_path / "c.json"))
    assert code == 0, err
    assert "busbw" in out and "Simple" in out and "nvlink3: nvlink, switch, 300 GB/s" in out
    code, out, err = run_cli("collective", str(SYSTEMS / "dgx-a100.yaml"), "--devices", "16")
    assert code == 2 and "group 'gpu' has 8" in err
    code, out, err = run_cli("collective", str(SYSTEMS / "dgx-a100.yaml"), "--size", "lots")
    assert code == 2 and "'lots' is not a size" in err
    code, out, err = run_cli("collective", HW)
    assert code == 2 and "expected a system spec" in err


def test_check_loads_the_devices_of_a_system(run_cli, tmp_path):
    path = _write(tmp_path, "devices:\n  - {name: gpu, hardware: nothere.yaml, count: 2}\n"
                            "links:\n  - {name: l, kind: pcie, topology: ring, "
                            "bandwidth: 1 GB/s}\n")
    code, out, err = run_cli("check", path, str(SYSTEMS))
    assert code == 2
    assert "devices[0].hardware: no hardware spec at 'nothere.yaml'" in out + err
    assert "1 with problems" in out + err
