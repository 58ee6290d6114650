"""Realistic `ProposalContext`s for the Castro exp2 scenario, built from real engine traces.

The context is what the optimisation loop would hand one agent: its current policy and the
costs of that policy over a few simulated samples, three event streams (context day, best
and worst sample) and a hand-written proposal history with an accepted, a rejected and an
invalid proposal. BANK_B runs a distinctive policy (`BANK_B_FRACTION`, node id
`BANK_B_NODE`) so isolation tests can look for any trace of it in BANK_A's prompt.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np

from runner.engine.rates import COMPONENTS
from runner.engine.reference import ReferenceEngine
from runner.engine.schedule import generate_schedule
from runner.engine.setup import build_setup
from runner.experiment.streams import scenario_facts
from runner.llm.config import LLMConfig
from runner.policy import ParameterSpec, ScenarioConstraints, parse_valid_policy
from runner.proposals import IterationRecord, ProposalContext, SampleStream
from runner.scenario import Scenario, load_scenario
from tests.conftest import EXPERIMENTS
from tests.helpers import fraction_policy

EXP2 = EXPERIMENTS / "castro" / "scenarios" / "exp2.yaml"
BANK_B_FRACTION = 0.37
BANK_B_NODE = "bank_b_private_release"
SAMPLE_SEEDS = tuple(range(101, 109))

SYSTEM_PROMPT = (
    "You are the cash manager of a bank in a real-time gross settlement system. Each "
    "morning you decide how much of your liquidity pool to bring into your settlement "
    "account, and during the day which payments to release."
)
CUSTOMIZATION = (
    "Committing liquidity is costly, but so is making payments wait. Think about how much "
    "of the pool the day's payments really need, given that incoming payments can be reused."
)


def exp2_constraints() -> ScenarioConstraints:
    """The policy constraints of Castro exp2 (one parameter, five fields, two trees)."""
    return ScenarioConstraints(
        allowed_parameters=[
            ParameterSpec(name="initial_liquidity_fraction", param_type="float", min_value=0.0, max_value=1.0)
        ],
        allowed_fields=["system_tick_in_day", "balance", "amount", "remaining_amount", "ticks_to_deadline"],
        allowed_actions={"payment_tree": ["Release", "Hold"], "bank_tree": ["NoAction"]},
    )


def exp2_llm_config(**overrides: Any) -> LLMConfig:
    return LLMConfig(**{"model": "openai/fake-model", "system_prompt": SYSTEM_PROMPT, **overrides})


FAKE_KEY_ENV = "PAYLAB_FAKE_LLM_KEY"
FAKE_KEY = "sk-SENTINEL-123"


def fake_llm_config(base_url: str, **overrides: Any) -> LLMConfig:
    """An LLM block pointing litellm at a fake server: short timeout, tiny backoff."""
    settings: dict[str, Any] = {
        "model": "openai/fake-model",
        "api_base": base_url,
        "api_key_env": FAKE_KEY_ENV,
        "temperature": 0.5,
        "timeout_seconds": 5.0,
        "backoff_seconds": 0.001,
        "system_prompt": SYSTEM_PROMPT,
    }
    return LLMConfig(**{**settings, **overrides})


def exp2_policy(fraction: float, node_id: str = "release_all", policy_id: str = "current") -> dict[str, Any]:
    """`fraction_policy` as these contexts write it: ids of their own and an idle bank tree."""
    return fraction_policy(fraction, policy_id, node_id=node_id, bank_tree=True)


def exp2_scenario() -> Scenario:
    return load_scenario(EXP2)


def _run(scenario: Scenario, policies: dict[str, Any], seed: int) -> tuple[Any, list[dict[str, Any]]]:
    setup = build_setup(scenario, {k: parse_valid_policy(v) for k, v in policies.items()})
    return ReferenceEngine(setup).run(generate_schedule(scenario.config, seed), trace=True)


@lru_cache(maxsize=8)
def exp2_context(agent_id: str = "BANK_A", *, filtered: bool = True, fraction: float = 0.1) -> ProposalContext:
    """BANK_A's (or BANK_B's) context at iteration 5 of an exp2 run.

    With ``filtered=False`` the streams hold the raw trace of *all* agents (what a buggy loop
    might pass): the prompt builder must still show only ``agent_id``'s view.
    """
    from runner.llm.events import filter_events_for_agent

    scenario = exp2_scenario()
    other = "BANK_B" if agent_id == "BANK_A" else "BANK_A"
    mine = exp2_policy(fraction)
    policies = {agent_id: mine, other: exp2_policy(BANK_B_FRACTION, BANK_B_NODE, "bank_b_private")}
    runs = {seed: _run(scenario, policies, seed) for seed in (42, *SAMPLE_SEEDS)}
    index = runs[42][0].agent_ids.index(agent_id)

    def total(seed: int) -> int:
        return int(runs[seed][0].totals()[0, index])

    def stream(label: str, seed: int) -> SampleStream:
        events = runs[seed][1]
        shown = filter_events_for_agent(events, agent_id) if filtered else tuple(events)
        return SampleStream(label=label, seed=seed, cost=total(seed), events=shown)

    totals = np.array([total(s) for s in SAMPLE_SEEDS], dtype=np.float64)
    parts = np.array([runs[s][0].costs[0].sum(axis=0)[index] for s in SAMPLE_SEEDS])
    rates = [float(runs[s][0].settlement_rates()[0, index]) for s in SAMPLE_SEEDS]
    best = min(SAMPLE_SEEDS, key=lambda s: (total(s), s))
    worst = max(SAMPLE_SEEDS, key=lambda s: (total(s), -s))
    cautious = exp2_policy(0.05)
    cautious["payment_tree"] = {
        "type": "condition",
        "node_id": "urgent",
        "condition": {"op": "<=", "left": {"field": "ticks_to_deadline"}, "right": {"value": 2}},
        "on_true": {"type": "action", "node_id": "release_urgent", "action": "Release"},
        "on_false": {"type": "action", "node_id": "wait", "action": "Hold"},
    }
    history = (
        IterationRecord(
            iteration=1,
            policy=exp2_policy(0.5),
            proposal=exp2_policy(0.25),
            accepted=True,
            reason="CI lower bound $201.40 > 0",
            old_mean_cost=49_800.0,
            new_mean_cost=24_900.0,
            mean_delta=24_900.0,
            ci_low=20_140.0,
            ci_high=29_660.0,
        ),
        IterationRecord(
            iteration=2,
            policy=exp2_policy(0.25),
            proposal=exp2_policy(0.1),
            accepted=True,
            reason="CI lower bound $12.75 > 0",
            old_mean_cost=24_900.0,
            new_mean_cost=17_012.5,
            mean_delta=7_887.5,
            ci_low=1_275.0,
            ci_high=14_500.0,
        ),
        IterationRecord(
            iteration=3,
            policy=exp2_policy(0.1),
            proposal=cautious,
            accepted=False,
            reason="CI lower bound -$1,180.20 <= 0",
            old_mean_cost=31_220.0,
            new_mean_cost=140_331.25,
            mean_delta=-109_111.25,
            ci_low=-118_020.0,
            ci_high=-100_202.5,
        ),
        IterationRecord(
            iteration=4,
            policy=exp2_policy(0.1),
            proposal=None,
            accepted=False,
            reason="invalid: parameters.initial_liquidity_fraction: must be <= 1, got 1.5",
        ),
    )
    return ProposalContext(
        agent_id=agent_id,
        iteration=5,
        current_policy=mine,
        mean_cost=float(totals.mean()),
        cost_std=float(totals.std(ddof=1)),
        cost_breakdown={name: float(parts[:, i].mean()) for i, name in enumerate(COMPONENTS)},
        settlement_rate=float(np.mean(rates)),
        num_samples=len(SAMPLE_SEEDS),
        streams=(stream("context day", 42), stream("best sample", best), stream("worst sample", worst)),
        history=history,
        constraints=exp2_constraints(),
        scenario=scenario_facts(scenario, agent_id),
        customization=CUSTOMIZATION,
    )
