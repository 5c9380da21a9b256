"""Malformed inputs: each gives exit code 2 and one clear line naming file and field.

The base document is the shipped ``shared-ws-32x32`` preset; each case edits it (or
replaces the file) so that exactly one thing is wrong.
"""

from __future__ import annotations

from pathlib import Path

import subprocess
import sys

import pytest

ROOT = Path(__file__).resolve().parents[1]

BASE = (ROOT / "hw_configs" / "shared-ws-32x32.yaml").read_text()


def _bomb(levels: int = 9) -> str:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    return "\n".join(lines) + "\nkind: hardware\nversion: 1\n"


# name -> (file content (str or bytes) or a special marker, expected fragments of the message)
CASES = {
    "yaml-syntax": (BASE.replace("name: DRAM", "name: [DRAM", 1), ["YAML syntax error", ":"]),
    "wrong-kind": (BASE.replace("kind: hardware", "kind: hardwre"),
                   ["kind", "unknown kind 'hardwre'", "expected one of hardware, workload"]),
    "unknown-key": (BASE.replace("read_bandwidth: 128", "read_bandwdith: 128"),
                    ["levels[0].read_bandwdith", "did you mean 'read_bandwidth'"]),
    "missing-field": (BASE.replace("clock: 1 GHz", "description2: x").replace("description2: x", ""),
                      ["clock", "missing required field"]),
    "negative-capacity": (BASE.replace("capacity: 64 KiB", "capacity: -64 KiB", 1),
                          ["levels[1].capacity", "negative"]),
    "zero-bandwidth": (BASE.replace("128 bit/cycle", "0 bit/cycle", 1),
                       ["levels[0].read_bandwidth", "a bandwidth must be positive"]),
    "zero-clock": (BASE.replace("clock: 1 GHz", "clock: 0 GHz"),
                   ["clock", "a frequency must be positive"]),
    "bandwidth-without-time": (BASE.replace("128 bit/cycle", "3.35 TB", 1),
                               ["levels[0].read_bandwidth", "'3.35 TB' is not a bandwidth"]),
    "number-for-list": (BASE.replace("instances: [32]", "instances: {a: 1}", 1),
                        ["levels[4].instances", "expected a valid list"]),
    "empty-file": ("", ["is empty"]),
    "comments-only": ("# nothing here\n", ["is empty"]),
    "binary-file": (b"\x7fELF\x02\x01\x01\x00\x00\x00", ["binary file"]),
    "non-utf8": ("kind: hardware\nname: caf\xe9\n".encode("latin-1"), ["not UTF-8", "0xe9"]),
    "yaml-bomb": (_bomb(), ["alias explosion"]),
    "huge-integer": (BASE.replace("instances: [32]", "instances: [" + "9" * 40 + "]", 1),
                     ["levels[4].instances[0]", "less than or equal"]),
    "unsupported-version": (BASE.replace("version: 1", "version: 7"), ["version", "unsupported version 7"]),
    "top-level-list": ("- kind: hardware\n- version: 1\n", ["expected a YAML mapping", "a list"]),
    "two-documents": (BASE + "\n---\nkind: hardware\n", ["several YAML documents"]),
    "control-character": ("kind: hardware\nname: \x1f\n", ["YAML error", "special characters"]),
    "bool-for-count": (BASE.replace("word_bits: 32", "word_bits: yes", 1),
                       ["levels[4].word_bits", "not a whole number"]),
    "bad-dtype": (BASE.replace("{int8: 1}", "{int7: 1}"), ["compute[0].throughput", "unknown element type 'int7'"]),
    "duplicate-level": (BASE.replace("name: I_SRAM", "name: W_SRAM"), ["duplicate name 'W_SRAM'"]),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_malformed_file(name, tmp_path, run_cli):
    content, fragments = CASES[name]
    path = tmp_path / f"{name}.yaml"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    code, out, err = run_cli("check", "--quiet", str(path))
    assert code == 2
    lines = out.strip().splitlines()
    assert len(lines) == 1, out
    assert lines[0].startswith(str(path)), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    assert "Traceback" not in out + err


def test_field_errors_carry_line_and_column(tmp_path, run_cli):
    path = tmp_path / "hw.yaml"
    path.write_text(BASE.replace("128 bit/cycle", "3.35 TB", 1))
    expected_line = BASE.splitlines().index("    read_bandwidth: 128 bit/cycle    # case README: DRAM at 128 bits/cycle") + 1
    code, out, _ = run_cli("check", "-q", str(path))
    assert code == 2
    assert out.startswith(f"{path}:{expected_line}:5: levels[0].read_bandwidth:"), out


@pytest.mark.parametrize("make, fragment", [
    (lambda tmp: tmp / "absent.yaml", "no such file or directory"),
    (lambda tmp: tmp / "no" / "such" / "folder" / "x.yaml", "no such file or directory"),
    (lambda tmp: tmp, "is a directory with no .yaml or .yml files"),
    (lambda tmp: tmp / "*.yml", "pattern matches no files"),
])
def test_bad_paths(make, fragment, tmp_path, run_cli):
    path = make(tmp_path)
    code, out, err = run_cli("check", "-q", str(path))
    assert code == 2
    assert out.strip() == f"{path}: {fragment}"
    assert "Traceback" not in out + err


def test_several_problems_one_line_each(tmp_path, run_cli):
    bad = BASE.replace("clock: 1 GHz", "clock: 1 GB").replace("capacity: 4 B", "capacity: -4 B")
    path = tmp_path / "two.yaml"
    path.write_text(bad)
    code, out, _ = run_cli("check", "-q", str(path))
    assert code == 2
    lines = out.strip().splitlines()
    assert len(lines) == 2
    assert "clock" in lines[0] and "levels[4].capacity" in lines[1]


def test_console_script_prints_no_traceback(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("kind: [unclosed\n")
    proc = subprocess.run([sys.executable, "-m", "accelsim", "check", str(path)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stdout + proc.stderr
    assert f"{path}:2:1: YAML syntax error" in proc.stdout


HW = str(ROOT / "hw_configs" / "shared-ws-32x32.yaml")
GEMM = str(ROOT / "einsum_cascades" / "gemm.yaml")
MAPPING = str(ROOT / "mappings" / "gemm-ws-32x32.yaml")


@pytest.mark.parametrize("args", [
    ["plot", "roofline", HW, str(ROOT / "workloads" / "gpt2.yaml"), "-o", "{missing}/x.png"],
    ["plot", "energy", HW, GEMM, "-m", MAPPING, "-o", "{missing}/x.svg"],
    ["evaluate", HW, GEMM, "-m", MAPPING, "--json", "{missing}/r.json"],
    ["evaluate", HW, GEMM, "-m", MAPPING, "--csv", "{folder}"],
    ["calibrate", "--out", "{folder}"],
    ["validate", "--published", "--plot", "{missing}/p.png"],
])
def test_output_paths_are_checked_before_any_work(args, tmp_path, run_cli, monkeypatch):
    """A missing folder, or a folder given as the file, is one line and exit 2 before the
    command starts: the command itself is never called."""
    import accelsim.pipeline

    def never(*_, **__):
        raise AssertionError("the command ran")

    monkeypatch.setattr(accelsim.pipeline, "evaluate_workload", never)
    args = [a.format(missing=tmp_path / "missing", folder=tmp_path) for a in args]
    code, out, err = run_cli(*args)
    assert code == 2
    assert ("does not exist" in err) or ("is a directory" in err) or ("is a folder" in err), err
    assert "Traceback" not in out + err


def test_factors_past_twice_a_rank_are_refused_at_once(tmp_path, run_cli):
    """n: 32 at DRAM x 32 across the array covers 1024 of 512: refused in one line (it used
    to run for most of a minute through 16 empty 32-wide tiles)."""
    text = Path(MAPPING).read_text().replace("{rank: n, factor: 16}", "{rank: n, factor: 32}")
    path = tmp_path / "over.yaml"
    path.write_text(text)
    code, out, err = run_cli("evaluate", HW, GEMM, "-m", str(path))
    assert code == 2 and "Traceback" not in out + err
    assert "rank 'N': its loop factors multiply to 1024" in err
    assert "at 'DRAM' (32) needs only 16 iterations" in err


@pytest.mark.parametrize("args, fragment", [
    (["search", HW, GEMM, "--einsum", "Z", "--role", "Q=weight"],
     "no tensor 'Q' in Einsum Z; its tensors are A, B, Z"),
    (["search", HW, str(ROOT / "einsum_cascades" / "attention_3pass.yaml"), "--fuse",
      "--role", "NOPE=weight"], "no tensor 'NOPE' in"),
])
def test_roles_of_unknown_tensors_are_refused(args, fragment, run_cli):
    code, out, err = run_cli(*args)
    assert code == 2 and fragment in err and "Traceback" not in out + err


def test_validate_names_the_file_of_a_spec_that_is_not_a_cpu(run_cli):
    pytest.importorskip("torch")
    t4 = str(ROOT / "hw_configs" / "t4.yaml")
    code, out, err = run_cli("validate", t4, "--quick")
    assert code == 2 and "Traceback" not in out + err
    assert f"{t4}: family: is a 'gpu' machine" in err


def test_sizes_past_the_counters_are_refused_before_any_work(run_cli):
    """batch 1e8 x 1e8 tokens x 768: the first layernorm sum alone iterates over 7.68e18
    points, past the 2^60 the 64-bit counters allow (it used to print negative energy)."""
    gpt2 = str(ROOT / "workloads" / "gpt2.yaml")
    code, out, err = run_cli("evaluate", str(ROOT / "hw_configs" / "h100-sxm5-80gb.yaml"), gpt2,
                             "--batch", "100000000", "--seq", "100000000", "--quiet")
    assert code == 2 and "Traceback" not in out + err
    assert "N1_SX would iterate over 7.68e+18 points" in err


def test_a_length_past_the_models_context_is_warned_about(run_cli):
    """GPT-2 has 1,024 positions (config.json n_positions): a 2,048-token prompt runs, with
    one warning line."""
    code, out, err = run_cli("evaluate", HW, str(ROOT / "workloads" / "gpt2.yaml"),
                             "--seq", "2048", "--budget", "20", "--quiet")
    assert code == 0
    assert ("warning: gpt2: prefill length 2048 is past the model's 1024 positions"
            in err), err
