"""Users from a feature tree, assigned top-down (PTool, paper section 4.2).

The tree has three explicit layers: life stage -> home city -> lifestyle. Each layer keeps k_l
of its branches (drawn from the seed), and every path through the kept branches is one user
group, so N = k_1 * k_2 * k_3 users differ in structured ways rather than by noise alone. Leaf
features (name, phone, addresses, ...) are drawn per user. The lifestyle decides the implicit
preferences: for each scenario and category, the platform the user prefers; most categories
follow the lifestyle's platform, some do not, so the user's most used platform overall is often
the wrong answer for a given category.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import product

from pertool.builtin.catalog import Scenario

__all__ = ["User", "make_users", "layer_sizes"]

# life stage -> (age range, occupations)
LIFE_STAGES: dict[str, tuple[tuple[int, int], list[str]]] = {
    "student": ((18, 24), ["student", "graduate student", "intern"]),
    "young professional": ((24, 34), ["software developer", "nurse", "accountant", "designer",
                                      "sales associate"]),
    "parent": ((32, 48), ["teacher", "engineer", "pharmacist", "project manager"]),
    "executive": ((40, 60), ["director", "consultant", "surgeon", "lawyer"]),
    "freelancer": ((25, 45), ["photographer", "translator", "writer", "illustrator"]),
    "retiree": ((62, 80), ["retired teacher", "retired engineer", "retired nurse"]),
}  # fmt: skip
CITIES = ["Northvale", "Port Ellery", "Kingsbridge", "Ashford Bay", "Millbrook", "Cedar Falls",
          "Westmoor", "Lakemont"]  # fmt: skip
LIFESTYLES = {"budget-minded": "price", "time-pressed": "speed", "quality-seeker": "quality",
              "balanced": None, "deal-hunter": "price"}  # fmt: skip
FIRST = ["Ava", "Liam", "Maya", "Noah", "Iris", "Owen", "Zara", "Ethan", "Lena", "Felix", "Nora", "Hugo",
         "Chloe", "Ravi", "Sofia", "Mateo", "Hana", "Yusuf", "Elena", "Tomas", "Priya", "Kenji", "Amara",
         "Lucas", "Mina", "Oscar", "Leila", "Jonas", "Aiko", "Diego"]  # fmt: skip
LAST = ["Hartley", "Okafor", "Lindqvist", "Moreau", "Tanaka", "Castillo", "Novak", "Brennan", "Sato",
        "Quintero", "Adeyemi", "Volkov", "Fairbank", "Iyer", "Kowalski", "Delacroix", "Nakamura",
        "Abernathy", "Ferreira", "Holm"]  # fmt: skip
STREETS = ["Maple Row", "Harbor Lane", "Orchard Street", "Birch Avenue", "Quarry Road", "Linden Court",
           "Juniper Way", "Mill Street", "Sparrow Lane", "Granite Avenue"]  # fmt: skip
LEAF = {
    "payment_method": ["credit card", "debit card", "PayFlow wallet", "bank transfer", "cash on delivery"],
    "language": ["English", "Spanish", "French", "German", "Japanese", "Portuguese"],
    "dietary_needs": ["vegetarian", "vegan", "gluten-free", "no restrictions", "halal", "lactose-free"],
    "seat_preference": ["window seat", "aisle seat", "first class", "quiet carriage", "extra legroom"],
    "room_preference": ["non-smoking king room", "twin room", "suite", "room on a high floor",
                        "accessible room"],
    "music_genre": ["jazz", "indie rock", "classical", "hip hop", "electronic", "folk"],
    "movie_genre": ["science fiction", "documentary", "romantic comedy", "thriller", "animation"],
    "cuisine": ["Thai", "Italian", "Mexican", "Japanese", "Indian", "Lebanese"],
    "company": ["Brightline Labs", "Norcross Health", "Tessellate Design", "Halden & Co", "Orbit Freight"],
    "team": ["platform team", "marketing", "finance", "research", "customer success"],
    "calendar": ["work calendar", "personal calendar", "shared family calendar"],
    "shoe_size": ["EU 38", "EU 39", "EU 40", "EU 41", "EU 42", "EU 43", "EU 44"],
    # Spelled out: a bare "M" or "S" would occur inside almost any query text.
    "clothing_size": ["extra small", "small", "medium", "large", "extra large"],
    "gender": ["female", "male", "non-binary"],
}  # fmt: skip
AFFINITY_KEEP = 0.6  # share of categories whose preferred platform is the lifestyle's platform


@dataclass
class User:
    index: int
    features: dict[str, str | int]
    lifestyle: str
    # scenario -> category -> preferred platform name
    preferences: dict[str, dict[str, str]] = field(default_factory=dict)


def layer_sizes(n: int) -> tuple[int, int, int]:
    """k_1 * k_2 * k_3 >= n with balanced layers bounded by the branches each layer has."""
    limits = (len(LIFE_STAGES), len(CITIES), len(LIFESTYLES))
    best = limits
    for k1, k2, k3 in product(*(range(1, m + 1) for m in limits)):
        k = (k1, k2, k3)
        if k1 * k2 * k3 >= n and _score(k, n) < _score(best, n):
            best = k
    return best


def _score(k: tuple[int, int, int], n: int) -> tuple[int, int]:
    return (k[0] * k[1] * k[2] - n, max(k) - min(k))


def make_users(n: int, scenarios: Sequence[Scenario], rng: random.Random) -> list[User]:
    k1, k2, k3 = layer_sizes(n)
    stages = rng.sample(sorted(LIFE_STAGES), k1)
    cities = rng.sample(CITIES, k2)
    styles = rng.sample(sorted(LIFESTYLES), k3)
    paths = list(product(stages, cities, styles))[:n]  # top-down: every kept branch combination
    names = rng.sample([f"{f} {last}" for f in FIRST for last in LAST], n)
    return [_user(i, path, names[i], scenarios, rng) for i, path in enumerate(paths)]


def _user(index: int, path: tuple[str, str, str], name: str, scenarios: Sequence[Scenario],
          rng: random.Random) -> User:  # fmt: skip
    stage, city, style = path
    first, last = name.split(" ", 1)
    (lo, hi), jobs = LIFE_STAGES[stage]
    handle = f"{first.lower()}.{last.lower()}{rng.randint(10, 99)}"
    features: dict[str, str | int] = {
        "name": name,
        "username": handle.replace(".", "_"),
        "age": rng.randint(lo, hi),
        "gender": rng.choice(LEAF["gender"]),
        "occupation": rng.choice(jobs),
        "home_address": f"{rng.randint(2, 240)} {rng.choice(STREETS)}, {city}",
        "work_address": f"{rng.randint(2, 240)} {rng.choice(STREETS)}, {city}",
        "home_city": city,
        "phone": f"+1-555-{rng.randint(100, 999)}-{rng.randint(1000, 9999)}",
        "email": f"{handle}@mailbox.example",
        "loyalty_id": f"LY-{rng.randint(100000, 999999)}",
        "manager_email": f"manager.{last.lower()}@corp.example",
    }
    for feature, values in LEAF.items():
        features.setdefault(feature, rng.choice(values))
    user = User(index=index, features=features, lifestyle=style)
    for scenario in scenarios:
        user.preferences[scenario.scenario] = _preferences(scenario, LIFESTYLES[style], rng)
    return user


def _preferences(scenario: Scenario, need: str | None, rng: random.Random) -> dict[str, str]:
    names = [p.name for p in scenario.platforms]
    if need is None:
        habitual = rng.choice(names)
    else:
        best = 1 if need == "price" else 3
        habitual = next(p.name for p in scenario.platforms if p.traits[need] == best)
    prefs = {}
    for category in scenario.categories:
        keep = rng.random() < AFFINITY_KEEP
        prefs[category] = habitual if keep else rng.choice([n for n in names if n != habitual])
    return prefs
