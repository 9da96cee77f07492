"""The assistant: guided mode or an LLM agent, the system prompt, memory per chat session."""
