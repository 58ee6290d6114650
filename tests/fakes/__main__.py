"""``python -m tests.fakes --script FILE``: run the scripted fake LLM server."""

from tests.fakes.fake_openai import main

main()
