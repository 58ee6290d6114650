"""The bad-input guarantee: every malformed scenario/policy file or option gives one line.

For each case the real ``paylab`` console script runs in a subprocess and must exit 2 with
exactly one line on stderr, ``error: <file>: <dotted.path>: <what must hold>…``, nothing on
stdout and no traceback. The files live in ``tests/data/bad/`` (each YAML file says what is
wrong in its first line; the expectations for the JSON files are in the tables below).

Every option/usage case and ``paylab validate`` on every policy file run the console script
in a subprocess (concurrently, once per module); the scenario files, the constraint cases and
all ``paylab simulate`` runs go in-process through `paylab_cli.main` — the function the
console script calls — because each subprocess costs ~0.7 s of imports.
"""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from paylab_cli import main

ROOT = Path(__file__).resolve().parents[2]
BAD = "tests/data/bad"
EXP2 = "experiments/castro/scenarios/exp2.yaml"
CONSTRAINTS = "tests/data/constraints_exp.yaml"
FIFO = "runner/policy/library/fifo.json"
PAYLAB = Path(sys.executable).parent / "paylab"


@dataclass(frozen=True)
class Case:
    """One invocation of ``paylab`` (arguments after the program name) and what stderr holds."""

    id: str
    argv: tuple[str, ...]
    expect: tuple[str, ...]

    def param(self) -> object:
        return pytest.param(self, id=self.id)


# --------------------------------------------------------------------------- tables

# Scenario files: name → substrings of the error line besides the file name.
SCENARIOS: dict[str, tuple[str, ...]] = {
    "unknown_top_key": ("deferred_credit: unknown key", "did you mean 'deferred_crediting'"),
    "unknown_nested_key": ("cost_rates.delay_cost: unknown key", "delay_cost_per_tick_per_cent"),
    "missing_ticks_per_day": ("simulation.ticks_per_day: required key is missing",),
    "ticks_not_integer": ("simulation.ticks_per_day: must be an integer", "got 'ten'"),
    "negative_unsecured_cap": ("agents[0].unsecured_cap: must be >= 0", "got -5"),
    "duplicate_agent_ids": ("agents[2].id: must be unique", "'A'", "agents[0].id"),
    "unknown_counterparty": (
        "agents[0].arrival_config.counterparty_weights.BANK_C:",
        "not an agent of this scenario",
    ),
    "event_unknown_agent": ("scenario_events[0].to_agent: unknown agent 'C'", "agents: A, B"),
    "event_self_payment": ("scenario_events[0].to_agent: must differ from from_agent", "'A'"),
    "bad_distribution_type": (
        "agents[0].arrival_config.amount_distribution.type: must be one of",
        "'LogNormal'",
        "got 'Poisson'",
    ),
    "uniform_max_below_min": (
        "agents[0].arrival_config.amount_distribution.max: must be >= min (500)",
        "got 200",
    ),
    "deadline_range_reversed": (
        "agents[1].arrival_config.deadline_range: must satisfy 0 < min <= max",
        "got [5, 2]",
    ),
    "unknown_event_type": ("scenario_events[1].type: must be one of", "got 'BankRun'"),
    "eod_penalty_twice": ("cost_rates.eod_penalty_per_transaction: must not be given together with eod_penalty",),
    "yaml_syntax_error": ("invalid YAML at line 7", "flow mapping at line 6"),
    "top_level_list": ("the top level must be a YAML mapping", "got a list"),
    "empty": ("the file is empty",),
    "fromjson_missing_file": ("agents[1].policy.json_path: policy file 'fromjson/no_such_policy.json' not found",),
    "fromjson_invalid_json": (
        "agents[0].policy.json_path: ",
        "fromjson/broken.json: invalid JSON at line 3",
    ),
    "fromjson_invalid_policy": (
        "agents[0].policy.json_path: ",
        "fromjson/unknown_field.json: ",
        "payment_tree.condition.left.field: 'balanse' is not a known field",
        "did you mean 'balance'",
    ),
    "limit_unknown_bank": ("agents[0].bilateral_limits.C: 'C' is not an agent", "agents: A, B"),
    "limit_in_block_unknown_bank": (
        "agents[1].limits.bilateral_limits.Z: 'Z' is not an agent",
        "agents: A, B",
    ),
    "limit_negative": ("agents[0].multilateral_limit: must be >= 0", "got -5"),
    "limit_to_self": ("agents[0].bilateral_limits.A: an agent cannot limit payments to itself",),
    "limit_two_spellings": ("agents[0].limits.multilateral_limit: must not be given together with the agent's own",),
    "max_cycle_length_below_3": ("lsm_config.max_cycle_length: must be >= 3", "got 2"),
    "haircut_above_one": ("agents[0].collateral_haircut: must be <= 1", "got 1.5"),
    "collateral_negative": ("agents[0].posted_collateral: must be >= 0", "got -100"),
    "cap_adjustment_negative": ("scenario_events[0].delta: takes the unsecured cap of 'A' below 0 at tick 2 (to -10)",),
    "bands_and_arrival_config": ("agents[0].arrival_bands: must not be given together with arrival_config",),
    "band_deadline_reversed": (
        "agents[0].arrival_bands.low.deadline_offset_max: must be >= deadline_offset_min (5)",
        "got 2",
    ),
    "weight_change_self": ("scenario_events[0].counterparty: an agent cannot pay itself",),
    "weight_change_no_arrivals": ("scenario_events[0].agent: 'A' has no arrival_config",),
    "escalation_two_spellings": (
        "priority_escalation.threshold_ticks: must not be given together with start_escalating_at_ticks",
    ),
    "penalty_bad_value": (
        "cost_rates.deadline_penalty: must be an integer number of cents or {mode: fixed",
        "{mode: rate",
        "got 'lots'",
    ),
    "penalty_rate_missing_bps": ("cost_rates.eod_penalty.bps_per_event: required key is missing",),
    "penalty_unknown_mode": ("cost_rates.eod_penalty.mode: must be 'fixed' or 'rate', got 'percent'",),
    "priority_out_of_range": ("agents[0].arrival_config.priority.value: must be <= 10, got 12",),
    "policy_argument_not_number": ("agents[0].policy.urgency_threshold: policy argument must be a number, got 'soon'",),
    "unknown_policy_type": ("agents[1].policy.type: must be 'Fifo'", "got 'Lifo'"),
    "not_a_scenario": ("cannot tell what this file is", "simulaton"),
}
# Where `paylab simulate` (which always reads a scenario) says something else than `validate`.
SIMULATE_EXPECT = {
    "not_a_scenario": ("simulation: required key is missing", "+3 more: agents, simulaton"),
}

