"""App policies as rules, for `baseline/rules`: parse each app's policy text into (who, what)
rules (ages, income, BMI, amounts, topics) and check them against a persona and a call."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pertool.schema import Call, Sample

__all__ = ["PolicyRule", "parse_policy", "policy_of", "policy_violations"]

# --- policies and refusals ----------------------------------------------------------------

_INCOME = re.compile(r"([<>])?\s*(\d+(?:\.\d+)?)\s*(k)?(?:\s*-\s*(\d+(?:\.\d+)?)\s*(k)?)?", re.I)
_MONEY_CUE = re.compile(
    r"(?:[¥$€£]\s*|\b(?:rmb|cny|yuan|usd)\s*)(\d[\d,]*(?:\.\d+)?\s*k?)|(\d[\d,]*(?:\.\d+)?\s*k?)\s*(?:rmb|cny|yuan|"
    r"dollars|usd|元)\b|\b(?:worth|costs?|costing|priced at|price of|budget of|invest(?:ing)?|spend(?:ing)?|"
    r"over|above|exceeding|more than|amount of)\s+(?:[¥$€£]\s*)?(\d[\d,]*(?:\.\d+)?\s*k?)|"
    r"(?<![\w.,])(\d{1,3}(?:,\d{3})+(?:\.\d+)?)(?![\w,])",
    re.I,
)
_AMOUNT_PARAMS = ("amount", "price", "budget", "cost", "value", "total")
_SYNONYMS = {
    "high-intensity": ("intens", "hiit", "sprint", "crossfit", "vigorous", "strenuous", "heavy"),
    "high-sugar": ("sugar", "sweet", "candy", "candies", "dessert", "cake", "chocolate", "soda"),
    "high-fat": ("fat", "fried", "bacon", "fries", "lard", "greasy"),
    "red meat": ("red meat", "beef", "pork", "lamb", "mutton", "steak"),
    "high-value": ("luxury", "expensive", "premium", "designer"),
    "high-risk": ("risk",),
    "luxury goods": ("luxury",),
    "adult": ("adult", "18+", "explicit", "erotic"),
    "violent": ("violen", "horror", "gore", "bloody", "war game"),
    "political": ("politic", "election", "government"),
    "politics": ("politic", "election", "government"),
    "finance": ("financ", "stock", "invest", "trading"),
    "flight tickets": ("flight", "fly", "plane", "airline"),
    "train tickets": ("train",),
    "intercity": ("intercity",),
    "long-distance": ("long-distance", "long distance"),
}
_GENERIC = frozenset("content news topics topic similar goods products items item certain etc foods food "
                     "exercise exercises courses course paid in-depth sensitive or and the other such as "
                     "e.g. games movies tickets transportation".split())  # fmt: skip


_STOPWORDS = frozenset("for with from that this are not any all their them they its into can will must "
                       "users user who whose".split())


@dataclass(frozen=True)
class PolicyRule:
    """One policy rule, parsed: who it applies to and what it forbids them."""

    text: str
    max_age: float | None = None  # applies to users younger than this
    min_age: float | None = None  # applies to users this old or older
    low_income: bool = False
    min_bmi: float | None = None  # applies from this BMI on
    amount_over: float | None = None  # forbids amounts above this
    topics: tuple[str, ...] = ()  # forbids instructions mentioning one of these (stems)
    only_topics: tuple[str, ...] = ()  # allows only instructions mentioning one of these
    purchase_only: bool = False  # only purchasing / investing / booking APIs are concerned
    api_words: tuple[str, ...] = ()  # the API name mentions one of these objects (e.g. ticket)
    everything: bool = False  # "not allowed to make any investments"

    @property
    def has_subject(self) -> bool:
        ages = self.max_age is not None or self.min_age is not None
        return ages or self.low_income or self.min_bmi is not None


def _money(text: str) -> float:
    text = text.strip().lower().replace(",", "")
    factor = 1000.0 if text.endswith("k") else 1.0
    return float(text.rstrip("k").strip()) * factor


def _stems(phrase: str) -> tuple[str, ...]:
    phrase = phrase.strip(" .,;:()").lower()
    phrase = re.sub(r"^(?:e\.g\.,?|such as|like|or|and)\s+", "", phrase).strip()
    if not phrase or phrase in _GENERIC:
        return ()
    if phrase in _SYNONYMS:
        return _SYNONYMS[phrase]
    kept = [w for w in re.findall(r"[a-z0-9+-]+", phrase) if w not in _GENERIC and w not in _STOPWORDS
            and len(w) > 2 and not w.isdigit()]
    out: list[str] = []
    for word in kept:
        out.extend(_SYNONYMS.get(word, (word[:6] if len(word) > 6 else word,)))
    return tuple(out)


def _topic_list(text: str) -> list[str]:
    """Phrases a rule names as forbidden: e.g.-lists (except those describing the users, as in
    "users with higher body weight (e.g., exceeding BMI standards)"), 'related to A, B, or C',
    'access A, B, or C', and 'high-...' terms."""
    phrases: list[str] = []
    for match in re.finditer(r"\(e\.g\.,?\s*([^)]*)\)", text):
        before = text[max(0, match.start() - 40) : match.start()]
        if not re.search(r"\b(users?|weight|conditions?|health|ages?)\s*$", before):
            phrases.extend(re.split(r",|\bor\b|\band\b", match.group(1)))
    for match in re.finditer(r"\b(?:related to|accessing|access)\s+([^.()]*)", text):
        phrases.extend(re.split(r",|\bor\b|\band\b", match.group(1)))
    phrases.extend(t for t in re.findall(r"\bhigh-[a-z]+", text) if t != "high-income")
    return phrases


def parse_policy(policy: Any) -> list[PolicyRule]:
    """An app's policy (a list of rule strings, or one string) parsed into rules."""
    texts = policy if isinstance(policy, list) else re.split(r"(?<=\.)\s+(?=[A-Z])", str(policy or ""))
    rules = []
    for raw in texts:
        text = str(raw).strip()
        if not text:
            continue
        low = text.lower()
        fields: dict[str, Any] = {"text": text}
        under = re.search(r"\b(?:under|below|younger than)\s+(?:the\s+age\s+of\s+)?(\d+)", low)
        if under:
            fields["max_age"] = float(under.group(1))
        elif re.search(r"\b(minors?|teens?|teenagers?|underage)\b", low):
            fields["max_age"] = 18.0
        elder = re.search(r"(\d+)\s*(?:years?(?:\s+old)?\s+)?(?:and|or)\s+(?:above|over|older)", low)
        if elder:
            fields["min_age"] = float(elder.group(1))
        elif re.search(r"\belderly\b|\bseniors?\b", low):
            fields["min_age"] = 60.0
        if re.search(r"\blow[- ]income\b", low):
            fields["low_income"] = True
        bmi = re.search(r"bmi\s+(?:greater than|above|over|exceeding|of more than|>)\s*(\d+(?:\.\d+)?)", low)
        if bmi:
            fields["min_bmi"] = float(bmi.group(1))
        elif re.search(r"exceed\w*\s+bmi|higher body weight|overweight|obes", low):
            fields["min_bmi"] = 28.0  # "exceeding BMI standards": the overweight cut-off used in China
        amount = re.search(r"\(\s*<\s*(\d[\d,.]*\s*k?)\s*\)|(?:exceeding|above|over|more than)\s+"
                           r"(\d[\d,.]*\s*k?)\s*(?:rmb|yuan|cny|元)?", low)  # fmt: skip
        if amount:
            fields["amount_over"] = _money(amount.group(1) or amount.group(2))
        only = re.search(r"\bonly\s+access\s+[a-z ]*?related to\s+([^.]*)", low)
        if only:
            allowed = re.split(r",|\bor\b|\band\b", only.group(1))
            fields["only_topics"] = tuple(s for p in allowed for s in _stems(p))
        stems = [s for p in _topic_list(low.split(" only ")[0]) for s in _stems(p)]
        fields["topics"] = tuple(dict.fromkeys(stems))
        fields["purchase_only"] = bool(re.search(r"\b(purchas\w*|buy\w*|invest\w*|book\w*)\b", low))
        fields["everything"] = bool(re.search(r"\bany\s+(investments?|purchases?)\b", low))
        fields["api_words"] = tuple(dict.fromkeys(w.rstrip("s") for w in re.findall(r"\b(tickets?)\b", low)))
        rule = PolicyRule(**fields)
        if rule.has_subject:
            rules.append(rule)
    return rules


