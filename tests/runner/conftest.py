"""Fixtures for runner tests: a scripted fake OpenAI-compatible server on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.contexts import FAKE_KEY, FAKE_KEY_ENV
from tests.fakes.fake_openai import FakeOpenAIServer


@pytest.fixture
def fake_llm(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAIServer]:
    """A started fake LLM server (empty script: push steps), with the dummy API key set."""
    monkeypatch.setenv(FAKE_KEY_ENV, FAKE_KEY)
    server = FakeOpenAIServer().start()
    try:
        yield server
    finally:
        server.stop()
