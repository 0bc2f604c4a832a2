import json
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pertool.parsing.ptbench import MAX_OUTPUT_CHARS, parse_ptbench
from pertool.parsing.render import render_ptbench
from pertool.schema import Call, GoldCall, Sample
from pertool.scoring.ptbench_official import score_sample_official
from pertool.testing.fuzz import fuzz_text

EXPECTED = ("MegaMart", [Call(name="f", arguments={"a": 1, "b": "x"}), Call(name="g")])


def parsed(text: str):
    p = parse_ptbench(text)
    assert p.parse_error is None, p.parse_error
    return p.platform, p.calls


@pytest.mark.parametrize(
    "text",
    [
        "MegaMart:[f(a=1, b='x'), g()]",
        "{MegaMart:[f(a=1, b='x'), g()]}",
        "  MegaMart : [ f(a = 1, b = 'x') , g() ]  ",
        "```\nMegaMart:[f(a=1, b='x'), g()]\n```",
        "```python\n{MegaMart:[f(a=1, b='x'), g()]}\n```",
        "<think>The user likes MegaMart: [cheap].</think>\nMegaMart:[f(a=1, b='x'), g()]",
        "Sure! Here is the answer:\nMegaMart:[f(a=1, b='x'), g()]\nLet me know if you need more.",
        "Answer: MegaMart:[f(a=1, b=\"x\"), g()]. Done.",
        "'MegaMart':[f(a=1, b='x'), g()]",
        '{"MegaMart": [f(a=1, b="x"), g()]}',
        '{"platform": "MegaMart", "functions": [{"name": "f", "parameters": {"a": 1, "b": "x"}},'
        ' {"name": "g", "parameters": {}}]}',
        "{'platform': 'MegaMart', 'functions': [{'name': 'f', 'parameters': {'a': 1, 'b': 'x'}},"
        " {'name': 'g', 'parameters': {}}]}",
        "```json\n{\"platform\": \"MegaMart\", \"functions\": [{\"name\": \"f\", \"parameters\":"
        " {\"a\": 1, \"b\": \"x\"}}, {\"name\": \"g\"}]}\n```",
    ],
)
def test_accepted_shapes(text):
    assert parsed(text) == EXPECTED


def test_platform_with_spaces_quoted_or_not():
    assert parsed("'Green Table':[g()]")[0] == "Green Table"
    assert parsed('"Green: Table":[g()]')[0] == "Green: Table"
    assert parsed("Green Table:[g()]")[0] == "Green Table"
    assert parsed("{Green Table:[g()]}")[0] == "Green Table"
    assert parsed("**Green Table**:[g()]")[0] == "Green Table"


def test_values_are_literals():
    _, calls = parsed(
        "P:[f(a=-1, b=+2.5, c=[1, (2, 3)], d={'k': None}, e=True, f=true, g=null, h={1, 2})]"
    )
    assert calls[0].arguments == {
        "a": -1, "b": 2.5, "c": [1, [2, 3]], "d": {"k": None}, "e": True, "f": True,
        "g": None, "h": [1, 2],
    }


def test_strings_with_brackets_and_colons():
    _, calls = parsed("P:[f(q='a ] b ) c :[ d', t='10:30')]")
    assert calls[0].arguments == {"q": "a ] b ) c :[ d", "t": "10:30"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("P:[f(a=1+1)]", "BinOp `1 + 1`"),
        ("P:[f(a=__import__('os').system('echo hi'))]", "Call"),
        ("P:[f(a=foo)]", "Name `foo`"),
        ("P:[f(a=lambda: 1)]", "Lambda"),
        ("P:[f(a=x[0])]", "Subscript"),
        ("P:[f(a=f'{x}')]", "JoinedStr"),
        ("P:[f(a=[i for i in range(9)])]", "ListComp"),
        ("P:[f(a=not True)]", "UnaryOp"),
        ("P:[f(1)]", "positional"),
        ("P:[f(**kw)]", "unpacking"),
        ("P:[f(a={**x})]", "unpacking"),
        ("P:[f(a=1e999)]", "finite"),
        ("P:[f(a=b'x')]", "constant"),
        ("P:[f(a=...)]", "constant"),
        ("P:f(a=1)", "call list"),
        ("[f(a=1)]", "call list"),
        ("P:[1, 2]", "not a call"),
        ("P:[f(a=1), g(]", ""),
        (":[f()]", "platform"),
        ("", "empty"),
        ("   \n", "empty"),
        ("<think>still thinking", "think"),
        ('{"platform": "P", "functions": {"name": "f"}}', "functions"),
        ('{"platform": null, "functions": []}', "platform"),
        ('{"platform": "P", "functions": [{"name": "f", "parameters": {"a": NaN}}]}', ""),
    ],
)
def test_rejected_with_a_reason(text, message):
    prediction = parse_ptbench(text)
    assert prediction.parse_error is not None
    assert message in prediction.parse_error
    assert prediction.calls == []


