"""The API key never reaches a stream or a file, whatever field a provider plants it in.

Unit level: `Scrubber` masks a key and its simple encodings (JSON-escaped, percent-encoded,
hex, base64 at every alignment, std and url-safe) and the ``sk-abc…`` abbreviations; it leaves
placeholders shorter than 8 characters alone; `secret_values` collects every value paylab
reads for a call (``api_key_env`` and the provider variables).

End to end: the key is planted, through the fake server and the real litellm client, in every
field a provider controls — error bodies (transient and final), a header echoed in an error,
the reply text in several encodings, the reasoning, usage fields — then ``paylab run`` (stderr,
stdout, ``events.jsonl``, ``result.json``) and a local ``paylab sweep`` (every Parquet table,
read back as values) are searched for the key and each encoding. The key is read from
``llm.api_key_env`` in one case and from the provider variable (``OPENAI_API_KEY``) in the
other. A check that ``[redacted]`` was stored proves the planted texts did reach the outputs.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from pathlib import Path
from urllib.parse import quote

import pytest

from paylab_cli import main
from runner.llm.config import LLMConfig
from runner.llm.untrusted import REDACTED, Scrubber, secret_values
from sweep.store import ParquetStore
from tests.conftest import EXPERIMENTS
from tests.fakes.contexts import fraction_policy
from tests.fakes.fake_openai import FakeOpenAIServer, Fault, Raw, Reply, completion_body

KEY = 'sk-live/Ab+Cd=Ef"g&h%20-7f3a9c1e5b'


def encodings(key: str) -> dict[str, str]:
    raw = key.encode()
    forms = {
        "raw": key,
        "json": json.dumps(key)[1:-1],
        "url": quote(key, safe=""),
        "hex": binascii.hexlify(raw).decode(),
        "HEX": binascii.hexlify(raw).decode().upper(),
    }
    for pad in range(3):
        prefix = b"u:" + b"x" * pad  # "Basic base64(user:key)" at each alignment
        forms[f"b64_{pad}"] = base64.b64encode(prefix + raw).decode()
        forms[f"b64url_{pad}"] = base64.urlsafe_b64encode(prefix + raw).decode()
    return forms


def core(key: str, form: str, encoded: str) -> str:
    """The part of an encoding that can only come from the key (what a leak would show)."""
    if not form.startswith("b64"):
        return encoded
    return encoded[4:-4]  # the prefix's and the padding's characters depend on neighbours


@pytest.mark.parametrize("form", sorted(encodings(KEY)))
def test_scrubber_masks_every_simple_encoding(form: str) -> None:
    encoded = encodings(KEY)[form]
    text = f"before {encoded} after"
    clean = Scrubber([KEY])(text) or ""
    assert core(KEY, form, encoded) not in clean and REDACTED in clean
    assert clean.startswith("before ") and clean.endswith(" after")


@pytest.mark.parametrize("echo", ["sk-liv***c1e5b", "sk-live/Ab…", "Incorrect API key provided: sk-live/Ab+Cd=E"])
def test_scrubber_masks_abbreviations(echo: str) -> None:
    assert "sk-liv" not in (Scrubber([KEY])(echo) or "")


@pytest.mark.parametrize("short", ["x", "sk-1234", "1234567"])
def test_placeholders_shorter_than_eight_characters_are_not_secrets(short: str) -> None:
    text = '{"parameters": {"x": 1234567}} sk-1234'
    assert Scrubber([short])(text) == text


def test_secret_values_are_every_variable_read_for_the_call() -> None:
    env = {
        "MY_KEY": "sk-custom-123456",
        "OPENAI_API_KEY": "sk-openai-123456",
        "ANTHROPIC_API_KEY": "sk-ant-123456789",
        "OTHER": "sk-not-a-key-var",
        "GROQ_API_KEY": "x",
    }
    config = LLMConfig(model="openai/gpt-4.1", api_key_env="MY_KEY")
    assert secret_values(config, env) == ("sk-ant-123456789", "sk-custom-123456", "sk-openai-123456")
    assert secret_values(LLMConfig(model="builtin/none"), {}) == ()


# --------------------------------------------------------------------------- end to end


def hostile_script(key: str) -> list[object]:
    forms = encodings(key)
    planted = " ".join(f"{name}={value}" for name, value in forms.items())
    policy = json.dumps(fraction_policy(0.3))
    usage_body = completion_body(Reply(policy), "fake-model", 9)
    usage_body["usage"] = {"prompt_tokens": key, "completion_tokens": f"Bearer {key}", "total_tokens": 1}
    error_body = json.dumps(
        {
            "error": {
                "message": f"bad key {key} / {planted}",
                "type": "invalid_request_error",
                "param": f"Authorization: Bearer {key}",
                "code": key,
            }
        }
    ).encode()
    return [
        Fault(500, message=f"upstream saw Authorization: Bearer {key} ({planted})"),  # transient, retried
        Raw(error_body, status=400, headers=(("X-Echo-Authorization", f"Bearer {key}"),)),  # final
        Reply(
            f"My key is {key}. Encoded: {planted}\n```json\n{policy}\n```",
            reasoning=f"the header said Bearer {key} {planted}",
        ),
        Raw(json.dumps(usage_body).encode()),
        Reply("not json, but " + planted),
        Reply(policy),
    ]


def experiment(tmp_path: Path, api_base: str, api_key_env: str | None) -> Path:
    doc = {
        "name": "leak_check",
        "scenario": str(EXPERIMENTS / "castro" / "scenarios" / "exp1.yaml"),
        "optimized_agents": ["BANK_A", "BANK_B"],
        "evaluation": {"mode": "deterministic", "acceptance": {"rule": "mean"}},
        "convergence": {"max_iterations": 2},
        "llm": {
            "model": "openai/fake",
            "api_base": api_base,
            "max_retries": 1,
            "transport_retries": 1,
            "backoff_seconds": 0.001,
            "timeout_seconds": 10,
            "system_prompt": "Manage cash.",
            **({"api_key_env": api_key_env} if api_key_env else {}),
        },
        "policy_constraints": {
            "allowed_parameters": [
                {"name": "initial_liquidity_fraction", "param_type": "float", "min_value": 0.0, "max_value": 1.0}
            ],
            "allowed_fields": ["balance"],
            "allowed_actions": {"payment_tree": ["Release", "Hold"], "bank_tree": ["NoAction"]},
        },
        "output": {"directory": str(tmp_path / "results")},
    }
    path = tmp_path / "leak.yaml"
    path.write_text(json.dumps(doc))
    return path


def every_output(folder: Path) -> str:
    """Every file under ``folder`` as text; Parquet tables as their values (not compressed bytes)."""
    texts = []
    for file in sorted(p for p in folder.rglob("*") if p.is_file()):
        if file.suffix == ".parquet":
            import pyarrow.parquet as pq

            texts.append(json.dumps(pq.read_table(file).to_pylist(), default=str, ensure_ascii=False))
        else:
            texts.append(file.read_bytes().decode("utf-8", "replace"))
    return "\n".join(texts)


def assert_no_key(text: str, key: str) -> None:
    for form, encoded in encodings(key).items():
        assert core(key, form, encoded) not in text, form
    assert key[:8] not in text


def exit_code(argv: list[str]) -> int:
    try:
        main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


@pytest.mark.parametrize("source", ["api_key_env", "provider_variable"])
def test_a_planted_key_reaches_no_stream_or_file(
    tmp_path: Path,
    source: str,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    env = "PAYLAB_LEAK_TEST_KEY" if source == "api_key_env" else None
    monkeypatch.setenv(env or "OPENAI_API_KEY", KEY)
    with FakeOpenAIServer(hostile_script(KEY), cycle=True) as server:
        exp = experiment(tmp_path, server.base_url, env)
        run_code = exit_code(["run", str(exp), "-vv"])
        sweep_file = tmp_path / "sweep.yaml"
        sweep_file.write_text(
            json.dumps({"name": "leak", "experiments": [str(exp)], "output": str(tmp_path / "sweep")})
        )
        sweep_code = exit_code(["sweep", str(sweep_file), "--executor", "local", "--quiet"])
        assert all(r.headers.get("authorization") == f"Bearer {KEY}" for r in server.requests)  # it was used
    assert (run_code, sweep_code) == (0, 0)
    captured = capfd.readouterr()
    outputs = every_output(tmp_path / "results") + every_output(tmp_path / "sweep")
    assert REDACTED in outputs and (tmp_path / "results").rglob("result.json")
    assert ParquetStore(tmp_path / "sweep").read("llm_calls", sweep="leak").num_rows > 0
    for text in (outputs, captured.out, captured.err, caplog.text):
        assert_no_key(text, KEY)
