"""`--compat ptbench-official`: the public PTBench scripts' numbers, defects included.

Reproduces, on purpose, defects 1 and 3-8 of docs (see docs/scoring.md): the `{...}`-wrapping
parser with its lenient value rules, string-vs-non-string comparisons that raise and turn the
sample into a format failure, integer tolerance against the first accepted value only, the
swapped missing/excessive labels, double counting of repeated calls, and independent P-missing /
P-excessive counting. Defect 2 is NOT reproduced: the public parser calls `eval()` on binary
operations; here only arithmetic on numeric literals is folded, by walking the tree, and any
other binary operation is a format failure. Nothing is ever evaluated.

Bounds the public scripts lack (each a format failure here, where the public scripts would run
on): answers longer than `MAX_COMPAT_CHARS`, integer results wider than `MAX_RESULT_BITS`, and
more than `MAX_FOLD_BITS` of folded results in one answer. They keep one answer under a second
and 100 MB; answers of the length the public settings allow (128 tokens) never reach them.

The per-sample logic mirrors the public `evaluate` and `error_analysis` passes exactly, so an
exception anywhere in them (a comparison that raises) makes the sample a format failure.
"""

from __future__ import annotations

import ast
import json
import math
import operator
import warnings
from dataclasses import dataclass
from typing import Any

from pertool.schema import Call, Prediction, Sample
from pertool.scoring.results import SampleResult

__all__ = ["MAX_COMPAT_CHARS", "MAX_FOLD_BITS", "MAX_RESULT_BITS", "official_parse", "official_include",
           "official_prediction", "score_official", "score_sample_official"]

Gold = tuple[str | None, list[dict[str, dict[str, Any]]]]

_BINARY: dict[type, Any] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod,
    ast.Pow: operator.pow, ast.LShift: operator.lshift, ast.RShift: operator.rshift,
    ast.BitAnd: operator.and_, ast.BitOr: operator.or_, ast.BitXor: operator.xor,
}  # fmt: skip
_UNARY: dict[type, Any] = {ast.USub: operator.neg, ast.UAdd: operator.pos, ast.Invert: operator.invert,
          ast.Not: operator.not_}  # fmt: skip
# Parsing 200k characters of nested lists takes ~100 MB of syntax tree; a quarter of that is safe.
MAX_COMPAT_CHARS = 50_000
MAX_RESULT_BITS = 10_000  # ~3,000 digits: no folded integer (power, shift, product) is wider
MAX_FOLD_BITS = 1_000_000  # all folded integers of one answer together: bounds chains of them


class _Unsupported(Exception):
    """Anything the public parser would reject (or that we refuse to evaluate)."""


# --- parsing ------------------------------------------------------------------------------


def official_parse(text: str) -> tuple[Any, list[dict[str, dict[Any, Any]]]]:
    """The public `ast_parse`: wrap in braces, take the first key and its call(s). Raises on
    anything the public parser fails on, and on answers past this module's bounds."""
    if len(text) > MAX_COMPAT_CHARS:
        raise _Unsupported(f"answer of {len(text)} characters exceeds {MAX_COMPAT_CHARS}")
    budget = _FoldBudget()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tree = ast.parse("{" + text + "}", mode="eval").body
    if not isinstance(tree, ast.Dict):
        raise _Unsupported("not a dict")
    first = tree.keys[0]  # IndexError on `{}`, as in the public script
    if isinstance(first, ast.Name):
        key: Any = first.id
    elif isinstance(first, ast.Constant):
        key = first.value
    else:
        raise _Unsupported("platform is neither a name nor a constant")
    body = tree.values[0]
    if isinstance(body, ast.Call):
        return key, [_resolve_call(body, budget)]
    if not isinstance(body, (ast.List, ast.Tuple, ast.Set)):
        raise _Unsupported("no call list")
    calls = []
    for element in body.elts:
        if not isinstance(element, ast.Call):
            raise _Unsupported("list element is not a call")
        calls.append(_resolve_call(element, budget))
    return key, calls


