"""`pertool train lora` (pertool.training.lora) on a tiny random Qwen2 model, on CPU, offline.

The builtin prompts are long (~12k tokens with the tiny model's small vocabulary), so the model
has one layer and the run is short: N steps, then a resume to 2N. The learning rate (from a
config file, which exercises --config) is high enough for the loss to fall visibly in that time.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("peft")
pytest.importorskip("trl")
pytest.importorskip("datasets")

from pertool.cli.main import main  # noqa: E402
from pertool.errors import PertoolError  # noqa: E402
from pertool.kinds import load_benchmark  # noqa: E402
from pertool.models.base import Completion, Request, Sampling  # noqa: E402
from pertool.models.registry import ModelOptions, create_backend  # noqa: E402
from pertool.runner.limit import limit_samples  # noqa: E402
from pertool.training.lora import (  # noqa: E402
    DEFAULTS,
    build_trainer,
    data_hash,
    load_settings,
    prompt_completion_records,
    train_lora,
    training_order,
)
from pertool.training.tiny_model import build_tiny_model  # noqa: E402
from support.torch_threads import ONE_THREAD_ENV, one_torch_thread  # noqa: E402

N = 10  # steps before the resume; the resumed run continues to 2N
# The compact built-in set: prompts of about 1,000 tokens train five times faster than the full
# set's 5,000 on CPU, and the loss falls the same way.
TRAIN_DATA = "builtin-mini:train"
RECIPE = "learning_rate: 0.01  # high: a random model learns little at 1e-4\nper_device_train_batch_size: 1\ngradient_accumulation_steps: 1\ngradient_checkpointing: false\nlogging_steps: 1\nsave_steps: 10\n"
TRAINING_KEYS = {"base", "data", "data_sha256", "samples", "records_tokenized", "settings", "versions", "steps", "loss_history", "device", "dtype", "setup_seconds", "seconds"}  # fmt: skip


# On 2 shared cores torch's second thread costs 3 to 4 times the CPU (support/torch_threads.py).
one_thread = pytest.fixture(scope="module", autouse=True)(one_torch_thread)


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The built-in benchmark is generated into a private cache, once for the module."""
    path = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PERTOOL_CACHE_DIR", str(path))
        yield path


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model", layers=1)


@pytest.fixture(scope="module")
def trained(base: Path, cache_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any], dict[str, Any]]:
    """(adapter dir, result of the first N steps, result after resuming to 2N)."""
    root = tmp_path_factory.mktemp("lora")
    config = root / "recipe.yaml"
    config.write_text(RECIPE)
    out = root / "adapter"
    first = train_lora(base, TRAIN_DATA, out, config_file=config, max_steps=N, limit=64)
    resumed = train_lora(base, TRAIN_DATA, out, config_file=config, max_steps=2 * N, limit=64, resume=True)
    return out, first, resumed


def mean(values: list[float]) -> float:
    return sum(values) / len(values)


@pytest.mark.slow
def test_loss_falls_and_the_outputs_are_complete(trained: tuple[Path, dict[str, Any], dict[str, Any]], base: Path) -> None:
    out, _, result = trained
    losses = [h["loss"] for h in result["loss_history"]]
    print("loss curve:", [round(x, 3) for x in losses])
    assert [h["step"] for h in result["loss_history"]] == list(range(1, 2 * N + 1))
    assert mean(losses[-5:]) < mean(losses[:5]) - 0.05

    assert json.loads((out / "training.json").read_text()) == result
    assert TRAINING_KEYS <= set(result)
    assert result["base"] == str(base) and result["data"] == TRAIN_DATA and result["samples"] == 64
    # --limit: eval's seeded draw (the recipe's seed); only the 2N records the steps used were tokenized
    assert result["data_sha256"] == data_hash(limit_samples(load_benchmark(TRAIN_DATA), 64, 42), "text")
    assert result["records_tokenized"] == 2 * N and 0 < result["setup_seconds"] < result["seconds"]
    assert len(result["data_sha256"]) == 64 and result["steps"] == 2 * N
    assert (result["device"], result["dtype"]) == ("cpu", "float32")
    assert set(result["versions"]) == {"torch", "transformers", "peft", "trl", "datasets", "pertool"}
    settings = result["settings"]
    assert settings["learning_rate"] == 0.01 and settings["per_device_train_batch_size"] == 1  # from the config
    assert (settings["lora_r"], settings["lora_alpha"], settings["lora_dropout"]) == (8, 16, 0.0)  # the recipe
    assert (settings["lr_scheduler_type"], settings["warmup_ratio"], settings["target_modules"]) == ("cosine", 0.1, "all-linear")
    assert settings["max_steps"] == 2 * N and settings["limit"] == 64

    adapter = json.loads((out / "adapter_config.json").read_text())
    assert (adapter["r"], adapter["lora_alpha"]) == (8, 16)
    # "all-linear", resolved by peft (full module paths when there are few of them)
    assert {m.rpartition(".")[2] for m in adapter["target_modules"]} == {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}
    assert (out / "adapter_model.safetensors").stat().st_size > 0
    logged = [json.loads(line) for line in (out / "loss_log.jsonl").read_text().splitlines()]
    assert [e["step"] for e in logged] == list(range(1, 2 * N + 1))  # the resume did not log steps twice
    assert [e["loss"] for e in logged] == losses
    assert all(e["tokens_per_second"] > 0 and e["elapsed_s"] > 0 and e["remaining_s"] >= 0 for e in logged)
    assert logged[N - 1]["remaining_s"] == 0 == logged[-1]["remaining_s"]  # each session's last step


