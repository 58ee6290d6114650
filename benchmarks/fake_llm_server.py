"""Serve scripted LLM replies on 127.0.0.1 so an experiment can run without a provider.

Usage (from the repository root)::

    .venv/bin/python benchmarks/fake_llm_server.py --script benchmarks/fake_llm_exp2.json --cycle
    # first line printed: the port
    OPENAI_API_KEY=dummy paylab run experiments/castro/exp2.yaml \\
        --model openai/fake --api-base http://127.0.0.1:PORT/v1

The script file is a JSON list (or {"replies": [...]}) of entries, served one per request in
order: {"policy": {...}, "prose": "...", "reasoning": "..."} (a fenced JSON answer),
{"content": "..."} (raw text), {"status": 429, "retry_after": 1} (an HTTP fault) or
{"delay": 30, ...} (answer late). litellm's OpenAI client needs some key: set OPENAI_API_KEY
to any value (or the variable named by the experiment's ``llm.api_key_env``).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fakes.fake_openai import main  # after the sys.path line above

if __name__ == "__main__":
    main()
