"""What one HTTP call gives back, as plain data: `CallOutcome`, and the `Answer` in it.

`answer_of` reads a litellm response of any shape into an `Answer`: the reply and reasoning
cleaned and size-capped, the token counts checked, the call priced by litellm
(`runner.llm.untrusted` holds the caps). Neither holds the litellm response object, so both
can cross a process boundary without litellm on the other side (a Ray sweep's gateway).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from runner.llm.litellm_loader import load_litellm
from runner.llm.untrusted import MAX_REPLY_CHARS, Cleaner, Scrubber


@dataclass(frozen=True)
class Answer:
    """What the client needs of a completion, as plain (picklable) data; texts scrubbed.

    Token counts are None when the provider sent no usage; ``cost_usd`` is litellm's price
    of the call, None when the model has no price (or the tokens are unknown).
    """

    text: str | None
    reasoning: str | None
    prompt_tokens: int | None
    completion_tokens: int | None
    cost_usd: float | None
    notes: tuple[str, ...] = ()  # what cleaning changed: texts cut, usage dropped


@dataclass(frozen=True)
class CallOutcome:
    """One HTTP call: the answer, or the (scrubbed) error that ended it."""

    messages: tuple[dict[str, str], ...]
    answer: Answer | None
    error: str | None
    transient: bool
    latency_seconds: float
    fatal: bool = False  # no later call can succeed either (`runner.llm.retry_policy.is_fatal`)


def _reasoning(message: Any) -> str | None:
    text = getattr(message, "reasoning_content", None)
    if isinstance(text, str) and text.strip():
        return text
    blocks = getattr(message, "thinking_blocks", None)
    blocks = blocks if isinstance(blocks, list) else []
    parts = [str(b.get("thinking", "")) for b in blocks[:1000] if isinstance(b, dict)]
    joined = "\n".join(p for p in parts if p)
    return joined or None


def _cost(response: Any) -> object:
    litellm = load_litellm()
    try:
        return litellm.completion_cost(completion_response=response)
    except Exception:  # noqa: BLE001 - litellm raises many types when a model has no price
        return None


def answer_of(response: Any, scrub: Scrubber) -> Answer:
    """The plain-data `Answer` of a litellm response: texts cleaned and capped, numbers checked
    (`runner.llm.untrusted`), cost priced here. Any shape of response gives an `Answer`."""
    clean = Cleaner(scrub)
    choices = getattr(response, "choices", None)
    first = choices[0] if isinstance(choices, list) and choices else None  # none: an empty reply
    message = getattr(first, "message", None)
    text = clean.text(getattr(message, "content", None), MAX_REPLY_CHARS, "the reply")
    reasoning = clean.text(_reasoning(message), MAX_REPLY_CHARS, "the reasoning")
    usage = getattr(response, "usage", None)
    prompt = clean.token_count(getattr(usage, "prompt_tokens", None), "prompt_tokens")
    completion = clean.token_count(getattr(usage, "completion_tokens", None), "completion_tokens")
    if prompt is None or completion is None or prompt + completion == 0:
        # litellm reports 0/0 when the provider sent no usage: that is "unknown", not zero.
        prompt = completion = None
    cost = clean.price(_cost(response)) if prompt is not None else None  # never priced from estimates
    return Answer(text, reasoning, prompt, completion, cost, tuple(clean.notes))