# Policy files: name → substrings of the error line besides the file name.
POLICIES: dict[str, tuple[str, ...]] = {
    "invalid_json": ("invalid JSON at line 3 column 58",),  # trailing comma
    "not_an_object": ("(root): a policy must be a JSON object, got a list",),
    "unknown_top_key": ("paymnet_tree: unknown top-level key", "did you mean 'payment_tree'"),
    "unknown_field_deep": (
        "payment_tree.on_false.condition.left.field: 'balanec' is not a known field",
        "did you mean 'balance'",
    ),
    "undeclared_param": (
        "payment_tree.condition.right.param: 'bufer' is not declared in parameters",
        "declared: buffer",
    ),
    "division_by_zero": ("payment_tree.condition.left.compute.right: division by a literal zero",),
    "action_wrong_tree": ("payment_tree.action: 'SetState' is an action of bank_tree, not of payment_tree",),
    "unknown_action": (
        "payment_tree.on_true.action: 'Relase' is not an action of payment_tree",
        "did you mean 'Release'",
    ),
    "duplicate_node_id": (
        "payment_tree.on_false.node_id: duplicate node id 'leaf'",
        "also at payment_tree.on_true",
    ),
    "missing_on_false": ("payment_tree.on_false: required key of a condition node is missing",),
    "bad_compute_op": ("payment_tree.condition.left.compute.op: unknown computation 'pow'",),
    "hold_reason_number": ("payment_tree.parameters.reason: must be a literal string, got 42",),
    "state_key_prefix": ("bank_tree.parameters.key: state keys must start with 'bank_state_', got 'budget'",),
    "param_is_string": ("parameters.initial_liquidity_fraction: must be a finite number, got 'half'",),
    "unknown_condition_op": ("payment_tree.condition.op: unknown operator '=>'",),
    "many_errors": (
        "parameters.buffer: must be a finite number, got 'big'",
        "(+3 more: payment_tree.condition.left.field, payment_tree.condition.right.param, payment_tree.on_true.action)",
    ),
}

# Structurally valid policies that break tests/data/constraints_exp.yaml's policy_constraints.
CONSTRAINED: dict[str, tuple[str, ...]] = {
    "constraint_param_out_of_bounds": ("parameters.initial_liquidity_fraction: must be <= 1, got 1.5",),
    "constraint_field_not_allowed": (
        "payment_tree.condition.left.field: field 'effective_liquidity' is not allowed",
        "allowed: amount, balance",
    ),
    "constraint_action_not_allowed": (
        "payment_tree.on_false.action: 'Split' is not allowed",
        "allowed: Release, Hold",
    ),
}