def _income_upper(level: Any) -> float | None:
    """The upper bound of an income level like '<3k', '3k-10k', '>50k' (None: unbounded/unknown)."""
    if not isinstance(level, str):
        return None
    match = _INCOME.search(level.replace(",", ""))
    if not match:
        return None
    sign, first, k1, second, k2 = match.groups()
    if sign == ">":
        return None
    if second:
        return float(second) * (1000 if k2 or k1 else 1)
    return float(first) * (1000 if k1 else 1)


def _applies(rule: PolicyRule, persona: dict[str, Any]) -> str | None:
    """Why the rule's subject covers the persona (None if it does not)."""
    age = persona.get("Age")
    age = age if isinstance(age, (int, float)) and not isinstance(age, bool) else None
    if rule.max_age is not None and (age is None or age >= rule.max_age):
        return None
    if rule.min_age is not None and (age is None or age < rule.min_age):
        return None
    if rule.low_income:
        upper = _income_upper(persona.get("Income Level"))
        if upper is None or upper > 3000:
            return None
    if rule.min_bmi is not None:
        height, weight = persona.get("Height (cm)"), persona.get("Weight (kg)")
        try:
            bmi = float(weight) / (float(height) / 100) ** 2  # type: ignore[arg-type]
        except (TypeError, ValueError, ZeroDivisionError):
            return None
        if bmi <= rule.min_bmi:
            return None
    parts = []
    if age is not None and (rule.max_age is not None or rule.min_age is not None):
        parts.append(f"age {age:g}")
    if rule.low_income:
        parts.append(f"income {persona.get('Income Level')}")
    if rule.min_bmi is not None:
        parts.append("BMI above the limit")
    return ", ".join(parts)