@pytest.mark.slow
def test_resume_continues_from_the_checkpoint(trained: tuple[Path, dict[str, Any], dict[str, Any]], base: Path) -> None:
    out, first, resumed = trained
    assert first["steps"] == N and resumed["steps"] == 2 * N
    assert (first["records_tokenized"], resumed["records_tokenized"]) == (N, 2 * N)
    assert resumed["loss_history"][:N] == first["loss_history"]  # history carried over, not restarted
    assert resumed["data_sha256"] == first["data_sha256"]
    assert sorted(p.name for p in (out / "checkpoints").glob("checkpoint-*")) == [f"checkpoint-{N}", f"checkpoint-{2 * N}"]
    state = json.loads((out / "checkpoints" / f"checkpoint-{2 * N}" / "trainer_state.json").read_text())
    assert state["global_step"] == 2 * N
    # Starting over in the same directory would mix two runs' checkpoints.
    with pytest.raises(PertoolError, match="--resume"):
        train_lora(base, TRAIN_DATA, out, max_steps=1, limit=64)
    with pytest.raises(PertoolError, match="data differ"):
        train_lora(base, TRAIN_DATA, out, max_steps=1, limit=8, resume=True)
    # A recipe that walks the records in another order would train on what the steps never drew.
    other = out.parent / "other-recipe.yaml"
    other.write_text(RECIPE.replace("per_device_train_batch_size: 1", "per_device_train_batch_size: 2"))
    assert other.read_text() != RECIPE
    with pytest.raises(PertoolError, match="use the same --config"):
        train_lora(base, TRAIN_DATA, out, config_file=other, max_steps=2 * N, limit=64, resume=True)


def test_resume_needs_a_checkpoint(base: Path, cache_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(PertoolError, match="no checkpoint"):
        train_lora(base, "builtin:train", tmp_path / "fresh", limit=4, resume=True)


@pytest.mark.slow
def test_adapter_loads_in_the_hf_backend(trained: tuple[Path, dict[str, Any], dict[str, Any]], base: Path) -> None:
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    out = trained[0]
    ids = torch.tensor([[5, 17, 42, 99, 7]])
    with torch.no_grad(), warnings.catch_warnings():
        # peft 0.21 reads `is_gradient_checkpointing`, deprecated in transformers 5.x.
        warnings.filterwarnings("ignore", "`is_gradient_checkpointing` is deprecated", FutureWarning)
        plain = AutoModelForCausalLM.from_pretrained(base)(ids).logits
        tuned = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base), out)(ids).logits
    assert not torch.allclose(plain, tuned)  # the trained weights were saved, not the zero init

    hf = create_backend("hf/" + str(base), ModelOptions(adapter=str(out)))
    assert hf.identity()["adapter"] == str(out)
    messages = ({"role": "system", "content": "You are given a user profile."}, {"role": "user", "content": "Order 2 A4 paper"})

    async def ask() -> Completion:
        try:
            return await hf.complete(Request(messages=messages, sampling=Sampling(max_tokens=8)))
        finally:
            await hf.aclose()

    completion = asyncio.run(ask())
    assert isinstance(completion.text, str) and 1 <= completion.output_tokens <= 8


@pytest.mark.slow
def test_pertool_eval_runs_the_adapter(trained: tuple[Path, dict[str, Any], dict[str, Any]], base: Path, cache_dir: Path, tmp_path: Path) -> None:
    out, run = trained[0], tmp_path / "run"
    command = [sys.executable, "-m", "pertool.cli.main", "eval", "--model", f"hf/{base}", "--adapter", str(out), "--benchmark", "builtin", "--limit", "3", "--max-tokens", "16", "--no-progress", "--json", "--out", str(run)]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "PERTOOL_CACHE_DIR": str(cache_dir), **ONE_THREAD_ENV}, timeout=240)
    assert done.returncode == 0, done.stderr
    metrics = json.loads(done.stdout)
    assert isinstance(metrics, dict) and not metrics["failed"]
    records = [json.loads(line) for line in (run / "predictions.jsonl").read_text().splitlines()]
    assert len(records) == 3 and all(1 <= r["output_tokens"] <= 16 for r in records)  # --max-tokens holds
    assert json.loads((run / "config.json").read_text())["options"]["adapter"] == str(out)


