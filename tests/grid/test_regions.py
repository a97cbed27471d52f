"""Cloud regions resolve to grid zones wherever a zone is accepted."""

from __future__ import annotations

import json
import re

import pytest

from wattwise.cli.main import main
from wattwise.errors import ConfigError
from wattwise.grid import StaticProvider, resolve_provider, static_intensity
from wattwise.grid.live import LiveProvider
from wattwise.grid.regions import cloud_region, grid_zone, list_regions

ZONE = re.compile(r"^[A-Z]{2}(-[A-Z0-9]+)*$")


def test_the_table_covers_the_major_regions_of_each_cloud_with_well_formed_zones() -> None:
    regions = list_regions()
    specs = {r.spec for r in regions}
    for spec in (
        "aws:us-east-1", "aws:us-west-2", "aws:eu-west-1", "aws:eu-central-1",
        "aws:ap-northeast-1", "aws:ap-southeast-2", "aws:ap-south-1", "aws:sa-east-1",
        "gcp:us-central1", "gcp:us-east1", "gcp:europe-west1", "gcp:europe-west4",
        "gcp:asia-northeast1", "gcp:asia-southeast1", "gcp:australia-southeast1",
        "azure:eastus", "azure:westus2", "azure:westeurope", "azure:northeurope",
        "azure:uksouth", "azure:japaneast", "azure:southeastasia", "azure:australiaeast",
    ):  # fmt: skip
        assert spec in specs, spec
    assert len(specs) == len(regions) >= 100
    for r in regions:
        assert ZONE.match(r.zone), r
        assert r.location and r.source.count("https://") == 1, r


@pytest.mark.parametrize(
    ("spec", "zone"),
    [
        ("aws:eu-central-1", "DE"),
        ("gcp:europe-west4", "NL"),
        ("azure:westeurope", "NL"),
        ("AWS:EU-WEST-1", "IE"),
        ("gcp:us-west1", "US-NW-BPAT"),
        ("azure:centralindia", "IN-WE"),
    ],
)
def test_a_region_is_the_grid_zone_of_its_location(spec: str, zone: str) -> None:
    assert cloud_region(spec).zone == zone
    assert grid_zone(spec) == zone


def test_resolve_provider_gives_the_zone_static_average_and_says_which_region() -> None:
    provider = resolve_provider(zone="aws:eu-central-1")
    assert isinstance(provider, StaticProvider)
    assert provider.entry == static_intensity("DE")
    assert "aws:eu-central-1 (Frankfurt, Germany) is in grid zone DE" in provider.describe()
    mumbai = resolve_provider(zone="aws:ap-south-1")
    assert isinstance(mumbai, StaticProvider) and mumbai.entry.zone == "IN-WE"


def test_a_sub_national_zone_without_a_static_row_uses_its_country_and_says_so() -> None:
    provider = resolve_provider(zone="aws:us-east-1")
    assert isinstance(provider, StaticProvider)
    assert provider.entry.zone == "US"
    assert "grid zone US-MIDA-PJM, which has no static row: US used" in provider.describe()


def test_a_live_provider_is_asked_for_the_region_zone() -> None:
    provider = resolve_provider(zone="electricitymaps:gcp:europe-west4")
    assert isinstance(provider, LiveProvider)
    assert provider.client.zone == "NL"
    assert grid_zone("electricitymaps:gcp:europe-west4") == "NL"


def test_an_unknown_region_is_one_line_with_close_matches() -> None:
    with pytest.raises(ConfigError) as err:
        resolve_provider(zone="aws:eu-centrl-1")
    text = str(err.value)
    assert "\n" not in text
    assert "unknown cloud region 'aws:eu-centrl-1'" in text
    assert "did you mean aws:eu-central-1" in text
    with pytest.raises(ConfigError, match=r"cloud_regions\.csv"):
        cloud_region("gcp:nowhere-at-all-9")


def test_grid_now_json_reports_the_resolved_zone(capsys: pytest.CaptureFixture[str]) -> None:
    main(["grid", "now", "--zone", "aws:eu-central-1", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert out["zone"] == "DE"
    assert out["intensity"] == static_intensity("DE").g_per_kwh


def test_grid_now_unknown_region_exits_2_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["grid", "now", "--zone", "azure:westeurop"])
    assert done.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert "azure:westeurope" in err
