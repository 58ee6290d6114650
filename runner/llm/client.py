"""`ExperimentLLMClient`: asks a litellm model for a policy, validates it, re-asks with errors.

One `propose` call is one conversation: system prompt + user prompt; if the answer is not a
valid policy (no JSON object, or `validate_policy` errors, or an action the engine cannot
run), the answer and the complete error list go back to the model in the same conversation
and it is asked for the corrected policy — at most ``config.max_retries`` times. Transient
provider failures are retried with backoff inside an attempt (`runner.llm.transport`) and do
not count as re-asks. If the provider keeps failing, the attempt is recorded with its error
and the result carries no policy: a run does not die from provider trouble. It does die, with
a `ConfigError`, when the model cannot be called at all (missing credentials, a key, access or
model the provider refuses: `runner.llm.retry_policy.is_fatal`), instead of spending every
iteration on calls that cannot succeed.

Every HTTP call becomes an `LLMInteraction` (messages sent, raw text, reasoning, parsed
policy, errors, provider token counts, litellm's cost or None, latency); the client keeps
them all in `interactions` and sums them in `usage`. The calls themselves go through an
`LLMTransport`: litellm in this process by default, or (in a Ray sweep) one gateway actor
shared by every run, so a run's process never imports litellm. The API key is read from the
environment of the process that makes the call, at call time, never stored, and scrubbed
from every recorded text.
"""

from __future__ import annotations

import logging

from runner.engine.setup import RUNNABLE_ACTIONS
from runner.errors import ConfigError, PolicyError
from runner.llm.config import LLMConfig, missing_key_error
from runner.llm.log_redaction import protect_secrets
from runner.llm.parsing import extract_policy_json
from runner.llm.responses import CallOutcome
from runner.llm.system_prompt import build_system_prompt
from runner.llm.transport import LiteLLMTransport, LLMTransport, Sleep
from runner.llm.untrusted import (
    MAX_REASK_ERRORS,
    MAX_REASK_REPLY_CHARS,
    MAX_STORED_ERRORS,
    capped_errors,
    cut,
    secret_values,
)
from runner.llm.user_prompt import build_user_prompt
from runner.policy.constraints import ScenarioConstraints
from runner.policy.parse import parse_policy
from runner.policy.serialize import policy_to_doc
from runner.policy.tree import TREES, actions_used
from runner.policy.validate import encoding_errors, validate_policy
from runner.proposals import LLMInteraction, LLMUsage, PolicyDoc, PolicyGenerationResult, ProposalContext

log = logging.getLogger(__name__)


def _runnable_errors(doc: PolicyDoc) -> list[str]:
    policy, _ = parse_policy(doc)
    if policy is None:
        return []
    return [
        f"{tree}: action '{action}' cannot run in this simulator yet"
        for tree in TREES
        for action in sorted(actions_used(policy, tree) - RUNNABLE_ACTIONS.get(tree, set()))
    ]


def _fix_request(errors: list[str]) -> str:
    listed = "\n".join(f"- {e}" for e in capped_errors(errors, MAX_REASK_ERRORS))
    return (
        f"That answer is not a valid policy. Errors:\n{listed}\n\n"
        "Reply with the complete corrected policy as one JSON object."
    )