class _FoldBudget:
    """Bits of folded integers one answer may still produce (see MAX_FOLD_BITS)."""

    def __init__(self) -> None:
        self.left = MAX_FOLD_BITS

    def spend(self, value: Any) -> Any:
        if isinstance(value, int):
            bits = value.bit_length()
            if bits > MAX_RESULT_BITS:
                raise _Unsupported(f"folded integer of {bits} bits exceeds {MAX_RESULT_BITS}")
            self.left -= bits
            if self.left < 0:
                raise _Unsupported(f"folded integers exceed {MAX_FOLD_BITS} bits in one answer")
        return value


def _resolve_call(node: ast.Call, budget: _FoldBudget) -> dict[str, dict[Any, Any]]:
    parts: list[str] = []
    func: ast.expr = node.func
    while isinstance(func, ast.Attribute):
        parts.append(func.attr)
        func = func.value
    if isinstance(func, ast.Name):
        parts.append(func.id)
    args = {kw.arg: _resolve_value(kw.value, budget) for kw in node.keywords}  # positional: dropped
    return {".".join(reversed(parts)): args}


def _resolve_value(node: ast.expr, budget: _FoldBudget) -> Any:
    if isinstance(node, ast.Constant):
        return "..." if node.value is Ellipsis else node.value
    if isinstance(node, ast.UnaryOp):
        # The public script negates the operand's value whatever the operator (`not`, `+`, `~`).
        operand = node.operand
        if not isinstance(operand, ast.Constant):
            raise _Unsupported("unary operator on a non-constant")
        return -operand.value  # type: ignore[operator]  # raises as the public script does
    if isinstance(node, ast.List):
        return [_resolve_value(v, budget) for v in node.elts]
    if isinstance(node, ast.Dict):
        if any(k is None for k in node.keys):
            raise _Unsupported("dict unpacking")
        return {_resolve_value(k, budget): _resolve_value(v, budget) for k, v in zip(node.keys, node.values)}  # type: ignore[arg-type]
    if isinstance(node, ast.BinOp):
        ast.unparse(node)  # the public script unparses first: very long chains fail there too
        return _fold(node, budget)
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Call):
        return ast.unparse(node) if not node.keywords else _resolve_call(node, budget)
    if isinstance(node, ast.Tuple):
        return tuple(_resolve_value(v, budget) for v in node.elts)
    if isinstance(node, ast.Subscript):
        return ast.unparse(node.value) + "[" + ast.unparse(node.slice) + "]"
    raise _Unsupported(f"unsupported value {type(node).__name__}")  # lambdas included


def _fold(node: ast.expr, budget: _FoldBudget) -> Any:
    """Arithmetic on numeric literals, computed by walking the tree (defect 2 replaced). Each
    integer is checked before an operation could build one too wide, and charged after."""
    if isinstance(node, ast.Constant):
        if isinstance(node.value, (int, float, complex)):
            return node.value
        raise _Unsupported("binary operation on a non-number")
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return budget.spend(_UNARY[type(node.op)](_fold(node.operand, budget)))
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _fold(node.left, budget), _fold(node.right, budget)
        _check_size(node.op, left, right)
        return budget.spend(_BINARY[type(node.op)](left, right))
    raise _Unsupported("binary operation on something other than numeric literals")


def _check_size(op: ast.operator, left: Any, right: Any) -> None:
    if not (isinstance(left, int) and isinstance(right, int)):
        return
    if isinstance(op, ast.Pow) and abs(left) > 1 and right * math.log2(abs(left)) > MAX_RESULT_BITS:
        raise _Unsupported("power too large to fold")
    if isinstance(op, ast.LShift) and left and right + left.bit_length() > MAX_RESULT_BITS:
        raise _Unsupported("shift too large to fold")
    if isinstance(op, ast.Mult) and left.bit_length() + right.bit_length() > MAX_RESULT_BITS + 1:
        raise _Unsupported("product too large to fold")


