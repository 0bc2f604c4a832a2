"""Tiny offline models: a random Qwen2 causal LM, its tokenizer, and a LoRA adapter for it.

Tests and smoke runs need a real Transformers model without touching the network, so everything
here is built locally and deterministically from a seed:

    build_tiny_model(out_dir)              Qwen2ForCausalLM + byte-level BPE tokenizer (ChatML)
    build_tiny_tokenizer(out_dir)          that tokenizer alone (no torch)
    build_tiny_adapter(model_dir, out_dir) a peft LoRA adapter whose weights change the outputs

The outputs are noise (the weights are random) but every code path a real model takes is taken:
chat template, padding, generation, adapter loading. Needs the `hf` extra.
"""

from __future__ import annotations

import json
import random
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerFast

__all__ = ["CHAT_TEMPLATE", "build_tiny_adapter", "build_tiny_model"]

PAD, EOS, IM_START, IM_END = "<|endoftext|>", "<|im_end|>", "<|im_start|>", "<|im_end|>"
SPECIAL_TOKENS = [PAD, IM_START, IM_END]

# Qwen/ChatML layout, tools listed in the system turn as Qwen2.5 does, so `tools=` is exercised.
CHAT_TEMPLATE = (
    "{%- if tools -%}"
    "{{- '<|im_start|>system\\n' }}"
    "{%- if messages and messages[0]['role'] == 'system' -%}"
    "{{- messages[0]['content'] + '\\n\\n' }}"
    "{%- endif -%}"
    "{{- '# Tools\\n<tools>' }}"
    "{%- for tool in tools -%}{{- '\\n' + (tool | tojson) }}{%- endfor -%}"
    "{{- '\\n</tools><|im_end|>\\n' }}"
    "{%- endif -%}"
    "{%- for message in messages -%}"
    "{%- if not (tools and loop.first and message['role'] == 'system') -%}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + (message['content'] or '') + '<|im_end|>\\n' }}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' }}{%- endif -%}"
)

_WORDS = ["order", "book", "search", "ticket", "hotel", "flight", "meal", "address", "phone", "user",
          "date", "quantity", "product", "restaurant", "seat", "class", "email", "name", "city", "time",
          "profile", "platform", "query", "Springfield", "Riverton", "Capital", "paper", "table"]  # fmt: skip


def _corpus(seed: int, n: int = 400) -> list[str]:
    """PTBench-like text (calls, JSON, dialogue) so answers tokenise into few merged tokens."""
    rng = random.Random(seed)
    lines = []
    for i in range(n):
        a, b, c = rng.sample(_WORDS, 3)
        num, call = rng.randint(0, 2025), f"{b}{c.capitalize()}"
        lines += [
            f"{a.capitalize()}Mart:[{call}({a}='{c} {b}', quantity={num}, date='2025-03-{i % 28 + 1:02d}')]",
            json.dumps({"name": call, "arguments": {a: f"{c} {num}", "phone": f"555-{num:04d}"}}),
            f"The user wants to {b} a {c} in {a}. You are given a user profile: {{'name': '{a}_{i}'}}.",
        ]
    return lines


def _tokenizer(seed: int, vocab_size: int) -> PreTrainedTokenizerFast:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    raw = Tokenizer(models.BPE())
    raw.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    raw.decoder = decoders.ByteLevel()
    # Byte alphabet first so any text (unicode included) encodes; merges fill the rest.
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())  # fmt: skip
    raw.train_from_iterator(_corpus(seed), trainer=trainer)
    tok = PreTrainedTokenizerFast(
        tokenizer_object=raw,
        pad_token=PAD,
        eos_token=EOS,
        padding_side="left",
        additional_special_tokens=[IM_START],
        clean_up_tokenization_spaces=False,
    )
    tok.chat_template = CHAT_TEMPLATE
    return tok


def build_tiny_tokenizer(out_dir: str | Path, *, seed: int = 0, vocab_size: int = 1024) -> Path:
    """Write build_tiny_model's tokenizer alone (no torch, no weights) to `out_dir`."""
    out = Path(out_dir)
    _tokenizer(seed, vocab_size).save_pretrained(str(out))
    return out


def build_tiny_model(out_dir: str | Path, *, seed: int = 0, vocab_size: int = 1024, hidden_size: int = 64,
                     layers: int = 2) -> Path:  # fmt: skip
    """Write a random Qwen2ForCausalLM and its tokenizer to `out_dir`; loads with Auto* offline."""
    import torch
    from transformers import GenerationConfig, Qwen2Config, Qwen2ForCausalLM

    out = Path(out_dir)
    tok = _tokenizer(seed, vocab_size)
    eos, pad = tok.get_vocab()[EOS], tok.get_vocab()[PAD]
    config = Qwen2Config(
        vocab_size=len(tok), hidden_size=hidden_size, intermediate_size=2 * hidden_size,
        num_hidden_layers=layers, num_attention_heads=4, num_key_value_heads=2,
        # The hf backend refuses prompts beyond this window (context_overflow); its tiny
        # tokenizer spells a built-in prompt in up to about 13,000 tokens, ToolSpectrum's in more.
        max_position_embeddings=65536, bos_token_id=None, eos_token_id=eos, pad_token_id=pad,
        # Tied random embeddings make the model echo its last input token ("\n\n\n..."); untied
        # ones give prompt-dependent outputs, which batching and adapter tests need.
        tie_word_embeddings=False,
    )  # fmt: skip
    with torch.random.fork_rng(devices=[]):  # seeded without disturbing the caller's RNG
        torch.manual_seed(seed)
        model = Qwen2ForCausalLM(config).eval()
    # Only end and pad tokens: no sampling defaults, so decoding is exactly what callers ask for.
    model.generation_config = GenerationConfig(eos_token_id=eos, pad_token_id=pad)
    model.save_pretrained(str(out))
    tok.save_pretrained(str(out))
    return out


def build_tiny_adapter(model_dir: str | Path, out_dir: str | Path, *, seed: int = 0) -> Path:
    """Write a LoRA adapter (r=8, all linear layers) for the model in `model_dir` to `out_dir`.

    peft initialises LoRA B to zero (the adapter starts as a no-op); B is randomised here so
    loading the adapter visibly changes what the model generates. The weights are the same for
    the same seed; adapter_config.json lists the target modules in peft's (set) order.
    """
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    out = Path(out_dir)
    base = AutoModelForCausalLM.from_pretrained(model_dir)
    config = LoraConfig(r=8, lora_alpha=16, target_modules="all-linear", task_type="CAUSAL_LM")
    with torch.random.fork_rng(devices=[]), warnings.catch_warnings():
        torch.manual_seed(seed)  # LoRA A is drawn from the global RNG
        # peft 0.21 reads `is_gradient_checkpointing`, deprecated in transformers 5.x.
        warnings.filterwarnings("ignore", "`is_gradient_checkpointing` is deprecated", FutureWarning)
        model = get_peft_model(base, config)
        with torch.no_grad():
            for name, param in model.named_parameters():
                if "lora_B" in name:
                    param.normal_(std=0.5)
    model.save_pretrained(str(out))
    return out