def test_loss_is_on_the_answer_only(base: Path, cache_dir: Path, tmp_path: Path) -> None:
    """The collator's labels keep the assistant turn (and its end token) and mask prompt and padding."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(base)
    samples = load_benchmark("builtin:train")[:2]
    records = prompt_completion_records(samples, "text")
    trainer = build_trainer(base, records, dict(DEFAULTS), tmp_path)
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(2)])
    for row, record in enumerate(records):
        ids, labels, mask = batch["input_ids"][row], batch["labels"][row], batch["attention_mask"][row]
        kept = labels != -100
        start = int(kept.nonzero()[0])
        assert tok.decode(labels[kept]) == record["completion"][0]["content"] + "<|im_end|>\n"
        assert tok.decode(ids[:start]) == tok.apply_chat_template(record["prompt"], add_generation_prompt=True, tokenize=False)
        assert bool(kept[start:int(mask.sum())].all()) and not bool(kept[mask == 0].any())  # padding: no loss
    assert int((batch["labels"] != -100).sum()) < int(batch["attention_mask"].sum()) // 20  # prompts dominate


def test_native_records_keep_tools_and_calls_as_written(base: Path, cache_dir: Path, tmp_path: Path) -> None:
    """Arrow would give every tool the union of all tools' fields (as nulls); Json() columns do not."""
    from transformers import AutoTokenizer

    records = prompt_completion_records(load_benchmark("builtin:train")[:3], "native")
    assert all(r["tools"] and r["completion"][0]["tool_calls"] for r in records)
    trainer = build_trainer(base, records, dict(DEFAULTS), tmp_path)
    for i, record in enumerate(records):
        row = trainer.train_dataset[i]
        assert row["tools"] == record["tools"] and row["completion"] == record["completion"]
        text = AutoTokenizer.from_pretrained(base).decode(row["input_ids"])
        assert all(json.dumps(tool, ensure_ascii=False) in text for tool in record["tools"])


def test_records_over_max_length_are_an_error_not_a_cut(base: Path, cache_dir: Path, tmp_path: Path) -> None:
    """Cutting a record's end would train on a prompt without its answer."""
    config = tmp_path / "short.yaml"
    config.write_text("max_length: 512\n")
    with pytest.raises(PertoolError, match="2 of 2 records are longer than max_length=512"):
        train_lora(base, "builtin:train", tmp_path / "out", config_file=config, limit=2)


