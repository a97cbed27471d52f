"""config.toml: bad bytes and out-of-range numbers are one-line errors; the home is private."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

import pytest

from wattwise.config import check_number, home, load_config, private_file
from wattwise.errors import ConfigError


def test_non_utf8_config_names_the_file_and_line(wattwise_home: Path) -> None:
    (wattwise_home / "config.toml").write_bytes(b'zone = "DE"\n\xff\xfe\x00binary')
    with pytest.raises(ConfigError) as caught:
        load_config()
    assert f"{wattwise_home / 'config.toml'}:2: not UTF-8" in str(caught.value)


def test_binary_config_is_one_line_for_every_command(wattwise_home: Path) -> None:
    (wattwise_home / "config.toml").write_bytes(bytes(range(256)))
    out = subprocess.run(
        [sys.executable, "-m", "wattwise.cli.main", "runs"], capture_output=True, text=True
    )
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert out.stderr.strip().count("\n") == 0 and "config.toml" in out.stderr


@pytest.mark.parametrize("text", ["cpu_tdp_w = nan", "cpu_tdp_w = inf", "interval_s = 1e-9"])
def test_non_finite_and_tiny_numbers_are_refused(wattwise_home: Path, text: str) -> None:
    (wattwise_home / "config.toml").write_text(text + "\n")
    with pytest.raises(ConfigError, match=r"config\.toml:1: "):
        load_config()


def test_bad_trusted_proxy_is_refused(wattwise_home: Path) -> None:
    (wattwise_home / "config.toml").write_text('api_trusted_proxies = ["proxy.lan"]\n')
    with pytest.raises(ConfigError, match="not an IP address"):
        load_config()


def test_check_number_is_the_flags_rule_too() -> None:
    assert check_number("interval_s", 0.5, "--interval") == 0.5
    for bad in (0.0, float("nan"), float("inf"), 1e-9, 1e9):
        with pytest.raises(ConfigError, match="--interval"):
            check_number("interval_s", bad, "--interval")


def test_home_and_its_files_are_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WATTWISE_HOME", str(tmp_path / "a" / "b" / "home"))
    made = home()
    for folder in (made, made.parent, made.parent.parent):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
    db = private_file(made / "logs" / "x.log")
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    assert stat.S_IMODE(db.parent.stat().st_mode) == 0o700
