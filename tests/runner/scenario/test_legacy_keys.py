"""Keys SimCash accepts and ignores load with one warning line each, naming the key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from paylab_cli import main
from runner.scenario.loader import scenario_from_dict

BASE: dict[str, Any] = {
    "simulation": {"ticks_per_day": 2},
    "lsm_config": {"enable_cycles": False},
    "agents": [{"id": "A", "opening_balance": 10}, {"id": "B", "opening_balance": 10}],
}
LEGACY = [
    ({"simulation": {"ticks_per_day": 2, "lsm_enabled": True}}, "simulation.lsm_enabled"),
    ({"simulation": {"ticks_per_day": 2, "lsm_frequency_ticks": 5}}, "simulation.lsm_frequency_ticks"),
    ({"cost_model": {"anything": 1}}, "cost_model"),
    (
        {"agents": [{"id": "A", "opening_balance": 10, "overdraft_rate": 0.1}, {"id": "B", "opening_balance": 10}]},
        "agents[0].overdraft_rate",
    ),
    (
        {"agents": [{"id": "A", "opening_balance": 10}, {"id": "B", "opening_balance": 10, "delay_cost_per_tick": 2}]},
        "agents[1].delay_cost_per_tick",
    ),
    ({"priority_escalation": {"enabled": True, "curve": "exponential"}}, "priority_escalation.curve"),
]


@pytest.mark.parametrize(("patch", "key"), LEGACY)
def test_legacy_key_loads_with_one_warning_naming_it(patch: dict[str, Any], key: str) -> None:
    sc = scenario_from_dict({**BASE, **patch}, source="s.yaml")
    assert len(sc.warnings) == 1
    assert sc.warnings[0].startswith(f"s.yaml: {key}: ")
    assert "no effect" in sc.warnings[0]


def test_clean_file_has_no_warnings() -> None:
    assert scenario_from_dict(BASE).warnings == ()


def test_simulate_prints_the_warning_and_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "legacy.yaml"
    path.write_text(yaml.safe_dump({**BASE, "cost_model": {"x": 1}}))
    main(["simulate", str(path)])
    out, err = capsys.readouterr()
    assert err.splitlines() == [f"warning: {path}: cost_model: legacy key with no effect (as in SimCash); ignored"]
    assert "total cost" in out
