"""The runner has no experiment-specific code: no agent or experiment
names, prompts or constraint lists in its source — and a made-up experiment on another
scenario, other agents and other constraints runs through the very same runner."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from runner.experiment.config import ExperimentConfig
from runner.experiment.runner import GenericExperimentRunner
from runner.policy.fields import FIELDS
from runner.policy.tree import ACTIONS_BY_TREE
from tests.conftest import ROOT
from tests.runner.experiment.support import MULTIBANK, RecordingSink, ScriptedProposer, of_type

SOURCES = [*sorted((ROOT / "runner" / "experiment").glob("*.py")), ROOT / "runner" / "proposals.py"]
ACTIONS = {a for actions in ACTIONS_BY_TREE.values() for a in actions}
NAMES = re.compile(r"BANK_[A-Z]\b|castro|\bexp[0-9]+\b|multibank|\bHUB\b|SMALL_[AB]\b|BIG_[AB]\b", re.I)
PROMPTY = re.compile(r"\byou (are|manage)\b|\byour bank\b|cash manager|settlement account|\bRTGS\b", re.I)
# The one sanctioned literal: the default initial policy (`ExperimentConfig`: fraction 0.5 + Release).
DEFAULT_POLICY_STRINGS = {"initial_liquidity_fraction", "Release", "release", "initial", "1.0"}


def _docstrings(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                ids.add(id(first.value))
    return ids


def _strings(path: Path) -> list[tuple[int, str]]:
    """Every string literal of the module that is code, not documentation."""
    tree = ast.parse(path.read_text())
    docs = _docstrings(tree)
    return [
        (n.lineno, n.value)
        for n in ast.walk(tree)
        if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docs
    ]


def test_the_scan_sees_the_sources() -> None:
    names = {p.name for p in SOURCES}
    assert {"loop.py", "runner.py", "config.py", "proposers.py", "proposals.py"} <= names
    assert any(s == "experiment_start" for p in SOURCES for _, s in _strings(p))  # it reads literals


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_no_agent_or_experiment_names(path: Path) -> None:
    hits = [(line, s) for line, s in _strings(path) if NAMES.search(s)]
    identifiers = [n.id for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.Name)]
    hits += [(0, i) for i in identifiers if NAMES.search(i)]
    assert hits == [], f"{path.name}: experiment-specific names {hits}"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_no_prompt_text(path: Path) -> None:
    hits = [(line, s[:60]) for line, s in _strings(path) if PROMPTY.search(s) or len(s) > 400]
    assert hits == [], f"{path.name}: prompt-like text {hits}"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_no_constraint_or_field_lists(path: Path) -> None:
    tree = ast.parse(path.read_text())
    hits = []
    for node in ast.walk(tree):
        if isinstance(node, ast.List | ast.Tuple | ast.Set):
            words = [e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]
            known = [w for w in words if w in FIELDS or w in ACTIONS]
            if len(known) >= 2:
                hits.append((node.lineno, known))
        called = getattr(node, "func", None)
        if (
            isinstance(node, ast.Call)
            and getattr(called, "id", getattr(called, "attr", "")) in ("ScenarioConstraints", "ParameterSpec")
            and (node.args or node.keywords)
        ):
            hits.append((node.lineno, "constraints built in code"))  # (empty ones are fine)
    assert hits == [], f"{path.name}: hard-coded constraints or fields {hits}"
    policy_words = {s for _, s in _strings(path) if s in DEFAULT_POLICY_STRINGS | ACTIONS}
    if path.name == "config.py":  # the default initial policy lives here, nowhere else
        assert policy_words <= DEFAULT_POLICY_STRINGS
    else:
        assert policy_words & ACTIONS == set(), path.name


def _policy(urgency: int) -> dict[str, Any]:
    release, hold = ({"type": "action", "node_id": n, "action": a} for n, a in (("r", "Release"), ("h", "Hold")))
    return {
        "parameters": {"urgency": urgency},
        "payment_tree": {
            "type": "condition",
            "node_id": "urgent",
            "condition": {"op": "<=", "left": {"field": "ticks_to_deadline"}, "right": {"param": "urgency"}},
            "on_true": {**release, "node_id": "r1"},
            "on_false": {
                "type": "condition",
                "node_id": "afford",
                "condition": {"op": ">=", "left": {"field": "balance"}, "right": {"field": "amount"}},
                "on_true": release,
                "on_false": hold,
            },
        },
    }


def made_up_experiment(folder: Path) -> Path:
    doc = {
        "name": "hub_and_small",
        "scenario": str(MULTIBANK),
        "master_seed": 3,
        "optimized_agents": ["HUB", "SMALL_A"],
        "initial_policies": {"HUB": _policy(4), "SMALL_A": _policy(1)},
        # one day: the event that ends day 1's rush (tick 24) would fall outside the horizon
        "scenario_overrides": {
            "simulation": {"num_days": 1},
            "scenario_events": [
                {"type": "GlobalArrivalRateChange", "multiplier": 1.5, "schedule": {"type": "OneTime", "tick": 20}}
            ],
        },
        "evaluation": {
            "mode": "bootstrap",
            "world": "full",
            "num_samples": 5,
            "reference_samples": 4,
            "acceptance": {"rule": "mean"},
        },
        "convergence": {"max_iterations": 2},
        "llm": {"model": "builtin/coordinate", "system_prompt": "Treasury desk of a payment hub."},
        "policy_constraints": {
            "allowed_parameters": [{"name": "urgency", "param_type": "int", "min_value": 0, "max_value": 12}],
            "allowed_fields": ["ticks_to_deadline", "balance", "amount"],
            "allowed_actions": {"payment_tree": ["Release", "Hold"]},
        },
        "prompt_customization": {"SMALL_A": "You mostly pay the hub."},
    }
    path = folder / "hub.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def test_a_made_up_experiment_runs_through_the_same_runner(tmp_path: Path) -> None:
    cfg = ExperimentConfig.from_yaml(made_up_experiment(tmp_path))
    proposer = ScriptedProposer(lambda c: _policy(int(c.current_policy["parameters"]["urgency"]) + 2))
    sink = RecordingSink()
    result = GenericExperimentRunner(cfg, proposer=proposer, sinks=[sink], out_dir=tmp_path / "out").run()

    assert [(c.iteration, c.agent_id) for c in proposer.contexts] == [
        (1, "HUB"),
        (1, "SMALL_A"),
        (2, "HUB"),
        (2, "SMALL_A"),
    ]
    for ctx in proposer.contexts:
        assert ctx.constraints == cfg.get_constraints()
        assert [p.name for p in ctx.constraints.allowed_parameters] == ["urgency"]
        assert ctx.scenario.ticks_per_day == 24 and ctx.scenario.bilateral_offsetting is True
        assert ctx.scenario.num_days == 1  # scenario_overrides applied
        assert ctx.num_samples == 5
        # the agent sees only events it is a party to
        for stream in ctx.streams:
            for ev in stream.events:
                parties = {ev.get(k) for k in ("agent", "sender", "receiver")} - {None}
                assert ev["type"] == "EndOfDay" or ctx.agent_id in parties, ev
    assert proposer.contexts[1].customization == "You mostly pay the hub."
    assert proposer.contexts[0].customization is None

    assert set(result.agents) == {"HUB", "SMALL_A"} and result.iterations == 2
    assert {e.payload.agent for e in of_type(sink.events, "decision")} == {"HUB", "SMALL_A"}
    for e in of_type(sink.events, "decision"):
        assert e.payload.n == 5 and len(e.payload.deltas) == 5
    assert set(of_type(sink.events, "reference_cost")[0].payload.costs) == {"HUB", "SMALL_A"}
    assert all(set(p["parameters"]) == {"urgency"} for p in result.final_policies.values())

    # and the builtin search works on its int parameter, within its bounds
    result = GenericExperimentRunner(cfg.with_overrides(max_iterations=1)).run()
    proposals = [h["proposal"] for h in result.history if h["proposal"] is not None]
    assert proposals
    for p in proposals:
        u = p["parameters"]["urgency"]
        assert 0 <= u <= 12 and float(u).is_integer()
