"""`paylab analyze` statistics on a synthetic sweep whose answers are worked out by hand.

The sweep: 2 scenarios × (2 models + the no-optimisation baseline) × 3 replicates, written
through the store's public `write_part`/`compact` API; one run (exp1, claude-b, replicate 2)
failed. Costs are int64 cents and chosen so that the paired change vs baseline differs from
the difference of the group means (exp1 claude-b: paired 0, unpaired −$10).
"""

from __future__ import annotations

import csv
import io
import json
import random
from typing import Any

import pyarrow as pa
import pytest

from runner.errors import ConfigError
from runner.experiment.stats import t_quantile
from sweep.analysis import analysis_table, analyze_results
from sweep.analysis_stats import cost_stats
from sweep.part_names import iteration_part
from sweep.store import MemoryStore, ParquetStore, ResultStore

SWEEP = "synthetic"
RATE = 0.1  # a constant scenario override, so every run carries a param_ column besides the model
GPT, CLAUDE, NONE = "openai/gpt-a", "anthropic/claude-b", "builtin/none"
# (scenario, model) → final total cost per replicate (cents); None = that replicate failed
COSTS: dict[tuple[str, str], list[int | None]] = {
    ("exp1", NONE): [10_000, 12_000, 14_000],
    ("exp1", GPT): [8_000, 9_000, 10_000],
    ("exp1", CLAUDE): [11_000, 11_000, None],
    ("exp2", NONE): [5_000, 5_000, 5_000],
    ("exp2", GPT): [6_000, 6_000, 6_000],
    ("exp2", CLAUDE): [4_000, 4_500, 5_000],
}
ACCEPTED = {GPT: 3, CLAUDE: 2, NONE: 0}  # accepted proposals out of 6 per run
PROPOSALS_PER_RUN = 6  # 2 agents × 3 iterations


def run_rows(sweep: str = SWEEP) -> list[dict[str, Any]]:
    rows = []
    for (scenario, model), costs in COSTS.items():
        for replicate, cost in enumerate(costs):
            failed = cost is None
            llm = model != NONE
            rows.append(
                {
                    "sweep": sweep,
                    "run_id": f"{scenario}-{model.split('/')[1]}-r{replicate}",
                    "cell_key": f"k-{scenario}-{model}-{replicate}",
                    "replicate": replicate,
                    "experiment": f"castro_{scenario}",
                    "scenario": scenario,
                    "model": model,
                    # exp1's baseline says so; exp2's is recognised by its model (the demo sweep's way)
                    "baseline": model == NONE and scenario == "exp1",
                    "params_json": json.dumps({"llm.model": model}),
                    "param_llm__model": model,
                    "param_scenario_overrides__cost_rates__delay_cost_per_tick_per_cent": RATE,
                    "status": "failed" if failed else "done",
                    "error": "LLMError: provider timed out\nTraceback ..." if failed else None,
                    "iterations": None if failed else {GPT: 3, CLAUDE: 5, NONE: 1}[model],
                    "stop_reason": None if failed else "max_iterations" if model == CLAUDE else "converged",
                    "final_total_cost": cost,
                    "baseline_total_cost": cost,
                    "best_total_cost": cost,
                    "final_settlement_rate": None if failed else 0.9 if scenario == "exp2" else 1.0,
                    "llm_calls": (2 if failed else 6) if llm else 0,
                    "llm_prompt_tokens": (300 if failed else 1000) if llm else 0,
                    "llm_completion_tokens": (50 if failed else 200) if llm else 0,
                    "llm_cost_usd": (0.01 if failed else 0.05) if llm else None,
                    "schema_version": 1,
                }
            )
    return rows


