"""The day chart replays the engine's trace exactly, marks every LSM settlement, and draws it.

* Property (random scenarios and policies from the engine tests' strategies, bilateral
  offsetting on or off, several days, deferred crediting, mid-day horizons): the replayed end
  balances and cumulative costs equal the engine's `CostTable` (`reconcile` finds nothing),
  queues are never negative, what is still queued at the end never exceeds what arrived and
  did not settle, and the LSM marks are exactly the trace's offsetting events.
* A day with bilateral offsetting: its marks drawn on every panel; every line's data equal
  the frame's.
* A liquidity-saving kind the engine does not emit yet (a cycle) is marked and moves
  balances like any settlement.
* ``paylab simulate --plot``: writes a non-blank image; a bad suffix is one line, exit 2,
  nothing written.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given

from paylab_cli import main
from runner.engine.reference import ReferenceEngine
from runner.engine.schedule import Schedule, generate_schedule
from runner.engine.setup import EngineSetup, build_setup
from runner.errors import SimulationError
from runner.scenario import scenario_from_dict
from sweep.plots.day_frames import day_frames, is_lsm, reconcile
from sweep.plots.figures import day_figure
from tests.conftest import EXPERIMENTS
from tests.runner.engine.strategies import Case, cases, engine_settings
from tests.sweep.plots.helpers import assert_not_blank, dollars, line_xy


def _arrival(tick: int, sender: str, receiver: str, amount: int) -> dict[str, object]:
    return {
        "type": "CustomTransactionArrival",
        "from_agent": sender,
        "to_agent": receiver,
        "amount": amount,
        "deadline": 2,
        "schedule": {"type": "OneTime", "tick": tick},
    }


# Three banks without money: two payments that only a bilateral offset settles (tick 0), then a
# ring that only a multilateral cycle settles (tick 1).
LSM_DAY = {
    "simulation": {"ticks_per_day": 2, "num_days": 1, "rng_seed": 1},
    "lsm_config": {"enable_bilateral": True, "enable_cycles": True},
    "agents": [{"id": bank, "opening_balance": 0} for bank in ("A", "B", "C")],
    "scenario_events": [
        _arrival(0, "A", "B", 100),
        _arrival(0, "B", "A", 100),
        _arrival(1, "A", "B", 50),
        _arrival(1, "B", "C", 50),
        _arrival(1, "C", "A", 50),
    ],
}


@engine_settings(25)
@given(case=cases(min_samples=1, max_samples=2))
def test_the_replay_reconciles_with_the_engine(case: Case) -> None:
    _, setup, schedules = case.build()
    for schedule in schedules:
        try:
            table, events = ReferenceEngine(setup).run(schedule, trace=True)
        except SimulationError:  # a random policy divided by zero: no day to draw
            continue
        frames = day_frames(setup, events)
        assert reconcile(frames, table) == []
        rows = frames["ticks"].to_pylist()
        assert len(rows) == setup.horizon * setup.n_agents
        assert all(r["queue1"] >= 0 and r["queue2"] >= 0 for r in rows)
        last = rows[-setup.n_agents :] if rows else []
        arrived, settled = table.arrived_count[0].sum(axis=0), table.settled_count[0].sum(axis=0)
        # a split payment waits as its parts: count them as the trace does (each part arrives,
        # the split one leaves the queues)
        parts = {
            a: sum(len(e["children"]) - 1 for e in events if e["type"] == "Split" and e["sender"] == a)
            for a in setup.agent_ids
        }
        for r in last:
            i = setup.index(r["agent"])
            assert r["queue1"] + r["queue2"] <= arrived[i] - settled[i] + parts[r["agent"]]
        lsm = [
            e
            for e in events
            if e["type"] in ("LsmOffset", "LsmCycle")
            or (e["type"] == "Settlement" and e.get("path") in ("offset", "cycle"))
        ]
        assert frames["lsm"].num_rows == len(lsm)


def _offset_day() -> tuple[EngineSetup, Schedule]:
    scenario = scenario_from_dict(LSM_DAY)
    setup = build_setup(scenario)
    return setup, generate_schedule(scenario.config, 1, setup.horizon)


def test_offsetting_is_marked_and_every_line_is_the_frame() -> None:
    setup, schedule = _offset_day()
    figure, problems = day_figure(setup, schedule, "offsets")
    assert problems == []
    marks = figure.frames["lsm"].to_pylist()
    kinds = {m["kind"] for m in marks}
    assert kinds == {"LsmOffset", "Settlement:offset", "LsmCycle", "Settlement:cycle"}
    lsm_ticks = sorted({float(m["tick"]) for m in marks})
    fig = figure.figure
    drawn = [c for c in fig.findobj(lambda a: a.get_gid() == "lsm") if hasattr(c, "get_segments")]
    assert len(drawn) == 3  # one set of vertical lines per panel
    for coll in drawn:
        assert sorted({float(s[0][0]) for s in coll.get_segments()}) == lsm_ticks
    rows = figure.frames["ticks"].to_pylist()
    for agent in {r["agent"] for r in rows}:
        mine = [r for r in rows if r["agent"] == agent]
        for gid, key, scale in (
            ("balance", "balance", dollars),
            ("queue1", "queue1", float),
            ("queue2", "queue2", float),
            ("cost", "cumulative_cost", dollars),
        ):
            xs, ys = line_xy(fig, f"{gid}:{agent}")
            assert xs == [float(r["tick"]) for r in mine]
            assert ys == [scale(r[key]) for r in mine]
    assert_not_blank(fig)


def test_a_new_lsm_kind_is_marked_and_moves_money() -> None:
    setup, schedule = _offset_day()
    table, events = ReferenceEngine(setup).run(schedule, trace=True)
    a, b = setup.agent_ids[:2]
    tick = setup.horizon - 1
    extra = [
        {"tick": tick, "type": "LsmCycle", "agents": [a, b], "net": 0},
        {"tick": tick, "type": "Settlement", "tx": None, "sender": a, "receiver": b, "amount": 700, "path": "cycle"},
    ]
    assert all(is_lsm(e) for e in extra)
    base = day_frames(setup, events)
    more = day_frames(setup, [*events, *extra])
    assert more["lsm"].num_rows == base["lsm"].num_rows + 2
    assert {"LsmCycle", "Settlement:cycle"} <= set(more["lsm"].column("kind").to_pylist())
    end = {r["agent"]: r["balance"] for r in more["ticks"].to_pylist()[-len(table.agent_ids) :]}
    was = {r["agent"]: r["balance"] for r in base["ticks"].to_pylist()[-len(table.agent_ids) :]}
    assert end[a] == was[a] - 700 and end[b] == was[b] + 700
    assert reconcile(more, table) != []  # money the engine did not move: the chart says so


def test_simulate_plot_writes_a_chart(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "day.png"
    main(["simulate", str(EXPERIMENTS / "scenarios" / "multibank.yaml"), "--plot", str(out)])
    err = capsys.readouterr().err
    assert f"day chart: {out}" in err and "warning" not in err
    from matplotlib.image import imread

    pixels = imread(str(out))
    assert pixels.shape[0] > 300 and pixels[..., :3].std() > 0.02


@pytest.mark.parametrize("name", ["day.gif", "day", "day.png.txt"])
def test_simulate_plot_refuses_an_unknown_format(tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["simulate", str(EXPERIMENTS / "castro" / "scenarios" / "exp1.yaml"), "--plot", str(tmp_path / name)])
    assert exit_info.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == "" and len(captured.err.strip().splitlines()) == 1
    assert "--plot" in captured.err and "png, svg, pdf" in captured.err
    assert list(tmp_path.iterdir()) == []
