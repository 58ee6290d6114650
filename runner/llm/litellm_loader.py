"""The one place litellm is imported: lazily, at a call, with its chatter and telemetry off.

Every module that needs litellm calls `load_litellm` inside a function, never at import, so
importing `runner` never pays for it (``import litellm`` costs seconds of CPU per process) or
touches the network: this module is part of `runner.llm`, whose ``__init__`` turns off
litellm's cost-map download before any of its modules (this one included) can run.
"""

from __future__ import annotations

import warnings
from typing import Any


def load_litellm() -> Any:
    """Import litellm (once) with its console chatter and telemetry turned off."""
    import litellm

    litellm.suppress_debug_info = True
    if hasattr(litellm, "telemetry"):
        litellm.telemetry = False
    # litellm's models warn with the provider's values in the text (a reply's content, which
    # may hold the key) when a hostile response has unexpected types: never print them.
    warnings.filterwarnings("ignore", message="Pydantic serializer warnings", category=UserWarning)
    return litellm
