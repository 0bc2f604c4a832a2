"""Malformed files and options give one line naming the file, line or index and field, exit 2
(issue 11, part 8); golds that can never match are reported, not refused. Real files, the CLI
as a subprocess."""

import json
import os

import pytest

from factory import record, write_split_dir
from pertool.benchmarks.builtin import write_dataset
from pertool.benchmarks.quality import gold_quality
from pertool.builtin.generate import GeneratorSettings, generate
from pertool.errors import DataError
from pertool.kinds import load_benchmark
from support.cli import run_pertool


def one_line_error(proc, *mentions):
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-500:])
    lines = [line for line in proc.stderr.splitlines() if line.startswith("pertool: error:")]
    assert len(lines) == 1, proc.stderr[-500:]
    for text in mentions:
        assert text in lines[0], (text, lines[0])
    return lines[0]


def score(*args):
    return run_pertool("score", *args, "--resamples", "0", timeout=60)


@pytest.fixture
def dataset(tmp_path):
    root = tmp_path / "dataset"
    write_dataset(generate(GeneratorSettings(users=3, untrained_users=1, train=2, test_trained=2,
                                             test_untrained=2)), root)
    return root


@pytest.mark.parametrize("content,message", [
    (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    (b'[{"query": "caf\xe9"}]', "not UTF-8"),
    (b"", "not valid JSON"),
    (b"{}", "expected a JSON list"),
])
def test_broken_ptbench_files(tmp_path, content, message):
    file = tmp_path / "data.json"
    file.write_bytes(content)
    one_line_error(score("--benchmark", f"ptbench:{file}", "--predictions", os.devnull), str(file), message)


def test_wrong_type_deep_in_a_ptbench_sample_names_index_and_field(tmp_path):
    bad = record()
    bad["tools"][0]["function"]["parameters"] = "none"
    file = tmp_path / "data.json"
    file.write_text(json.dumps([record(), bad]))
    one_line_error(score("--benchmark", f"ptbench:{file}", "--predictions", os.devnull),
                   "sample 1, field tools[0].function.parameters")


def test_ptbench_fifo_is_refused_without_hanging(tmp_path):
    file = tmp_path / "data.json"
    os.mkfifo(file)
    one_line_error(score("--benchmark", f"ptbench:{file}", "--predictions", os.devnull), "not a regular file")


@pytest.mark.parametrize("name,content,where", [
    ("scenarios.json", "[1, 2]", "scenarios.json: expected an object"),
    ("users.json", '{"u0": 7}', "users.json, field u0"),
    ("manifest.json", '{"benchmark": 3}', "field benchmark"),
    ("test.jsonl", '{"id": "x"}\n', "test.jsonl, line 1, field scenario"),
    ("test.jsonl", "[" * 50_000 + "\n", "test.jsonl, line 1: not valid JSON: nested too deeply"),
])
def test_dataset_with_the_wrong_shape(dataset, name, content, where):
    (dataset / name).write_text(content)
    one_line_error(score("--benchmark", f"dataset:{dataset}", "--predictions", os.devnull), where)


def test_dataset_dir_that_is_not_a_dataset(tmp_path):
    one_line_error(score("--benchmark", f"dataset:{tmp_path}", "--predictions", os.devnull), "test.jsonl")
    (tmp_path / "file").write_text("x")
    one_line_error(score("--benchmark", f"dataset:{tmp_path / 'file'}", "--predictions", os.devnull),
                   "not a directory")


def test_duplicate_sample_ids_are_an_error(dataset):
    rows = (dataset / "test.jsonl").read_text().splitlines()
    (dataset / "test.jsonl").write_text("\n".join([*rows, rows[0]]) + "\n")
    with pytest.raises(DataError, match=f"line {len(rows) + 1}: duplicate sample id .*first at .*line 1"):
        load_benchmark(f"dataset:{dataset}")


def toolspectrum(root):
    for sub in ("data", "api", "prompts"):
        (root / sub).mkdir(parents=True)
    api = {"Mail": {"desc": "mail", "APIs": {"send": {"desc": "send", "required_arguments": {"to (str)": "who"}}}}}
    (root / "api" / "API_description_persona.json").write_text(json.dumps(api))
    (root / "prompts" / "prompt_call_api_persona.txt").write_text("<INSTRUCTION_PLACEHOLDER>")
    (root / "data" / "dataset_persona.json").write_text(json.dumps(
        [{"instruction": "mail Bob", "persona": {}, "toolCall": {"APP": "Mail", "API": "send", "params": {"to": "Bob"}}}]))
    return root


def test_toolspectrum_missing_prompt_file_fails_at_load(tmp_path):
    root = toolspectrum(tmp_path / "ts")
    assert len(load_benchmark("toolspectrum:persona", root)) == 1
    (root / "prompts" / "prompt_call_api_persona.txt").unlink()
    proc = run_pertool("eval", "--benchmark", "toolspectrum:persona", "--data-dir", root, "--model", "oracle",
                       "--out", tmp_path / "run", "--no-progress", timeout=60)
    one_line_error(proc, "prompt_call_api_persona.txt", "file not found")


@pytest.mark.parametrize("api,field", [
    ([], "expected an object of apps"),
    ({"Mail": []}, "field Mail: expected an object"),
    ({"Mail": {"APIs": {"send": {"required_arguments": ["to"]}}}}, "field Mail.APIs.send.required_arguments"),
    ({"Mail": {"APIs": {"send": {"desc": 3}}}}, "field Mail.APIs.send.desc"),
    ({"Mail": {"APIs": {"send": {"required_arguments": {"to": None}}}}}, "field Mail.APIs.send.required_arguments.to"),
])
def test_toolspectrum_api_file_wrong_types(tmp_path, api, field):
    root = toolspectrum(tmp_path / "ts")
    (root / "api" / "API_description_persona.json").write_text(json.dumps(api))
    one_line_error(score("--benchmark", "toolspectrum:persona", "--data-dir", root, "--predictions", os.devnull),
                   "API_description_persona.json", field)


@pytest.mark.parametrize("content,where", [
    (b'{"id": "trained:0", "output": "x"}\n' + b"[" * 100_000 + b"\n", "line 2: not valid JSON: nested too deeply"),
    (b'{"id": 3, "output": "x"}\n', "line 1"),
    (b'{"id": "trained:0", "output": "\xff"}\n', "line 1: not UTF-8"),
])
def test_broken_predictions_files(tmp_path, content, where):
    file = tmp_path / "predictions.jsonl"
    file.write_bytes(content)
    one_line_error(score("--predictions", file), str(file), where)


@pytest.mark.parametrize("content,message", [
    (b"scenarios: [\xff]", "not UTF-8"),
    (b"scenarios: [\n  - {name: x", "not valid YAML"),
    (b"[" * 100_000, "nested more than 100 levels"),
    (b"a: &a [x, x]\nscenarios: *a\n", "aliases"),
    (b"scenarios: 3\n", "scenarios"),
])
def test_broken_synth_configs(tmp_path, content, message):
    file = tmp_path / "synth.yaml"
    file.write_bytes(content)
    proc = run_pertool("synth", "run", "--config", file, "--model", "openai-compatible/x", "--out", tmp_path / "s",
                       "--base-url", "http://127.0.0.1:9/v1", "--no-progress", timeout=60)
    one_line_error(proc, str(file), message)


@pytest.mark.parametrize("content,message", [
    ("[1, 2]", "expected a JSON object"), ('{"input": "cheap"}', "field input"), ('{"input": NaN}', "field input"),
    ('{"inptu": 1}', "field inptu"), ("{", "not valid JSON"),
])
def test_broken_prices(tmp_path, content, message):
    file = tmp_path / "prices.json"
    file.write_text(content)
    proc = run_pertool("eval", "--benchmark", "example", "--model", "oracle", "--out", tmp_path / "run",
                       "--prices", file, "--no-progress", timeout=60)
    one_line_error(proc, "--prices", message)


@pytest.mark.parametrize("content,message", [
    ("lora_r: [1, 2]\n", "lora_r must be int"), ("lora_r: 0\n", "lora_r must be a finite number above 0"),
    ("learning_rate: .nan\n", "learning_rate"), ("lora_r: [\n", "not valid YAML"),
])
def test_broken_lora_configs(tmp_path, content, message):
    file = tmp_path / "lora.yaml"
    file.write_text(content)
    proc = run_pertool("train", "lora", "--base", tmp_path / "none", "--data", "builtin:train", "--config", file,
                       "--out", tmp_path / "adapter", timeout=60)
    one_line_error(proc, message)


@pytest.mark.parametrize("option,value", [
    ("--max-attempts", "0"), ("--limit", "0"), ("--limit", "-2"), ("--max-concurrency", "0"), ("--timeout", "-1"),
    ("--timeout", "nan"), ("--resamples", "-1"), ("--seed", "-1"), ("--batch-size", "0"), ("--resamples", "1e9"),
])
def test_eval_options_out_of_range(tmp_path, option, value):
    proc = run_pertool("eval", "--benchmark", "example", "--model", "oracle", "--out", tmp_path / "run",
                       "--no-progress", option, value, timeout=60)
    one_line_error(proc, option)
    assert not (tmp_path / "run").exists()


def test_resamples_zero_still_turns_intervals_off():
    proc = run_pertool("score", "--resamples", "0", "--json", timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert all(v is None for split in json.loads(proc.stdout)["intervals"].values() for v in split.values())


def test_golds_that_can_never_match_are_reported(tmp_path):
    never = [
        record(calls=[("placeOrder", {"productName": []})]),  # empty accepted list
        record(calls=[("placeOrder", {"quantity": [float("nan")]})]),  # NaN
        {**record(), "answer": ["Elsewhere", [{"placeOrder": {"productName": ["paper"]}}]]},  # platform not offered
        {**record(), "answer": ["MegaMart", [{"cancelOrder": {"id": ["1"]}}]]},  # tool not offered
        record(),  # fine
    ]
    root = write_split_dir(tmp_path / "bench", never, [])
    samples = load_benchmark(f"ptbench:{root}")
    quality = gold_quality(samples)
    assert quality.empty_accepted == ["trained:0: placeOrder.productName"]
    assert quality.not_finite == ["trained:1: placeOrder.quantity"]
    assert quality.platform_not_offered == ["trained:2: Elsewhere"]
    assert quality.tool_not_offered == ["trained:3: cancelOrder"]
    predictions = tmp_path / "p.jsonl"
    predictions.write_text("".join(json.dumps({"id": s.id, "output": "MegaMart:[placeOrder()]"}) + "\n"
                                   for s in samples))
    proc = score("--benchmark", f"ptbench:{root}", "--predictions", predictions, "--json")
    assert proc.returncode == 0, proc.stderr
    assert "pertool: warning: 4 samples have a gold that can never match" in proc.stderr
    assert json.loads(proc.stdout)["quality"]["golds_that_never_match"] == 4
    run = run_pertool("eval", "--benchmark", f"ptbench:{root}", "--model", "oracle", "--out", tmp_path / "run",
                      "--no-progress", "--json", timeout=60)
    assert "4 samples have a gold that can never match" in run.stderr
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["quality"]["tool_not_offered"] == [
        "trained:3: cancelOrder"]


# --- run directories, pipelines and other files pertool wrote, damaged afterwards (review fixes) ---

DEEP = b"[" * 100_000 + b"]" * 100_000


@pytest.fixture(scope="module")
def oracle_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("oracle") / "run"
    run_pertool("eval", "--benchmark", "example", "--model", "oracle", "--out", run, "--no-progress",
                "--resamples", "0", timeout=120, check=True)
    return run


def copy_of(run, tmp_path):
    import shutil

    target = tmp_path / "run"
    shutil.copytree(run, target)
    (target / ".lock").unlink(missing_ok=True)
    return target


def readers(run, tmp_path):
    """The commands that read a run directory back."""
    return {"resume": ["eval", "--resume", run, "--no-progress"],
            "report": ["report", run, "--out", tmp_path / "r.html"],
            "compare": ["compare", run, run, "--resamples", "0"]}  # fmt: skip


@pytest.mark.parametrize("content,message", [(DEEP, "nested too deeply"), (b'{"benchmark": "\xff"}', "not UTF-8")])
@pytest.mark.parametrize("reader", ["resume", "report", "compare"])
def test_run_config_deeply_nested_or_not_utf8(oracle_run, tmp_path, content, message, reader):
    run = copy_of(oracle_run, tmp_path)
    (run / "config.json").write_bytes(content)
    one_line_error(run_pertool(*readers(run, tmp_path)[reader], timeout=60), "config.json", message)


@pytest.mark.parametrize("name", ["predictions.jsonl", "errors.jsonl"])
@pytest.mark.parametrize("kind", ["fifo", "directory"])
@pytest.mark.parametrize("reader", ["resume", "report", "compare"])
def test_run_jsonl_that_is_a_fifo_or_a_directory(oracle_run, tmp_path, name, kind, reader):
    run = copy_of(oracle_run, tmp_path)
    (run / name).unlink(missing_ok=True)
    os.mkfifo(run / name) if kind == "fifo" else (run / name).mkdir()
    expected = "not a regular file" if kind == "fifo" else "is a directory"
    one_line_error(run_pertool(*readers(run, tmp_path)[reader], timeout=30), name, expected)


def test_score_skips_a_torn_last_line_as_compare_and_report_do(oracle_run, tmp_path):
    run = copy_of(oracle_run, tmp_path)
    with open(run / "predictions.jsonl", "ab") as handle:
        handle.write(b'{"id": "trained:9", "outp')  # kill -9 mid-write
    proc = run_pertool("score", "--predictions", run / "predictions.jsonl", "--benchmark", "example",
                       "--resamples", "0", "--json", timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["splits"]
    assert run_pertool("compare", run, run, "--resamples", "0", timeout=60).returncode == 0


@pytest.mark.parametrize("content,message", [
    (b'{"benchmark": "example", "model": "oracle", "options": {"deadline_s": NaN}}', "options.deadline_s"),
    (b'{"benchmark": "example", "model": "oracle", "options": {"max_response_mb": -1}}', "options.max_response_mb"),
    (b'{"benchmark": "example", "model": "oracle", "options": {"timeout_s": 0}}', "options.timeout_s"),
])
def test_resume_refuses_out_of_range_numbers_in_config_json(tmp_path, content, message):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_bytes(content)
    one_line_error(run_pertool("eval", "--resume", run, "--no-progress", timeout=60), "config.json", message)


def test_failed_resume_releases_its_lock(tmp_path):
    """In process: a resume that fails while reading config.json must not keep the run locked."""
    from pertool.cli.main import main
    from pertool.runner.rundir import RunDir

    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_bytes(b'{"benchmark": 3, "model": "oracle"}')
    assert main(["eval", "--resume", str(run), "--no-progress"]) == 2
    again = RunDir.open(run)
    again.lock()  # raises "being written by another" if the first lock were still held
    again.unlock()


@pytest.mark.parametrize("option,value", [
    ("--max-response-mb", "nan"), ("--max-response-mb", "-1"), ("--max-response-mb", "0"), ("--deadline", "0"),
    ("--deadline", "-5"), ("--deadline", "nan"), ("--deadline", "inf"),
])
def test_eval_bound_options_out_of_range(tmp_path, option, value):
    proc = run_pertool("eval", "--benchmark", "example", "--model", "oracle", "--out", tmp_path / "run",
                       "--no-progress", option, value, timeout=60)
    one_line_error(proc, option)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("argv,option", [
    (["compare", "R", "R", "--seed", "-1"], "--seed"),
    (["compare", "R", "R", "--resamples", "100000000"], "--resamples"),
    (["compare", "R", "R", "--alpha", "2"], "--alpha"),
    (["compare", "R", "R", "--alpha", "nan"], "--alpha"),
    (["mock-server", "--port", "99999"], "--port"),
    (["mock-server", "--port", "-1"], "--port"),
    (["mock-server", "--seed", "-1"], "--seed"),
    (["audit", "--benchmark", "example", "--folds", "1000000000"], "--folds"),
    (["audit", "--benchmark", "example", "--seed", "-3"], "--seed"),
    (["generate", "--out", "G", "--train", "-1"], "--train"),
    (["generate", "--out", "G", "--seed", "-1"], "--seed"),
    (["generate", "--out", "G", "--test-trained", "100000000000"], "--test-trained"),
    (["train", "tiny-model", "--out", "T", "--seed", "-1"], "--seed"),
])
def test_every_commands_numeric_options_are_range_checked(oracle_run, tmp_path, argv, option):
    argv = [str(oracle_run) if a == "R" else str(tmp_path / a) if a in ("G", "T") else a for a in argv]
    one_line_error(run_pertool(*argv, timeout=30), option)
    assert not (tmp_path / "G").exists() and not (tmp_path / "T").exists()


def test_synth_pipeline_json_with_a_bad_config_or_summary(tmp_path):
    out = tmp_path / "pipe"
    out.mkdir()
    (out / "pipeline.json").write_text('{"version": 1, "config": {"bogus": 1}}')
    proc = run_pertool("synth", "tools", "--out", out, "--model", "oracle", "--no-progress", timeout=60)
    one_line_error(proc, "pipeline.json", "config.")
    (out / "pipeline.json").write_text('{"version": 1, "config": []}')
    one_line_error(run_pertool("synth", "tools", "--out", out, "--model", "oracle", "--no-progress", timeout=60),
                   "pipeline.json", "field config")
    (out / "summary.json").write_bytes(b'{"tools": "\xff"}')
    one_line_error(run_pertool("synth", "tools", "--out", out, "--model", "oracle", "--no-progress", timeout=60),
                   "summary.json", "not UTF-8")
    (out / "summary.json").write_text('{"tools": {"calls": "many"}}')
    one_line_error(run_pertool("synth", "tools", "--out", out, "--model", "oracle", "--no-progress", timeout=60),
                   "summary.json", "tools.calls")


def test_ablation_marker_and_metrics_and_dataset_info_damaged(oracle_run, tmp_path):
    # ablate --out D over its own earlier output whose ablation.json is not an object
    out = tmp_path / "abl"
    first = run_pertool("ablate", "--benchmark", "example", "--model", "oracle", "--out", out, "--conditions",
                        "all", "--no-progress", "--resamples", "0", timeout=120)
    assert first.returncode == 0, first.stderr
    (out / "all" / "ablation.json").write_text("[1]")
    again = run_pertool("ablate", "--benchmark", "example", "--model", "oracle", "--out", out, "--conditions",
                        "all", "--no-progress", "--resamples", "0", timeout=120)
    one_line_error(again, "ablation.json", "expected a JSON object")
    # metrics.json only feeds the report's usage: a damaged one is ignored, not a crash
    run = copy_of(oracle_run, tmp_path)
    (run / "metrics.json").write_bytes(b"\xff" + DEEP)
    proc = run_pertool("report", run, "--out", tmp_path / "r.html", timeout=60)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    # dataset_info.json beside a LLaMA-Factory export: refused, and nothing written
    (tmp_path / "dataset_info.json").write_bytes(b'{"x": "\xff"}')
    proc = run_pertool("train", "export", "--benchmark", "builtin:train", "--format", "llamafactory", "--limit",
                       "2", "--out", tmp_path / "sft.jsonl", timeout=60)
    one_line_error(proc, "dataset_info.json", "not UTF-8")
    assert not (tmp_path / "sft.jsonl").exists()


def test_a_backend_that_cannot_use_an_option_value_is_one_error_line():
    """Behind the range checks (a config.json, the Python API): a ValueError while the backend is
    built is a PertoolError naming the model, not a traceback."""
    from pertool.errors import PertoolError
    from pertool.models.registry import ModelOptions, create_backend

    with pytest.raises(PertoolError, match="openai-compatible/m"):
        create_backend("openai-compatible/m", ModelOptions(base_url="http://127.0.0.1:9/v1",
                                                           max_response_mb=float("nan")))  # fmt: skip


@pytest.mark.parametrize("content,message", [
    (DEEP, "nested too deeply"), (b'{"base": "\xff"}', "not UTF-8"), (b"[1]", "expected a JSON object"),
    (b'{"data_sha256": 7}', "field data_sha256"),
])  # fmt: skip
def test_lora_resume_with_a_damaged_run_json(tmp_path, content, message):
    from pertool.training.lora import _checkpoint_to_resume

    (tmp_path / "checkpoint-2").mkdir()
    (tmp_path / "run.json").write_bytes(content)
    with pytest.raises(DataError, match=message):
        _checkpoint_to_resume(tmp_path, True, tmp_path / "base", "abc", {})


def test_lora_log_keeps_lines_up_to_the_checkpoint_and_drops_a_torn_one(tmp_path):
    from pertool.training.lora import _truncate_log

    log = tmp_path / "log.jsonl"
    log.write_text('{"step": 1, "loss": 2.0}\n{"step": 2, "loss": NaN}\n{"step": 3}\n{"step": 4, "lo')
    _truncate_log(log, 2)
    assert log.read_text() == '{"step": 1, "loss": 2.0}\n{"step": 2, "loss": NaN}\n'
    log.write_text('{"step": "x"}\n')
    with pytest.raises(DataError, match="line 1, field step"):
        _truncate_log(log, 2)