def test_no_code_runs(tmp_path):
    marker = tmp_path / "ran"
    hostile = [
        f"P:[f(a=open({str(marker)!r}, 'w').write('x'))]",
        f"P:[f(a=1+__import__('pathlib').Path({str(marker)!r}).touch())]",
        f"{{P:[f(a=(lambda: open({str(marker)!r}, 'w'))())]}}",
    ]
    for text in hostile:
        assert parse_ptbench(text).parse_error is not None
    assert not marker.exists()


def test_hostile_sizes_are_bounded():
    deep = "P:[f(a=" + "[" * 100_000 + "]" * 100_000 + ")]"
    assert parse_ptbench(deep).parse_error is not None
    huge = "P:[f(a='" + "x" * 150_000 + "')]"
    assert parse_ptbench(huge).calls[0].arguments["a"] == "x" * 150_000
    too_big = "P:[f(a='" + "x" * MAX_OUTPUT_CHARS + "')]"
    assert "exceeds" in parse_ptbench(too_big).parse_error
    many_candidates = "a:[" * 20_000
    assert parse_ptbench(many_candidates).parse_error is not None
    unary_chain = "P:[f(a=" + "-" * 50_000 + "1)]"
    assert parse_ptbench(unary_chain).parse_error is not None


def test_non_string_output_is_a_parse_error():
    assert parse_ptbench(None).parse_error == "empty output"


# --- render / parse -----------------------------------------------------------------------

names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True).filter(
    lambda s: s not in {"True", "False", "None"} and not __import__("keyword").iskeyword(s)
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)
platforms = st.text(min_size=1, max_size=15).filter(lambda s: s.strip() == s and s.strip())
calls = st.lists(
    st.builds(lambda n, a: Call(name=n, arguments=a), names, st.dictionaries(names, json_values, max_size=4)),
    max_size=4,
)


@settings(max_examples=300, deadline=None)
@given(platforms, calls)
def test_render_then_parse_is_identity(platform, call_list):
    text = render_ptbench(platform, call_list)
    prediction = parse_ptbench(text)
    assert prediction.parse_error is None, (text, prediction.parse_error)
    assert prediction.platform == platform
    assert prediction.calls == call_list


# --- fuzz: random and mutated strings never raise ------------------------------------------

FUZZ_SAMPLE = Sample(id="trained:0", benchmark="ptbench", split="trained", query="q",
                     gold_platform="MegaMart", gold_calls=[GoldCall(name="f", arguments={"a": [1]})])


def fuzz(count: int, seed: int = 0) -> int:
    rng = random.Random(seed)
    parsed_ok = 0
    for i in range(count):
        text = fuzz_text(rng, i)
        prediction = parse_ptbench(text)  # must never raise
        json.dumps(prediction.model_dump())  # and always be serialisable
        parsed_ok += prediction.parse_error is None
        score_sample_official(FUZZ_SAMPLE, text)  # the compatibility parser neither
    return parsed_ok


def test_fuzz_never_raises():
    assert fuzz(3000) > 0


# --- the regex fast path agrees with the AST path ------------------------------------------

from pertool.parsing.extract import ParseFailure  # noqa: E402
from pertool.parsing.fast_calls import fast_call_list  # noqa: E402
from pertool.parsing.ptbench import parse_call_list_ast  # noqa: E402

