"""HTTP serving: OpenAI-compatible API and the chat UI, one process, one Pipeline."""