def proposal_rows(run: dict[str, Any], iteration: int) -> list[dict[str, Any]]:
    """Two agents' proposals of one iteration; the run's first ACCEPTED[model] are accepted."""
    if run["model"] == NONE:
        return []
    out = []
    for k, agent in enumerate(("BANK_A", "BANK_B")):
        index = 2 * (iteration - 1) + k
        accepted = index < (1 if run["status"] == "failed" else ACCEPTED[run["model"]])
        out.append(
            {
                "sweep": run["sweep"],
                "run_id": run["run_id"],
                "iteration": iteration,
                "agent": agent,
                "valid": True,
                "accepted": accepted,
                "schema_version": 1,
            }
        )
    return out


def fill(store: ResultStore, rows: list[dict[str, Any]]) -> ResultStore:
    for run in rows:
        sweep, run_id = run["sweep"], run["run_id"]
        iterations = 1 if run["status"] == "failed" else 3
        for it in range(1, iterations + 1):
            part = iteration_part(it)
            store.write_part(
                "proposals",
                sweep,
                run_id,
                part,
                pa.Table.from_pylist(proposal_rows(run, it))
                if run["model"] != NONE
                else pa.table({"run_id": pa.array([], pa.string())}),
            )
            # the events part commits the iteration's rows of the other tables
            store.write_part(
                "events",
                sweep,
                run_id,
                part,
                pa.Table.from_pylist(
                    [{"run_id": run_id, "seq": it, "iteration": it, "type": "reference_cost", "payload_json": "{}"}]
                ),
            )
        store.write_part("runs", sweep, run_id, "final", pa.Table.from_pylist([run]))
        store.compact(sweep, run_id)
    return store


@pytest.fixture(scope="module")
def store() -> ResultStore:
    return fill(MemoryStore(), run_rows())


def groups(
    store: ResultStore,
    by: list[str] | None = None,
) -> dict[tuple[Any, ...], dict[str, Any]]:
    report = json.loads(analyze_results(store, SWEEP, by or ["scenario", "model"], "json"))
    keys = report["by"]
    return {tuple(g[k] for k in keys): g for g in report["groups"]}


def test_group_counts_and_cost_statistics(store: ResultStore) -> None:
    g = groups(store)
    assert len(g) == 6
    gpt = g[("exp1", GPT)]
    assert (gpt["runs"], gpt["done"], gpt["failed"]) == (3, 3, 0)
    assert gpt["final_cost_mean"] == pytest.approx(9_000)
    assert gpt["final_cost_sd"] == pytest.approx(1_000)
    half = 4.302652729749464 * 1_000 / 3**0.5  # t(0.975, 2) · sd / √n
    assert gpt["final_cost_ci_low"] == pytest.approx(9_000 - half)
    assert gpt["final_cost_ci_high"] == pytest.approx(9_000 + half)
    claude = g[("exp1", CLAUDE)]  # the failed run is counted but not in the statistics
    assert (claude["runs"], claude["done"], claude["failed"]) == (3, 2, 1)
    assert claude["final_cost_mean"] == pytest.approx(11_000)
    assert claude["failed_runs"] == [{"run_id": "exp1-claude-b-r2", "error": "LLMError: provider timed out"}]
    assert g[("exp2", GPT)]["final_cost_ci_low"] == pytest.approx(6_000)  # sd 0: CI collapses


def test_change_vs_baseline_is_paired_per_replicate(store: ResultStore) -> None:
    g = groups(store)
    assert g[("exp1", GPT)]["pairs"] == 3
    assert g[("exp1", GPT)]["delta_mean"] == pytest.approx(-3_000)
    assert g[("exp1", GPT)]["delta_pct"] == pytest.approx(-25.0)
    # paired over replicates 0 and 1 only: 11000−10000 and 11000−12000
    assert g[("exp1", CLAUDE)]["pairs"] == 2
    assert g[("exp1", CLAUDE)]["delta_mean"] == pytest.approx(0.0)
    assert g[("exp2", GPT)]["delta_pct"] == pytest.approx(20.0)
    assert g[("exp2", CLAUDE)]["delta_mean"] == pytest.approx(-500)
    for scenario in ("exp1", "exp2"):  # flagged by `baseline` (exp1) or by the model (exp2)
        base = g[(scenario, NONE)]
        assert base["is_baseline"] and base["delta_mean"] is None and base["pairs"] == 0