ws = st.sampled_from(["", "", "", " ", "  ", "\t", "\n", "\f", "\r", "\v", " \n "])
tricky_names = st.sampled_from(["a", "b", "c", "d", "findHotel"]) | st.sampled_from(["a", "b", "_x", "class", "None", "True", "match", "x1", "é", "a.b", "1a"])
tricky_values = st.one_of(
    st.sampled_from(["1", "-2", "3.25", "'x y'", '"z"', "True", "None", "-0.0", "12e3"]),
    st.sampled_from(["1", "-1", "- 1", "+1", "007", "0", "-0", "1.5", "1.", ".5", "1e5", "1E-3",
                     "1e999", "1_000", "9" * 5000, "True", "true", "None", "null", "Truex",
                     "''", '""', "'a\\'b'", "'a\"b'", '"a\'b"', "'x' 'y'", "'\\n'", "u'x'", "b'x'"]),
    st.text(max_size=6).map(lambda t: "'" + t + "'"),
    st.text(max_size=6).map(lambda t: '"' + t + '"'),
)


safe_ws = st.sampled_from(["", " ", "\n"])
safe_names = st.sampled_from(["a", "b", "c", "d", "findHotel"])
safe_values = st.sampled_from(["1", "-2", "3.25", "'x y'", '"z"', "True", "None", "-0.0", "12e3"])


@st.composite
def near_simple_lists(draw):
    """Call lists on the edge of the fast path's language: mostly simple, some parts tricky."""
    rate = draw(st.sampled_from([0, 10, 50]))  # percent of parts drawn from the tricky pools

    def pick(safe, tricky):
        return draw(tricky if draw(st.integers(0, 99)) < rate else safe)

    calls = []
    for _ in range(draw(st.integers(0, 3))):
        args = [f"{pick(safe_names, tricky_names)}{pick(safe_ws, ws)}={pick(safe_ws, ws)}"
                f"{pick(safe_values, tricky_values)}" for _ in range(draw(st.integers(0, 3)))]
        sep = pick(safe_ws, ws) + "," + pick(safe_ws, ws)
        trailing = draw(st.sampled_from(["", ",", " ,"])) if args else ""
        calls.append(f"{pick(safe_names, tricky_names)}{pick(safe_ws, ws)}({sep.join(args)}{trailing})")
    trailing = draw(st.sampled_from(["", ",", ", "])) if calls else draw(st.sampled_from(["", ","]))
    return "[" + pick(safe_ws, ws) + ", ".join(calls) + trailing + pick(safe_ws, ws) + "]"


@settings(max_examples=1500, deadline=None)
@given(near_simple_lists())
def test_fast_path_agrees_with_the_ast_path(source):
    fast = fast_call_list(source)
    if fast is None:
        return
    try:
        slow = parse_call_list_ast(source)
    except ParseFailure as exc:
        raise AssertionError(f"fast path accepted {source!r}, AST path rejects: {exc}") from None
    assert [(c.name, c.arguments) for c in slow] == fast
    for (_, a), c in zip(fast, slow):  # same types too (1 vs 1.0 vs True)
        assert [type(v) for v in a.values()] == [type(v) for v in c.arguments.values()]


@pytest.mark.parametrize("platform", ["0*", "*Shop*", "Mega Mart", " padded", "it's", 'say "hi"', "a:b", "x`y"])
def test_render_quotes_names_the_parser_would_change(platform):
    prediction = parse_ptbench(render_ptbench(platform, [Call(name="f", arguments={"a": 1})]))
    assert prediction.platform == platform


def test_prose_glued_before_the_platform_is_cut_back_to_a_known_platform():
    text = "Sure! The answer is MegaMart:[f(a=1)]. Hope this helps."
    assert parse_ptbench(text, platforms=["MegaMart", "Other"]).platform == "MegaMart"
    spaced = "The platform is Green Table and the call is Green Table:[f(a=1)]"
    assert parse_ptbench(spaced, platforms=["Green Table"]).platform == "Green Table"
    assert parse_ptbench("Answer is Unknown:[f()]", platforms=["MegaMart"]).platform == "Answer is Unknown"
