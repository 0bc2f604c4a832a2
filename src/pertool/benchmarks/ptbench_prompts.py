"""PTBench prompts: the system prompt and query as chat messages, or raw completion text.

The system text is the public scripts' prompt word for word, profile, platforms and tools
inserted as Python's `str()` of the JSON records, as the scripts do. The raw formats are the
chat formats of the public `template.py` as they were meant to work; the public file has bugs
that break several of them (docs/data.md, "Prompts", lists them), which are not reproduced here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pertool.schema import Sample

__all__ = [
    "ANSWER_FORMAT", "CHAT_FORMATS", "chat_messages", "native_messages", "native_tools", "raw_prompt",
    "system_prompt",
]  # fmt: skip

ANSWER_FORMAT = "platform:[func1(param1_name = param1_value, param2...), func2...]"

_TASK = (
    "You are given a user profile:{profile}. \n"
    "Here is some platforms:{platforms}. \n"
)
_TOOLS = "Here is some apis under the platforms:{tools}.\n"
_INSTRUCTION = (
    "The user will give you a query. Based on the profile, try to solve the query by using the "
    "platforms and apis. The platform you choose should fit the user profile or the needs of "
    "the user's query. All the necessary information are provided in the user profile. DO NOT "
    "ask the user for further information. \n"
)
_FORMAT = "You should respond in the format of {format} No other text MUST be included."


def _fields(sample: Sample) -> dict[str, str]:
    # str() of the records, exactly what the public scripts put in the prompt.
    return {
        "profile": str(sample.profile.model_dump(mode="json", exclude_unset=True)),
        "platforms": str([p.model_dump(mode="json", exclude_unset=True) for p in sample.platforms]),
        "tools": str([t.model_dump(mode="json", exclude_unset=True) for t in sample.tools]),
    }


def system_prompt(sample: Sample) -> str:
    f = _fields(sample)
    return (_TASK.format(**f) + _TOOLS.format(**f) + _INSTRUCTION + _FORMAT.format(format=ANSWER_FORMAT))


def chat_messages(sample: Sample) -> list[dict[str, str]]:
    """What the public API script sends: the system prompt, then the query as the user turn."""
    return [
        {"role": "system", "content": system_prompt(sample)},
        {"role": "user", "content": sample.query},
    ]


# Native function calling (`--tool-mode native`): the tools go in `tools=`, and since PTBench's
# APIs do not name their platform, every tool gets a required `platform` argument (an enum of
# the sample's platforms). The parser takes the platform from the calls and removes it.
_NATIVE = (
    "Call the APIs with function calls. Put the platform you choose in the `platform` argument "
    "of every call."
)


def native_messages(sample: Sample) -> list[dict[str, str]]:
    f = _fields(sample)
    return [
        {"role": "system", "content": _TASK.format(**f) + _INSTRUCTION + _NATIVE},
        {"role": "user", "content": sample.query},
    ]


def native_tools(sample: Sample) -> list[dict[str, Any]]:
    names = [p.name for p in sample.platforms]
    tools = []
    for tool in sample.tools:
        spec = tool.model_dump(mode="json", exclude_unset=True)
        function = {k: v for k, v in spec["function"].items() if k in ("name", "description", "parameters")}
        params = dict(function.get("parameters") or {"type": "object", "properties": {}})
        properties = {"platform": {"type": "string", "enum": names,
                                   "description": "the platform to call this API on"},
                      **params.get("properties", {})}  # fmt: skip
        required = ["platform", *(r for r in params.get("required", []) if r != "platform")]
        function["parameters"] = {**params, "properties": properties, "required": required}
        tools.append({"type": "function", "function": function})
    return tools


@dataclass(frozen=True)
class ChatFormat:
    """A raw-completion format: how system, user and assistant turns are written, and stops."""

    system: str
    user: str
    assistant: str
    stop: tuple[str, ...]
    layout: str = "system-user"  # or "merged" (system text inside the user turn), or "split"


CHAT_FORMATS: dict[str, ChatFormat] = {
    "qwen": ChatFormat(
        "<|im_start|>system\n{content}<|im_end|>\n",
        "<|im_start|>user\n{content}<|im_end|>\n",
        "<|im_start|>assistant\n",
        ("<|im_end|>",),
    ),
    "llama3": ChatFormat(
        "<|start_header_id|>system<|end_header_id|>\n\n{content}<|eot_id|>",
        "<|start_header_id|>user<|end_header_id|>\n\n{content}<|eot_id|>",
        "<|start_header_id|>assistant<|end_header_id|>\n\n",
        ("<|eot_id|>",),
    ),
    "mistral": ChatFormat("{content}\n\n", "[INST] {content}[/INST]", " ", ("</s>",)),
    # DeepSeek-R1 distills: no system turn; the instructions open the user turn.
    "deepseek-r1": ChatFormat(
        "<｜begin▁of▁sentence｜>", "<｜User｜>{content}", "<｜Assistant｜><think>\n",
        ("<｜end▁of▁sentence｜>",), layout="merged",
    ),  # fmt: skip
    # Hammer and xLAM put task, tools and format instructions in labelled sections.
    "hammer": ChatFormat(
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n",
        "<|im_start|>user\n{content}<|im_end|>\n",
        "<|im_start|>assistant\n",
        ("<|im_end|>",),
        layout="split",
    ),
    "xlam": ChatFormat(
        "[BEGIN OF TASK INSTRUCTION]\n{content}\n[END OF TASK INSTRUCTION]\n\n",
        "[BEGIN OF QUERY]\n{content}\n[END OF QUERY]\n\n",
        "[BEGIN OF SOLUTION]\n",
        ("[END OF SOLUTION]",),
        layout="split",
    ),
}


def raw_prompt(sample: Sample, chat_format: str) -> str:
    """The whole prompt as one string for a completion backend."""
    try:
        fmt = CHAT_FORMATS[chat_format]
    except KeyError:
        known = ", ".join(CHAT_FORMATS)
        raise ValueError(f"unknown chat format {chat_format!r}; known: {known}") from None
    if fmt.layout == "merged":
        user = fmt.user.format(content=system_prompt(sample) + sample.query)
        return fmt.system + user + fmt.assistant
    if fmt.layout == "split":
        return _sectioned(sample, chat_format, fmt)
    system = fmt.system.format(content=system_prompt(sample))
    return system + fmt.user.format(content=sample.query) + fmt.assistant


def _sectioned(sample: Sample, name: str, fmt: ChatFormat) -> str:
    f = _fields(sample)
    task = _TASK.format(**f) + _INSTRUCTION
    tools = f"[BEGIN OF AVAILABLE TOOLS]\n{f['tools']}\n[END OF AVAILABLE TOOLS]\n\n"
    form = ("[BEGIN OF FORMAT INSTRUCTION]\n" + _FORMAT.format(format=ANSWER_FORMAT)
            + "\n[END OF FORMAT INSTRUCTION]\n\n")  # fmt: skip
    query = fmt.user.format(content=sample.query)
    if name == "hammer":
        content = f"[BEGIN OF TASK INSTRUCTION]\n{task}\n[END OF TASK INSTRUCTION]\n\n{tools}{form}"
        return fmt.system + fmt.user.format(content=content) + query + fmt.assistant
    return fmt.system.format(content=task) + tools + form + query + fmt.assistant