def test_ranks_models_within_each_scenario(store: ResultStore) -> None:
    ranks = {k: v["rank"] for k, v in groups(store).items()}
    assert ranks == {
        ("exp1", GPT): 1,
        ("exp1", CLAUDE): 2,
        ("exp1", NONE): 3,
        ("exp2", CLAUDE): 1,
        ("exp2", NONE): 2,
        ("exp2", GPT): 3,
    }


def test_acceptance_rate_counts_proposals_of_done_runs(store: ResultStore) -> None:
    g = groups(store)
    assert (g[("exp1", GPT)]["accepted"], g[("exp1", GPT)]["proposals"]) == (9, 18)
    assert g[("exp1", GPT)]["acceptance_rate"] == pytest.approx(0.5)
    assert (g[("exp1", CLAUDE)]["accepted"], g[("exp1", CLAUDE)]["proposals"]) == (4, 12)
    assert g[("exp1", NONE)]["acceptance_rate"] is None


def test_settlement_iterations_stop_reasons_and_llm_use(store: ResultStore) -> None:
    g = groups(store)
    claude = g[("exp1", CLAUDE)]
    assert claude["iterations"] == pytest.approx(5)
    assert claude["stop_reasons"] == {"max_iterations": 2}
    assert g[("exp2", GPT)]["settlement_rate"] == pytest.approx(0.9)
    # LLM use includes the failed run: the money was spent
    assert (claude["llm_calls"], claude["llm_prompt_tokens"], claude["llm_completion_tokens"]) == (14, 2_300, 450)
    assert claude["llm_cost_usd"] == pytest.approx(0.11)
    assert g[("exp1", NONE)]["llm_calls"] == 0


def test_table_shows_dollars_and_lists_failures(store: ResultStore) -> None:
    text = analysis_table(store, SWEEP)
    lines = text.splitlines()
    assert lines[0].split()[:2] == ["scenario", "model"]
    gpt = next(line for line in lines if line.startswith("exp1") and GPT in line)
    assert "$90.00 ± $10.00" in gpt and "-$30.00 (-25.0%)" in gpt and "50% (9/18)" in gpt
    assert "2/1" in next(line for line in lines if line.startswith("exp1") and CLAUDE in line)
    assert "failed runs (1), excluded from cost statistics:" in text
    assert "exp1-claude-b-r2 (exp1, anthropic/claude-b): LLMError: provider timed out" in text
    rows = [line for line in lines if line.startswith("exp")]  # sorted by scenario, then model
    assert [r.split()[:2] for r in rows] == [
        ["exp1", CLAUDE],
        ["exp1", NONE],
        ["exp1", GPT],
        ["exp2", CLAUDE],
        ["exp2", NONE],
        ["exp2", GPT],
    ]


def test_csv_keeps_cents_and_one_row_per_group(store: ResultStore) -> None:
    text = analyze_results(store, SWEEP, ["scenario", "model"], "csv")
    records = list(csv.DictReader(io.StringIO(text)))
    assert len(records) == 6
    assert list(records[0])[:5] == ["scenario", "model", "runs", "done", "failed"]
    gpt = next(r for r in records if r["scenario"] == "exp1" and r["model"] == GPT)
    assert float(gpt["final_cost_mean"]) == 9_000 and float(gpt["delta_mean"]) == -3_000
    assert gpt["stop_reasons"] == "converged=3" and gpt["rank"] == "1"
    claude = next(r for r in records if r["scenario"] == "exp1" and r["model"] == CLAUDE)
    assert claude["failed_runs"] == "exp1-claude-b-r2"