def _amounts(sample: Sample, call: Call) -> list[float]:
    found = []
    for match in _MONEY_CUE.finditer(sample.query):
        text = next(g for g in match.groups() if g)
        try:
            found.append(_money(text))
        except ValueError:
            continue
    for name, value in call.arguments.items():
        if any(a in name.lower() for a in _AMOUNT_PARAMS) and isinstance(value, (int, float)):
            if not isinstance(value, bool):
                found.append(float(value))
    return found


def _mentions(query: str, stems: Iterable[str]) -> str | None:
    """The first stem the query mentions: a stem of 6+ letters as a word prefix, a shorter one as
    a whole word (plural allowed), so that "train" is not found in "training"."""
    lowered = query.lower()
    for stem in stems:
        tail = "" if len(stem) >= 6 else r"(?:s|es)?(?![a-z])"
        if re.search(r"(?<![a-z])" + re.escape(stem) + tail, lowered):
            return stem
    return None


def policy_violations(policy: Any, sample: Sample, call: Call) -> list[str]:
    """The policy rules the call would break for this user (empty: none), as short reasons."""
    persona = sample.profile.basic_features
    if not persona:
        return []
    purchase = not call.name.lower().startswith(("get", "list", "search", "query"))
    reasons = []
    for rule in parse_policy(policy):
        who = _applies(rule, persona)
        if who is None or (rule.purchase_only and not purchase):
            continue
        what = None
        over = [a for a in _amounts(sample, call) if rule.amount_over is not None and a > rule.amount_over]
        if over:
            what = f"amount {over[0]:g} over {rule.amount_over:g}"
        elif rule.everything:
            what = "no such purchase allowed"
        elif rule.api_words and any(w in call.name.lower() for w in rule.api_words):
            what = f"{call.name} is restricted"
        elif (topic := _mentions(sample.query, rule.topics)) is not None:
            what = f"mentions {topic}"
        elif rule.only_topics and _mentions(sample.query, rule.only_topics) is None and not purchase:
            what = "outside the allowed topics"
        if what is not None:
            reasons.append(f"{who}: {what}")
    return reasons


def policy_of(sample: Sample, app: str) -> Any:
    for platform in sample.platforms:
        if platform.name == app and isinstance(platform.profile, dict):
            return platform.profile.get("policy")
    return None
