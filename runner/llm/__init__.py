"""Policy proposals from LLMs through litellm (and the prompts they are given).

litellm downloads its model price map at import unless told otherwise; the two variables
below keep it (and its other catalog fetches) on the copies bundled with the package. They
are set before anything can import litellm, and only if the user has not set them. litellm
itself is imported lazily, at the first call of a `runner.llm.transport.LiteLLMTransport`, so
``import runner`` never pays for it (and a Ray sweep's run actors, whose calls go through the
sweep's gateway actor, never do).
"""

import os

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("LITELLM_OFFLINE_MODE", "true")

from runner.llm.client import ExperimentLLMClient
from runner.llm.config import LLMConfig
from runner.llm.events import filter_events_for_agent
from runner.llm.parsing import extract_policy_json
from runner.llm.system_prompt import build_system_prompt
from runner.llm.user_prompt import build_user_prompt
from runner.proposals import LLMUsage

__all__ = [
    "ExperimentLLMClient",
    "LLMConfig",
    "LLMUsage",
    "build_system_prompt",
    "build_user_prompt",
    "extract_policy_json",
    "filter_events_for_agent",
]
