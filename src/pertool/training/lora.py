"""LoRA fine-tuning with TRL's SFTTrainer and peft: `pertool train lora`.

Defaults are the paper's recipe (LLaMA-Factory's defaults except the epoch count): LoRA rank 8,
alpha 16, dropout 0 on all linear layers, lr 1e-4 with a cosine schedule and 10% warmup, one
epoch. A YAML/JSON `--config` file overrides any of `DEFAULTS`.

Each sample becomes a prompt-completion record (the evaluator's prompt; the gold assistant turn
as the completion), so TRL computes the loss on the answer tokens only. Only the records the
steps will use are rendered and tokenized: `training_order` draws the order the run sees them
in (a seeded shuffle per epoch, cut after the last step's batch) and that order is the dataset
the trainer walks through. The output directory gets

    checkpoints/checkpoint-N/     the trainer's checkpoints (`--resume` continues from the last)
    checkpoints/run.json          base and data hash of the run, checked on resume
    loss_log.jsonl                one line per logging step, written while training, with the
                                  progress line's tokens/s, elapsed and remaining seconds
    adapter_config.json, adapter_model.safetensors, tokenizer files   the adapter
    training.json                 what was trained on, with which settings and versions
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import re
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pertool.errors import DataError, MissingDependency, PertoolError
from pertool.fileio import atomic_write_text, iter_jsonl, json_value, read_config, read_json
from pertool.versions import installed_version

if TYPE_CHECKING:
    from pertool.training.progress import TrainingProgress

__all__ = ["DEFAULTS", "build_trainer", "data_hash", "load_settings", "prompt_completion_records",
           "train_lora", "training_order"]  # fmt: skip

DEFAULTS: dict[str, Any] = {
    "lora_r": 8,
    "lora_alpha": 16,
    "lora_dropout": 0.0,
    "target_modules": "all-linear",  # or a list of module names
    "learning_rate": 1e-4,
    "lr_scheduler_type": "cosine",
    "warmup_ratio": 0.1,
    "num_train_epochs": 1.0,
    "per_device_train_batch_size": 2,
    "gradient_accumulation_steps": 8,  # 16 sequences per optimizer step
    "weight_decay": 0.0,
    "max_grad_norm": 1.0,
    "max_length": None,  # tokens per record; None: no limit (cutting would lose the answer)
    "gradient_checkpointing": True,  # long profile prompts: trade compute for memory
    "logging_steps": 10,
    "save_steps": 100,
    "save_total_limit": 3,
    "seed": 42,
}
_NULLABLE = {"max_length"}
_TYPES: dict[str, tuple[type, ...]] = {"target_modules": (str, list), "lora_dropout": (int, float),
                                       "learning_rate": (int, float), "warmup_ratio": (int, float),
                                       "num_train_epochs": (int, float), "weight_decay": (int, float),
                                       "max_grad_norm": (int, float), "max_length": (int,)}  # fmt: skip
_PACKAGES = ("torch", "transformers", "peft", "trl", "datasets", "pertool")
LOSS_LOG = "loss_log.jsonl"


def load_settings(config_file: str | Path | None) -> dict[str, Any]:
    """DEFAULTS updated from a YAML or JSON mapping; unknown keys and wrong types are errors."""
    settings = dict(DEFAULTS)
    if config_file is None:
        return settings
    path = Path(config_file)
    try:
        loaded = read_config(path)
    except DataError as exc:
        raise PertoolError(f"--config {exc}") from None
    if loaded is None:
        return settings
    if not isinstance(loaded, dict):
        raise PertoolError(f"--config {path}: expected a mapping of settings, got {type(loaded).__name__}")
    for key, value in loaded.items():
        if key not in DEFAULTS:
            raise PertoolError(f"--config {path}: unknown setting {key!r}; known: {', '.join(DEFAULTS)}")
        types = _TYPES.get(key, (type(DEFAULTS[key]),))
        ok = (value is None and key in _NULLABLE) or (
            isinstance(value, types) and not (isinstance(value, bool) and bool not in types))  # fmt: skip
        if key == "target_modules" and isinstance(value, list):
            ok = all(isinstance(v, str) for v in value)
        if not ok:
            raise PertoolError(f"--config {path}: {key} must be {' or '.join(t.__name__ for t in types)}, "
                               f"got {value!r}")  # fmt: skip
        settings[key] = value
    for key, value in settings.items():  # numbers: finite; counts and rates above 0
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            positive = key not in ("lora_dropout", "warmup_ratio", "weight_decay", "seed")
            if not math.isfinite(value) or value < 0 or (positive and value <= 0):
                raise PertoolError(f"--config {path}: {key} must be a finite number "
                                   f"{'above' if positive else 'of at least'} 0, got {value!r}")  # fmt: skip
    if not 0 <= settings["warmup_ratio"] < 1:  # transformers reads warmup_steps >= 1 as a step count
        raise PertoolError(f"--config {path}: warmup_ratio must be in [0, 1), got {settings['warmup_ratio']}")
    return settings


def prompt_completion_records(samples: Sequence[Any], tool_mode: str) -> list[dict[str, Any]]:
    """TRL prompt-completion records: the loss then falls on the completion (the answer) only."""
    from pertool.training.sft import sft_conversation

    records = []
    for sample in samples:
        messages, tools = sft_conversation(sample, tool_mode)
        record: dict[str, Any] = {"prompt": messages[:-1], "completion": messages[-1:]}
        if tools:
            record["tools"] = tools
        records.append(record)
    return records


def train_lora(base: str | Path, data: str, out: str | Path, *, config_file: str | Path | None = None,
               max_steps: int | None = None, limit: int | None = None, resume: bool = False,
               allow_test: bool = False, tool_mode: str = "text",
               show_progress: bool = True) -> dict[str, Any]:  # fmt: skip
    """Train a LoRA adapter on `data` for the model in `base`, write it to `out`; the training.json dict."""
    from pertool.kinds import load_benchmark
    from pertool.runner.limit import limit_samples
    from pertool.training.progress import TrainingProgress
    from pertool.training.sft import check_trainable

    started = time.perf_counter()
    settings = load_settings(config_file)  # bad settings fail before anything slow
    for name, value in (("--max-steps", max_steps), ("--limit", limit)):
        if value is not None and value < 1:
            raise PertoolError(f"{name} must be at least 1, got {value}")
    out, base = Path(out), Path(base).expanduser()
    if not base.is_dir():
        raise PertoolError(f"--base {base}: no model directory there")
    samples = limit_samples(load_benchmark(data), limit, settings["seed"])  # eval's --limit draw
    check_trainable(samples, allow_test)
    if not samples:
        raise PertoolError(f"{data}: no samples to train on")
    data_sha256 = data_hash(samples, tool_mode)
    checkpoints = out / "checkpoints"
    walk = {key: settings[key] for key in ORDER_SETTINGS}
    last = _checkpoint_to_resume(checkpoints, resume, base, data_sha256, walk)

    order = training_order(len(samples), settings, max_steps)
    used = sorted(set(order))  # rendered and tokenized once each, however often the order repeats them
    row = {sample: i for i, sample in enumerate(used)}
    records = prompt_completion_records([samples[i] for i in used], tool_mode)
    trainer = build_trainer(base, records, settings, checkpoints, order=[row[i] for i in order])
    progress = TrainingProgress(show=show_progress)  # its figures go to the loss log either way
    trainer.add_callback(progress)
    log_file = out / LOSS_LOG
    trainer.add_callback(_loss_log(log_file, progress))
    out.mkdir(parents=True, exist_ok=True)
    if last is None:
        log_file.unlink(missing_ok=True)
        checkpoints.mkdir(exist_ok=True)
        run = {"base": str(base.resolve()), "data_sha256": data_sha256, "order": walk}
        atomic_write_text(checkpoints / "run.json", json.dumps(run, indent=2) + "\n")
    else:  # entries past the checkpoint are about to be trained (and logged) again
        _truncate_log(log_file, int(last.name.rpartition("-")[2]))
    setup_seconds = time.perf_counter() - started
    try:
        trainer.train(resume_from_checkpoint=str(last) if last else None)
    finally:
        progress.close()  # a terminal line interrupted mid-run still ends with its newline

    peft_model: Any = trainer.model  # saving the peft model writes the adapter only
    peft_model.save_pretrained(str(out))
    trainer.processing_class.save_pretrained(str(out))  # beside the adapter, for servers that want it
    history = [{"step": h["step"], "loss": h["loss"]} for h in trainer.state.log_history if "loss" in h]
    result = {
        "base": str(base),
        "data": data,
        "data_sha256": data_sha256,
        "samples": len(samples),
        "records_tokenized": len(records),
        "tool_mode": tool_mode,
        "settings": {**settings, "max_steps": trainer.args.max_steps, "limit": limit},
        "versions": {name: installed_version(name) for name in _PACKAGES},
        "steps": trainer.state.global_step,
        "loss_history": history,
        "device": _device_name(trainer.args.device),
        "dtype": "bfloat16" if trainer.args.bf16 else "float32",
        "setup_seconds": round(setup_seconds, 3),  # loading, rendering, tokenizing: before the first step
        "seconds": round(time.perf_counter() - started, 3),  # this call's wall time (resumes: the rest)
    }
    atomic_write_text(out / "training.json", json.dumps(result, indent=2) + "\n")
    return result


def data_hash(samples: Sequence[Any], tool_mode: str) -> str:
    """sha256 of the training samples as pertool holds them, and the tool mode: what a resume must
    match. Hashing the samples rather than their rendered prompts spares rendering thousands of
    prompts that a short run never trains on."""
    digest = hashlib.sha256(f"tool_mode={tool_mode}\n".encode())
    for sample in samples:
        digest.update(sample.model_dump_json().encode() + b"\n")
    return digest.hexdigest()


def training_order(count: int, settings: dict[str, Any], max_steps: int | None = None) -> list[int]:
    """Indices (of `count` records) in the order the run trains on them: a shuffle per epoch drawn
    with the recipe's seed, `num_train_epochs` of them (a fraction: part of the last), cut after
    `max_steps` steps of batch size x gradient accumulation records. A longer run's order begins
    with a shorter one's, so a resume with a higher --max-steps continues where the run stopped."""
    total = math.ceil(settings["num_train_epochs"] * count)
    if max_steps is not None:
        total = min(total, max_steps * settings["per_device_train_batch_size"]
                    * settings["gradient_accumulation_steps"])  # fmt: skip
    rng = random.Random(settings["seed"])
    order: list[int] = []
    while len(order) < total:
        epoch = list(range(count))
        rng.shuffle(epoch)
        order += epoch
    return order[:total]


