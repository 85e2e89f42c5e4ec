"""Optional LLM-as-judge: how faithful is an answer to the sources it cites (0..1)?

Only used by `paperchat eval` when PAPERCHAT_EVAL_JUDGE_URL names an OpenAI-compatible
endpoint. The deterministic metrics never depend on it; a failed judgement is logged and left
out of the mean rather than stopping the run.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

from paperchat.errors import ConfigError, LLMUnavailableError
from paperchat.llm.openai_compat import OpenAICompatibleLLM
from paperchat.prompts import placeholders
from paperchat.records import Answer
from paperchat.settings import PROMPTS_DIR, EvalSettings, LLMSettings

log = logging.getLogger(__name__)
PROMPT_FILE = "judge.md"
PLACEHOLDERS = frozenset({"sources", "question", "answer"})
_SCORE = re.compile(r'"score"\s*:\s*([0-9]*\.?[0-9]+)')


def load_prompt(folder: Path = PROMPTS_DIR) -> str:
    path = folder / PROMPT_FILE
    try:
        text = path.read_text(encoding="utf-8").strip()
    except OSError as e:
        raise ConfigError(f"Prompt file {path} is missing; restore it from the repo.") from e
    found = placeholders(text)
    if found != PLACEHOLDERS:
        raise ConfigError(
            f"{path}: placeholders {sorted(found)} but the judge supplies {sorted(PLACEHOLDERS)}."
        )
    return text


def parse_score(reply: str) -> float | None:
    """The score of a `{"score": S, ...}` reply, clipped to 0..1; None when there is none."""
    try:
        value = json.loads(reply).get("score")
    except (ValueError, AttributeError):
        match = _SCORE.search(reply)
        value = match.group(1) if match else None
    try:
        return min(1.0, max(0.0, float(value))) if value is not None else None
    except (TypeError, ValueError):
        return None


class Judge:
    """Asks an OpenAI-compatible model to grade faithfulness at temperature 0."""

    def __init__(self, config: EvalSettings, prompts_dir: Path = PROMPTS_DIR) -> None:
        if not config.judge_url:
            raise ConfigError("No judge configured: set PAPERCHAT_EVAL_JUDGE_URL.")
        self.config = config
        self.template = load_prompt(prompts_dir)
        self.llm = OpenAICompatibleLLM(
            LLMSettings(
                url=config.judge_url,
                model=config.judge_model,
                api_key=config.judge_key,
                timeout=config.judge_timeout,
                retries=1,
                seed=0,
            )
        )

    def score(self, question: str, answer: Answer) -> float | None:
        """Faithfulness of a given (not abstained) answer; None if the judge failed."""
        sources = "\n\n".join(f"[{c.n}] {c.title}: {c.passage}" for c in answer.citations)
        prompt = self.template.format(
            sources=sources or "(none)", question=question, answer=answer.text
        )
        messages = [{"role": "user", "content": prompt}]
        try:
            reply = self.llm.generate(messages, max_tokens=128, temperature=0.0).text
        except LLMUnavailableError as e:
            log.warning("judge at %s failed: %s", self.config.judge_url, e)
            return None
        score = parse_score(reply)
        if score is None:
            log.warning("judge reply had no score: %r", reply)
        return score


def make_judge(config: EvalSettings, prompts_dir: Path = PROMPTS_DIR) -> Judge | None:
    return Judge(config, prompts_dir) if config.judge_url else None
