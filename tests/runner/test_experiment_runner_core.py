"""`GenericExperimentRunner`: protocol, config wiring, constraints, system
prompt, result, live state, scenario path resolution and run ids."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from runner.experiment import (
    ExperimentConfig,
    ExperimentResult,
    ExperimentRunnerProtocol,
    ExperimentState,
    GenericExperimentRunner,
)
from runner.experiment.proposers import CoordinateProposer, NoneProposer, make_proposer
from runner.llm.config import LLMConfig
from runner.policy.constraints import ScenarioConstraints
from runner.proposals import PolicyProposer, ProposalContext
from tests.runner.experiment.support import (
    CASTRO,
    EXP1,
    EXP2,
    SMALL_EXP2,
    RecordingSink,
    ScriptedProposer,
    config,
    fraction_of,
    fraction_policy,
    of_type,
    run,
)

RUN_ID = re.compile(r"^(?P<name>.+)-(?P<date>\d{8})-(?P<time>\d{6})-(?P<hex>[0-9a-f]{6})$")


def test_implements_runner_protocol() -> None:
    runner = GenericExperimentRunner(config(EXP1, "convergence.max_iterations=1"))
    assert isinstance(runner, ExperimentRunnerProtocol)
    assert isinstance(runner.run_id, str) and runner.run_id
    assert isinstance(runner.get_current_state(), ExperimentState)
    assert isinstance(runner.run(), ExperimentResult)

    class NotARunner:
        run_id = "x"

        def run(self) -> None: ...

    assert not isinstance(NotARunner(), ExperimentRunnerProtocol)
    # the scripted fake is a real PolicyProposer, as are the builtin ones
    assert isinstance(ScriptedProposer(lambda c: None), PolicyProposer)
    assert isinstance(runner.proposer, PolicyProposer)


def test_creates_from_experiment_config() -> None:
    cfg = config(EXP1)
    assert cfg.name == "castro_exp1"
    assert cfg.optimized_agents == ["BANK_A", "BANK_B"]
    assert cfg.evaluation.mode == "deterministic" and cfg.evaluation.acceptance.rule == "mean"
    assert cfg.convergence.max_iterations == 25
    with pytest.raises(ValidationError):
        cfg.name = "changed"  # type: ignore[misc]  # frozen

    runner = GenericExperimentRunner(cfg)
    assert runner.config is cfg
    assert list(runner.scenario.agent_ids) == ["BANK_A", "BANK_B"]
    assert isinstance(runner.proposer, CoordinateProposer)
    assert runner.get_current_state().max_iterations == 25

    none = GenericExperimentRunner(config(EXP1, "llm.model=builtin/none"))
    assert isinstance(none.proposer, NoneProposer)

    # the config decides the loop: overrides change what the run does
    _, result = run(config(EXP1, "convergence.max_iterations=2", "master_seed=7"), ScriptedProposer.fractions({}))
    assert (result.iterations, result.master_seed, result.experiment) == (2, 7, "castro_exp1")
    # initial policies come from the config (default: fraction 0.5 and Release)
    cfg3 = config(
        EXP1,
        "convergence.max_iterations=1",
        "initial_policies.BANK_A.parameters.initial_liquidity_fraction=0.0",
        "initial_policies.BANK_A.payment_tree.type=action",
        "initial_policies.BANK_A.payment_tree.action=Release",
    )
    proposer = ScriptedProposer.fractions({})
    _, result = run(cfg3, proposer)
    assert fraction_of(proposer.contexts_of("BANK_A")[0].current_policy) == 0.0
    assert fraction_of(proposer.contexts_of("BANK_B")[0].current_policy) == 0.5
    assert result.agents["BANK_A"].baseline_cost == 0.0


def test_uses_constraints_from_config() -> None:
    cfg = config(EXP1, "convergence.max_iterations=2", "policy_constraints.allowed_parameters.0.max_value=0.3")
    assert cfg.get_constraints().parameter("initial_liquidity_fraction").max_value == 0.3

    # proposals outside the constraints are refused, with the constraint named
    plan = {"BANK_A": [0.4, 0.0]}
    proposer = ScriptedProposer.fractions(plan)
    sink = RecordingSink()
    _, result = run(cfg, proposer, sinks=[sink])
    assert all(c.constraints == cfg.get_constraints() for c in proposer.contexts)
    first = next(h for h in result.history if h["agent"] == "BANK_A" and h["iteration"] == 1)
    assert first["accepted"] is False
    assert "parameters.initial_liquidity_fraction" in first["reason"] and "0.3" in first["reason"]
    assert fraction_of(result.final_policies["BANK_A"]) == 0.0  # 0.0 is allowed and cheaper

    # a field the constraints do not list is refused too
    tree = {
        "type": "condition",
        "node_id": "c",
        "condition": {"op": ">", "left": {"field": "amount"}, "right": {"value": 0}},
        "on_true": {"type": "action", "node_id": "r", "action": "Release"},
        "on_false": {"type": "action", "node_id": "h", "action": "Hold"},
    }
    doc = {**fraction_policy(0.0), "payment_tree": tree}
    _, result = run(config(EXP1, "convergence.max_iterations=1"), ScriptedProposer(lambda c: doc))
    assert "field 'amount' is not allowed" in result.history[0]["reason"]

    # the builtin coordinate search only moves inside the constraints' bounds
    coordinate = CoordinateProposer(cfg.get_constraints())
    _, result = run(cfg, coordinate)
    for h in result.history:
        if h["proposal"] is not None:
            assert 0.0 <= fraction_of(h["proposal"]) <= 0.3


def _spy_factory(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    import runner.experiment.runner as runner_module

    calls: list[tuple[Any, ...]] = []

    def spy(llm: LLMConfig, constraints: ScenarioConstraints, system_prompt: str | None) -> PolicyProposer:
        calls.append((llm, constraints, system_prompt))
        return NoneProposer()

    monkeypatch.setattr(runner_module, "make_proposer", spy)
    return calls


def test_uses_system_prompt_from_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # system_prompt: used verbatim
    cfg = config(EXP1)
    assert cfg.system_prompt_text() == cfg.llm.system_prompt
    assert cfg.system_prompt_text().startswith("You manage the settlement account of a bank")

    # system_prompt_file: read relative to the experiment file
    text = "You are the treasurer of a test bank.\nBe brief.\n"
    exp_dir = tmp_path / "exp"
    (exp_dir / "prompts").mkdir(parents=True)
    (exp_dir / "prompts" / "system.md").write_text(text)
    raw = yaml.safe_load(EXP1.read_text())
    raw["scenario"] = str(CASTRO / "scenarios" / "exp1.yaml")
    raw["llm"] = {"model": "openai/gpt-4.1", "system_prompt_file": "prompts/system.md"}
    (exp_dir / "exp.yaml").write_text(yaml.safe_dump(raw))
    monkeypatch.chdir(tmp_path)  # not the experiment's folder
    file_cfg = ExperimentConfig.from_yaml(exp_dir / "exp.yaml")
    assert file_cfg.system_prompt_text() == text

    # the text reaches the proposer factory the runner uses
    calls = _spy_factory(monkeypatch)
    GenericExperimentRunner(file_cfg)
    GenericExperimentRunner(cfg)
    assert [c[2] for c in calls] == [text, cfg.llm.system_prompt]
    assert calls[0][0] == file_cfg.llm and calls[0][1] == file_cfg.get_constraints()

    # with the litellm client present, it holds that text (optional: another module)
    try:
        from runner.llm.client import ExperimentLLMClient
    except ImportError:
        return
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-key")  # the client refuses a model without its key
    client = make_proposer(file_cfg.llm, file_cfg.get_constraints(), file_cfg.system_prompt_text())
    assert isinstance(client, ExperimentLLMClient)
    assert client.system_prompt == text


def test_returns_experiment_result(tmp_path: Path) -> None:
    proposer = ScriptedProposer.fractions({"BANK_A": [0.0, 0.9], "BANK_B": [None, 0.2]})
    runner, result = run(config(EXP1, "convergence.max_iterations=2"), proposer, out_dir=tmp_path)
    assert isinstance(result, ExperimentResult)
    assert result.run_id == runner.run_id
    assert (result.experiment, result.model, result.replicate) == ("castro_exp1", "builtin/coordinate", 0)
    assert (result.iterations, result.stop_reason, result.converged) == (2, "max_iterations", False)
    assert result.baseline_total == 10000.0 and result.final_total == 2000.0 and result.best_total == 2000.0
    a, b = result.agents["BANK_A"], result.agents["BANK_B"]
    assert (a.baseline_cost, a.final_cost, a.best_cost, a.best_iteration) == (5000.0, 0.0, 0.0, 1)
    assert (a.accepted, a.rejected) == (1, 1)
    assert (b.baseline_cost, b.final_cost, b.best_iteration) == (5000.0, 2000.0, 2)
    assert (b.accepted, b.rejected) == (1, 1)  # iteration 1: no valid proposal
    assert a.final_settlement_rate == 1.0
    assert fraction_of(result.final_policies["BANK_A"]) == 0.0
    # history: per iteration, per agent (in order), what was proposed and decided, and why
    assert [(h["iteration"], h["agent"], h["accepted"]) for h in result.history] == [
        (1, "BANK_A", True),
        (1, "BANK_B", False),
        (2, "BANK_A", False),
        (2, "BANK_B", True),
    ]
    assert result.history[1]["reason"].startswith("no valid proposal")
    assert result.history[2]["mean_delta"] == -9000.0
    assert result.duration_seconds >= 0
    # stored next to the events, and printable as JSON
    stored = (tmp_path / runner.run_id / "result.json").read_text()
    import json

    assert json.loads(stored) == json.loads(json.dumps(result.to_dict()))


def test_get_current_state_returns_state() -> None:
    seen: list[ExperimentState] = []
    holder: dict[str, GenericExperimentRunner] = {}

    def during(ctx: ProposalContext) -> None:
        seen.append(holder["runner"].get_current_state())

    proposer = ScriptedProposer(lambda c: fraction_policy(0.0) if c.agent_id == "BANK_A" else None, on_propose=during)
    runner = GenericExperimentRunner(config(EXP1, "convergence.max_iterations=2"), proposer=proposer)
    holder["runner"] = runner

    before = runner.get_current_state()
    assert (before.status, before.iteration, before.max_iterations) == ("pending", 0, 2)
    assert before.run_id == runner.run_id and before.experiment == "castro_exp1"
    assert fraction_of(before.policies["BANK_A"]) == 0.5 and before.stop_reason is None

    runner.run()
    assert [(s.status, s.iteration) for s in seen] == [("running", 1)] * 2 + [("running", 2)] * 2
    it1_a, it1_b, it2_a, _ = seen
    assert fraction_of(it1_a.policies["BANK_A"]) == 0.5
    assert fraction_of(it1_b.policies["BANK_A"]) == 0.0  # adopted before BANK_B was asked
    assert (it1_b.accepted, it1_b.rejected) == (1, 0)
    assert (it2_a.accepted, it2_a.rejected) == (1, 1)
    assert it1_a.reference_costs == {"BANK_A": 5000.0, "BANK_B": 5000.0}
    assert it2_a.reference_costs == {"BANK_A": 0.0, "BANK_B": 5000.0}

    after = runner.get_current_state()
    assert (after.status, after.iteration, after.stop_reason) == ("done", 2, "max_iterations")
    assert (after.accepted, after.rejected) == (1, 3)  # BANK_A re-proposed 0.0: a tie
    assert fraction_of(after.policies["BANK_A"]) == 0.0


def test_loads_scenario_from_config_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # experiment in tmp/experiments/game/exp.yaml, scenario in tmp/experiments/scen/two.yaml
    exp_dir = tmp_path / "experiments" / "game"
    scen_dir = tmp_path / "experiments" / "scen"
    exp_dir.mkdir(parents=True)
    scen_dir.mkdir()
    scenario = yaml.safe_load((CASTRO / "scenarios" / "exp1.yaml").read_text())
    scenario["agents"][0]["liquidity_pool"] = 50_000  # so we know this copy was read
    (scen_dir / "two.yaml").write_text(yaml.safe_dump(scenario))
    raw = yaml.safe_load(EXP1.read_text())
    raw["scenario"] = "../scen/two.yaml"
    (exp_dir / "exp.yaml").write_text(yaml.safe_dump(raw))
    # a decoy at the same relative path from the working directory
    cwd = tmp_path / "elsewhere" / "work"
    (cwd.parent / "scen").mkdir(parents=True)
    cwd.mkdir()
    decoy = dict(scenario, agents=[dict(a, id=a["id"].replace("BANK", "DECOY")) for a in scenario["agents"]])
    (cwd.parent / "scen" / "two.yaml").write_text(yaml.safe_dump(decoy))
    monkeypatch.chdir(cwd)

    cfg = ExperimentConfig.from_yaml(exp_dir / "exp.yaml", overrides=["convergence.max_iterations=1"])
    assert cfg.scenario_path().resolve() == (scen_dir / "two.yaml").resolve()
    runner, result = run(cfg, ScriptedProposer.fractions({}))
    assert runner.scenario.config.agent("BANK_A").liquidity_pool == 50_000
    assert result.agents["BANK_A"].baseline_cost == 2500.0  # half of the smaller pool, r_c 0.1

    # SimCash-style paths relative to a parent folder are found too
    raw["scenario"] = "experiments/scen/two.yaml"
    (exp_dir / "root_relative.yaml").write_text(yaml.safe_dump(raw))
    assert (
        ExperimentConfig.from_yaml(exp_dir / "root_relative.yaml").scenario_path().resolve()
        == (scen_dir / "two.yaml").resolve()
    )

    # and the shipped experiments find their scenarios from any working directory
    assert config(EXP2, *SMALL_EXP2).scenario_path().resolve() == (CASTRO / "scenarios" / "exp2.yaml").resolve()


def test_generates_run_id(tmp_path: Path) -> None:
    cfg = config(EXP1, "convergence.max_iterations=1")
    ids = {GenericExperimentRunner(cfg).run_id for _ in range(20)}
    assert len(ids) == 20  # unique per run, even within the same second
    for run_id in ids:
        m = RUN_ID.match(run_id)
        assert m is not None, run_id
        assert m["name"] == "castro_exp1"

    # an explicit run id is honoured everywhere: events, result, output folder
    sink = RecordingSink()
    runner, result = run(cfg, ScriptedProposer.fractions({}), run_id="my-run-1", sinks=[sink], out_dir=tmp_path)
    assert runner.run_id == result.run_id == "my-run-1"
    assert {e.run_id for e in sink.events} == {"my-run-1"}
    assert of_type(sink.events, "experiment_start")[0].payload.run_id == "my-run-1"
    assert (tmp_path / "my-run-1" / "events.jsonl").is_file()
    # two runs of one config get two folders
    other, _ = run(cfg, ScriptedProposer.fractions({}), out_dir=tmp_path)
    assert other.run_id != "my-run-1" and (tmp_path / other.run_id / "result.json").is_file()


def test_shipped_experiments_load() -> None:
    for path in sorted(CASTRO.glob("*.yaml")):
        cfg = ExperimentConfig.from_yaml(path)
        assert cfg.warnings == [], path
        assert cfg.with_overrides(model="builtin/none").warnings == [], path


def test_simcash_experiment_files_run_as_they_are(compat_dir: Path) -> None:
    files = sorted((compat_dir / "experiments" / "castro" / "experiments").glob("*.yaml"))
    assert files
    for path in files:
        cfg = ExperimentConfig.from_yaml(path)
        assert cfg.llm.model == "openai/gpt-5.2"  # "provider:model" → litellm's provider/model
        assert cfg.scenario_path().is_file()
        assert any("output.database: no effect" in w for w in cfg.warnings)  # said, not dropped
    cfg = ExperimentConfig.from_yaml(
        files[0],
        overrides=[
            "llm.model=builtin/coordinate",
            "convergence.max_iterations=1",
            "evaluation.num_samples=5",
            "evaluation.reference_samples=5",
        ],
    )
    _, result = run(cfg)
    assert result.iterations == 1 and result.experiment == cfg.name
