"""Malformed files and options: every file pertool reads and every numeric option, made wrong in
generated ways (wrong types at every level, missing keys, deep nesting, non-UTF-8, empty, FIFOs
and directories in place of files, huge but sane sizes). Each must load, or fail with one line
naming the file (exit 2 on the CLI): never a traceback, never a hang.

Mutation sweeps run in process (hundreds of variants per case, through the same loaders the CLI
calls, where only a `PertoolError` with a one-line message is allowed); the named cases and one
variant of each family also run through the CLI as a subprocess.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from hostile import Case, assert_one_line_error, case, pertool
from pertool.errors import PertoolError

CASES: list[Case] = []

WRONG: list[Any] = [None, 0, -1, 1.5, float("nan"), "x", "", [], {}, True, [None], {"": None}, "\ud800"]
RAW: dict[str, bytes] = {
    "empty": b"", "blank": b"  \n", "not_utf8": b"\xff\xfe\x00[", "utf16": '[{"a": 1}]'.encode("utf-16"),
    "truncated": b'[{"query": "q"', "deep_list": b"[" * 100_000 + b"]" * 100_000,
    "deep_object": b'{"a":' * 50_000 + b"1" + b"}" * 50_000, "null": b"null", "number": b"1e999",
    "string": b'"text"', "nul_bytes": b"\0" * 64,
}  # fmt: skip


def mutations(value: Any, path: tuple = (), depth: int = 6) -> Iterator[tuple[tuple, Any]]:
    """(path, replacement) for every node: each wrong value, and deletion of each key."""
    for wrong in WRONG:
        if type(wrong) is not type(value) or wrong != value:
            yield path, wrong
    if len(path) >= depth:
        return
    if isinstance(value, dict):
        for key, child in list(value.items())[:12]:
            yield from mutations(child, (*path, key), depth)
            yield (*path, key), _DELETE
    elif isinstance(value, list):
        for i, child in enumerate(value[:2]):
            yield from mutations(child, (*path, i), depth)


_DELETE = object()


def mutated(root: Any, path: tuple, replacement: Any) -> Any:
    if not path:
        return replacement
    root = copy.deepcopy(root)
    node = root
    for key in path[:-1]:
        node = node[key]
    if replacement is _DELETE:
        del node[path[-1]]
    else:
        node[path[-1]] = replacement
    return root


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def write(path: Path, value: Any) -> None:
    path.write_bytes(dumps(value).encode("utf-8", "surrogatepass"))


def loads_or_one_line(load: Callable[[], Any], label: str) -> None:
    """In process: the loader returns, or raises a PertoolError whose message is one line."""
    try:
        load()
    except PertoolError as exc:
        assert "\n" not in str(exc), f"{label}: multi-line error: {str(exc)[:200]!r}"
    except RecursionError:
        raise AssertionError(f"{label}: RecursionError") from None
    except Exception as exc:  # noqa: BLE001 - anything else is the failure counted
        raise AssertionError(f"{label}: {type(exc).__name__}: {str(exc)[:160]}") from None


def sweep(file: Path, valid: Any, load: Callable[[], Any], depth: int = 6) -> int:
    """Write each mutation of `valid` to `file` and load; returns the variants tried."""
    tried = 0
    for path, replacement in mutations(valid, depth=depth):
        write(file, mutated(valid, path, replacement))
        loads_or_one_line(load, f"{file.name} {'/'.join(map(str, path))}={replacement!r:.40}")
        tried += 1
    for name, data in RAW.items():
        file.write_bytes(data)
        loads_or_one_line(load, f"{file.name} raw {name}")
        tried += 1
    write(file, valid)
    return tried


def special_files(file: Path, load: Callable[[], Any]) -> None:
    """A directory, a FIFO, a link to /dev/zero and nothing at all in place of `file`."""
    saved = file.read_bytes()
    for kind in ("missing", "directory", "fifo", "dev_zero"):
        file.unlink()
        if kind == "directory":
            file.mkdir()
        elif kind == "fifo":
            os.mkfifo(file)
        elif kind == "dev_zero":
            file.symlink_to("/dev/zero")
        loads_or_one_line(load, f"{file.name} as {kind}")
        if kind == "directory":
            file.rmdir()
        elif kind != "missing":
            file.unlink()
        file.write_bytes(saved)


# --- fixtures -------------------------------------------------------------------------------


def ptbench_record() -> dict[str, Any]:
    args = {"productName": ["paper"], "quantity": [2], "address": ["1 Elm St"]}
    return {
        "user_profile": {"basic_features": {"username": "ann"},
                         "user_history": {"shopping": [{"platform": "MegaMart", "action": "bought pens"}]}},
        "platforms": [{"name": "MegaMart", "profile": {"price": "mid"}}, {"name": "Other", "profile": {}}],
        "tools": [{"type": "function", "function": {"name": "placeOrder", "description": "order",
                   "parameters": {"type": "object", "properties": {p: {"type": "string"} for p in args}}}}],
        "query": "Order two packs of paper.",
        "answer": ["MegaMart", [{"placeOrder": args}]],
        "query_params": ["productName", "quantity"], "profile_params": ["address"],
    }  # fmt: skip


def dataset_dir(work: Path) -> Path:
    from pertool.benchmarks.builtin import write_dataset
    from pertool.builtin.generate import GeneratorSettings, generate

    root = work / "dataset"
    settings = GeneratorSettings(users=3, untrained_users=1, train=2, test_trained=2, test_untrained=2)
    write_dataset(generate(settings), root)
    return root


def toolspectrum_dir(work: Path) -> Path:
    root = work / "ts"
    for sub in ("data", "api", "prompts"):
        (root / sub).mkdir(parents=True)
    api = {"Mail": {"desc": "mail app", "policy": ["no spam"], "APIs": {"send": {
        "desc": "send a mail",
        "required_arguments": {"to (str)": "recipient"},
        "personalized_arguments": {"tone (str)": "tone. Available values: ['warm', 'cold']."},
        "environmental_arguments": {"urgent (bool)": "urgency"}}}}}  # fmt: skip
    for name in ("API_description.json", "API_description_persona.json", "API_description_environment.json"):
        write(root / "api" / name, api)
    for name in ("prompt_call_api.txt", "prompt_call_api_persona.txt", "prompt_call_api_environment.txt"):
        (root / "prompts" / name).write_text("<INSTRUCTION_PLACEHOLDER> <PERSONA_PLACEHOLDER> "
                                             "<ENVIRONMENT_PLACEHOLDER> <TOOLSET_PLACEHOLDER>")  # fmt: skip
    record = {"instruction": "mail Bob", "persona": {"age": 30}, "environment": {"battery": "low"},
              "toolCall": {"APP": "Mail", "API": "send", "params": {"to": "Bob", "tone": "warm", "urgent": "True"}}}
    for subset in ("persona", "environment", "persona_environment"):
        write(root / "data" / f"dataset_{subset}.json", [record, {**record, "toolCall": None}])
    return root


def load_toolspectrum_with_prompts(root: Path) -> Callable[[], Any]:
    def load() -> Any:
        from pertool.benchmarks.toolspectrum_prompts import _read, toolspectrum_prompt
        from pertool.kinds import load_benchmark

        _read.cache_clear()  # each variant is a new file, as in a new process
        for sample in load_benchmark("toolspectrum:persona_environment", root):
            toolspectrum_prompt(sample, root)

    return load


# --- in-process sweeps ----------------------------------------------------------------------


@case(CASES)
def ptbench_file_every_field_wrong(work: Path) -> None:
    from pertool.kinds import load_benchmark

    file = work / "data.json"
    tried = sweep(file, [ptbench_record()], lambda: load_benchmark(f"ptbench:{file}"), depth=7)
    assert tried > 300, tried


@case(CASES)
def ptbench_file_special_files(work: Path) -> None:
    from pertool.kinds import load_benchmark

    file = work / "data.json"
    write(file, [ptbench_record()])
    special_files(file, lambda: load_benchmark(f"ptbench:{file}"))


for _name in ("manifest.json", "scenarios.json", "users.json"):

    def _dataset_case(work: Path, name: str = _name) -> None:
        from pertool.kinds import load_benchmark

        root = dataset_dir(work)
        valid = json.loads((root / name).read_text())
        if name in ("scenarios.json", "users.json"):  # one entry is enough and keeps the sweep short
            valid = dict(list(valid.items())[:1])
        sweep(root / name, valid, lambda: load_benchmark(f"dataset:{root}"), depth=5)
        special_files(root / name, lambda: load_benchmark(f"dataset:{root}"))

    case(CASES, f"dataset_{_name}_every_field_wrong")(_dataset_case)


@case(CASES)
def dataset_rows_every_field_wrong(work: Path) -> None:
    from pertool.kinds import load_benchmark

    root = dataset_dir(work)
    rows = (root / "test.jsonl").read_text().splitlines()
    row = json.loads(rows[0])
    tried = 0
    for path, replacement in mutations(row, depth=5):
        text = dumps(mutated(row, path, replacement))
        (root / "test.jsonl").write_bytes((text + "\n" + "\n".join(rows[1:]) + "\n").encode("utf-8", "surrogatepass"))
        loads_or_one_line(lambda: load_benchmark(f"dataset:{root}"), f"test.jsonl {path}={replacement!r:.40}")
        tried += 1
    for name, data in RAW.items():
        (root / "test.jsonl").write_bytes(rows[0].encode() + b"\n" + data + b"\n")
        loads_or_one_line(lambda: load_benchmark(f"dataset:{root}"), f"test.jsonl line 2 raw {name}")
    assert tried > 100, tried


@case(CASES)
def dataset_wrong_shapes(work: Path) -> None:
    from pertool.kinds import load_benchmark

    root = dataset_dir(work)
    for name in ("scenarios.json", "users.json", "test.jsonl", "manifest.json"):
        moved = work / f"moved-{name}"
        shutil.move(root / name, moved)
        loads_or_one_line(lambda: load_benchmark(f"dataset:{root}"), f"without {name}")
        shutil.move(moved, root / name)
    for spec in (f"dataset:{root / 'test.jsonl'}", f"dataset:{work / 'nowhere'}", "dataset:/dev/null",
                 f"dataset:{work}"):
        loads_or_one_line(lambda spec=spec: load_benchmark(spec), spec)


for _file in ("data/dataset_persona_environment.json", "api/API_description.json"):

    def _toolspectrum_case(work: Path, rel: str = _file) -> None:
        root = toolspectrum_dir(work)
        valid = json.loads((root / rel).read_text())
        load = load_toolspectrum_with_prompts(root)
        sweep(root / rel, valid, load, depth=6)
        special_files(root / rel, load)

    case(CASES, f"toolspectrum_{Path(_file).name}_every_field_wrong")(_toolspectrum_case)


@case(CASES)
def toolspectrum_prompt_files(work: Path) -> None:
    root = toolspectrum_dir(work)
    file = root / "prompts" / "prompt_call_api.txt"
    load = load_toolspectrum_with_prompts(root)
    for data in (b"", b"\xff\xfe bad", b"x" * 5_000_000):
        file.write_bytes(data)
        loads_or_one_line(load, f"prompt {data[:8]!r}")
    special_files(file, load)


@case(CASES)
def predictions_every_field_wrong(work: Path) -> None:
    from pertool.predictions import read_predictions

    file = work / "predictions.jsonl"
    valid = {"id": "trained:0", "output": "MegaMart:[placeOrder(productName='paper')]"}
    for path, replacement in mutations(valid):
        file.write_bytes((dumps(mutated(valid, path, replacement)) + "\n").encode("utf-8", "surrogatepass"))
        loads_or_one_line(lambda: read_predictions(file), f"predictions {path}={replacement!r:.40}")
    for name, data in RAW.items():
        file.write_bytes(data)
        loads_or_one_line(lambda: read_predictions(file), f"predictions raw {name}")
    write(file, valid)
    special_files(file, lambda: read_predictions(file))


@case(CASES)
def synth_config_every_field_wrong(work: Path) -> None:
    import yaml

    from pertool.synth.store import load_config

    file = work / "synth.yaml"
    valid = {"scenarios": [{"name": "shopping", "description": "online shopping"}], "tree_depth": 2,
             "users_per_layer": [2, 2], "test_share": 0.3}
    for path, replacement in mutations(valid):
        if isinstance(replacement, str) and "\ud800" in replacement:
            continue  # YAML cannot hold a lone surrogate; the raw cases cover bad bytes
        file.write_text(yaml.safe_dump(mutated(valid, path, replacement) if replacement is not _DELETE
                                       else mutated(valid, path, _DELETE)))  # fmt: skip
        loads_or_one_line(lambda: load_config(file), f"synth {path}={replacement!r:.40}")
    for name, data in {**RAW, "alias_bomb": _alias_bomb(), "tabs": b"a:\n\t- 1", "deep": b"[" * 100_000}.items():
        file.write_bytes(data)
        loads_or_one_line(lambda: load_config(file), f"synth raw {name}")
    file.write_text(yaml.safe_dump(valid))
    special_files(file, lambda: load_config(file))


def _alias_bomb() -> bytes:
    lines = ["a: &a [x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 10):
        prev = chr(ord("a") + i - 1)
        lines.append(f"{chr(ord('a') + i)}: &{chr(ord('a') + i)} [{', '.join(['*' + prev] * 9)}]")
    lines.append("scenarios: *j")
    return "\n".join(lines).encode()


@case(CASES)
def lora_config_every_field_wrong(work: Path) -> None:
    from pertool.training.lora import load_settings

    for suffix in (".yaml", ".json"):
        file = work / f"lora{suffix}"
        valid = {"lora_r": 16, "target_modules": ["q_proj"], "learning_rate": 2e-4, "warmup_ratio": 0.1}
        for path, replacement in mutations(valid):
            file.write_bytes(dumps(mutated(valid, path, replacement)).encode("utf-8", "surrogatepass"))
            loads_or_one_line(lambda file=file: load_settings(file), f"lora {path}={replacement!r:.40}")
        for name, data in {**RAW, "alias_bomb": _alias_bomb()}.items():
            file.write_bytes(data)
            loads_or_one_line(lambda file=file: load_settings(file), f"lora raw {name}")
        write(file, valid)
        special_files(file, lambda file=file: load_settings(file))


@case(CASES)
def prices_every_field_wrong(work: Path) -> None:
    from pertool.cli.checks import read_prices

    file = work / "prices.json"
    valid = {"input": 2.5, "output": 10}
    for path, replacement in mutations(valid):
        write(file, mutated(valid, path, replacement))
        loads_or_one_line(lambda: read_prices(str(file)), f"prices {path}={replacement!r:.40}")
    for name, data in RAW.items():
        file.write_bytes(data)
        loads_or_one_line(lambda: read_prices(str(file)), f"prices raw {name}")
    write(file, valid)
    special_files(file, lambda: read_prices(str(file)))


@case(CASES)
def benchmark_specs(work: Path) -> None:
    from pertool.kinds import load_benchmark

    for spec in ("", ":", "example:x", "builtin:nope", "dataset:", "ptbench:", "toolspectrum:nope",
                 "toolspectrum:", "nope", "ptbench:/dev/zero", "example:" + "x" * 5000, "\0"):  # fmt: skip
        loads_or_one_line(lambda spec=spec: load_benchmark(spec, work / "no-ts"), f"spec {spec[:30]!r}")


# --- through the CLI ------------------------------------------------------------------------


def _score(*args: str | Path) -> Any:
    return pertool("score", *args, "--resamples", "0", timeout=60)


@case(CASES)
def cli_ptbench_deep_nesting(work: Path) -> None:
    file = work / "data.json"
    file.write_bytes(b"[" * 100_000 + b"]" * 100_000)
    assert_one_line_error(_score("--benchmark", f"ptbench:{file}", "--predictions", "/dev/null"),
                          mentions=str(file))


@case(CASES)
def cli_ptbench_non_utf8(work: Path) -> None:
    file = work / "data.json"
    file.write_bytes(b'[{"query": "caf\xe9"}]')
    assert_one_line_error(_score("--benchmark", f"ptbench:{file}", "--predictions", "/dev/null"),
                          mentions="not UTF-8")


@case(CASES)
def cli_ptbench_wrong_type_names_index_and_field(work: Path) -> None:
    file = work / "data.json"
    bad = ptbench_record()
    bad["tools"][0]["function"]["name"] = 7
    write(file, [ptbench_record(), bad])
    assert_one_line_error(_score("--benchmark", f"ptbench:{file}", "--predictions", "/dev/null"),
                          mentions="sample 1, field tools[0].function.name")


@case(CASES)
def cli_ptbench_empty_file(work: Path) -> None:
    file = work / "data.json"
    file.write_bytes(b"")
    assert_one_line_error(_score("--benchmark", f"ptbench:{file}", "--predictions", "/dev/null"),
                          mentions=str(file))


@case(CASES)
def cli_ptbench_fifo(work: Path) -> None:
    file = work / "data.json"
    os.mkfifo(file)
    assert_one_line_error(_score("--benchmark", f"ptbench:{file}", "--predictions", "/dev/null"),
                          mentions="not a regular file")


@case(CASES)
def cli_dataset_wrong_shape(work: Path) -> None:
    root = dataset_dir(work)
    write(root / "scenarios.json", [1, 2])
    assert_one_line_error(_score("--benchmark", f"dataset:{root}", "--predictions", "/dev/null"),
                          mentions="scenarios.json")


@case(CASES)
def cli_dataset_duplicate_ids(work: Path) -> None:
    root = dataset_dir(work)
    first = (root / "test.jsonl").read_text().splitlines()[0]
    with open(root / "test.jsonl", "a", encoding="utf-8") as handle:
        handle.write(first + "\n")
    assert_one_line_error(_score("--benchmark", f"dataset:{root}", "--predictions", "/dev/null"),
                          mentions="duplicate sample id")


@case(CASES)
def cli_dataset_unknown_user(work: Path) -> None:
    root = dataset_dir(work)
    rows = (root / "test.jsonl").read_text().splitlines()
    row = json.loads(rows[1])
    row["user_id"] = "ghost"
    (root / "test.jsonl").write_text("\n".join([rows[0], dumps(row), *rows[2:]]) + "\n")
    assert_one_line_error(_score("--benchmark", f"dataset:{root}", "--predictions", "/dev/null"),
                          mentions="line 2, field user_id")


@case(CASES)
def cli_toolspectrum_missing_prompt(work: Path) -> None:
    root = toolspectrum_dir(work)
    (root / "prompts" / "prompt_call_api_persona.txt").unlink()
    proc = pertool("eval", "--benchmark", "toolspectrum:persona", "--data-dir", root, "--model", "oracle",
                   "--out", work / "run", "--no-progress", timeout=60)
    assert_one_line_error(proc, mentions="prompt_call_api_persona.txt")


@case(CASES)
def cli_toolspectrum_wrong_types(work: Path) -> None:
    root = toolspectrum_dir(work)
    write(root / "api" / "API_description.json", {"Mail": {"APIs": {"send": {"required_arguments": ["to"]}}}})
    assert_one_line_error(_score("--benchmark", "toolspectrum:persona_environment", "--data-dir", root,
                                 "--predictions", "/dev/null"), mentions="Mail.APIs.send.required_arguments")


@case(CASES)
def cli_predictions_deep_nesting(work: Path) -> None:
    file = work / "predictions.jsonl"
    file.write_bytes(b'{"id": "trained:0", "output": "x"}\n' + b"[" * 100_000 + b"\n")
    assert_one_line_error(_score("--predictions", file), mentions="line 2")


@case(CASES)
def cli_predictions_wrong_types(work: Path) -> None:
    file = work / "predictions.jsonl"
    file.write_text('{"id": 3, "output": "x"}\n')
    assert_one_line_error(_score("--predictions", file), mentions="line 1")


@case(CASES)
def cli_synth_config_non_utf8(work: Path) -> None:
    file = work / "synth.yaml"
    file.write_bytes(b"scenarios: [\xff]")
    proc = pertool("synth", "run", "--config", file, "--model", "openai-compatible/x", "--out", work / "s",
                   "--base-url", "http://127.0.0.1:9/v1", "--no-progress", timeout=60)
    assert_one_line_error(proc, mentions="not UTF-8")


@case(CASES)
def cli_synth_config_bad_yaml(work: Path) -> None:
    file = work / "synth.yaml"
    file.write_text("scenarios: [\n  - {name: x")
    proc = pertool("synth", "run", "--config", file, "--model", "openai-compatible/x", "--out", work / "s",
                   "--base-url", "http://127.0.0.1:9/v1", "--no-progress", timeout=60)
    assert_one_line_error(proc, mentions="not valid YAML")


@case(CASES)
def cli_prices_not_an_object(work: Path) -> None:
    file = work / "prices.json"
    file.write_text("[1, 2]")
    proc = pertool("eval", "--benchmark", "example", "--model", "oracle", "--out", work / "run",
                   "--prices", file, "--no-progress", timeout=60)
    assert_one_line_error(proc, mentions="--prices")


@case(CASES)
def cli_train_config_wrong_type(work: Path) -> None:
    file = work / "lora.yaml"
    file.write_text("lora_r: [1, 2]\n")
    proc = pertool("train", "lora", "--base", work / "no-model", "--data", "builtin:train", "--config", file,
                   "--out", work / "adapter", timeout=60)
    assert_one_line_error(proc)


for _args in (("--max-attempts", "0"), ("--limit", "0"), ("--limit", "-1"), ("--max-concurrency", "0"),
              ("--timeout", "-1"), ("--timeout", "nan"), ("--resamples", "-1"), ("--resamples", "1e9"),
              ("--seed", "-1"), ("--temperature", "nan"), ("--max-tokens", "0"), ("--batch-size", "0"),
              ("--backoff-cap", "-1"), ("--max-attempts", "99999999999")):

    def _option_case(work: Path, args: tuple[str, str] = _args) -> None:
        proc = pertool("eval", "--benchmark", "example", "--model", "oracle", "--out", work / "run",
                       "--no-progress", *args, timeout=60)
        assert_one_line_error(proc, mentions=args[0])
        assert not (work / "run").exists(), "a refused option must not leave a run directory"

    case(CASES, f"option eval {' '.join(_args)}")(_option_case)


for _command in (("score",), ("synth", "run", "--config", "x.yaml", "--model", "m", "--out", "o")):

    def _other_option_case(work: Path, command: tuple[str, ...] = _command) -> None:
        option = ("--resamples", "-5") if command[0] == "score" else ("--max-concurrency", "0")
        proc = pertool(*command, *option, cwd=work, timeout=60)
        assert_one_line_error(proc, mentions=option[0])

    case(CASES, f"option {_command[0]}")(_other_option_case)


# --- files pertool wrote, damaged afterwards: run directories, pipelines (review fixes) ---------

_ORACLE_RUN: list[Path] = []


def _run_copy(work: Path) -> Path:
    """A finished oracle run on `example`, made once per process and copied into `work`."""
    if not _ORACLE_RUN:
        import atexit
        import tempfile

        home = Path(tempfile.mkdtemp(prefix="hostile-oracle-run-"))
        atexit.register(shutil.rmtree, home, True)
        proc = pertool("eval", "--benchmark", "example", "--model", "oracle", "--out", home / "run", "--no-progress",
                       "--resamples", "0", timeout=120)  # fmt: skip
        assert proc.returncode == 0, proc.stderr[-500:]
        _ORACLE_RUN.append(home / "run")
    shutil.copytree(_ORACLE_RUN[0], work / "run")
    (work / "run" / ".lock").unlink(missing_ok=True)
    return work / "run"


_DAMAGE: dict[str, Callable[[Path], None]] = {
    "deep": lambda f: f.write_bytes(RAW["deep_list"]),
    "deep-object": lambda f: f.write_bytes(RAW["deep_object"]),
    "not-utf8": lambda f: f.write_bytes(b'{"id": "\xff"}\n'),
    "fifo": lambda f: (f.unlink(missing_ok=True), os.mkfifo(f)),  # type: ignore[func-returns-value]
    "directory": lambda f: (f.unlink(missing_ok=True), f.mkdir()),  # type: ignore[func-returns-value]
}


def _reader(name: str, run: Path, work: Path) -> list[str | Path]:
    return {"resume": ["eval", "--resume", run, "--no-progress"], "report": ["report", run, "--out", work / "r.html"],
            "compare": ["compare", run, run, "--resamples", "0"]}[name]  # fmt: skip


for _file, _kinds in (("config.json", ("deep", "deep-object", "not-utf8")), ("predictions.jsonl", tuple(_DAMAGE)),
                      ("errors.jsonl", tuple(_DAMAGE))):  # fmt: skip
    for _kind in _kinds:
        for _reader_name in ("resume", "report", "compare"):

            def _damaged_run_case(work: Path, file: str = _file, kind: str = _kind, reader: str = _reader_name) -> None:
                run = _run_copy(work)
                _DAMAGE[kind](run / file)
                proc = pertool(*_reader(reader, run, work), timeout=30)
                # A deep last line without its "\n" is torn (skipped, as after kill -9); a resume
                # starts errors.jsonl afresh without reading it.
                torn = file != "config.json" and kind.startswith("deep")
                if torn or (file, kind, reader) == ("errors.jsonl", "not-utf8", "resume"):
                    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
                    assert proc.returncode in (0, 2), proc.stderr[-500:]
                    return
                assert_one_line_error(proc, mentions=file)

            case(CASES, f"run {_file} {_kind} -> {_reader_name}")(_damaged_run_case)


@case(CASES)
def score_predictions_with_a_torn_last_line(work: Path) -> None:
    run = _run_copy(work)
    with open(run / "predictions.jsonl", "ab") as handle:
        handle.write(b'{"id": "trained:9", "outp')
    proc = _score("--benchmark", "example", "--predictions", run / "predictions.jsonl")
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr[-500:]


for _field, _value in (("deadline_s", "NaN"), ("deadline_s", "0"), ("max_response_mb", "-1"),
                       ("max_response_mb", "Infinity"), ("timeout_s", "-1"), ("max_attempts", "0"),
                       ("batch_size", "0")):  # fmt: skip

    def _resume_range_case(work: Path, field: str = _field, value: str = _value) -> None:
        run = _run_copy(work)
        config = json.loads((run / "config.json").read_text())
        text = json.dumps({**config, "options": {**config["options"], field: "VALUE"}}).replace('"VALUE"', value)
        (run / "config.json").write_text(text)
        assert_one_line_error(pertool("eval", "--resume", run, "--no-progress", timeout=60),
                              mentions=f"options.{field}")  # fmt: skip

    case(CASES, f"resume config.json options.{_field}={_value}")(_resume_range_case)


for _args in (("--deadline", "0"), ("--deadline", "-5"), ("--deadline", "nan"), ("--deadline", "inf"),
              ("--max-response-mb", "nan"), ("--max-response-mb", "-1"), ("--max-response-mb", "0")):  # fmt: skip

    def _bound_option_case(work: Path, args: tuple[str, str] = _args) -> None:
        proc = pertool("eval", "--benchmark", "example", "--model", "oracle", "--out", work / "run",
                       "--no-progress", *args, timeout=60)
        assert_one_line_error(proc, mentions=args[0])
        assert not (work / "run").exists(), "a refused option must not leave a run directory"

    case(CASES, f"option eval {' '.join(_args)}")(_bound_option_case)


for _argv in (("compare", "RUN", "RUN", "--seed", "-1"), ("compare", "RUN", "RUN", "--resamples", "100000000"),
              ("compare", "RUN", "RUN", "--alpha", "nan"), ("compare", "RUN", "RUN", "--alpha", "0"),
              ("mock-server", "--port", "99999"), ("mock-server", "--port", "-1"), ("mock-server", "--seed", "-1"),
              ("audit", "--benchmark", "example", "--folds", "1000000000"), ("audit", "--benchmark", "example",
              "--seed", "-1"), ("generate", "--out", "G", "--train", "-1"), ("generate", "--out", "G", "--seed", "-1"),
              ("generate", "--out", "G", "--test-untrained", "10000000000"),
              ("train", "tiny-model", "--out", "G", "--seed", "-1")):  # fmt: skip

    def _command_option_case(work: Path, argv: tuple[str, ...] = _argv) -> None:
        run = _run_copy(work) if "RUN" in argv else None
        args = [str(run) if a == "RUN" else str(work / "G") if a == "G" else a for a in argv]
        assert_one_line_error(pertool(*args, timeout=30), mentions=argv[-2])
        assert not (work / "G").exists()

    case(CASES, f"option {' '.join(_argv)}")(_command_option_case)


for _content, _where in (('{"version": 1, "config": {"bogus": 1}}', "pipeline.json"),
                         ('{"version": 1, "config": []}', "field config"), ("[1]", "pipeline.json"),
                         ("{", "pipeline.json")):  # fmt: skip

    def _pipeline_manifest_case(work: Path, content: str = _content, where: str = _where) -> None:
        (work / "pipe").mkdir()
        (work / "pipe" / "pipeline.json").write_text(content)
        proc = pertool("synth", "tools", "--out", work / "pipe", "--model", "oracle", "--no-progress", timeout=60)
        assert_one_line_error(proc, mentions=where)

    case(CASES, f"synth pipeline.json {_content[:30]}")(_pipeline_manifest_case)


for _content in (b'{"tools": "\xff"}', b'{"tools": {"calls": "many"}}', b"[]", b'{"tools": {"rejected": 3}}',
                 RAW["deep_list"]):  # fmt: skip

    def _pipeline_summary_case(work: Path, content: bytes = _content) -> None:
        (work / "pipe").mkdir()
        (work / "pipe" / "pipeline.json").write_text('{"version": 1, "config": {"bogus": 1}}')
        (work / "pipe" / "summary.json").write_bytes(content)
        proc = pertool("synth", "tools", "--out", work / "pipe", "--model", "oracle", "--no-progress", timeout=60)
        assert_one_line_error(proc, mentions="summary.json")

    case(CASES, f"synth summary.json {_content[:30]!r}")(_pipeline_summary_case)


@case(CASES)
def synth_pipeline_with_lone_surrogates_reads_back(work: Path) -> None:
    from pertool.runner.rundir import append_line
    from pertool.synth.records import HistoryRecord
    from pertool.synth.store import PipelineDir

    record = HistoryRecord(key="u/s/0", user="u", scenario="s", platform="\ud800", action="a\u2028\udfff")
    with open(work / "histories.jsonl", "a", encoding="utf-8") as handle:
        append_line(handle, record.model_dump())
    assert PipelineDir(work).read("histories", HistoryRecord) == {record.key: record}


@case(CASES)
def hf_tool_call_nested_too_deeply(work: Path) -> None:
    from pertool.models.hf import _tool_calls

    assert _tool_calls("<tool_call>" + '{"a":' * 100_000 + "1" + "}" * 100_000 + "</tool_call>") == []