# --- comparison and the two passes ---------------------------------------------------------


def official_include(x: Any, y: Any) -> bool:
    """The public `include`: may raise, which makes the sample a format failure (defect 3)."""
    if x == "true" or x == "false":
        return json.loads(x) in y
    if isinstance(x, bool):
        return x in y
    if isinstance(x, str):
        return x.lower() in [i.lower() for i in y]
    if isinstance(x, list):
        wanted = {i.lower() for i in x}
        return wanted in [{i.lower() for i in j} for j in y]
    if isinstance(x, int):
        first = y[0]
        return x <= first + 0.01 and x >= first - 0.01
    return x in y


def _name(call: dict) -> Any:
    return next(iter(call))


@dataclass
class _Walk:
    """What the public `evaluate` and `error_analysis` passes observe. Both walk the same two
    directions with the same comparisons, so one walk serves both."""

    extra_call: bool = False  # a predicted call whose name is not in the gold
    extra_param: bool = False  # a predicted parameter the gold call lacks
    wrong_predicted: bool = False  # predicted -> gold direction: a value not accepted
    gold_absent: bool = False  # a gold call whose name is not predicted
    gold_param_absent: bool = False  # a gold parameter the predicted call lacks
    wrong_gold: bool = False  # gold -> predicted direction: a value not accepted
    query: int = 0
    profile: int = 0


def _walk(real_funcs: list[dict], predict_funcs: list[dict], params: dict) -> _Walk:
    """Both directions, each call compared with the FIRST call of that name on the other side
    (as the public scripts do). `official_include` may raise: the sample is then a format
    failure."""
    w = _Walk()
    real_names = [_name(f) for f in real_funcs]
    for call in predict_funcs:
        name = _name(call)
        if name not in real_names:
            w.extra_call = True
            continue
        gold_args = real_funcs[real_names.index(name)][name]
        for param, value in call[name].items():
            if param not in gold_args:
                w.extra_param = True
            elif official_include(value, gold_args[param]):
                if param in params["query_params"]:
                    w.query += 1
                elif param in params["profile_params"]:
                    w.profile += 1
            else:
                w.wrong_predicted = True
    predict_names = [_name(c) for c in predict_funcs]
    for gold in real_funcs:
        name = _name(gold)
        if name not in predict_names:
            w.gold_absent = True
            continue
        args = predict_funcs[predict_names.index(name)][name]
        for param, accepted in gold[name].items():
            if param not in args:
                w.gold_param_absent = True
            elif not official_include(args[param], accepted):
                w.wrong_gold = True
    return w


def _error_categories(w: _Walk, platform_ok: bool) -> tuple[str, ...]:
    """Categories as the public `cal_error` counts them, labels swapped as there (defect 4):
    an absent gold call is "excessive", an extra predicted call "missing"; same for params."""
    errors: list[str] = []
    if w.extra_call and w.gold_absent:
        errors.append("tool_wrong")
    elif w.extra_call:
        errors.append("tool_missing")
    elif w.gold_absent:
        errors.append("tool_excessive")
    else:
        if w.extra_param:
            errors.append("param_missing")
        if w.gold_param_absent:
            errors.append("param_excessive")
        if w.wrong_gold and not (w.extra_param or w.gold_param_absent):
            errors.append("param_value")  # the public error pass looks one way only
    if not platform_ok:
        errors.append("platform")
    return tuple(errors)


def gold_of(sample: Sample) -> Gold:
    return sample.gold_platform, [{g.name: g.arguments} for g in sample.gold_calls]


