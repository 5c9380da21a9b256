"""Every YAML shipped in the four data folders passes ``accelsim check``."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA_FOLDERS = ("hw_configs", "workloads", "einsum_cascades", "mappings")


def test_shipped_data_checks_clean(run_cli):
    folders = [str(ROOT / f) for f in DATA_FOLDERS if (ROOT / f).is_dir()]
    code, out, err = run_cli("check", *folders)
    assert code == 0, out + err
    assert "0 problem(s)" in out


def test_every_data_folder_ships_yaml():
    for folder in DATA_FOLDERS:
        assert list((ROOT / folder).rglob("*.yaml")), folder


def test_version(run_cli):
    import accelsim

    code, out, _ = run_cli("--version")
    assert code == 0
    assert out.strip() == f"accelsim, version {accelsim.__version__}"