def test_by_dotted_param_keys(store: ResultStore) -> None:
    by_model = groups(store, ["llm.model"])  # the param_llm__model column
    assert sorted(by_model) == [(CLAUDE,), (NONE,), (GPT,)]
    assert by_model[(GPT,)]["runs"] == 6
    assert by_model[(GPT,)]["delta_mean"] == pytest.approx((-3_000 * 3 + 1_000 * 3) / 6)
    rate = "scenario_overrides.cost_rates.delay_cost_per_tick_per_cent"
    one = groups(store, [rate, "model"])
    assert set(one) == {(RATE, GPT), (RATE, CLAUDE), (RATE, NONE)}


def test_output_is_deterministic_whatever_the_write_order() -> None:
    rows = run_rows()
    shuffled = rows[:]
    random.Random(7).shuffle(shuffled)
    a, b = fill(MemoryStore(), rows), fill(MemoryStore(), shuffled)
    for fmt in ("table", "csv", "json"):
        first = analyze_results(a, SWEEP, ["scenario", "model"], fmt)
        assert first == analyze_results(b, SWEEP, ["scenario", "model"], fmt)
        assert first == analyze_results(a, SWEEP, ["scenario", "model"], fmt)


def test_parquet_store_gives_the_same_report(tmp_path: Any, store: ResultStore) -> None:
    on_disk = fill(ParquetStore(str(tmp_path / "results")), run_rows())
    reopened = ParquetStore(str(tmp_path / "results"))
    assert analysis_table(reopened, SWEEP) == analysis_table(store, SWEEP)
    assert analyze_results(on_disk, SWEEP, ["model"], "json") == analyze_results(store, SWEEP, ["model"], "json")


def test_several_sweeps_are_never_pooled() -> None:
    both = fill(fill(MemoryStore(), run_rows("alpha")), run_rows("beta"))
    report = json.loads(analyze_results(both, None, ["scenario", "model"], "json"))
    assert report["by"] == ["sweep", "scenario", "model"]
    assert len(report["groups"]) == 12
    assert {g["rank"] for g in report["groups"]} == {1, 2, 3}  # ranked within sweep × scenario
    # the same cells have the same run ids in both sweeps: counts must not mix
    gpt = [g for g in report["groups"] if g["scenario"] == "exp1" and g["model"] == GPT]
    assert [(g["sweep"], g["accepted"], g["proposals"]) for g in gpt] == [("alpha", 9, 18), ("beta", 9, 18)]
    only = json.loads(analyze_results(both, "beta", ["scenario", "model"], "json"))
    assert only["by"] == ["scenario", "model"] and len(only["groups"]) == 6


def test_empty_store_and_unknown_sweep_give_one_line(tmp_path: Any, store: ResultStore) -> None:
    empty = analyze_results(ParquetStore(str(tmp_path / "nothing")), None, ["scenario"], "table")
    assert empty.startswith("no runs found in ") and "\n" not in empty
    assert analyze_results(MemoryStore(), "x", ["scenario"], "csv") == "no runs for sweep 'x'"
    assert analysis_table(store, "other") == f"no runs for sweep 'other' (found: {SWEEP})"


def test_bad_arguments_are_config_errors(store: ResultStore) -> None:
    with pytest.raises(ConfigError, match=r"--by: unknown column 'modle'; choose .*llm\.model"):
        analyze_results(store, SWEEP, ["modle"], "table")
    with pytest.raises(ConfigError, match="--format"):
        analyze_results(store, SWEEP, ["model"], "xml")
    with pytest.raises(ConfigError, match="--sweep"):
        analyze_results(store, "../etc", ["model"], "table")


def test_t_quantile_and_cost_stats() -> None:
    for df, expected in ((1, 12.7062), (2, 4.3027), (5, 2.5706), (30, 2.0423), (10**6, 1.96)):
        assert t_quantile(0.975, df) == pytest.approx(expected, abs=5e-4)
    assert cost_stats([]) == (None, None, None, None)
    assert cost_stats([5.0]) == (5.0, None, None, None)