def param_lists(sample: Sample) -> dict[str, list[str]]:
    """The sample's verbatim `query_params`/`profile_params` (derived when not from PTBench)."""
    out = {}
    for key, source in (("query_params", "query"), ("profile_params", "profile")):
        listed = sample.extra.get(key)
        if listed is None:
            listed = list(dict.fromkeys(
                p for g in sample.gold_calls for p, s in g.sources.items() if s == source))  # fmt: skip
        out[key] = listed
    return out


def score_sample_official(sample: Sample, output: str) -> SampleResult:
    return score_official(sample, output)[0]


def score_official(sample: Sample, output: str) -> tuple[SampleResult, Prediction]:
    """The public scripts' outcome for one answer, and their parse of it as a `Prediction` (what
    a report shows as the parse this mode used)."""
    params = param_lists(sample)
    result = SampleResult(sample_id=sample.id, split=sample.split, format=False,
                          query_total=len(params["query_params"]),
                          profile_total=len(params["profile_params"]))  # fmt: skip
    real = gold_of(sample)
    predicted = None
    try:
        predicted = official_parse(output)
        walk = _walk(real[1], predicted[1], params)
    except Exception as exc:  # every failure of the public pipeline is a format failure there
        result.errors = ("format",)
        result.detail = f"{type(exc).__name__}: {exc}"[:200]
        return result, official_prediction(sample.id, output, predicted, result.detail)
    platform = real[0] == predicted[0]
    names = not (walk.extra_call or walk.gold_absent)
    param_names = names and not (walk.extra_param or walk.gold_param_absent)
    values = param_names and not (walk.wrong_predicted or walk.wrong_gold)
    result.format, result.platform, result.tool_name = True, platform, names
    result.tool_param, result.tool_value, result.overall = param_names, values, platform and values
    result.query_correct, result.profile_correct = walk.query, walk.profile
    result.errors = _error_categories(walk, platform)
    return result, official_prediction(sample.id, output, predicted, None)


def official_prediction(sample_id: str, output: str, parsed: tuple[Any, list[dict]] | None,
                        error: str | None) -> Prediction:  # fmt: skip
    """The public parse (`official_parse`'s platform key and calls) as a `Prediction`; `error`:
    why the public pipeline failed on it (a parse that succeeded but whose comparison raised
    keeps its calls). Values are made JSON-safe for the run directory: tuples become lists,
    other non-JSON values their Python text."""
    if parsed is None:
        return _built(Prediction, {"sample_id": sample_id, "raw_output": output, "platform": None,
                                   "calls": [], "refusal": False, "parse_error": error or "no parse",
                                   "repaired": False})  # fmt: skip
    key, calls = parsed
    platform = key if isinstance(key, str) or key is None else repr(key)
    made = [_built(Call, {"name": str(name), "arguments": {str(k): _jsonable(v) for k, v in args.items()}})
            for call in calls for name, args in call.items()]  # fmt: skip
    return _built(Prediction, {"sample_id": sample_id, "raw_output": output, "platform": platform,
                               "calls": made, "refusal": False, "parse_error": error,
                               "repaired": False})  # fmt: skip


def _built(model: Any, values: dict[str, Any]) -> Any:
    """A pydantic model from values of the right types, every field given, without validation:
    what `model_construct` does, at a tenth of its cost (it runs once per compat-scored answer)."""
    made = model.__new__(model)
    object.__setattr__(made, "__dict__", values)
    object.__setattr__(made, "__pydantic_fields_set__", set(values))
    object.__setattr__(made, "__pydantic_extra__", None)
    object.__setattr__(made, "__pydantic_private__", None)
    return made


def _jsonable(value: Any, depth: int = 0) -> Any:
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    if depth > 50:
        return repr(value)[:200]
    if isinstance(value, (list, tuple)):
        return [_jsonable(v, depth + 1) for v in value]
    if isinstance(value, dict):
        return {k if isinstance(k, str) else repr(k): _jsonable(v, depth + 1) for k, v in value.items()}
    return repr(value)[:200]
