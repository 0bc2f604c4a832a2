"""The one contract every model backend implements.

A backend turns a `Request` (chat messages or raw text, optional tools, sampling settings) into
a `Completion` (text, tool calls, token usage, latency). It knows nothing of benchmarks: the
runner renders prompts and parses answers. Backends are async so that remote ones can overlap
many requests; local ones run their work in a thread.

    BackendError             a request failed; `retryable` says whether trying again may help
    ContextOverflow          the prompt with its max_tokens does not fit the model's context window
    MissingDependency        an optional extra is not installed (names the pip command)
    MissingCredential        an API key variable is not set (names the variable)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, runtime_checkable

from pertool.errors import PertoolError

__all__ = [
    "Backend",
    "BackendError",
    "Completion",
    "ContextOverflow",
    "MissingCredential",
    "MissingDependency",
    "Request",
    "Sampling",
]


@dataclass(frozen=True)
class Sampling:
    """Generation settings. Defaults: greedy-ish decoding with room for a full answer."""

    temperature: float = 0.0
    max_tokens: int = 512
    top_p: float | None = None
    stop: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "stop": list(self.stop)}


@dataclass(frozen=True)
class Request:
    """What a backend is asked: `messages` (chat) or `prompt` (raw text), plus optional tools."""

    messages: tuple[dict[str, Any], ...] = ()
    prompt: str | None = None
    tools: tuple[dict[str, Any], ...] = ()
    sampling: Sampling = field(default_factory=Sampling)
    # OpenAI's structured-output request, e.g. {"type": "json_schema", "json_schema": {...}}
    response_format: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        out = {"messages": list(self.messages), "prompt": self.prompt, "tools": list(self.tools),
               "sampling": self.sampling.to_json()}  # fmt: skip
        if self.response_format is not None:  # only when set: older cache keys stay valid
            out["response_format"] = self.response_format
        return out


@dataclass
class Completion:
    """A backend's answer. `tool_calls` are OpenAI-shaped: {"name", "arguments": str|dict}."""

    text: str
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    input_tokens: int = 0
    output_tokens: int = 0
    latency_s: float = 0.0
    cached: bool = False

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Completion:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


@runtime_checkable
class Backend(Protocol):
    """A model that answers requests. `identity` feeds the response-cache key."""

    name: str
    model: str

    def identity(self) -> dict[str, Any]: ...

    async def complete(self, request: Request) -> Completion: ...

    async def aclose(self) -> None: ...


class BackendError(PertoolError):
    """A request failed. The backend retries when `retryable`; the runner stops when `fatal`."""

    def __init__(self, message: str, *, retryable: bool = False, retry_after: float | None = None,
                 fatal: bool = False):  # fmt: skip
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after
        self.fatal = fatal  # no other request can succeed either (bad key): stop the run


class ContextOverflow(BackendError):
    """The prompt and its `max_tokens` do not fit the model's context window: the per-sample
    category `context_overflow`. Never retried by a backend (the same request cannot fit the
    next time); the numbers are set when the backend or the server's refusal gives them."""

    kind = "context_overflow"

    def __init__(self, message: str, *, prompt_tokens: int | None = None, max_tokens: int | None = None,
                 window: int | None = None):  # fmt: skip
        super().__init__(message)
        self.prompt_tokens = prompt_tokens
        self.max_tokens = max_tokens
        self.window = window

    def details(self) -> dict[str, int]:
        """The known numbers, for errors.jsonl: prompt_tokens, max_tokens, context_window."""
        known = {"prompt_tokens": self.prompt_tokens, "max_tokens": self.max_tokens,
                 "context_window": self.window}  # fmt: skip
        return {k: v for k, v in known.items() if v is not None}


class MissingDependency(PertoolError):
    def __init__(self, what: str, extra: str):
        super().__init__(f"{what} needs the optional extra `{extra}`: pip install 'pertool[{extra}]'")


class MissingCredential(PertoolError):
    def __init__(self, variable: str, model: str):
        super().__init__(f"{model} needs an API key: set the environment variable {variable} "
                         f"(export {variable}=...)")  # fmt: skip