def build_trainer(base: str | Path, records: list[dict[str, Any]], settings: dict[str, Any],
                  output_dir: str | Path, *, order: Sequence[int] | None = None) -> Any:  # fmt: skip
    """An SFTTrainer with a fresh LoRA adapter on `base` that makes one pass over `order` (indices of
    prompt-completion `records`; default: each record once, as given), in that order. Every record
    is tokenized, so pass only those that `order` uses; epochs and shuffling are `order`'s
    (`training_order`), and the run's steps are the batches it makes."""
    try:
        import torch
        from datasets import Dataset, Features, Json, List
        from peft import LoraConfig
        from torch.utils.data import SequentialSampler
        from transformers import AutoModelForCausalLM, AutoTokenizer, PrinterCallback
        from trl import SFTConfig, SFTTrainer
    except ImportError as exc:
        raise MissingDependency("LoRA training", "train") from exc

    class InOrder(SFTTrainer):  # type: ignore[misc]
        """Walks through the dataset as given: training_order already drew (and seeded) the order."""

        def _get_train_sampler(self, train_dataset: Any = None) -> Any:
            dataset: Any = train_dataset if train_dataset is not None else self.train_dataset
            return SequentialSampler(dataset)

    order = list(range(len(records))) if order is None else list(order)
    if not order or not all(0 <= i < len(records) for i in order):
        raise ValueError(f"order must hold indices of the {len(records)} records, at least one")
    bf16 = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    tokenizer = AutoTokenizer.from_pretrained(base)
    if tokenizer.pad_token is None:  # batches need a pad id; padded positions carry no loss
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.bfloat16 if bf16 else torch.float32)
    # Json() keeps every message and tool schema as written: Arrow's struct inference would add
    # null-valued keys (arguments of other calls, other tools' parameters) that templates render.
    columns = {"prompt": List(Json()), "completion": List(Json())}
    if any("tools" in r for r in records):
        columns["tools"] = List(Json())
    dataset = Dataset.from_list(records, features=Features(columns))
    config = SFTConfig(
        output_dir=str(output_dir),
        learning_rate=settings["learning_rate"], lr_scheduler_type=settings["lr_scheduler_type"],
        warmup_steps=settings["warmup_ratio"],  # transformers 5: a float below 1 is a ratio of the steps
        num_train_epochs=1,  # one pass over `order`, which holds the epochs
        per_device_train_batch_size=settings["per_device_train_batch_size"],
        gradient_accumulation_steps=settings["gradient_accumulation_steps"],
        weight_decay=settings["weight_decay"], max_grad_norm=settings["max_grad_norm"],
        **{_checkpointing_arg(SFTConfig): settings["gradient_checkpointing"]},
        logging_steps=settings["logging_steps"], save_strategy="steps", save_steps=settings["save_steps"],
        save_total_limit=settings["save_total_limit"], seed=settings["seed"], data_seed=settings["seed"],
        bf16=bf16, fp16=False,  # SFTConfig defaults bf16 to True, which CPUs and older GPUs lack
        max_length=None,  # TRL would cut the end (the answer) off; lengths are checked below instead
        dataloader_pin_memory=torch.cuda.is_available(),  # pinning needs a GPU (torch warns on CPU)
        include_num_input_tokens_seen="non_padding",  # the progress line's tokens/s
        disable_tqdm=True,  # the progress line (pertool.training.progress) replaces the bar
        report_to="none",
    )  # fmt: skip
    lora = LoraConfig(r=settings["lora_r"], lora_alpha=settings["lora_alpha"],
                      lora_dropout=settings["lora_dropout"], target_modules=settings["target_modules"],
                      task_type="CAUSAL_LM")  # fmt: skip
    with warnings.catch_warnings():
        # peft 0.21 reads `is_gradient_checkpointing`, deprecated in transformers 5.x.
        warnings.filterwarnings("ignore", "`is_gradient_checkpointing` is deprecated", FutureWarning)
        trainer = InOrder(model=model, args=config, train_dataset=dataset, processing_class=tokenizer,
                          peft_config=lora)  # fmt: skip
    trainer.remove_callback(PrinterCallback)  # it prints every log dict to stdout
    _check_lengths(trainer.train_dataset, settings["max_length"])
    tokenized: Any = trainer.train_dataset
    trainer.train_dataset = tokenized.select(order)  # the order is the dataset
    batches = math.ceil(len(order) / settings["per_device_train_batch_size"])
    trainer.args.max_steps = math.ceil(batches / settings["gradient_accumulation_steps"])
    return trainer


