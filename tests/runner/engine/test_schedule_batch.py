"""`ScheduleBatch`: the flat layout must be a lossless view of the schedules it holds."""

from __future__ import annotations

import dataclasses
import pickle
from pathlib import Path

import numpy as np
import pytest

from runner.engine.batch import evaluate_batch
from runner.engine.results import CostTable
from runner.engine.schedule import Schedule, ScheduleGenerator, generate_schedule
from runner.engine.schedule_batch import ScheduleBatch
from runner.engine.setup import build_setup
from runner.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[3]
MULTIBANK = ROOT / "experiments/scenarios/multibank.yaml"  # has scenario events: both layouts
FIELDS = [f.name for f in dataclasses.fields(Schedule)]


def same(a: Schedule, b: Schedule) -> bool:
    return all(
        (getattr(a, f) == getattr(b, f)) if f == "seed" else np.array_equal(getattr(a, f), getattr(b, f))
        for f in FIELDS
    )


def tables_equal(a: CostTable, b: CostTable) -> bool:
    return a.agent_ids == b.agent_ids and all(
        np.array_equal(getattr(a, f.name), getattr(b, f.name))
        for f in dataclasses.fields(CostTable)
        if f.name != "agent_ids"
    )


@pytest.fixture(scope="module")
def schedules() -> list[Schedule]:
    cfg = load_scenario(MULTIBANK).config
    days = ScheduleGenerator(cfg, horizon=30)
    out = [days.draw(seed) for seed in range(9)]
    # an empty sample among them: no payments, no events
    empty = np.zeros(0, dtype=np.int64)
    out.insert(4, Schedule(empty, empty, empty, empty, empty, empty, seed=99))
    return out


def test_batch_round_trips_every_sample(schedules: list[Schedule]) -> None:
    batch = ScheduleBatch.of(schedules)
    assert len(batch) == len(schedules)
    assert all(same(a, b) for a, b in zip(batch, schedules, strict=True))
    assert same(batch[-1], schedules[-1])
    assert ScheduleBatch.of(batch) is batch
    with pytest.raises(IndexError):
        batch[len(schedules)]


def test_slices_take_and_concat_agree_with_lists(schedules: list[Schedule]) -> None:
    batch = ScheduleBatch.of(schedules)
    for part, expected in ((batch[2:7], schedules[2:7]), (batch[::3], schedules[::3]), (batch[5:2], schedules[5:2])):
        assert isinstance(part, ScheduleBatch)
        assert [s.seed for s in part] == [s.seed for s in expected]
        assert all(same(a, b) for a, b in zip(part, expected, strict=True))
    order = np.array([6, 0, 4, 4, 9])
    assert all(same(a, schedules[i]) for a, i in zip(batch.take(order), order, strict=True))
    joined = ScheduleBatch.concat([batch[:3], batch[3:], batch[:0]])
    assert all(same(a, b) for a, b in zip(joined, schedules, strict=True))


def test_batch_pickles_as_a_few_buffers(schedules: list[Schedule]) -> None:
    batch = ScheduleBatch.of(schedules * 20)
    restored = pickle.loads(pickle.dumps(batch[10:50], protocol=5))
    assert all(same(a, b) for a, b in zip(restored, (schedules * 20)[10:50], strict=True))
    # the slice is pickled, not the arrays it is a view of
    assert len(pickle.dumps(batch[:2], protocol=5)) < len(pickle.dumps(batch, protocol=5)) / 10


def test_engine_gives_the_same_table_for_a_list_and_a_batch(schedules: list[Schedule]) -> None:
    scenario = load_scenario(MULTIBANK)
    setup = build_setup(scenario, ticks=30)
    from_list = evaluate_batch(setup, schedules)
    from_batch = evaluate_batch(setup, ScheduleBatch.of(schedules))
    assert tables_equal(from_list, from_batch)
    # per-sample settlement ticks line up with each schedule's payments
    assert [t.size for t in from_list.settle_ticks] == [s.n_payments for s in schedules]
    picked = from_list.select([3, 1])
    assert [t.size for t in picked.settle_ticks] == [schedules[3].n_payments, schedules[1].n_payments]
    summary = from_list.summary()
    assert summary.settle_ticks == () and np.array_equal(summary.costs, from_list.costs)


def test_generator_matches_the_function(schedules: list[Schedule]) -> None:
    cfg = load_scenario(MULTIBANK).config
    assert all(same(generate_schedule(cfg, s.seed, 30), s) for s in schedules if s.seed != 99)
