"""`EngineSetup`: everything about a simulation that does not vary between samples.

Built once from a scenario (and the policies under evaluation); both engines read it. This is
the single place where agent config turns into engine numbers (start balances, pools,
liquidity fractions, credit caps), so every path — full day, sandbox, bootstrap — agrees.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from runner.engine.limits import NO_LIMIT
from runner.engine.rates import ScaledRates
from runner.engine.rules import SPLIT_ACTIONS
from runner.errors import NotSupportedError
from runner.policy.program import PolicyProgram
from runner.policy.tree import Policy
from runner.scenario.agents import AgentConfig
from runner.scenario.config import ScenarioConfig
from runner.scenario.loader import Scenario
from runner.scenario.support import batch_missing_features

# Actions the batch engine (every evaluation path) can execute today; the others parse and
# validate but are refused here.
RUNNABLE_ACTIONS = {
    "payment_tree": {
        "Release",
        "ReleaseWithCredit",
        "Hold",
        "Reprioritize",
        "Drop",
        "WithdrawFromRtgs",
        "ResubmitToRtgs",
        *SPLIT_ACTIONS,
    },
    "bank_tree": {"NoAction", "SetReleaseBudget", "SetState", "AddState"},
    "strategic_collateral_tree": {"HoldCollateral", "PostCollateral", "WithdrawCollateral"},
    "end_of_tick_collateral_tree": {"HoldCollateral", "PostCollateral", "WithdrawCollateral"},
}
_COLLATERAL = {"HoldCollateral", "PostCollateral", "WithdrawCollateral"}
# What the reference engine (``paylab simulate``) executes besides.
REFERENCE_ACTIONS = {
    **RUNNABLE_ACTIONS,
    "payment_tree": RUNNABLE_ACTIONS["payment_tree"],
    "strategic_collateral_tree": _COLLATERAL,
    "end_of_tick_collateral_tree": _COLLATERAL,
}
FRACTION_SCALE = 10**9  # fractions are applied as exact integers (0.29 × 100 000 = 29 000)


def allocation(pool: int, fraction: float) -> int:
    """Pool cents brought in at the start of a day: ``floor(pool × fraction)``, exactly."""
    return pool * round(fraction * FRACTION_SCALE) // FRACTION_SCALE


@dataclass(frozen=True, eq=False)
class EngineSetup:
    """Frozen simulation parameters (agents in sorted id order)."""

    agent_ids: tuple[str, ...]
    ticks_per_day: int
    num_days: int
    horizon: int  # ticks to simulate
    episode_ticks: int  # num_days × ticks_per_day (caps deadlines)
    opening: np.ndarray  # int64[A]
    unsecured_cap: np.ndarray  # int64[A]
    pool: np.ndarray  # int64[A]
    fraction: np.ndarray  # float64[A]
    allocation: np.ndarray  # int64[A], floor(pool × fraction)
    posted_collateral: np.ndarray  # int64[A]
    haircut: np.ndarray  # float64[A]
    max_collateral: np.ndarray  # int64[A] (at the start)
    programs: tuple[PolicyProgram, ...]
    rates: ScaledRates
    deferred_crediting: bool
    deadline_cap_at_eod: bool
    eod_all_unsettled: bool
    bilateral_lsm: bool
    eod_rush_threshold: float
    # LSM cycles (reference §4.4); limits per day, NO_LIMIT where none is set
    cycles: bool = False
    max_cycle_length: int = 4
    max_cycles_per_tick: int = 10
    bilateral_limit: np.ndarray | None = None  # int64[A, A]: sender × receiver
    multilateral_limit: np.ndarray | None = None  # int64[A]
    # priorities: Queue-1 order, Queue-2 order, escalation (start ticks, max boost; 0 = off)
    queue1_priority_deadline: bool = False
    priority_mode: bool = False
    escalation_start: int = 0
    escalation_max_boost: int = 0
    # banks without an explicit max_collateral_capacity: 10 × their current unsecured cap
    capacity_follows_cap: np.ndarray | None = None  # bool[A]
    # features of this setup the batch engine cannot run yet: (dotted key, what)
    batch_missing: tuple[tuple[str, str], ...] = ()

    @property
    def n_agents(self) -> int:
        return len(self.agent_ids)

    @property
    def days_simulated(self) -> int:
        return -(-self.horizon // self.ticks_per_day)

    def index(self, agent_id: str) -> int:
        return self.agent_ids.index(agent_id)


def _limits(cfg: ScenarioConfig, agents: list[AgentConfig]) -> tuple[np.ndarray, np.ndarray]:
    """Per-day outflow limits from every spelling: agent-level ``bilateral_limits`` /
    ``multilateral_limit`` and the ``limits: {bilateral_limits, multilateral_limit}`` block."""
    ids = [a.id for a in agents]
    bilateral = np.full((len(ids), len(ids)), NO_LIMIT, dtype=np.int64)
    multilateral = np.full(len(ids), NO_LIMIT, dtype=np.int64)
    for i, agent in enumerate(agents):
        per_cpty, total = agent.outflow_limits()
        for cpty, cap in per_cpty.items():
            bilateral[i, ids.index(cpty)] = cap
        if total is not None:
            multilateral[i] = total
    return bilateral, multilateral


def check_runnable(program: PolicyProgram, agent_id: str) -> list[tuple[str, str]]:
    """Refuse, before any tick runs, a policy using an action no engine can execute; return
    (key, what) for the actions only the reference engine executes."""
    batch_missing = []
    for tree, allowed in REFERENCE_ACTIONS.items():
        for action in sorted(program.actions(tree) - allowed):
            raise NotSupportedError(f"action {action} in {tree} of agent {agent_id}'s policy", path=f"{tree}.action")
        batch_missing += [
            (f"{tree}.action", f"action {action} of agent {agent_id}'s policy")
            for action in sorted(program.actions(tree) - RUNNABLE_ACTIONS[tree])
        ]
    return batch_missing


def build_setup(
    scenario: Scenario | ScenarioConfig,
    policies: dict[str, Policy] | None = None,
    ticks: int | None = None,
    engine: Literal["batch", "reference"] = "batch",
) -> EngineSetup:
    """Engine parameters for ``scenario`` with ``policies`` replacing the scenario's own.

    Args:
        scenario: a loaded `Scenario` (or a bare config, every agent then runs its named
            policy only if ``policies`` covers it).
        policies: agent id → policy under evaluation; others keep the scenario's policy.
        ticks: ticks to simulate (default: the whole episode).
        engine: the engine the setup is for. For ``"batch"`` (every evaluation path), a
            feature only the reference engine runs yet is a `NotSupportedError` naming it;
            ``"reference"`` records such features in ``batch_missing`` instead.
    """
    cfg = scenario.config if isinstance(scenario, Scenario) else scenario
    base = dict(scenario.policies) if isinstance(scenario, Scenario) else {}
    chosen = {**base, **(policies or {})}
    source = scenario.source if isinstance(scenario, Scenario) else None
    agents = sorted(cfg.agents, key=lambda a: a.id)
    programs = []
    missing = batch_missing_features(cfg)
    for agent in agents:
        if agent.id not in chosen:
            raise KeyError(f"no policy for agent {agent.id}")
        program = PolicyProgram(chosen[agent.id], name=agent.id)
        try:
            missing += check_runnable(program, agent.id)
        except NotSupportedError as exc:
            raise (exc.with_source(source) if source else exc) from None
        programs.append(program)
    if missing and engine == "batch":
        key, detail = missing[0]
        raise NotSupportedError(
            f"{detail} in the batch engine used for evaluation; paylab simulate runs it", source=source, path=key
        )
    bilateral, multilateral = _limits(cfg, agents)
    escalation = cfg.priority_escalation
    escalate = escalation is not None and escalation.enabled
    fractions = []
    for agent, program in zip(agents, programs, strict=True):
        f = program.liquidity_fraction()
        if f is None:
            f = agent.liquidity_allocation_fraction
        fractions.append(1.0 if f is None else min(1.0, max(0.0, f)))
    pool = np.array([a.liquidity_pool or 0 for a in agents], dtype=np.int64)
    episode = cfg.episode_ticks
    return EngineSetup(
        agent_ids=tuple(a.id for a in agents),
        ticks_per_day=cfg.simulation.ticks_per_day,
        num_days=cfg.simulation.num_days,
        horizon=min(ticks or episode, episode),
        episode_ticks=episode,
        opening=np.array([a.opening_balance for a in agents], dtype=np.int64),
        unsecured_cap=np.array([a.unsecured_cap for a in agents], dtype=np.int64),
        pool=pool,
        fraction=np.array(fractions, dtype=np.float64),
        allocation=np.array([allocation(int(p), f) for p, f in zip(pool, fractions, strict=True)], dtype=np.int64),
        posted_collateral=np.array([a.posted_collateral for a in agents], dtype=np.int64),
        haircut=np.array([a.collateral_haircut for a in agents], dtype=np.float64),
        max_collateral=np.array(
            [
                a.max_collateral_capacity if a.max_collateral_capacity is not None else 10 * a.unsecured_cap
                for a in agents
            ],
            dtype=np.int64,
        ),
        programs=tuple(programs),
        rates=ScaledRates.from_config(cfg.cost_rates),
        deferred_crediting=cfg.deferred_crediting,
        deadline_cap_at_eod=cfg.deadline_cap_at_eod,
        eod_all_unsettled=cfg.eod_penalty_scope == "unsettled",
        bilateral_lsm=cfg.lsm_config.enable_bilateral,
        eod_rush_threshold=cfg.eod_rush_threshold,
        cycles=cfg.lsm_config.enable_cycles,
        max_cycle_length=cfg.lsm_config.max_cycle_length,
        max_cycles_per_tick=cfg.lsm_config.max_cycles_per_tick,
        bilateral_limit=bilateral,
        multilateral_limit=multilateral,
        queue1_priority_deadline=cfg.queue1_ordering == "priority_deadline",
        priority_mode=cfg.priority_mode,
        escalation_start=escalation.start_ticks if escalation is not None and escalate else 0,
        escalation_max_boost=escalation.max_boost if escalation is not None and escalate else 0,
        capacity_follows_cap=np.array([a.max_collateral_capacity is None for a in agents]),
        batch_missing=tuple(missing),
    )
