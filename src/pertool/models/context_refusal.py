"""A server's refusal of a prompt too long for its model's context window, told from other errors.

OpenAI-compatible servers refuse such a request with a 4xx and a sentence, each its own:

    OpenAI, DeepSeek    code "context_length_exceeded"; "This model's maximum context length is
                        8192 tokens. However, your messages resulted in 9000 tokens."
    vLLM, llama-cpp-    "This model's maximum context length is 8192 tokens. However, you
    python's server     requested 14225 tokens (14225 in the messages, 512 in the completion)."
    llama.cpp server    type "exceed_context_size_error"; "the request exceeds the available
                        context size, try increasing it" (with n_prompt_tokens, n_ctx)
    TGI                 "`inputs` tokens + `max_new_tokens` must be <= 4096. Given: ..."
    SGLang              "The input (9000 tokens) is longer than the model's context length ..."
    vLLM's engine       "The decoder prompt (length 9000) is longer than the maximum model length
    (offline, batch)    of 4096." (no HTTP status: `refusal_in_text`)
    Mistral, Anthropic, "too large for model with N maximum context length", "prompt is too
    Gemini, Ollama      long: N tokens > M maximum", "input token count ... exceeds the maximum
                        number of tokens allowed", "input length exceeds the context length"

Only these clear phrasings count (conservative: any other 400 stays an ordinary failure). The
numbers are read when the text gives them.
"""

from __future__ import annotations

import re
from typing import Any

from pertool.errors import ContextOverflow
from pertool.models.wire import MalformedResponse, load_body

__all__ = ["REFUSAL_STATUSES", "context_overflow", "context_refusal", "refusal_in_text"]

REFUSAL_STATUSES = frozenset({400, 413, 422})  # bad request, too large, unprocessable (TGI)

_CODES = frozenset({"context_length_exceeded", "exceed_context_size_error"})
_PHRASES = re.compile("|".join((
    r"maximum context length is \d+",
    r"exceeds? the available context size",
    r"`inputs` tokens \+ `max_new_tokens` must be <= \d+",
    r"`inputs` must have less than \d+ tokens",
    r"is longer than the model's context length",
    r"too large for model with \d+ maximum context length",
    r"prompt is too long: \d+ tokens > \d+ maximum",
    r"input token count \(?\d+\)? exceeds the maximum number of tokens allowed",
    r"input length exceeds the context length",
    r"exceed context window of \d+",
    r"is longer than the maximum model length of \d+",
)), re.IGNORECASE)  # fmt: skip

# Where each number stands in the phrasings above (first match wins). A number is 1-12 digits
# not inside a longer run: bounded, so a body of 60,000 digits is read in linear time.
_N = r"(?<!\d)(\d{1,12})(?!\d)"


def _patterns(*texts: str) -> list[re.Pattern[str]]:
    return [re.compile(text.replace("<N>", _N), re.IGNORECASE) for text in texts]


_WINDOW = _patterns(
    r"maximum context length is <N>", r'"n_ctx"\s*:\s*<N>', r"must be <= <N>",
    r"must have less than <N> tokens", r"model's context length \(<N>", r"<N> maximum context length",
    r"tokens > <N> maximum", r"maximum model length of <N>",
    r"maximum number of tokens allowed \(?<N>", r"context window of <N>",
)  # fmt: skip
_PROMPT = _patterns(
    r"\(<N> in the messages", r"\(<N> in your prompt", r'"n_prompt_tokens"\s*:\s*<N>',
    r"prompt contains at least <N> input tokens", r"request has <N> input tokens",
    r"Given: <N> `inputs` tokens", r"The input \(<N> tokens\)", r"messages resulted in <N> tokens",
    r"prompt is too long: <N> tokens", r"Prompt contains <N> tokens", r"input token count \(?<N>",
    r"Requested tokens \(<N>\)", r"prompt \(length <N>\)",
)  # fmt: skip
_MAX_TOKENS = _patterns(
    r"<N> in the completion", r"<N> for the completion", r"you requested <N> output tokens",
    r"and <N> `max_new_tokens`",
)  # fmt: skip


def context_refusal(status: int, body: str, message: str) -> ContextOverflow | None:
    """A `ContextOverflow` (with `message`) when an HTTP error's `body` is a context-length
    refusal, else None."""
    if status not in REFUSAL_STATUSES:
        return None
    if not (_PHRASES.search(body) or _error_code(body) in _CODES):
        return None
    return context_overflow(message, body)


def refusal_in_text(message: str, text: str) -> ContextOverflow | None:
    """A `ContextOverflow` (with `message`) when an engine's error `text`, which comes with no
    HTTP status (vLLM run in-process by Ray Data), is a context-length refusal, else None."""
    return context_overflow(message, text) if _PHRASES.search(text) else None


def context_overflow(message: str, text: str) -> ContextOverflow:
    """A `ContextOverflow` with the numbers `text` (a refusal known to be one) gives."""
    return ContextOverflow(message, prompt_tokens=_number(_PROMPT, text),
                           max_tokens=_number(_MAX_TOKENS, text), window=_number(_WINDOW, text))  # fmt: skip


def _error_code(body: str) -> str | None:
    """OpenAI's `error.code` (or llama.cpp's `error.type`) of a JSON error body."""
    try:
        data: Any = load_body(body)
    except MalformedResponse:  # not JSON, cut at the read limit, nested too deeply
        return None
    error = data.get("error") if isinstance(data, dict) else None
    if not isinstance(error, dict):
        return None
    for key in ("code", "type"):
        if isinstance(error.get(key), str) and error[key] in _CODES:
            return str(error[key])
    return None


def _number(patterns: list[re.Pattern[str]], text: str) -> int | None:
    for pattern in patterns:
        found = pattern.search(text)
        if found:
            return int(found.group(1))
    return None
