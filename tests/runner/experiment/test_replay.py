"""``paylab replay`` prints exactly what the live run printed; ``paylab list`` shows runs."""

from __future__ import annotations

import io
import re
from pathlib import Path

from runner.experiment.display import VerboseConfig, VerboseLogger
from runner.proposals import LLMInteraction, PolicyGenerationResult, ProposalContext
from tests.runner.experiment.support import (
    EXP1,
    EXP2,
    ScriptedProposer,
    config,
    fraction_policy,
    paylab,
    paylab_in_process,
    run,
)

FINAL = re.compile(r"^events and result in (?P<dir>.+)$")


def live_and_replay(tmp_path: Path, exp: Path, verbosity: str | None, *extra: str) -> tuple[list[str], list[str]]:
    flags = [verbosity] if verbosity else []
    live = paylab("run", exp, "--out", tmp_path, *flags, *extra)
    assert live.returncode == 0, live.stderr
    lines = live.stdout.splitlines()
    m = FINAL.match(lines[-1])
    assert m is not None, lines[-1]
    run_id = Path(m["dir"]).name
    assert Path(m["dir"]) == tmp_path / run_id
    replay = paylab("replay", run_id, "--out", tmp_path, *flags)
    assert replay.returncode == 0, replay.stderr
    assert replay.stderr == ""
    return lines[:-1], replay.stdout.splitlines()


def test_replay_prints_the_live_output(tmp_path: Path) -> None:
    live, replayed = live_and_replay(tmp_path, EXP1, "-v")
    assert replayed == live
    assert any(line.startswith("── iteration 1") for line in live)  # -v sections are there
    assert any("✓ accepted" in line for line in live) and any("✗ rejected" in line for line in live)
    assert live[-3].startswith("stopped: ")

    # `paylab list` shows the stored run
    code, listed, _ = paylab_in_process("list", tmp_path)
    assert code == 0
    (row,) = listed.splitlines()
    run_id = next(p.name for p in tmp_path.iterdir())
    assert row.startswith(run_id) and "builtin/coordinate" in row
    assert "converged" in row and "$100.00 → $20.00" in row


def test_replay_at_the_highest_verbosity(tmp_path: Path) -> None:
    # (in-process CLI: the console-script round trip is covered above)
    code, live, _ = paylab_in_process(
        "run",
        EXP2,
        "--out",
        tmp_path,
        "-vvv",
        "--max-iterations",
        "1",
        "--set",
        "evaluation.num_samples=6",
        "--set",
        "evaluation.reference_samples=10",
    )
    assert code == 0
    *shown, last = live.splitlines()
    run_id = Path(FINAL.match(last)["dir"]).name  # type: ignore[index]
    code, replayed, err = paylab_in_process("replay", run_id, "--out", tmp_path, "-vvv")
    assert (code, err) == (0, "")
    assert replayed.splitlines() == shown
    assert any(line.lstrip().startswith("deltas (¢):") for line in shown)
    # a different level prints less
    _, quiet, _ = paylab_in_process("replay", run_id, "--out", tmp_path)
    assert len(quiet.splitlines()) < len(shown) and set(quiet.splitlines()) <= set(shown)


def test_replay_of_recorded_llm_attempts(tmp_path: Path) -> None:
    def script(ctx: ProposalContext) -> PolicyGenerationResult:
        attempt = LLMInteraction(
            agent_id=ctx.agent_id,
            iteration=ctx.iteration,
            attempt=1,
            model="test/scripted",
            messages=({"role": "system", "content": "sys"}, {"role": "user", "content": "go"}),
            raw_response='{"parameters": {}}',
            reasoning=None,
            parsed_policy=None,
            validation_errors=("payment_tree: missing",),
            error=None,
            prompt_tokens=12,
            completion_tokens=3,
            cost_usd=None,
            latency_seconds=0.5,
        )
        return PolicyGenerationResult(fraction_policy(0.2), 2, (attempt,))

    out = io.StringIO()
    runner, _ = run(
        config(EXP1, "convergence.max_iterations=1"),
        ScriptedProposer(script),
        out_dir=tmp_path,
        sinks=[VerboseLogger(VerboseConfig.from_level(2), out)],
    )
    code, replayed, _ = paylab_in_process("replay", runner.run_id, "--out", tmp_path, "-vv")
    assert code == 0
    assert replayed == out.getvalue()
    assert "BANK_A attempt 1 [test/scripted] 12+3 tokens: payment_tree: missing" in replayed

    code, audit, _ = paylab_in_process("replay", runner.run_id, "--out", tmp_path, "--audit")
    assert code == 0
    assert "[user]\ngo" in audit and "[outcome] payment_tree: missing" in audit


def test_replay_of_an_unknown_run(tmp_path: Path) -> None:
    code, out, err = paylab_in_process("replay", "no-such-run", "--out", tmp_path)
    assert code == 2 and out == ""
    (line,) = err.splitlines()
    assert line.startswith("error: no run 'no-such-run' under ") and str(tmp_path) in line
    # a stored run next to it does not change that
    run(config(EXP1, "convergence.max_iterations=1"), ScriptedProposer(lambda c: None), out_dir=tmp_path)
    assert paylab_in_process("replay", "no-such-run", "--out", tmp_path)[0] == 2


def test_replay_survives_a_truncated_last_line(tmp_path: Path) -> None:
    out = io.StringIO()
    runner, _ = run(
        config(EXP1, "convergence.max_iterations=1"),
        ScriptedProposer(lambda c: None),
        out_dir=tmp_path,
        sinks=[VerboseLogger(VerboseConfig.from_level(1), out)],
    )
    events = tmp_path / runner.run_id / "events.jsonl"
    with events.open("a") as f:
        f.write('{"seq": 99, "run_id": "x", "iter')  # a crash mid-write
    code, replayed, err = paylab_in_process("replay", runner.run_id, "--out", tmp_path, "-v")
    assert (code, err) == (0, "")
    assert replayed == out.getvalue()