# Malformed experiment files given to --constraints (checked with a valid policy).
BAD_CONSTRAINTS: dict[str, tuple[str, ...]] = {
    "unknown_allowed_field": ("policy_constraints.allowed_fields[1]: 'balanse' is not a known field",),
    "bounds_reversed": ("policy_constraints.allowed_parameters[0]: min_value must be <=",),
}

OPTION_CASES = [
    Case(
        "param-not-a-number",
        ("simulate", EXP2, "--param", "BANK_A.initial_liquidity_fraction=abc"),
        ("--param BANK_A.initial_liquidity_fraction=abc: ", "must be a finite number, got 'abc'"),
    ),
    Case(
        "param-unknown-agent",
        ("simulate", EXP2, "--param", "NOPE.x=1"),
        ("--param NOPE.x=1: ", f"'NOPE' is not an agent of {EXP2}", "BANK_A, BANK_B"),
    ),
    Case(
        "param-no-name",
        ("simulate", EXP2, "--param", "BANK_A=0.5"),
        ("--param BANK_A=0.5: must look like AGENT.NAME=VALUE",),
    ),
    Case(
        "set-no-equals",
        ("simulate", EXP2, "--set", "simulation.ticks_per_day"),
        (EXP2, "override 'simulation.ticks_per_day': must look like dotted.key=VALUE"),
    ),
    Case(
        "set-unknown-key",
        ("simulate", EXP2, "--set", "cost_rates.delay_cost=1"),
        (EXP2, "cost_rates.delay_cost: unknown key"),
    ),
    Case(
        "set-bad-yaml",
        ("simulate", EXP2, "--set", "simulation.ticks_per_day=[1,"),
        (EXP2, "override simulation.ticks_per_day: value '[1,' is not valid YAML"),
    ),
    Case(
        "set-bad-value",
        ("simulate", EXP2, "--set", "simulation.ticks_per_day=-3"),
        (EXP2, "simulation.ticks_per_day: must be > 0, got -3"),
    ),
    Case(
        "policy-unknown-agent",
        ("simulate", EXP2, "--policy", f"BANK_C={FIFO}"),
        (f"--policy BANK_C={FIFO}: ", f"'BANK_C' is not an agent of {EXP2}"),
    ),
    Case(
        "policy-no-equals", ("simulate", EXP2, "--policy", FIFO), (f"--policy {FIFO}: must look like AGENT=FILE.json",)
    ),
    Case(
        "policy-missing-file",
        ("simulate", EXP2, "--policy", f"BANK_A={BAD}/nope.json"),
        (f"{BAD}/nope.json: file not found",),
    ),
    Case(
        "validate-missing-file", ("validate", f"{BAD}/no_such_file.yaml"), (f"{BAD}/no_such_file.yaml: file not found",)
    ),
    Case(
        "constraints-on-scenario",
        ("validate", EXP2, "--constraints", CONSTRAINTS),
        (f"--constraints {CONSTRAINTS}: only applies to policy (.json) files",),
    ),
    Case(
        "constraints-without-block",
        ("validate", FIFO, "--constraints", EXP2),
        (EXP2, "policy_constraints: required key is missing"),
    ),
    Case(
        "usage-missing-argument",
        ("simulate",),
        ("paylab simulate: Missing argument 'SCENARIO_FILE'", "paylab simulate --help"),
    ),
    Case("usage-unknown-option", ("validate", EXP2, "--frob"), ("paylab validate: No such option '--frob'",)),
    Case("usage-unknown-command", ("frobnicate",), ("paylab: No such command 'frobnicate'",)),
    Case(
        "usage-bad-option-value",
        ("simulate", EXP2, "--seed", "abc"),
        ("paylab simulate: Invalid value for '--seed'", "'abc'"),
    ),
]


def _scenario(name: str) -> str:
    return f"{BAD}/scenarios/{name}.yaml"


def _policy(name: str) -> str:
    return f"{BAD}/policies/{name}.json"


