"""Policy proposals from LLMs through litellm (and the prompt they are given)."""
