"""The one contract every model backend implements.

A backend turns a `Request` (chat messages or raw text, optional tools, sampling settings) into
a `Completion` (text, tool calls, token usage, latency). It knows nothing of benchmarks: the
runner renders prompts and parses answers. Backends are async so that remote ones can overlap
many requests; local ones run their work in a thread.

Its errors (BackendError, ContextOverflow, MissingDependency, MissingCredential) are in
`pertool.errors`, with the rest of the tree.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, runtime_checkable

__all__ = ["Backend", "Completion", "Request", "Sampling"]


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