def test_training_on_a_test_split_is_refused(base: Path, cache_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(PertoolError, match="test split") as error:
        train_lora(base, "builtin", tmp_path / "out", limit=4)
    assert "leak" in str(error.value) and "--allow-test" in str(error.value)
    assert not (tmp_path / "out").exists()


def test_config_overrides_and_errors(base: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "good.json"
    good.write_text(json.dumps({"lora_r": 16, "target_modules": ["q_proj", "v_proj"], "max_length": None}))
    assert load_settings(good) == {**DEFAULTS, "lora_r": 16, "target_modules": ["q_proj", "v_proj"]}
    assert load_settings(None) == DEFAULTS
    for text, message in [("lora_rank: 8\n", "unknown setting 'lora_rank'"),
                          ("learning_rate: fast\n", "learning_rate must be"),
                          ("lora_r: true\n", "lora_r must be int"),
                          ("- 1\n", "expected a mapping"),
                          ("warmup_ratio: 10\n", "warmup_ratio must be in"),
                          ("lora_r: [\n", "not valid YAML")]:  # fmt: skip
        bad = tmp_path / "bad.yaml"
        bad.write_text(text)
        with pytest.raises(PertoolError, match=message.replace("[", r"\[")):
            train_lora(base, "builtin:train", tmp_path / "out", config_file=bad)
    # The CLI turns it into a message and exit status 2, before any data or model is loaded.
    assert main(["train", "lora", "--base", str(base), "--data", "builtin:train", "--out", str(tmp_path / "o"), "--config", str(bad)]) == 2
    assert "not valid YAML" in capsys.readouterr().err


def test_training_order_is_seeded_epochs_cut_at_the_last_step() -> None:
    settings = {**DEFAULTS, "per_device_train_batch_size": 2, "gradient_accumulation_steps": 3}
    whole = training_order(10, settings)
    assert sorted(whole) == list(range(10)) and whole != list(range(10))  # one epoch, shuffled
    assert training_order(10, settings) == whole  # seeded: the same run draws the same order
    assert training_order(10, {**settings, "seed": 7}) != whole
    assert training_order(10, settings, max_steps=1) == whole[:6]  # 1 step = 2 x 3 records, a prefix
    assert training_order(10, settings, max_steps=99) == whole  # never past the epochs
    three = training_order(10, {**settings, "num_train_epochs": 3})
    assert len(three) == 30 and three[:10] == whole and all(sorted(three[i:i + 10]) == list(range(10)) for i in (10, 20))
    assert three[10:20] != whole  # each epoch its own shuffle
    assert len(training_order(10, {**settings, "num_train_epochs": 0.25})) == 3  # part of an epoch
    # A longer run begins as a shorter one did: a resume with a higher --max-steps continues it.
    assert training_order(10, {**settings, "num_train_epochs": 3}, max_steps=4) == three[:24]


def test_the_trainer_walks_the_given_order_over_the_tokenized_records(base: Path, cache_dir: Path, tmp_path: Path) -> None:
    """The order is the dataset: the dataloader yields exactly its records, repeats included, and
    the run's steps are its batches; nothing outside `records` is tokenized or drawn."""
    records = prompt_completion_records(load_benchmark("builtin:train")[:3], "text")
    settings = {**DEFAULTS, "per_device_train_batch_size": 1, "gradient_accumulation_steps": 2}
    order = [2, 0, 2, 1, 0]
    trainer = build_trainer(base, records, settings, tmp_path, order=order)
    assert trainer.args.max_steps == 3  # 5 batches of 1, 2 per step
    assert [trainer.train_dataset[i]["prompt"] for i in range(5)] == [records[i]["prompt"] for i in order]
    tokenized = {i: trainer.train_dataset[position]["input_ids"] for position, i in enumerate(order)}
    assert len({tuple(ids) for ids in tokenized.values()}) == 3
    drawn = [batch["input_ids"][0].tolist() for batch in trainer.get_train_dataloader()]
    assert drawn == [tokenized[i] for i in order]  # in order, not reshuffled by the trainer
    with pytest.raises(ValueError, match="indices of the 3 records"):
        build_trainer(base, records, settings, tmp_path, order=[0, 3])


def test_progress_lines_bounded_in_a_log_rewritten_on_a_terminal() -> None:
    """Driven with the trainer's own state objects: a log gets the first and last steps (and one
    a minute), a terminal one line rewritten in place and ended with a newline."""
    import io

    from transformers import TrainerControl, TrainerState, TrainingArguments

    from pertool.training.progress import TrainingProgress, clock

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    args = TrainingArguments(output_dir="unused", report_to="none")
    for stream, show in ((io.StringIO(), True), (Terminal(), True), (Terminal(), False)):
        progress = TrainingProgress(stream, show=show)
        state, control = TrainerState(max_steps=50), TrainerControl()
        state.global_step, state.num_input_tokens_seen = 10, 5000  # a resumed run: this session counts
        progress.on_train_begin(args, state, control)
        for step in range(11, 51):
            progress.on_step_begin(args, state, control)
            state.global_step, state.num_input_tokens_seen = step, state.num_input_tokens_seen + 100
            control.should_log = step % 10 == 0
            progress.on_step_end(args, state, control)
            if control.should_log:
                progress.on_log(args, state, control, logs={"loss": 3.0 - step / 100})
        progress.on_train_end(args, state, control)
        text = stream.getvalue()
        if not show:  # --no-progress: no line, the same figures (for the loss log)
            assert text == ""
        elif isinstance(stream, Terminal):
            assert text.count("\r") > 2 and text.endswith("\x1b[K\n") and text.count("\n") == 1
            assert text.rpartition("\r")[2].startswith("step 50/50  loss 2.500  ")
        else:  # the first step (no loss logged yet), then the last (its loss, logged that step)
            lines = text.splitlines()
            assert [line.split("  ")[:2] for line in lines] == [["step 11/50", "loss -"], ["step 50/50", "loss 2.500"]]
            assert all(" tok/s  elapsed 0:00:0" in line for line in lines) and lines[-1].endswith("left 0:00:00")
        figures = progress.figures()
        assert figures["tokens_per_second"] and figures["tokens_per_second"] > 0 and figures["remaining_s"] == 0
    assert (clock(0), clock(59.6), clock(3 * 3600 + 61)) == ("0:00:00", "0:01:00", "3:01:01")
