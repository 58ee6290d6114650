"""Test doubles that stand in for external services (a fake OpenAI-compatible LLM server)."""
