"""A small, realistic ToolSpectrum data directory, for tests and benchmarks without the public data.

`write_toolspectrum(root)` writes the public repository's layout, the one
`pertool.benchmarks.toolspectrum` loads: `data/dataset_<subset>.json` for the three subsets,
`api/API_description*.json` and `prompts/prompt_call_api*.txt`. The content is made up but keeps
the real data's shape and its regularities, so that loaders, metrics, the shortcut audit and the
rule baseline have something meaningful to find:

- seven apps with policies (two shopping apps offer the same APIs), APIs whose parameters carry
  the three classes, "Available values" enums, `(bool)` and `(list)` types, one odd type;
- persona subset: personas reused across samples; personalized values follow the persona
  (income, age, BMI, gender); a few golds carry a parameter the API file does not class;
- environment subset: each environment reused by three samples (as ToolSpectrum reuses
  contexts); each environmental value follows one environment field, with a little noise;
  booleans mostly spelled "True"/"False" as strings;
- persona_environment subset: policy refusals first (a minor buying an expensive laptop, a
  low-income user investing; `null` and `{"APP": null, ...}`), then ordinary calls.

Deterministic for a seed.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

__all__ = ["ENVIRONMENTAL_PARAMS", "write_toolspectrum"]

# name (type) -> description; the seven environmental parameters every API takes
ENVIRONMENTAL_PARAMS = {
    "resourceLoading (str)": "The resource loading mode. Available values: ['offline', 'online'].",
    "mediaQuality (str)": "The media quality. Available values: ['high', 'low'].",
    "preferredOrientation (str)": "The preferred orientation of the media. "
                                  "Available values: ['landscape', 'portrait'].",
    "performanceMode (str)": "The performance mode. Available values: ['performance', 'battery_saver'].",
    "enableCaptions (bool)": "Whether to enable captions. Available values: [True, False].",
    "enableVoiceOver (bool)": "Whether to enable voice-over. Available values: [True, False].",
    "increaseColorContrast (bool)": "Whether to increase color contrast. Available values: [True, False].",
}  # fmt: skip

_PRICE = {"priceRange (str)": "The price range. Available values: [low, high]."}
_SHOP_QUERY = {
    "category (str)": "The product category. Available values: [Clothing, Electronics, Groceries, Home]",
    "searchQuery (str)": "The search keywords."}  # fmt: skip
_SHOP_BUY = {"searchQuery (str)": "The search keywords.", "paymentMethod (str)": "The payment method.",
             "count (int)": "The purchase quantity.",
             "shippingAddress (str)": "The shipping address."}  # fmt: skip
_COURIER = {"shippingCompany (str)": "The shipping company ('SF': fast but expensive, 'STO': cheap but "
                                     "slow). Available values: ['SF', 'STO']."}  # fmt: skip
_GENDER = {"gender (str)": "The target gender. Available values: [male, female]."}

# app -> (description, policy, {API: (description, required, personalized)})
APPS: dict[str, tuple[str, list[str], dict[str, tuple[str, dict[str, str], dict[str, str]]]]] = {
    "Tmall": ("A premium online mall for brand-name products, electronics and appliances.", [
        "Users under the age of 18 are not allowed to independently purchase items exceeding 10,000 RMB. "
        "Certain high-value products (e.g., luxury goods, electronics, etc.) are not permitted for purchase "
        "by users under 18."], {
        "getProductList": ("Query product information for specific keywords.", _SHOP_QUERY,
                           {**_PRICE, **_GENDER}),
        "buyProduct": ("Purchases a product.", _SHOP_BUY, _PRICE)}),
    "Pinduoduo": ("A group-buying platform with bargain prices on groceries and daily goods.", [
        "Users under the age of 18 are not allowed to purchase items exceeding 1,000 RMB."], {
        "getProductList": ("Query product information for specific keywords.", _SHOP_QUERY,
                           {**_PRICE, **_GENDER}),
        "buyProduct": ("Purchases a product.", _SHOP_BUY, _PRICE)}),
    "Keep": ("A fitness app with workout videos, training plans and exercise tracking.", [
        "For elderly users (60 years and above), the system will issue a warning when engaging in "
        "high-intensity exercise.",
        "For users with higher body weight (e.g., BMI greater than 30), the system will limit high-intensity "
        "exercise."], {
        "createHealthPlan": ("Creates a personalized workout plan.", {
            "equipment (list)": "Available exercise equipment (e.g., 'dumbbells', 'yoga_mat').",
            "targetAreas (list)": "Muscle groups to target (e.g., 'abs', 'legs')."}, {
            "goals (list)": "The fitness goals. "
                            "Available values: ['loss_weight', 'body_toning', 'maintain_health'].",
            "activityLevel (str)": "The activity level. Available values: ['low', 'high']."}),
        "logExercise": ("Logs an exercise activity.", {"activityType (str)": "The type of activity.",
                                                       "duration (int)": "The duration in minutes."},
                        {"date (str)": "The date of the exercise (e.g., '10-28'). Defaults to today."})}),
    "Zhihu": ("A question-and-answer website where users discuss topics in depth.", [
        "Minors (under 18 years old) are not allowed to purchase paid courses related to finance or "
        "politics."], {
        "getKnowledge": ("Retrieves knowledge content for a search query.",
                         {"searchQuery (str)": "The search query."}, {})}),
    "Bank": ("A mobile bank for accounts, transfers and fund investments.", [
        "A monthly investment limit (<3k) is set for low-income users, while high-income users can set their "
        "investment amount freely.",
        "Users under the age of 18 are not allowed to make any investments."], {
        "getFundDetails": ("Gets the details of a fund.", {"fundName (str)": "The name of the fund."}, {}),
        "buyFund": ("Buys shares of a fund.", {"fundName (str)": "The name of the fund.",
                                               "amount (int)": "The amount to invest, in RMB."},
                    {"riskLevel (str)": "The accepted risk. Available values: ['low', 'medium', 'high']."})}),
    "Cainiao Guoguo": ("An express delivery platform to send and track parcels.", [], {
        "createShipment": ("Creates a new shipment.", {
            "senderAddress (str)": "The sender's address.",
            "receiverAddress (str)": "The receiver's address.",
            "packageDetails (dict)": "Details about the package, such as its weight."},
            {**_COURIER, "shippingType (str)": "The shipping type. Available values: ['fast', 'standard']."}),
        "getShipmentStatus": ("Gets the current status of a shipment.",
                              {"shipmentId (str)": "The shipment ID."}, _COURIER)}),
    "Ctrip": ("A travel platform for flights, hotels and car rental.", [
        "Users under the age of 18 are not allowed to book car rentals."], {
        "rentCar": ("Rents a car.", {"pickupCity (str)": "The city to pick the car up in.",
                                     "days (int)": "The number of days.",
                                     # "(syt)": the public data has this typo too
                                     "vehicleModel (syt)": "The preferred vehicle model."},
                    {"carClass (str)": "The car class. Available values: ['economy', 'luxury']."})}),
}  # fmt: skip

_SHOPS = {"Tmall": ["laptop", "smartwatch", "headphones", "leather handbag", "espresso machine"],
          "Pinduoduo": ["frozen dumplings", "paper towels", "rice", "laundry detergent", "instant noodles"]}
_CATEGORY = {"laptop": "Electronics", "smartwatch": "Electronics", "headphones": "Electronics",
             "leather handbag": "Clothing", "espresso machine": "Home", "frozen dumplings": "Groceries",
             "paper towels": "Home", "rice": "Groceries", "laundry detergent": "Home",
             "instant noodles": "Groceries"}  # fmt: skip
_ADDRESSES = ["Beijing, Chaoyang District, Jianwai Street 5", "Shanghai, Pudong, Century Avenue 88",
              "Guangzhou, Yuexiu District, Beijing Road 314", "Shenzhen, Nanshan District, Keyuan Road 9"]
_PAYMENTS = ["Alipay", "WeChat Pay", "Balance Payment", "credit card"]
_TOPICS = ["quantum computing basics", "history of the Silk Road", "how vaccines work", "sourdough baking",
           "black hole photography", "urban beekeeping"]  # fmt: skip
_FUNDS = ["Harvest Bond Fund", "China Growth Equity", "Steady Income Plus", "Tech Pioneers Index"]
_EQUIPMENT = ["dumbbells", "yoga_mat", "resistance_bands", "kettlebell"]
_AREAS = ["legs", "shoulders", "abs", "arms", "back"]
_ACTIVITIES = ["running", "swimming", "cycling", "rowing"]
_CITIES = ["Hangzhou", "Chengdu", "Xiamen", "Kunming"]
_CARS = ["Tesla Model 3", "Toyota Camry", "BYD Han"]
_PREFERENCES = [
    "Values brand reputation highly and chooses products from well-established brands.",
    "Regularly seeks out promotions and discounts, comparing prices across retailers.",
    "Follows environmental news closely and supports sustainable products.",
    "Exercises most mornings and tracks workouts and nutrition carefully.",
    "Travels often for leisure and enjoys planning trips to new cities.",
    "Reads in-depth articles on science and technology every evening.",
    "Invests cautiously and prefers stable, low-volatility financial products.",
    "Shops for groceries online and buys household goods in bulk.",
]
_PROFESSIONS = ["Designer", "Teacher", "Engineer", "Student", "Doctor", "Unemployed", "Salesperson"]
_INCOMES = ["<3k", "3k-10k", "10k-50k", ">50k"]
_EDUCATION = ["Below Bachelor", "Bachelor", "Above Bachelor"]


# --- files ----------------------------------------------------------------------------------------


def _api_file(classes: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for app, (desc, policy, apis) in APPS.items():
        spec: dict[str, Any] = {"desc": desc}
        if policy:
            spec["policy"] = policy
        spec["APIs"] = {}
        for api, (api_desc, required, personalized) in apis.items():
            entry: dict[str, Any] = {"desc": api_desc, "required_arguments": required}
            if "personalized" in classes:
                entry["personalized_arguments"] = personalized
            if "environmental" in classes:
                entry["environmental_arguments"] = ENVIRONMENTAL_PARAMS
            spec["APIs"][api] = entry
        out[app] = spec
    return out


_PROMPT = """You are a personalized tool assistant. I will provide you with a user instruction, \
{inputs}and a toolset. Please output the most reasonable tool invocation result.

