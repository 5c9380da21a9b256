"""Golden reports: the shipped presets' numbers stay exactly as they were.

The cases (GPU, spatial array, microcontroller, NPU, and a fusion search with a fixed seed)
are listed in ``tests/golden/golden_cases.py``.  Counts (integers, strings, booleans) must match
exactly and floats to a relative 1e-12.  The files were produced by the code before the cost
formulas were gathered in one place; regenerate them only when a change of numbers is
intended, and say why in the commit:

    python tests/golden/golden_cases.py [CASE ...]
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from golden_cases import CASES, HERE, run  # noqa: E402

REL = 1e-12


def differences(expected, actual, where="$"):
    """Every place where ``actual`` departs from ``expected`` (a list of strings)."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        out = [f"{where}: keys {sorted(set(expected) ^ set(actual))} differ"] \
            if set(expected) != set(actual) else []
        for k in expected.keys() & actual.keys():
            out += differences(expected[k], actual[k], f"{where}.{k}")
        return out
    if isinstance(expected, list) and isinstance(actual, list):
        if len(expected) != len(actual):
            return [f"{where}: {len(actual)} items, expected {len(expected)}"]
        return [d for i, (e, a) in enumerate(zip(expected, actual))
                for d in differences(e, a, f"{where}[{i}]")]
    if isinstance(expected, float) and isinstance(actual, (int, float)) \
            and not isinstance(actual, bool):
        if math.isclose(expected, actual, rel_tol=REL, abs_tol=0.0) or expected == actual:
            return []
        return [f"{where}: {actual!r}, expected {expected!r}"]
    if type(expected) is not type(actual) or expected != actual:
        return [f"{where}: {actual!r}, expected {expected!r}"]
    return []


@pytest.mark.parametrize("name", sorted(CASES))
def test_report_matches_golden(name, tmp_path):
    expected = json.loads((HERE / f"{name}.json").read_text())
    actual = json.loads(json.dumps(run(name, tmp_path / "out.json")))
    found = differences(expected, actual)
    assert not found, f"{name}: {len(found)} differences, first: " + "; ".join(found[:5])


def test_differences_catches_a_changed_count_and_a_drifted_float():
    base = {"a": [1, 2.0], "b": {"c": "x"}}
    assert differences(base, {"a": [1, 2.0 * (1 + 1e-13)], "b": {"c": "x"}}) == []
    assert differences(base, {"a": [2, 2.0], "b": {"c": "x"}}) == ["$.a[0]: 2, expected 1"]
    assert differences(base, {"a": [1, 2.0 * (1 + 1e-9)], "b": {"c": "x"}})
    assert differences(base, {"a": [1, 2.0], "b": {}})
