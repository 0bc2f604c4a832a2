import pytest

from factory import record, write_split_dir
from pertool.benchmarks.ptbench import load_ptbench
from pertool.benchmarks.ptbench_prompts import (
    CHAT_FORMATS,
    chat_messages,
    raw_prompt,
    system_prompt,
)

# The public scripts' prompt, written out here independently of the implementation.
PUBLIC = (
    "You are given a user profile:{profile}. \nHere is some platforms:{platforms}. \n"
    "Here is some apis under the platforms:{tools}.\nThe user will give you a query. Based on "
    "the profile, try to solve the query by using the platforms and apis. The platform you "
    "choose should fit the user profile or the needs of the user's query. All the necessary "
    "information are provided in the user profile. DO NOT ask the user for further information. "
    "\nYou should respond in the format of platform:[func1(param1_name = param1_value, "
    "param2...), func2...] No other text MUST be included."
)


@pytest.fixture
def pair(tmp_path):
    raw = record()
    write_split_dir(tmp_path, [raw], [])
    return raw, load_ptbench(tmp_path)[0]


def test_system_prompt_is_the_public_text(pair):
    raw, sample = pair
    expected = PUBLIC.format(profile=raw["user_profile"], platforms=raw["platforms"], tools=raw["tools"])
    assert system_prompt(sample) == expected
    assert chat_messages(sample) == [
        {"role": "system", "content": expected},
        {"role": "user", "content": raw["query"]},
    ]


@pytest.mark.parametrize("name", sorted(CHAT_FORMATS))
def test_raw_formats_hold_instructions_query_and_open_the_answer(pair, name):
    _, sample = pair
    text = raw_prompt(sample, name)
    fmt = CHAT_FORMATS[name]
    assert sample.query in text
    assert "No other text MUST be included." in text
    assert "placeOrder" in text
    assert text.endswith(fmt.assistant)
    assert "{content}" not in text


def test_qwen_layout(pair):
    _, sample = pair
    assert raw_prompt(sample, "qwen") == (
        f"<|im_start|>system\n{system_prompt(sample)}<|im_end|>\n"
        f"<|im_start|>user\n{sample.query}<|im_end|>\n<|im_start|>assistant\n"
    )


def test_unknown_format(pair):
    with pytest.raises(ValueError, match="known: qwen"):
        raw_prompt(pair[1], "nope")
