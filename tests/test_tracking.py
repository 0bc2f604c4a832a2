"""`--log-to mlflow[:URI]|wandb` (pertool.tracking): a run logged to one module-scoped MLflow
SQLite store and one W&B offline directory, read back with MLflow's client and from the offline
run's transaction log, and compared number by number with the run's metrics.json.

One real `pertool eval` subprocess logs to both trackers (its config holds an API key variable
and a --base-url with credentials, to prove neither reaches a tracker); the other commands run
in-process through `main`, which shares the test process's MLflow import (MLflow's import and
SQLite store cost about 5 s of CPU per process)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from pertool.cli.main import main
from pertool.errors import PertoolError
from support.cli import run_pertool
from support.real_models import require_packages

SECRET = "sk-track-secret-4f1e9a"  # the API key's value: in the environment only
PASSWORD = "pw-track-7c2d"  # --base-url's credentials
RUN_FILES = {"config.json", "predictions.jsonl", "metrics.json", "scores.jsonl"}


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """The MLflow store and W&B offline directory, with the baseline's run logged to both by a
    real `pertool eval` subprocess."""
    require_packages("mlflow", "wandb")
    root = tmp_path_factory.mktemp("tracking")
    wandb_dir = root / "wandb"
    env = {"WANDB_MODE": "offline", "WANDB_DIR": str(wandb_dir), "WANDB_DATA_DIR": str(root / "wandb-data"),
           "WANDB_CACHE_DIR": str(root / "wandb-cache"), "WANDB_CONFIG_DIR": str(root / "wandb-config"),
           "MLFLOW_DISABLE_TELEMETRY": "true", "TRACK_KEY": SECRET}  # fmt: skip
    uri = f"sqlite:///{root / 'mlflow.db'}"  # an absolute path: sqlite:////tmp/...
    baseline = root / "baseline"
    proc = run_pertool("eval", "--model", "baseline/history", "--benchmark", "example", "--out", baseline,
                       "--no-progress", "--api-key-env", "TRACK_KEY",
                       "--base-url", f"http://user:{PASSWORD}@127.0.0.1:9/v1",
                       "--log-to", f"mlflow:{uri}", "--log-to", "wandb", env=env, check=True, timeout=120)  # fmt: skip
    assert "warning" not in proc.stderr, proc.stderr
    return SimpleNamespace(root=root, uri=uri, wandb_dir=wandb_dir, baseline=baseline)


# MLflow's SQLite store, read back here, warns about SQLAlchemy's deprecations (not pertool's).
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::FutureWarning")


def client(store: SimpleNamespace) -> Any:
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=store.uri)


def runs_of(store: SimpleNamespace) -> list[Any]:
    c = client(store)
    return list(c.search_runs([c.get_experiment_by_name("pertool").experiment_id], max_results=100))


def run_for(store: SimpleNamespace, run_dir: Path) -> Any:
    found = [r for r in runs_of(store) if r.data.tags.get("pertool.run_dir") == str(run_dir.resolve())]
    assert len(found) == 1, [r.data.tags for r in runs_of(store)]
    return found[0]


def expected_figures(metrics: dict[str, Any]) -> dict[str, float]:
    """Every number of metrics.json a tracker must hold, under the names docs/tracking.md gives."""
    out: dict[str, float] = {}
    for split, scores in metrics["splits"].items():
        for metric, value in scores.items():
            out[f"{split}/{metric}"] = value
            low, high = metrics["intervals"][split][metric]
            out[f"{split}/{metric}_ci_low"], out[f"{split}/{metric}_ci_high"] = low, high
        out[f"{split}/samples"] = metrics["counts"][split]
        for category, count in metrics["errors"][split].items():
            out[f"{split}/errors/{category}"] = count
    for name in ("answered", "no_answer", "context_overflow"):
        out[name] = metrics[name]
    out["failed"] = len(metrics["failed"])
    for name in ("input_tokens", "output_tokens", "requests", "cached", "retries"):
        out[f"usage/{name}"] = metrics["usage"][name]
    return out


def eval_in_process(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str]:
    code = main(["eval", "--benchmark", "example", "--no-progress", "--json", *map(str, args)])
    return code, capsys.readouterr().err


def test_mlflow_run_holds_the_metrics_of_metrics_json(store: SimpleNamespace,
                                                      capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    oracle = store.root / "oracle"
    code, err = eval_in_process(capsys, "--model", "oracle", "--out", oracle, "--log-to", f"mlflow:{store.uri}")
    assert (code, err) == (0, "")
    for run_dir in (store.baseline, oracle):
        metrics = json.loads((run_dir / "metrics.json").read_text())
        run = run_for(store, run_dir)
        expected = expected_figures(metrics)
        assert {k: run.data.metrics[k] for k in expected} == pytest.approx(expected, abs=0), run_dir
        assert run.info.status == "FINISHED" and run.info.run_name == run_dir.name
        assert run.data.params["model"] == json.loads((run_dir / "config.json").read_text())["model"]
        # logging wrote nothing into the run directory
        assert {p.name for p in run_dir.iterdir()} - {".lock", "errors.jsonl"} == RUN_FILES
    baseline = run_for(store, store.baseline).data.metrics
    assert baseline["overall/overall"] < 1 and baseline["overall/platform_ci_low"] < baseline["overall/platform_ci_high"]
    assert run_for(store, oracle).data.metrics["overall/overall"] == 1.0


def test_params_hold_the_config_and_no_secret(store: SimpleNamespace) -> None:
    run = run_for(store, store.baseline)
    params = run.data.params
    assert params["options.api_key_env"] == "TRACK_KEY"  # the variable's NAME, as config.json has it
    assert params["options.base_url"] == "http://***@127.0.0.1:9/v1"
    assert params["benchmark"] == "example" and params["resamples"] == "2000" and params["seed"] == "0"
    assert (run.data.tags["pertool.command"], run.data.tags["pertool.model"]) == ("eval", "baseline/history")
    everything = json.dumps([params, run.data.tags])
    assert SECRET not in everything and PASSWORD not in everything
    db = (store.root / "mlflow.db").read_bytes()
    assert SECRET.encode() not in db and PASSWORD.encode() not in db


def test_artifacts_are_metrics_json_and_the_report(store: SimpleNamespace, tmp_path: Path) -> None:
    c = client(store)
    run_id = run_for(store, store.baseline).info.run_id
    assert sorted(a.path for a in c.list_artifacts(run_id)) == ["metrics.json", "report.html"]
    metrics = Path(c.download_artifacts(run_id, "metrics.json", str(tmp_path)))
    assert metrics.read_bytes() == (store.baseline / "metrics.json").read_bytes()
    report = Path(c.download_artifacts(run_id, "report.html", str(tmp_path))).read_text()
    assert report.startswith("<!DOCTYPE html>") and "baseline/history" in report
    assert (store.root / "mlartifacts").is_dir()  # beside the SQLite file, not in the current directory
    assert not Path("mlartifacts").exists() and not Path("mlflow.db").exists()


def test_wandb_offline_run_holds_the_same_numbers(store: SimpleNamespace) -> None:
    from pertool.testing.wandb_offline import offline_runs, read_offline_run

    files = offline_runs(store.wandb_dir)
    assert len(files) == 1, files
    run = read_offline_run(files[0])
    expected = expected_figures(json.loads((store.baseline / "metrics.json").read_text()))
    assert {k: run.summary[k] for k in expected} == pytest.approx(expected, abs=0)
    mlflow_metrics = run_for(store, store.baseline).data.metrics
    assert {k: v for k, v in run.summary.items() if not k.startswith("_")} == mlflow_metrics
    assert run.name == "baseline" and run.exit_code == 0
    assert run.config["options.api_key_env"] == "TRACK_KEY" and run.config["model"] == "baseline/history"
    assert [sorted(paths) for paths in run.artifacts.values()] == [["metrics.json", "report.html"]]
    for file in store.wandb_dir.rglob("*"):
        if file.is_file():
            data = file.read_bytes()
            assert SECRET.encode() not in data and PASSWORD.encode() not in data, file


def test_ablate_logs_one_run_per_condition(store: SimpleNamespace, capsys: pytest.CaptureFixture[str]) -> None:
    out = store.root / "ablation"
    code = main(["ablate", "--model", "baseline/history", "--benchmark", "example", "--conditions",
                 "all,none", "--out", str(out), "--no-progress", "--log-to", f"mlflow:{store.uri}"])  # fmt: skip
    assert code == 0 and "warning" not in capsys.readouterr().err
    grouped = {r.info.run_name: r for r in runs_of(store) if r.data.tags.get("pertool.group") == "ablation"}
    assert set(grouped) == {"ablation/all", "ablation/none"}
    for condition in ("all", "none"):
        run = grouped[f"ablation/{condition}"]
        metrics = json.loads((out / condition / "metrics.json").read_text())
        assert run.data.metrics["overall/overall"] == metrics["splits"]["overall"]["overall"]
        assert run.data.metrics["overall/tool_name"] == metrics["splits"]["overall"]["tool_name"]
        assert run.data.params["profile_view"] == condition and run.data.tags["pertool.command"] == "ablate"
    # the conditions differ (no profile at all), and the tracker tells them apart
    assert grouped["ablation/all"].data.metrics != grouped["ablation/none"].data.metrics


def test_a_failing_tracker_is_one_warning_and_the_run_is_kept(store: SimpleNamespace, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory\n")
    out = tmp_path / "run"
    code, err = eval_in_process(capsys, "--model", "oracle", "--out", out, "--log-to",
                                f"mlflow:sqlite:///{blocker}/mlflow.db")  # fmt: skip
    assert code == 0
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"pertool: warning: could not log run {out} to mlflow:sqlite:///")
    assert lines[0].endswith("(the run directory is complete and unchanged)")
    assert {p.name for p in out.iterdir()} - {".lock", "errors.jsonl"} == RUN_FILES
    assert json.loads((out / "metrics.json").read_text())["splits"]["overall"]["overall"] == 1.0
    assert blocker.read_text() == "not a directory\n"


def test_a_missing_package_is_the_install_command_before_the_run(tmp_path: Path) -> None:
    out = tmp_path / "never"
    blocked = ("import sys; sys.modules['mlflow'] = None; from pertool.cli.main import main; "
               f"sys.exit(main(['eval', '--model', 'oracle', '--benchmark', 'example', '--out', {str(out)!r}, "
               "'--log-to', 'mlflow']))")  # fmt: skip
    proc = subprocess.run([sys.executable, "-c", blocked], capture_output=True, text=True, timeout=60,
                          env={**os.environ})  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr == ("pertool: error: --log-to mlflow needs the optional extra `mlflow`: "
                           "pip install 'pertool[mlflow]'\n")  # fmt: skip
    assert not out.exists()  # nothing ran


@pytest.mark.parametrize(("value", "message"), [
    ("neptune", "--log-to neptune: unknown tracker 'neptune'; use mlflow, mlflow:URI or wandb"),
    ("wandb:proj", "--log-to wandb:proj: wandb takes no URI"),
    ("mlflow:", "--log-to mlflow:: mlflow: needs a tracking URI"),
    ("mlflow,,wandb", "--log-to mlflow,,wandb: unknown tracker ''"),
])  # fmt: skip
def test_bad_values_are_one_line_before_anything(value: str, message: str, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    out = tmp_path / "never"
    assert main(["eval", "--model", "oracle", "--benchmark", "example", "--out", str(out), "--log-to", value]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"pertool: error: {message}") and err.count("\n") == 1
    assert not out.exists()


def test_values_repeat_or_form_a_comma_list() -> None:
    from pertool.tracking.targets import Target, parse_targets

    assert parse_targets(["mlflow,wandb", "mlflow:sqlite:///a,b.db", "wandb"]) == [
        Target("mlflow"), Target("wandb"), Target("mlflow", "sqlite:///a,b.db")]  # a comma inside a URI stays
    assert parse_targets(["mlflow:http://u:p@host:5000, wandb"]) == [Target("mlflow", "http://u:p@host:5000"),
                                                                     Target("wandb")]  # fmt: skip
    assert Target("mlflow", "http://u:p@host:5000").label() == "mlflow:http://***@host:5000"
    assert Target("mlflow", "sqlite:////abs/m.db").label() == "mlflow:sqlite:////abs/m.db"
    with pytest.raises(PertoolError, match="unknown tracker 'tensorboard'"):
        parse_targets(["mlflow,tensorboard"])


@pytest.mark.slow  # about 9 s, most of it importing torch and transformers (shared in a full run)
def test_train_lora_logs_the_loss_of_every_step(store: SimpleNamespace, tmp_path_factory: pytest.TempPathFactory,
                                                capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    require_packages("torch", "transformers", "peft", "trl", "datasets")
    import torch

    from pertool.training.tiny_model import build_tiny_model

    root = tmp_path_factory.mktemp("lora")
    base = build_tiny_model(root / "tiny", layers=1)
    recipe = root / "recipe.yaml"
    recipe.write_text("logging_steps: 1\nper_device_train_batch_size: 1\ngradient_accumulation_steps: 1\n")
    out = root / "adapter"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # two threads spin on 2 shared cores (support/torch_threads.py)
    try:
        code = main(["train", "lora", "--base", str(base), "--data", "builtin-mini:train", "--out", str(out),
                     "--config", str(recipe), "--max-steps", "2", "--limit", "4", "--no-progress",
                     "--log-to", f"mlflow:{store.uri}"])  # fmt: skip
    finally:
        torch.set_num_threads(threads)
    assert code == 0 and "warning" not in capsys.readouterr().err
    result = json.loads((out / "training.json").read_text())
    assert [h["step"] for h in result["loss_history"]] == [1, 2]
    c = client(store)
    [run] = [r for r in runs_of(store) if r.data.tags.get("pertool.out") == str(out.resolve())]
    history = c.get_metric_history(run.info.run_id, "train/loss")
    assert sorted((m.step, m.value) for m in history) == [(h["step"], h["loss"]) for h in result["loss_history"]]
    assert run.data.metrics["train/final_loss"] == result["loss_history"][-1]["loss"]
    assert (run.data.metrics["train/steps"], run.data.metrics["train/samples"]) == (2, 4)
    assert run.data.params["data"] == "builtin-mini:train" and run.data.params["settings.logging_steps"] == "1"
    assert run.data.tags["pertool.command"] == "train lora" and run.info.run_name == "adapter"
    assert sorted(a.path for a in c.list_artifacts(run.info.run_id)) == ["loss_log.jsonl", "training.json"]


def test_figures_keep_numbers_only_under_allowed_names() -> None:
    from pertool.tracking.figures import eval_metrics, flat_params

    metrics = {"splits": {"a b": {"m": 0.5, "undefined": None, "flag": True},
                          "x<y>": {"m": float("nan"), "n": 1}},
               "intervals": {"a b": {"m": [0.25, 0.75], "undefined": None, "short": [0.1]}},
               "counts": {"a b": 3}, "errors": {"a b": {"nested": {"deep": 2}}},
               "usage": {"input_tokens": 7, "cost_usd": 0.25, "note": "text"}, "failed": ["1", "2"]}  # fmt: skip
    assert eval_metrics(metrics) == {"a b/m": 0.5, "a b/m_ci_low": 0.25, "a b/m_ci_high": 0.75,
                                     "a b/samples": 3, "a b/errors/nested/deep": 2, "failed": 2, "x_y_/n": 1,
                                     "usage/input_tokens": 7, "usage/cost_usd": 0.25}  # fmt: skip
    params = flat_params({"options": {"base_url": "http://u:p@h/v1?key=s3", "api_key_env": "K"},
                          "model": "m", "limit": None, "prices": {"input": 1.5}, "empty": {}})  # fmt: skip
    assert params == {"options.base_url": "http://***@h/v1?key=***", "options.api_key_env": "K",
                      "model": "m", "prices.input": "1.5", "empty": "{}"}  # fmt: skip