def _loss_log(log_file: Path, progress: TrainingProgress) -> Any:
    from transformers import TrainerCallback

    class LossLog(TrainerCallback):  # type: ignore[misc]
        """Appends each logged loss to loss_log.jsonl as training goes (tail -f friendly), with the
        progress line's figures: the run's log tells its speed and time left too."""

        def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None,
                   **kwargs: Any) -> None:  # fmt: skip
            if logs and "loss" in logs:
                with log_file.open("a", encoding="utf-8") as f:
                    f.write(json.dumps({"step": state.global_step, **logs, **progress.figures()}) + "\n")

    return LossLog()


# The recipe settings that decide the training order (training_order): a resume must walk the
# same one, or it would train on records the checkpointed steps never drew and skip others.
ORDER_SETTINGS = ("per_device_train_batch_size", "gradient_accumulation_steps", "num_train_epochs", "seed")


def _checkpoint_to_resume(checkpoints: Path, resume: bool, base: Path, data_sha256: str,
                          walk: dict[str, Any]) -> Path | None:  # fmt: skip
    """The checkpoint to continue from (resume), or None for a fresh start in an unused directory."""
    found = sorted((p for p in checkpoints.glob("checkpoint-*") if re.fullmatch(r"checkpoint-\d+", p.name)),
                   key=lambda p: int(p.name.rpartition("-")[2]))  # fmt: skip
    if not resume:
        if found:
            raise PertoolError(f"{checkpoints} already holds checkpoints of an earlier run: pass --resume to "
                               "continue it, or choose another --out")  # fmt: skip
        return None
    if not found:
        raise PertoolError(f"--resume: no checkpoint in {checkpoints} to continue from")
    run_file = checkpoints / "run.json"
    run = read_json(run_file) if run_file.exists() else {}
    if not isinstance(run, dict):
        raise DataError(str(run_file), "expected a JSON object")
    for key in ("data_sha256", "base"):
        if not isinstance(run.get(key), (str, type(None))):
            raise DataError(str(run_file), "expected a string", field=key)
    if run.get("data_sha256") not in (None, data_sha256):
        raise PertoolError("--resume: the training data differ from the checkpointed run's "
                           f"(data hash {run['data_sha256'][:12]}...); use the same --data, --limit, "
                           "--tool-mode and config seed")  # fmt: skip
    if run.get("order") not in (None, walk):
        raise PertoolError(f"--resume: the recipe's {', '.join(ORDER_SETTINGS)} differ from the checkpointed "
                           f"run's ({run['order']}, now {walk}); use the same --config")  # fmt: skip
    if run.get("base") not in (None, str(base.resolve())):
        raise PertoolError(f"--resume: the checkpoints were trained from --base {run['base']}, not {base}")
    return found[-1]