SUBPROCESS_CASES = [
    *OPTION_CASES,
    *(Case(f"validate-policy-{n}", ("validate", _policy(n)), (_policy(n), *e)) for n, e in POLICIES.items()),
]
IN_PROCESS_CASES = (
    [Case(f"validate-scenario-{n}", ("validate", _scenario(n)), (_scenario(n), *e)) for n, e in SCENARIOS.items()]
    + [
        Case(f"validate-constrained-{n}", ("validate", _policy(n), "--constraints", CONSTRAINTS), (_policy(n), *e))
        for n, e in CONSTRAINED.items()
    ]
    + [
        Case(
            f"validate-constraints-{n}",
            ("validate", FIFO, "--constraints", f"{BAD}/constraints/{n}.yaml"),
            (f"{BAD}/constraints/{n}.yaml", *e),
        )
        for n, e in BAD_CONSTRAINTS.items()
    ]
    + [
        Case(f"simulate-scenario-{n}", ("simulate", _scenario(n)), (_scenario(n), *SIMULATE_EXPECT.get(n, e)))
        for n, e in SCENARIOS.items()
    ]
    + [
        Case(f"simulate-policy-{n}", ("simulate", EXP2, "--policy", f"BANK_A={_policy(n)}"), (_policy(n), *e))
        for n, e in POLICIES.items()
    ]
)


# --------------------------------------------------------------------------- running


@dataclass(frozen=True)
class Outcome:
    code: int | str | None
    stdout: str
    stderr: str


def _run_script(case: Case) -> Outcome:
    proc = subprocess.run(
        [str(PAYLAB), *case.argv],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "200", "NO_COLOR": "1"},
        check=False,
    )
    return Outcome(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture(scope="module")
def script_outcomes(request: pytest.FixtureRequest) -> dict[str, Outcome]:
    """Run the selected subprocess cases of this module concurrently, once."""
    if not PAYLAB.exists():
        pytest.skip(f"console script {PAYLAB} is not installed")
    wanted = {
        item.callspec.params["case"].id: item.callspec.params["case"]
        for item in request.session.items
        if getattr(item, "module", None) is request.module
        and hasattr(item, "callspec")
        and isinstance(item.callspec.params.get("case"), Case)
        and item.callspec.params["case"] in SUBPROCESS_CASES
    }
    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        outcomes = dict(zip(wanted, pool.map(_run_script, wanted.values()), strict=True))
    return outcomes


def _check(case: Case, out: Outcome) -> None:
    both = out.stdout + out.stderr
    assert "Traceback" not in both, both
    assert out.code == 2, f"exit code {out.code}, stderr: {out.stderr!r}"
    assert out.stdout == "", f"stdout must be empty, got {out.stdout!r}"
    line = out.stderr.strip()
    assert line.count("\n") == 0, f"stderr must be one line, got:\n{out.stderr}"
    assert line.startswith("error: "), line
    for part in case.expect:
        assert part in line, f"{part!r} not in {line!r}"


@pytest.mark.parametrize("case", [c.param() for c in SUBPROCESS_CASES])
def test_console_script_reports_one_line(case: Case, script_outcomes: dict[str, Outcome]) -> None:
    _check(case, script_outcomes[case.id])


@pytest.mark.parametrize("case", [c.param() for c in IN_PROCESS_CASES])
def test_main_reports_one_line(case: Case, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    with pytest.raises(SystemExit) as info:
        main(list(case.argv))
    captured = capsys.readouterr()
    _check(case, Outcome(info.value.code, captured.out, captured.err))


# --------------------------------------------------------------------------- the tables


def test_every_bad_file_is_in_a_table() -> None:
    scenarios = {p.stem for p in (ROOT / BAD / "scenarios").glob("*.yaml")}
    policies = {p.stem for p in (ROOT / BAD / "policies").glob("*.json")}
    constraints = {p.stem for p in (ROOT / BAD / "constraints").glob("*.yaml")}
    assert scenarios == set(SCENARIOS)
    assert policies == set(POLICIES) | set(CONSTRAINED)
    assert constraints == set(BAD_CONSTRAINTS)
    assert len(scenarios) >= 14 and len(policies) >= 10


def test_every_bad_yaml_file_says_what_is_wrong() -> None:
    for path in sorted((ROOT / BAD).rglob("*.yaml")):
        first = path.read_text().splitlines()[0]
        assert first.startswith("# BAD: "), f"{path} must start with '# BAD: <what is wrong>'"


def test_zero_byte_file_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "zero.yaml"
    empty.write_text("")
    with pytest.raises(SystemExit) as info:
        main(["validate", str(empty)])
    captured = capsys.readouterr()
    _check(Case("zero", (), (str(empty), "the file is empty")), Outcome(info.value.code, captured.out, captured.err))


def test_non_utf8_file_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"simulation: {ticks_per_day: 4}\n\xff\xfe\x00")
    with pytest.raises(SystemExit) as info:
        main(["validate", str(binary)])
    captured = capsys.readouterr()
    _check(
        Case("binary", (), (str(binary), "not a UTF-8 text file")), Outcome(info.value.code, captured.out, captured.err)
    )