Requirements:
1. Consider the instruction{considered} to give the most appropriate tool invocation.
2. Output one dictionary with the app name, API name, parameters and an explanation:
    {{"APP": "APP", "API": "API", "params": {{"key1": "value1"}}, "explanation": "EXPLANATION"}}
{refusal}3. Only output one dictionary, do not output any other content.

### Input
## User Instruction
<INSTRUCTION_PLACEHOLDER>
{sections}
## Toolset
<TOOLSET_PLACEHOLDER>

### Output
"""


def _prompt(persona: bool, environment: bool) -> str:
    inputs = ("the user persona, " if persona else "") + ("the external environment, " if environment else "")
    considered = (", persona" if persona else "") + (" and environment" if environment else "")
    refusal = ("If the instruction violates an app's policy for this user, set APP, API and params to null.\n"
               if persona and environment else "")  # fmt: skip
    sections = (("\n## User Persona\n<PERSONA_PLACEHOLDER>\n" if persona else "")
                + ("\n## Environment\n<ENVIRONMENT_PLACEHOLDER>\n" if environment else ""))  # fmt: skip
    return _PROMPT.format(inputs=inputs, considered=considered, refusal=refusal, sections=sections)


def write_toolspectrum(root: str | Path, *, seed: int = 0, personas: int = 30, environments: int = 40,
                       per_context: int = 3) -> Path:  # fmt: skip
    """Write the data directory at `root` (created); returns it. The persona subset has
    `personas * per_context` samples, the environment subset `environments * per_context`, the
    persona_environment subset 24 (12 refusals first)."""
    root = Path(root)
    for sub in ("data", "api", "prompts"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    files: dict[str, Any] = {
        "api/API_description_persona.json": _api_file(("required", "personalized")),
        "api/API_description_environment.json": _api_file(("required", "environmental")),
        "api/API_description.json": _api_file(("required", "personalized", "environmental")),
    }
    rng = random.Random(seed)
    files["data/dataset_persona.json"] = _persona_subset(rng, personas, per_context)
    files["data/dataset_environment.json"] = _environment_subset(rng, environments, per_context)
    files["data/dataset_persona_environment.json"] = _persona_environment_subset(rng)
    for rel, content in files.items():
        (root / rel).write_text(json.dumps(content, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    prompts = {"prompt_call_api_persona.txt": (True, False), "prompt_call_api_environment.txt": (False, True),
               "prompt_call_api.txt": (True, True)}  # fmt: skip
    for name, (persona, environment) in prompts.items():
        (root / "prompts" / name).write_text(_prompt(persona, environment), encoding="utf-8")
    return root


# --- contexts -------------------------------------------------------------------------------------


def _persona(rng: random.Random, age: int | None = None, income: str | None = None) -> dict[str, Any]:
    height = rng.randint(150, 192)
    return {"Gender": rng.choice(["Male", "Female"]), "Height (cm)": height,
            "Age": age or rng.randint(18, 72),
            "Weight (kg)": rng.randint(45, 115), "Profession": rng.choice(_PROFESSIONS),
            "Income Level": income or rng.choice(_INCOMES), "Education Background": rng.choice(_EDUCATION),
            "Preferences": rng.sample(_PREFERENCES, 3)}  # fmt: skip


def _environment(rng: random.Random) -> dict[str, Any]:
    return {"Weather": rng.choice(["Sunny", "Rainy", "Snowy", "Extreme Weather"]),
            "Time of Day": rng.randint(0, 23),
            "Location": rng.choice(["Near airport, far from subway station",
                                    "Near train station, near subway station",
                                    "Downtown, near subway station"]),
            "Country": rng.choice(["China", "Japan", "Brazil", "Germany", "India"]),
            "Date": f"{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
            "Network Condition": rng.choice(["Wifi", "Wifi", "Mobile Network", "Mobile Network", "No Network",
                                             "No Network"]),
            "Device Type": rng.choice(["Mobile", "Computer"]),
            "Battery Level": rng.choice(["High Battery", "Low Battery"]),
            "Special User Configuration": rng.choice(["Hearing Impairment", "Color Blindness",
                                                      "Blindness"])}  # fmt: skip


def _high_income(persona: dict[str, Any]) -> bool:
    return persona["Income Level"] in ("10k-50k", ">50k")


def _personalized(api: str, persona: dict[str, Any]) -> dict[str, Any]:
    """Personalized values as functions of the persona (what a model should infer)."""
    bmi = persona["Weight (kg)"] / (persona["Height (cm)"] / 100) ** 2
    age, high = persona["Age"], _high_income(persona)
    values: dict[str, dict[str, Any]] = {
        "getProductList": {"priceRange": "high" if high else "low", "gender": persona["Gender"].lower()},
        "buyProduct": {"priceRange": "high" if high else "low"},
        "createHealthPlan": {"goals": ["loss_weight"] if bmi > 25 else ["maintain_health"] if age >= 50
                             else ["body_toning"], "activityLevel": "low" if age >= 55 else "high"},
        "buyFund": {"riskLevel": "low" if age >= 55 else "high" if persona["Income Level"] == ">50k"
                    else "medium"},
        "createShipment": {"shippingCompany": "SF" if high else "STO",
                           "shippingType": "fast" if high else "standard"},
        "getShipmentStatus": {"shippingCompany": "SF" if high else "STO"},
        "rentCar": {"carClass": "luxury" if persona["Income Level"] == ">50k" else "economy"},
    }  # fmt: skip
    return values.get(api, {})


def _flip(rng: random.Random, value: str, other: str, noise: float) -> str:
    return other if rng.random() < noise else value


def _boolean(rng: random.Random, value: bool) -> Any:
    """Mostly the strings "True"/"False", as the public data spells them; sometimes a real bool."""
    return value if rng.random() < 0.05 else str(value)


def _environmental(rng: random.Random, env: dict[str, Any]) -> dict[str, Any]:
    """Each environmental value follows one field (a little noise, as in the real data); a value
    is now and then left out of the gold."""
    network, device = env["Network Condition"], env["Device Type"]
    special = env["Special User Configuration"]
    values = {
        "resourceLoading": _flip(rng, "offline" if network == "No Network" else "online",
                                 "online" if network == "No Network" else "offline", 0.01),
        "mediaQuality": _flip(rng, "high", "low", 0.3) if network == "Wifi"
        else _flip(rng, "low", "high", 0.15),
        "preferredOrientation": _flip(rng, "portrait", "landscape", 0.15) if device == "Mobile"
        else "landscape",
        "performanceMode": "battery_saver" if env["Battery Level"] == "Low Battery"
        else _flip(rng, "performance", "battery_saver", 0.03),
        "enableCaptions": _boolean(rng, special == "Hearing Impairment" or rng.random() < 0.4),
        "enableVoiceOver": _boolean(rng, special == "Blindness"),
        "increaseColorContrast": _boolean(rng, special == "Color Blindness" or (special == "Blindness"
                                                                               and rng.random() < 0.15)),
    }  # fmt: skip
    return {k: v for k, v in values.items() if rng.random() >= 0.03}


# --- calls ----------------------------------------------------------------------------------------

_CALLS = [(app, api) for app, (_, _, apis) in APPS.items() for api in apis]


def _required(rng: random.Random, app: str, api: str) -> tuple[str, dict[str, Any]]:
    """An instruction and the required values it states."""
    if api == "getProductList":
        item = rng.choice(_SHOPS[app])
        return (f"I'm looking for {item} in the {_CATEGORY[item]} category. Can you show me some options?",
                {"category": _CATEGORY[item], "searchQuery": item})  # fmt: skip
    if api == "buyProduct":
        item, count = rng.choice(_SHOPS[app]), rng.randint(2, 5)
        address, payment = rng.choice(_ADDRESSES), rng.choice(_PAYMENTS)
        return (f"I need to buy {count} packs of {item} delivered to {address}. I'll pay with {payment}.",
                {"searchQuery": item, "paymentMethod": payment, "count": count, "shippingAddress": address})
    if api == "createHealthPlan":
        equipment, areas = rng.choice(_EQUIPMENT), rng.sample(_AREAS, 2)
        return (f"Please create a workout plan with my {equipment} that targets my {areas[0]} and "
                f"{areas[1]}.",
                {"equipment": [equipment], "targetAreas": areas})
    if api == "logExercise":
        activity, minutes = rng.choice(_ACTIVITIES), rng.choice([20, 30, 45, 60])
        return f"Log {minutes} minutes of {activity} in my exercise record.", {"activityType": activity,
                                                                              "duration": minutes}
    if api == "getKnowledge":
        topic = rng.choice(_TOPICS)
        return f'Could you help me find content related to "{topic}"?', {"searchQuery": topic}
    if api == "getFundDetails":
        fund = rng.choice(_FUNDS)
        return f'Show me the details of the fund "{fund}".', {"fundName": fund}
    if api == "buyFund":
        fund, amount = rng.choice(_FUNDS), rng.choice([500, 1000, 2000])
        return f'I want to invest {amount} RMB in the fund "{fund}".', {"fundName": fund, "amount": amount}
    if api == "createShipment":
        sender, receiver = rng.sample(_ADDRESSES, 2)
        weight = rng.randint(1, 9)
        return (f"Ship a parcel of {weight} kg from {sender} to {receiver}.",
                {"senderAddress": sender, "receiverAddress": receiver, "packageDetails": {"weight": weight}})
    if api == "getShipmentStatus":
        shipment = f"SF_{rng.randint(1000, 9999)}"
        return f"Where is my parcel {shipment}? Please check its delivery status.", {"shipmentId": shipment}
    city, days, car = rng.choice(_CITIES), rng.randint(2, 6), rng.choice(_CARS)
    return f"Rent a car in {city} for {days} days, a {car} if possible.", {"pickupCity": city, "days": days,
                                                                          "vehicleModel": car}


def _persona_subset(rng: random.Random, personas: int, per_context: int) -> list[dict[str, Any]]:
    records = []
    for _ in range(personas):
        persona = _persona(rng)
        for _ in range(per_context):
            app, api = rng.choice(_CALLS)
            instruction, params = _required(rng, app, api)
            params.update({k: v for k, v in _personalized(api, persona).items() if rng.random() >= 0.1})
            if api == "getKnowledge" and rng.random() < 0.5:
                # not classed in the persona API file (the real data has such golds too)
                params["resourceLoading"] = "online"
            records.append({"instruction": instruction, "persona": persona,
                            "toolCall": {"APP": app, "API": api, "params": params},
                            "evaluation_result": f"{rng.randint(6, 9)},{rng.randint(6, 9)}"})  # fmt: skip
    return records


def _environment_subset(rng: random.Random, environments: int, per_context: int) -> list[dict[str, Any]]:
    records = []
    for _ in range(environments):
        env = _environment(rng)
        for _ in range(per_context):
            app, api = rng.choice(_CALLS)
            instruction, params = _required(rng, app, api)
            params.update(_environmental(rng, env))
            records.append({"instruction": instruction, "environment": env,
                            "toolCall": {"APP": app, "API": api, "params": params},
                            "evaluation_result": f"{rng.randint(6, 9)},{rng.randint(6, 9)}"})  # fmt: skip
    return records


def _persona_environment_subset(rng: random.Random) -> list[dict[str, Any]]:
    records = []
    for i in range(12):  # refusals: the app's policy forbids it for this user
        env = _environment(rng)
        if i % 3 == 2:
            persona = _persona(rng, income="<3k")
            instruction = f'I want to invest 5,000 RMB in the fund "{rng.choice(_FUNDS)}" this month.'
        else:
            persona = _persona(rng, age=16)
            instruction = (f"Buy me the newest laptop, the one priced at 20,000 RMB, paid with Alipay and "
                           f"shipped to {rng.choice(_ADDRESSES)}.")  # fmt: skip
        call = None if i % 2 == 0 else {"APP": None, "API": None, "params": None}
        records.append({"instruction": instruction, "persona": persona, "environment": env, "toolCall": call,
                        "evaluation_result": "8,7,8"})  # fmt: skip
    for _ in range(12):
        persona = _persona(rng, age=rng.randint(25, 50), income=rng.choice(_INCOMES[1:]))
        env = _environment(rng)
        app, api = rng.choice(_CALLS)
        instruction, params = _required(rng, app, api)
        params.update(_personalized(api, persona))
        params.update(_environmental(rng, env))
        records.append({"instruction": instruction, "persona": persona, "environment": env,
                        "toolCall": {"APP": app, "API": api, "params": params}, "evaluation_result": "8,8,8"})
    return records
