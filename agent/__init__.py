"""The assistant's mind: guided mode or an LLM agent, the system prompt, confirmations, chat sessions."""
