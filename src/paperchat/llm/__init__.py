"""Chat LLMs behind one small interface, and the decision of which one answers.

- `base`: the `ChatLLM` interface (stream + count_tokens) every backend implements;
- `openai_compat`: an OpenAI-compatible server (vLLM); the eval judge uses it too;
- `local`: a small model in-process on CPU (transformers);
- `gguf`: the local model's files (the bundled GGUF, converted once to a bf16 folder);
- `vllm_server`: the vLLM command line for production and CPU testing;
- `choice`: `choose_backend`, the one place that decides vllm / local / extractive.
"""

from paperchat.llm.base import ChatLLM, ContextOverflowError, Generation, Message
from paperchat.llm.openai_compat import EndpointInfo, OpenAICompatibleLLM

__all__ = [
    "ChatLLM",
    "ContextOverflowError",
    "EndpointInfo",
    "Generation",
    "Message",
    "OpenAICompatibleLLM",
]