class ExperimentLLMClient:
    """A `PolicyProposer` backed by any litellm chat model.

    Args:
        config: the experiment's ``llm`` block (model, temperature, retries, timeouts…).
        constraints: what a proposed policy may contain; used for the prompt and validation.
        system_prompt: the experiment's system prompt text (e.g. read from
            ``system_prompt_file``); None falls back to ``config.system_prompt``.
        sleep: the coroutine used to wait between transport retries (tests may shorten it);
            only for the default transport.
        transport: where the HTTP calls are made; default a `LiteLLMTransport` (litellm in
            this process). Another transport reads the API key in its own process.

    Raises:
        ConfigError: ``config`` names a builtin proposer, or (default transport only) the
            variable that should hold its API key is not set (`LLMConfig.missing_key`).

    Example:
        >>> client = ExperimentLLMClient(LLMConfig(model="openai/gpt-4.1"),
        ...                              constraints)  # doctest: +SKIP
        >>> result = await client.propose(context)  # doctest: +SKIP
    """

    def __init__(
        self,
        config: LLMConfig,
        constraints: ScenarioConstraints,
        system_prompt: str | None = None,
        *,
        sleep: Sleep | None = None,
        transport: LLMTransport | None = None,
    ) -> None:
        if config.is_builtin:
            raise ConfigError(f"'{config.model}' is a builtin proposer, not an LLM", path="llm.model")
        if transport is None and (missing := missing_key_error(config)) is not None:
            raise missing  # another transport reads the key in its own process
        self.name = config.model
        self.config = config
        self.constraints = constraints
        self.system_prompt = system_prompt if system_prompt is not None else config.system_prompt
        self.transport: LLMTransport = transport or LiteLLMTransport(sleep)
        self._interactions: list[LLMInteraction] = []
        self._usage = LLMUsage()

    @property
    def interactions(self) -> tuple[LLMInteraction, ...]:
        """Every call made so far, in order (failed transport calls included)."""
        return tuple(self._interactions)

    @property
    def usage(self) -> LLMUsage:
        """Calls, provider token counts and cost summed over every call so far."""
        return self._usage

    def _record(self, interaction: LLMInteraction, into: list[LLMInteraction]) -> None:
        into.append(interaction)
        self._interactions.append(interaction)
        self._usage = self._usage.add(interaction)

    def _check(self, text: str | None, ctx: ProposalContext) -> tuple[PolicyDoc | None, list[str]]:
        """(parsed document or None, every error; empty when the policy is valid)."""
        try:
            doc = extract_policy_json(text, policy_id=f"llm_{ctx.agent_id}_it{ctx.iteration}")
        except ValueError as exc:
            return None, [f"(reply): {exc}"]
        errors = validate_policy(doc, self.constraints)
        if encoding_errors(doc):
            return None, errors  # never stored: no file or table could encode it
        return doc, errors or _runnable_errors(doc)

    def _failed(self, ctx: ProposalContext, attempt: int, outcome: CallOutcome) -> LLMInteraction:
        return LLMInteraction(
            agent_id=ctx.agent_id,
            iteration=ctx.iteration,
            attempt=attempt,
            model=self.config.model,
            messages=outcome.messages,
            raw_response=None,
            reasoning=None,
            parsed_policy=None,
            validation_errors=(),
            error=outcome.error,
            prompt_tokens=None,
            completion_tokens=None,
            cost_usd=None,
            latency_seconds=outcome.latency_seconds,
        )

    async def propose(self, context: ProposalContext) -> PolicyGenerationResult:
        """Ask for a better policy for ``context.agent_id``; provider trouble gives no policy.

        Raises:
            ConfigError: the model cannot be called at all (`runner.llm.retry_policy.is_fatal`).

        Returns:
            The valid policy (canonical JSON, node ids filled) or None, the number of attempts
            (1 + re-asks), every call as an `LLMInteraction`, the last attempt's errors, and
            in ``extra`` this call's usage and counts.
        """
        ctx = context
        # The transport cleans what it returns; this is a second pass with the keys this
        # process has (none in a Ray run actor, whose calls the gateway makes).
        scrub = protect_secrets(secret_values(self.config))
        system = build_system_prompt(self.config, self.constraints, ctx.scenario, self.system_prompt)
        messages = [{"role": "system", "content": system}, {"role": "user", "content": build_user_prompt(ctx)}]
        interactions: list[LLMInteraction] = []
        errors: list[str] = []
        attempt = 0
        for attempt in range(1, self.config.max_retries + 2):
            outcomes = await self.transport.call(self.config, messages)
            for failed in outcomes[:-1]:
                self._record(self._failed(ctx, attempt, failed), interactions)
            last = outcomes[-1]
            answer = last.answer
            if answer is None:
                self._record(self._failed(ctx, attempt, last), interactions)
                if last.fatal:
                    raise ConfigError(f"{self.config.model} cannot be called: {last.error}", path="llm")
                errors = [last.error or "LLM call failed"]
                break
            doc, errors = self._check(answer.text, ctx)
            self._record(
                LLMInteraction(
                    agent_id=ctx.agent_id,
                    iteration=ctx.iteration,
                    attempt=attempt,
                    model=self.config.model,
                    messages=last.messages,
                    raw_response=scrub(answer.text),
                    reasoning=scrub(answer.reasoning),
                    parsed_policy=doc,
                    validation_errors=tuple(capped_errors(errors, MAX_STORED_ERRORS)),
                    error=None,
                    prompt_tokens=answer.prompt_tokens,
                    completion_tokens=answer.completion_tokens,
                    cost_usd=answer.cost_usd,
                    latency_seconds=last.latency_seconds,
                    notes=answer.notes,
                ),
                interactions,
            )
            if not errors and doc is not None:
                policy, problems = parse_policy(doc)
                if policy is None:  # `_check` parsed the same document without errors
                    raise PolicyError(problems)
                log.info("%s iteration %d: valid policy on attempt %d", ctx.agent_id, ctx.iteration, attempt)
                return self._result(policy_to_doc(policy), attempt, interactions, [])
            log.warning(
                "%s iteration %d attempt %d: invalid policy (%d errors), first: %s",
                ctx.agent_id,
                ctx.iteration,
                attempt,
                len(errors),
                errors[0],
            )
            quoted, _ = cut(scrub(answer.text) or "", MAX_REASK_REPLY_CHARS, "the reply")
            messages += [{"role": "assistant", "content": quoted}, {"role": "user", "content": _fix_request(errors)}]
        return self._result(None, attempt, interactions, errors)

    def _result(
        self, policy: PolicyDoc | None, attempts: int, interactions: list[LLMInteraction], errors: list[str]
    ) -> PolicyGenerationResult:
        usage = LLMUsage()
        for interaction in interactions:
            usage = usage.add(interaction)
        extra = {"usage": usage.to_dict(), "reasks": max(0, attempts - 1), "transport_failures": usage.failed_calls}
        return PolicyGenerationResult(
            policy=policy,
            attempts=attempts,
            interactions=tuple(interactions),
            errors=tuple(capped_errors(errors, MAX_STORED_ERRORS)),
            extra=extra,
        )
