"""Tests of the LLM proposer: prompts, parsing, client faults."""
