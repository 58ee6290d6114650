"""Multilateral LSM cycles, worked out by hand (docs/engine.md, "LSM").

Every bank starts with nothing and no credit, so no payment can settle gross: only the LSM can
release them. Payments ``pay(...)`` are listed in the order of their settlement ticks below.
"""

from __future__ import annotations

import itertools

import pytest

from runner.engine import lsm
from tests.runner.engine.handworked import agent_costs, paths, pay, run, scenario, settle_ticks

BANKS3 = {"A": 0, "B": 0, "C": 0}
BANKS4 = {"A": 0, "B": 0, "C": 0, "D": 0}


def ring(order: str, amount: int = 1_000) -> list[dict[str, object]]:
    """Payments around ``order`` (e.g. "ABC": A→B, B→C, C→A)."""
    return [pay(a, b, amount) for a, b in zip(order, order[1:] + order[0], strict=True)]


@pytest.mark.parametrize("order", ["ABC", "ACB"])
def test_three_bank_cycle_settles_in_both_orientations(order: str) -> None:
    """A→B→C→A and its reverse A→C→B→A both settle at tick 0 through the cycle path
    (SimCash finds only the first: the orientation u→v→w→u with u<v<w)."""
    raw = scenario(BANKS3, ring(order), lsm_config={"enable_cycles": True})
    table, events = run(raw)
    assert [int(x) for x in table.settle_tick] == [0, 0, 0]
    assert {p[3] for p in paths(events)} == {"cycle"}
    assert list(table.final_balance[0]) == [0, 0, 0]  # net positions all zero


@pytest.mark.parametrize("order", ["ABCD", "ADCB", "ACBD"])
def test_four_bank_cycle_settles_in_any_orientation(order: str) -> None:
    raw = scenario(BANKS4, ring(order), lsm_config={"enable_cycles": True, "max_cycle_length": 4})
    assert settle_ticks(raw) == [0, 0, 0, 0]


def test_cycles_off_leaves_the_ring_queued() -> None:
    raw = scenario(BANKS3, ring("ABC"), lsm_config={"enable_cycles": False})
    assert settle_ticks(raw) == [-1, -1, -1]


def test_max_cycle_length_3_leaves_a_four_bank_gridlock_unresolved() -> None:
    """A 4-bank ring with max_cycle_length 3: nothing settles; each bank pays delay on its
    1 000 cents for the 3 ticks (1 cent a tick at 0.001) and the end-of-day penalty (700)."""
    costs = {"delay_cost_per_tick_per_cent": 0.001, "eod_penalty": 700}
    unresolved = scenario(BANKS4, ring("ABCD"), costs=costs, lsm_config={"enable_cycles": True, "max_cycle_length": 3})
    table, _ = run(unresolved)
    assert [int(x) for x in table.settle_tick] == [-1] * 4
    assert agent_costs(table) == dict.fromkeys(BANKS4, 3 + 700)
    resolved = scenario(BANKS4, ring("ABCD"), costs=costs, lsm_config={"enable_cycles": True, "max_cycle_length": 4})
    table, _ = run(resolved)
    assert agent_costs(table) == dict.fromkeys(BANKS4, 0)


def test_unequal_cycle_needs_the_net_payer_to_cover_its_net() -> None:
    """A→B 500, B→C 800, C→A 700: B's net outflow is 300. With 300 cents B covers it and all
    three settle at full value (A ends +200, B 0, C +100); with 299 none settles."""
    payments = [pay("A", "B", 500), pay("B", "C", 800), pay("C", "A", 700)]
    lsm_on = {"enable_cycles": True}
    table, _ = run(scenario({"A": 0, "B": 300, "C": 0}, payments, lsm_config=lsm_on))
    assert [int(x) for x in table.settle_tick] == [0, 0, 0]
    assert list(table.final_balance[0]) == [200, 0, 100]
    table, _ = run(scenario({"A": 0, "B": 299, "C": 0}, payments, lsm_config=lsm_on))
    assert [int(x) for x in table.settle_tick] == [-1, -1, -1]


def test_credit_covers_a_net_payer() -> None:
    """The same cycle with B at zero but an unsecured cap of 300: B ends at −300."""
    payments = [pay("A", "B", 500), pay("B", "C", 800), pay("C", "A", 700)]
    raw = scenario(BANKS3, payments, agents={"B": {"unsecured_cap": 300}}, lsm_config={"enable_cycles": True})
    table, _ = run(raw)
    assert list(table.final_balance[0]) == [200, -300, 100]


def test_bigger_cycle_first_and_shared_edges_settle_once() -> None:
    """Two rings share the edge A→B (2 000): A→B→D→A (value 6 000, every net zero) and
    A→B→C→A (value 4 000; A pays a net 1 000, which it has). The bigger one settles first and
    takes every A→B payment with it; the other then has no A→B flow left: B→C and C→A stay
    queued, though on its own that ring would settle."""
    payments = [
        pay("A", "B", 2_000),
        pay("B", "C", 1_000),
        pay("C", "A", 1_000),
        pay("B", "D", 2_000),
        pay("D", "A", 2_000),
    ]
    lsm_on = {"enable_cycles": True}
    raw = scenario({**BANKS4, "A": 1_000}, payments, lsm_config=lsm_on)
    assert settle_ticks(raw) == [0, -1, -1, 0, 0]
    alone = scenario({**BANKS4, "A": 1_000}, payments[:3], lsm_config=lsm_on)
    assert settle_ticks(alone) == [0, 0, 0]


def test_max_cycles_per_tick_caps_settled_cycles() -> None:
    """Two disjoint rings of equal value, one cycle allowed per tick: the one with the
    lexicographically smaller bank sequence (A,B,C) settles at tick 0, the other (D,E,F) at
    tick 1."""
    banks = dict.fromkeys("ABCDEF", 0)
    raw = scenario(banks, ring("ABC") + ring("DEF"), lsm_config={"enable_cycles": True, "max_cycles_per_tick": 1})
    assert settle_ticks(raw) == [0, 0, 0, 1, 1, 1]


def test_cycle_search_finds_every_simple_cycle_once() -> None:
    """On the complete graph of 4 banks: 8 directed 3-cycles and 6 directed 4-cycles."""
    flows = dict.fromkeys(itertools.permutations(range(4), 2), 1)
    found = lsm.cycles(flows, 4)
    assert len(found) == len(set(found)) == 8 + 6
    assert all(c[0] == min(c) for c in found)
    assert sum(len(c) == 3 for c in lsm.cycles(flows, 3)) == 8


def test_cycle_order_is_value_then_length_then_banks() -> None:
    flows = {(0, 1): 5, (1, 2): 5, (2, 0): 5, (0, 2): 1, (2, 1): 1, (1, 0): 1, (2, 3): 10, (3, 0): 10}
    # values: 0→1→2→3→0 = 30, 0→2→3→0 = 21, 0→1→2→0 = 15, 0→2→1→0 = 3
    assert lsm.cycles(flows, 4) == [(0, 1, 2, 3), (0, 2, 3), (0, 1, 2), (0, 2, 1)]
    assert lsm.cycles({**flows, (2, 3): 4, (3, 0): 4}, 4) == [
        (0, 1, 2, 3),
        (0, 1, 2),
        (0, 2, 3),
        (0, 2, 1),
    ]  # 18, 15, 9, 3
