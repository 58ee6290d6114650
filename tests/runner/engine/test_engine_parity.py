"""The batch engine equals the reference engine to the cent on random scenarios (docs/engine.md).

For each drawn case (scenario, policies, several seeds, maybe a mid-day horizon),
``evaluate_batch(setup, schedules)`` must equal, array for array, the concatenation of the
reference engine's one-sample tables — with the batch shortcuts on (``fast``) and off (every
rule on its simple path). A policy may divide by a field that is 0 at run time:
then both engines raise `SimulationError` (and the samples that do not raise still agree).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import event, given

from runner.engine.batch import evaluate_batch
from runner.engine.reference import ReferenceEngine
from runner.engine.results import CostTable
from runner.engine.schedule import Schedule
from runner.engine.setup import EngineSetup, build_setup
from runner.errors import SimulationError
from runner.policy import parse_valid_policy
from runner.scenario import scenario_from_dict
from tests.runner.engine.strategies import Case, assert_tables_equal, cases, engine_settings, settlement_label

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")  # inf/NaN fields in policies


def reference_tables(setup: EngineSetup, schedules: list[Schedule]) -> list[CostTable | None]:
    """The reference table of each schedule (None where the policy raised `SimulationError`)."""
    out: list[CostTable | None] = []
    for sched in schedules:
        try:
            out.append(ReferenceEngine(setup).run(sched)[0])
        except SimulationError:
            out.append(None)
    return out


def check_parity(case: Case, fast: bool = True) -> None:
    _, setup, schedules = case.build()
    refs = reference_tables(setup, schedules)
    ok = [i for i, t in enumerate(refs) if t is not None]
    if len(ok) < len(schedules):
        event("a policy raised SimulationError")
        with pytest.raises(SimulationError):
            evaluate_batch(setup, schedules, fast=fast)
    else:
        batch = evaluate_batch(setup, schedules, fast=fast)
        arrived, settled = int(batch.arrived_count.sum()), int(batch.settled_count.sum())
        event(settlement_label(arrived, settled))
        assert batch.n_samples == len(schedules)
        assert_tables_equal(batch, CostTable.concat([t for t in refs if t is not None]), "batch")
    if ok and len(ok) < len(schedules):  # the samples that run still agree, batched together
        good = [schedules[i] for i in ok]
        assert_tables_equal(
            evaluate_batch(setup, good, fast=fast),
            CostTable.concat([refs[i] for i in ok if refs[i] is not None]),
            "batch of non-raising samples",
        )


FAST = pytest.mark.parametrize("fast", [True, False], ids=["fast", "simple"])


@FAST
@engine_settings(150)
@given(case=cases())
def test_batch_matches_reference(case: Case, fast: bool) -> None:
    check_parity(case, fast)


@FAST
@engine_settings(40)
@given(case=cases(min_samples=1, max_samples=1))
def test_single_sample_matches_reference(case: Case, fast: bool) -> None:
    """A full-day simulation is a batch of one."""
    check_parity(case, fast)


@pytest.mark.slow
@FAST
@engine_settings(15)
@given(case=cases(min_samples=3, max_samples=6, max_ticks_per_day=24, max_days=3))
def test_batch_matches_reference_long_days(case: Case, fast: bool) -> None:
    """Heavier variant: longer and multi-day horizons, more samples per batch."""
    check_parity(case, fast)


# ----------------------------------------------------------------------------- regressions
# Hand-built schedules for situations random schedules rarely produce.


def tiny_setup(
    balances: list[int],
    policy: dict[str, Any] | None = None,
    *,
    bilateral: bool = False,
    deferred: bool = False,
    ticks_per_day: int = 1,
) -> EngineSetup:
    raw = {
        "simulation": {"ticks_per_day": ticks_per_day},
        "deferred_crediting": deferred,
        "lsm_config": {"enable_bilateral": bilateral, "enable_cycles": False},
        "agents": [{"id": f"A{i}", "opening_balance": b} for i, b in enumerate(balances)],
    }
    sc = scenario_from_dict(raw)
    if policy is None:
        return build_setup(sc)
    parsed = parse_valid_policy(policy)
    return build_setup(sc, dict.fromkeys(sc.agent_ids, parsed))


def hand_schedule(*payments: tuple[int, int, int, int, int]) -> Schedule:
    """Payments as (sender, receiver, amount, arrival, deadline), priority 5, in queue order."""
    cols = [np.array(c, dtype=np.int64) for c in zip(*payments, strict=True)]
    return Schedule(*cols, priority=np.full(len(payments), 5, dtype=np.int64))


def assert_parity(setup: EngineSetup, schedules: list[Schedule]) -> CostTable:
    """Both batch paths (fast and simple) equal the reference; returns the fast table."""
    refs = CostTable.concat([ReferenceEngine(setup).run(s)[0] for s in schedules])
    assert_tables_equal(evaluate_batch(setup, schedules, fast=False), refs, "simple path")
    batch = evaluate_batch(setup, schedules)
    assert_tables_equal(batch, refs, "fast path")
    return batch


def test_offsetting_in_one_sample_gives_no_extra_queue2_pass_to_another() -> None:
    """Bug (fixed): the batch engine's offsetting loop went on for *every* sample while any
    sample offset something, so a sample without offsets got a second Queue-2 pass (settling a
    payment that had become affordable after its turn in the one FIFO pass)."""
    setup = tiny_setup([0, 0, 100], bilateral=True)
    offsets = hand_schedule((0, 1, 100, 0, 0), (1, 0, 100, 0, 0))
    # A0→A2 fails; A1→A0 fails; A2→A1 settles; Queue-2 pass: A0→A2 still fails, then A1→A0
    # settles. A second pass would now settle A0→A2; the reference makes one pass.
    second_pass = hand_schedule((0, 2, 100, 0, 0), (1, 0, 100, 0, 0), (2, 1, 100, 0, 0))
    batch = assert_parity(setup, [offsets, second_pass])
    assert batch.settled_count[:, 0].tolist() == [[1, 1, 0], [0, 1, 1]]


RELEASE = {"type": "action", "action": "Release"}
INF = {"field": "ticks_to_nearest_queue2_deadline"}  # inf while the bank has nothing queued
NAN = {"compute": {"op": "-", "left": INF, "right": INF}}


def budget_policy(budget: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "bank_tree": {
            "type": "action",
            "action": "SetReleaseBudget",
            "parameters": {"max_value_to_release": budget, **extra},
        },
        "payment_tree": RELEASE,
    }


@pytest.mark.parametrize("budget", [{"field": "queue2_nearest_deadline"}, INF], ids=["2**64", "inf"])
def test_huge_release_budget_keeps_its_focus_list(budget: dict[str, Any]) -> None:
    """Bug (fixed): the batch engine cast a budget >= 2**63 to a negative int64 ("no budget"),
    dropping the focus list; the reference raised OverflowError on inf."""
    setup = tiny_setup([0, 500, 100], budget_policy(budget, focus_counterparties=["A2"]))
    sched = hand_schedule((1, 0, 100, 0, 0), (1, 2, 100, 0, 0))
    batch = assert_parity(setup, [sched])
    assert batch.settled_count[0, 0].tolist() == [0, 1, 0]  # only the payment to A2


@pytest.mark.parametrize(("new_priority", "expected"), [(INF, 10), ({"value": -3.7}, 0), ({"value": 7.9}, 7)])
def test_reprioritize_clamps_into_0_to_10(new_priority: dict[str, Any], expected: int) -> None:
    """Bug (fixed): Reprioritize to inf raised OverflowError in the reference engine."""
    policy = {
        "payment_tree": {
            "type": "condition",
            "condition": {"op": "==", "left": {"field": "current_tick"}, "right": {"value": 0}},
            "on_true": {"type": "action", "action": "Reprioritize", "parameters": {"new_priority": new_priority}},
            "on_false": {
                "type": "condition",
                "condition": {"op": "==", "left": {"field": "priority"}, "right": {"value": expected}},
                "on_true": RELEASE,
                "on_false": {"type": "action", "action": "Drop"},
            },
        }
    }
    setup = tiny_setup([1_000, 0], policy, ticks_per_day=3)
    batch = assert_parity(setup, [hand_schedule((0, 1, 100, 0, 2))])
    assert batch.settled_count[0, 0].tolist() == [1, 0]


@pytest.mark.parametrize(
    "policy",
    [
        budget_policy(NAN),
        budget_policy({"value": 1_000}, max_per_counterparty=NAN),
        {"payment_tree": {"type": "action", "action": "Reprioritize", "parameters": {"new_priority": NAN}}},
    ],
    ids=["budget", "per-counterparty", "priority"],
)
def test_nan_action_argument_is_a_simulation_error_in_both_engines(policy: dict[str, Any]) -> None:
    """Bug (fixed): NaN action arguments raised ValueError in the reference and became
    INT64_MIN in the batch engine; both now raise SimulationError."""
    setup = tiny_setup([1_000, 0], policy)
    sched = hand_schedule((0, 1, 100, 0, 0))
    with pytest.raises(SimulationError, match="not a number"):
        ReferenceEngine(setup).run(sched)
    for fast in (True, False):
        with pytest.raises(SimulationError, match="not a number"):
            evaluate_batch(setup, [sched], fast=fast)


def test_div0_evaluates_only_the_branch_it_takes() -> None:
    """The batched path evaluates div0's numerator only where the denominator is usable (and
    the default only elsewhere), as the scalar path does: a division by zero in the branch
    not taken must not raise."""
    queued = {"field": "queue2_count_for_agent"}  # 0 at tick 0
    policy = {
        "payment_tree": {
            "type": "condition",
            "condition": {
                "op": ">=",
                "right": {"value": 0},
                "left": {
                    "compute": {
                        "op": "div0",
                        "denominator": queued,
                        "default": {"value": 0},
                        "numerator": {"compute": {"op": "/", "left": {"value": 1}, "right": queued}},
                    }
                },
            },
            "on_true": RELEASE,
            "on_false": {"type": "action", "action": "Hold"},
        }
    }
    setup = tiny_setup([1_000, 0], policy)
    assert_parity(setup, [hand_schedule((0, 1, 100, 0, 0))])
