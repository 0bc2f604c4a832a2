"""GGUF model files that lie (`llamacpp/FILE`): the header pertool reads for the context window,
cut short at every byte, with every byte of its start overwritten, with random bytes after the
magic, and paths that are not files (a FIFO, a directory, /dev/zero). Each must give the window
or one line naming the file (exit 2 on the CLI), within a second, before any server starts:
never a traceback, never a hang, never a read of the whole file.

The header is the bundled SmolLM2 file's first bytes (its window comes after about 700 bytes of
metadata) when the package is installed, else one written here in the same layout.
"""

from __future__ import annotations

import os
import random
import struct
import time
from pathlib import Path

from hostile import Case, assert_one_line_error, case, pertool
from pertool.errors import PertoolError
from pertool.models.gguf_header import context_length

CASES: list[Case] = []
PREFIX = 2048  # bytes of the real header used: past the context length, before the vocabulary


def _text(value: str) -> bytes:
    return struct.pack("<Q", len(value)) + value.encode()


def _header() -> bytes:
    try:
        from pertool.models.bundled import BUNDLED, gguf_path

        with open(gguf_path(BUNDLED["smollm2-135m"]), "rb") as handle:
            return handle.read(PREFIX)
    except PertoolError:  # the package is not installed: the same layout, written here
        entries = [(_text("general.architecture"), 8, _text("llama")), (_text("general.name"), 8, _text("x" * 40)),
                   (_text("llama.block_count"), 4, struct.pack("<I", 30)),
                   (_text("llama.context_length"), 4, struct.pack("<I", 8192))]  # fmt: skip
        body = b"".join(key + struct.pack("<I", kind) + value for key, kind, value in entries)
        return b"GGUF" + struct.pack("<IQQ", 3, 272, len(entries)) + body


def _check(path: Path, data: bytes) -> str:
    """Write `data`, read its window: an int or a one-line GGUFError, within a second."""
    path.write_bytes(data)
    started = time.perf_counter()
    try:
        window = context_length(path)
        outcome = f"window {window}"
    except PertoolError as exc:
        message = str(exc)
        assert "\n" not in message and str(path) in message, f"not one line naming the file: {message!r}"
        outcome = "error"
    except Exception as exc:  # anything else is the failure this class looks for
        raise AssertionError(f"{type(exc).__name__}: {exc} for {data[:64]!r}...") from exc
    elapsed = time.perf_counter() - started
    assert elapsed < 1, f"{elapsed:.1f} s to read {len(data)} bytes"
    return outcome


@case(CASES)
def truncated_at_every_byte(work: Path) -> None:
    header = _header()
    window_at = header.find(b"context_length") + len("context_length") + 4 + 4  # key, type, u32
    for cut in range(len(header)):
        outcome = _check(work / "cut.gguf", header[:cut])
        assert (outcome == "error") == (cut < window_at), f"cut at {cut}: {outcome}"


@case(CASES)
def every_byte_of_the_start_overwritten(work: Path) -> None:
    header = _header()
    end = header.find(b"context_length") + len("context_length") + 8
    for position in range(end):
        for value in (0x00, 0xFF, 0x7F):
            if header[position] != value:
                mutated = header[:position] + bytes([value]) + header[position + 1 :]
                _check(work / "byte.gguf", mutated)


@case(CASES)
def random_bytes_after_the_magic(work: Path) -> None:
    rng = random.Random(12)
    for size in (4, 8, 16, 24, 64, 512, 4096, 65536):
        for _ in range(25):
            _check(work / "random.gguf", b"GGUF" + bytes(rng.getrandbits(8) for _ in range(size)))


@case(CASES)
def huge_counts_and_lengths(work: Path) -> None:
    for counts in ((0, 2**64 - 1), (2**64 - 1, 1), (1, 2**40)):
        assert _check(work / "counts.gguf", b"GGUF" + struct.pack("<IQQ", 3, *counts)) == "error"
    string = b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + struct.pack("<Q", 2**63) + b"key"
    assert _check(work / "string.gguf", string) == "error"


@case(CASES)
def paths_that_are_not_model_files_on_the_cli(work: Path) -> None:
    fifo = work / "model.gguf"
    os.mkfifo(fifo)  # opening it would wait for a writer forever
    text = work / "weights.gguf"
    text.write_text("GGU")  # shorter than the magic
    corrupt = work / "corrupt.gguf"
    corrupt.write_bytes(_header()[:200])
    for model, mentions in ((fifo, "is not a regular file"), (work, "is a directory"), ("/dev/zero", "is not a regular file"),
                            (text, "is not a GGUF file"), (corrupt, "not a readable GGUF header")):  # fmt: skip
        started = time.monotonic()
        proc = pertool("eval", "--benchmark", "example", "--model", f"llamacpp/{model}", "--out", work / "run",
                       "--no-progress", timeout=60)  # fmt: skip
        assert_one_line_error(proc, mentions=mentions)
        assert time.monotonic() - started < 30
        assert not (work / "run").exists()
