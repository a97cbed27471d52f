from __future__ import annotations

from pathlib import Path

import pytest

from wattwise.errors import ConfigError, DataFormatError
from wattwise.optimize.workload import load_workload

REPO = Path(__file__).resolve().parents[2]


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such workload file"):
        load_workload(tmp_path / "nope.py")


def test_file_without_workload(tmp_path: Path) -> None:
    f = tmp_path / "w.py"
    f.write_text("x = 1\n")
    with pytest.raises(ConfigError, match=r"defines no workload\(\)"):
        load_workload(f)


def test_syntax_error_names_the_line(tmp_path: Path) -> None:
    f = tmp_path / "w.py"
    f.write_text("a = 1\ndef workload(:\n")
    with pytest.raises(ConfigError, match=r"w\.py:2: syntax error"):
        load_workload(f)


def test_wrong_return_type(tmp_path: Path) -> None:
    f = tmp_path / "w.py"
    f.write_text("def workload():\n    return 42\n")
    with pytest.raises(ConfigError, match="returned int"):
        load_workload(f)


def test_sts_reader_names_file_and_line(tmp_path: Path) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("minilm_sts", REPO / "examples" / "minilm_sts.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    bad = tmp_path / "sts.csv"
    bad.write_text("g\tf\t2012\t1\t4.0\ta\tb\ng\tf\t2012\t2\tfive\ta\tb\n")
    with pytest.raises(DataFormatError, match=r"sts\.csv:2: gold score 'five'"):
        mod.read_sts(bad)
    bad.write_text("g\tf\t2012\t1\t4.0\tonly one sentence\n")
    with pytest.raises(DataFormatError, match=r"sts\.csv:1: expected 7"):
        mod.read_sts(bad)
