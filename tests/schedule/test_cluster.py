from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT, shared_file
from wattwise.errors import DataFormatError
from wattwise.schedule.cluster import load_cluster

EXAMPLES = REPO_ROOT / "examples" / "clusters"


@pytest.mark.parametrize("name", ["pai", "azure", "pai1k"])
def test_example_clusters_load(name: str) -> None:
    shared_file("solar", "solar_example.csv")  # the PV groups' measured profile
    cl = load_cluster(EXAMPLES / f"hetero-solar-{name}.yaml")
    assert len(cl.groups) == 2
    solar = [g for g in cl.groups if g.solar_peak_w > 0]
    assert len(solar) == 1
    assert solar[0].solar_profile is not None and Path(solar[0].solar_profile).exists()
    # Two node types of different efficiency.
    assert cl.groups[0].energy_per_work_wh() != cl.groups[1].energy_per_work_wh()


def test_toml_cluster(tmp_path: Path) -> None:
    p = tmp_path / "c.toml"
    p.write_text('name = "t"\n[[groups]]\nname = "a"\ncount = 2\ncpus = 4\nspeed = 1.5\n')
    cl = load_cluster(p)
    assert cl.groups[0].total_cpus == 8
    assert cl.groups[0].speed == 1.5
    assert not cl.unlimited


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("groups: [{name: a, count: 1}]", "missing 'cpus'"),
        ("groups: [{name: a, count: 1, cpus: 4, speed: 0}]", "speed must be > 0"),
        ("groups: [{name: a, count: 1, cpus: 4, watts: 3}]", "unknown key"),
        ("groups: [{name: a, count: 1.5, cpus: 4}]", "whole number"),
        ("groups: [{name: a, count: 1, cpus: 4}, {name: a, count: 1, cpus: 2}]", "unique"),
        ("groups: [{name: a, count: 1, cpus: 4, solar: {kwp: 1}}]", "latitude"),
        ("nodes: []", "'groups' list"),
        ("groups: [{name: a, count: 1, cpus: [4}", "invalid YAML"),
    ],
)
def test_bad_cluster_files(tmp_path: Path, text: str, fragment: str) -> None:
    p = tmp_path / "c.yaml"
    p.write_text(text)
    with pytest.raises(DataFormatError) as err:
        load_cluster(p)
    assert fragment in str(err.value)
    assert str(p) in str(err.value)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        # YAML reads a bare date as datetime.date: the message shows it as ISO 8601.
        ("groups: [{name: a, count: 2024-01-01, cpus: 4}]", "got 2024-01-01"),
        ("groups: [{name: a, count: 1.0e+23, cpus: 4}]", "count must be at least 1 and at most"),
        ("groups: [{name: a, count: 1, cpus: 1.0e+23}]", "cpus must be at least 1 and at most"),
    ],
)
def test_cluster_values_shown_and_held_to_limits(tmp_path: Path, text: str, fragment: str) -> None:
    p = tmp_path / "c.yaml"
    p.write_text(text)
    with pytest.raises(DataFormatError) as err:
        load_cluster(p)
    assert fragment in str(err.value) and "datetime" not in str(err.value)


def test_a_cluster_file_not_in_utf8_is_one_line(tmp_path: Path) -> None:
    p = tmp_path / "c.yaml"
    p.write_bytes("name: caf\xe9\ngroups: []\n".encode("latin-1"))
    with pytest.raises(DataFormatError) as err:
        load_cluster(p)
    assert str(p) in str(err.value) and "UTF-8" in str(err.value)