def _check_lengths(dataset: Any, max_length: int | None) -> None:
    if max_length is None:
        return
    lengths = [len(ids) for ids in dataset["input_ids"]]
    over = sum(n > max_length for n in lengths)
    if over:
        raise PertoolError(f"{over} of {len(lengths)} records are longer than max_length={max_length} tokens "
                           f"(longest {max(lengths)}): cutting them would drop the answers; raise "
                           "max_length, or set it to null")  # fmt: skip


def _truncate_log(log_file: Path, step: int) -> None:
    """Keep the log lines up to the checkpoint resumed from (a line torn by a crash is dropped)."""
    kept = []
    for number, line in iter_jsonl(log_file):  # the lines themselves are kept, byte for byte
        where = f"{log_file}, line {number}"
        record = json_value(line, where)
        if not isinstance(record, dict) or not isinstance(record.get("step"), int):
            raise DataError(where, "expected an integer", field="step")
        if record["step"] <= step:
            kept.append(line)
    if log_file.exists():
        atomic_write_text(log_file, "".join(line + "\n" for line in kept))


def _checkpointing_arg(config_class: Any) -> str:
    """transformers 5.23 renamed `gradient_checkpointing` (now a deprecated alias that warns)."""
    fields = config_class.__dataclass_fields__
    return "activation_checkpointing" if "activation_checkpointing" in fields else "gradient_checkpointing"


def _device_name(device: Any) -> str:
    import torch

    return f"{device} ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else str(device)
