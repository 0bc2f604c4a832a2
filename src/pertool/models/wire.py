"""What counts as an answer: an OpenAI chat-completions body turned into a `Completion`.

The line drawn here (docs/running.md, "What counts as an answer"):

- normalized: `content` null or absent is "", a list of text parts is joined (OpenAI's
  multi-part shape; other part types such as images are skipped); `tool_calls` null is none;
  arguments sent as an object are re-encoded as a JSON string, as OpenAI sends them; a token
  count that is not a whole number in [0, 10^9] (negative, absurd, a string, a bool) is
  recorded as 0, i.e. unknown: usage never costs an answer.
- a per-sample error (`MalformedResponse`, which the backends turn into a `BackendError`): a
  body that is not JSON, nests too deeply to load, holds NaN/Infinity or a number too large
  for a float, is not an object; `choices` empty or not a list; a `message` that is not an
  object; `content` of another type (a number, an object); a tool call whose `function` is
  not an object, whose name is not a string or whose arguments are neither a string nor an
  object. These are the server breaking the wire format, not the model answering badly.
- a legitimate answer, kept as sent and judged by the scorer (a format failure if it does not
  parse): any string content, empty included; any tool-call name string (empty, `get-weather`);
  any arguments string (not JSON, not an object, NaN, deep nesting). See
  `pertool.runner.task.native_prediction` for how tool calls become a PTBench answer.
"""

from __future__ import annotations

import json
import math
from typing import Any

from pertool.models.base import Completion

__all__ = ["MAX_TOKEN_COUNT", "MalformedResponse", "completion_from_body", "load_body", "message_text",
           "parse_arguments", "token_count"]  # fmt: skip

MAX_TOKEN_COUNT = 10**9  # no request uses a billion tokens; a larger count is a broken server


class MalformedResponse(ValueError):
    """The server's answer breaks the chat-completions format (not the model's fault)."""


def _reject_constant(name: str) -> Any:
    raise MalformedResponse(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise MalformedResponse(f"number {text[:20]} is out of range")
    return value


def load_body(data: bytes | str) -> Any:
    """Strict JSON: no NaN/Infinity, no number that overflows a float; never a RecursionError."""
    try:
        return json.loads(data, parse_constant=_reject_constant, parse_float=_finite_float)
    except RecursionError:
        raise MalformedResponse("body nests too deeply") from None
    except MalformedResponse:
        raise
    except ValueError as exc:  # not JSON, not UTF-8, an integer of more than 4,300 digits
        raise MalformedResponse(f"body is not JSON ({_short(exc)})") from None


def completion_from_body(data: Any) -> Completion:
    """The `Completion` in a chat-completions body; raises `MalformedResponse`."""
    if not isinstance(data, dict):
        raise MalformedResponse(f"body is {_kind(data)}, not an object")
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices:
        raise MalformedResponse(f"`choices` is {_kind(choices)}, expected a non-empty list")
    choice = choices[0]
    message = choice.get("message") if isinstance(choice, dict) else None
    if not isinstance(message, dict):
        raise MalformedResponse(f"`choices[0].message` is {_kind(message)}, expected an object")
    raw_calls = message.get("tool_calls")
    if raw_calls is not None and not isinstance(raw_calls, list):
        raise MalformedResponse(f"`tool_calls` is {_kind(raw_calls)}, expected a list")
    usage = data.get("usage")
    usage = usage if isinstance(usage, dict) else {}
    return Completion(
        text=message_text(message.get("content")),
        tool_calls=[_tool_call(call, i) for i, call in enumerate(raw_calls or [])],
        input_tokens=token_count(usage.get("prompt_tokens")),
        output_tokens=token_count(usage.get("completion_tokens")),
    )


def message_text(content: Any) -> str:
    """`content` as text: a string, null (""), or a list of parts whose text is joined."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise MalformedResponse(f"`content` is {_kind(content)}, expected a string or a list of parts")
    texts = []
    for i, part in enumerate(content):
        if isinstance(part, str):
            texts.append(part)
        elif isinstance(part, dict) and part.get("type", "text") in ("text", "output_text"):
            text = part.get("text")
            if not isinstance(text, str):
                raise MalformedResponse(f"`content[{i}].text` is {_kind(text)}, expected a string")
            texts.append(text)
        elif not isinstance(part, dict):
            raise MalformedResponse(f"`content[{i}]` is {_kind(part)}, expected a part object")
        # other part types (image_url, refusal, audio) carry no answer text
    return "".join(texts)


def token_count(value: Any) -> int:
    """A usage count, or 0 (unknown) when the server sent something that is not one."""
    if isinstance(value, bool):
        return 0
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and 0 <= value <= MAX_TOKEN_COUNT:
        return value
    return 0


def _tool_call(call: Any, index: int) -> dict[str, Any]:
    function = call.get("function") if isinstance(call, dict) else None
    if not isinstance(function, dict):
        raise MalformedResponse(f"`tool_calls[{index}].function` is {_kind(function)}, expected an object")
    name = function.get("name")
    if not isinstance(name, str):
        raise MalformedResponse(f"`tool_calls[{index}].function.name` is {_kind(name)}, expected a string")
    arguments = function.get("arguments")
    if arguments is None:
        arguments = "{}"
    elif isinstance(arguments, dict):
        try:
            arguments = json.dumps(arguments, ensure_ascii=False, allow_nan=False)
        except (ValueError, RecursionError):
            raise MalformedResponse(f"`tool_calls[{index}].function.arguments` cannot be encoded") from None
    elif not isinstance(arguments, str):
        raise MalformedResponse(f"`tool_calls[{index}].function.arguments` is {_kind(arguments)}, "
                                "expected a string")  # fmt: skip
    return {"name": name, "arguments": arguments}


def _kind(value: Any) -> str:
    if value is None:
        return "missing or null"
    if isinstance(value, (list, dict)) and not value:
        return f"an empty {type(value).__name__}"
    return f"a {type(value).__name__}"


def _short(exc: Exception) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text if len(text) <= 120 else text[:117] + "..."


def parse_arguments(arguments: Any) -> dict[str, Any]:
    """Tool-call arguments arrive as a JSON string (OpenAI) or an object (some servers). Raises
    ValueError for anything else, for JSON that is not an object, and for NaN, Infinity or
    nesting too deep to load."""
    if isinstance(arguments, dict):
        return arguments
    if arguments is None or arguments == "":
        return {}
    if not isinstance(arguments, str):
        raise ValueError(f"arguments are a {type(arguments).__name__}, not a JSON string")
    try:
        value = load_body(arguments)
    except MalformedResponse as exc:
        message = str(exc).replace("body nests", "arguments nest").replace("body is", "arguments are")
        raise ValueError(message) from None
    if not isinstance(value, dict):
        raise ValueError(f"arguments are a JSON {type(value).__name__}, not an object")
    return value
