"""The GGUF header reader (models/gguf_header.py): the bundled model's window, and headers that lie."""

from __future__ import annotations

import struct
import time
from pathlib import Path

import pytest

from pertool.errors import GGUFError
from pertool.models.bundled import BUNDLED
from pertool.models.gguf_header import context_length, is_gguf, read_metadata

U32, U64, STRING, ARRAY = 4, 10, 8, 9


def text(value: str) -> bytes:
    raw = value.encode()
    return struct.pack("<Q", len(raw)) + raw


def entry(key: str, kind: int, payload: bytes) -> bytes:
    return text(key) + struct.pack("<I", kind) + payload


def header(*entries: bytes, version: int = 3, count: int | None = None) -> bytes:
    n = len(entries) if count is None else count
    return b"GGUF" + struct.pack("<IQQ", version, 0, n) + b"".join(entries)


ARCH = entry("general.architecture", STRING, text("llama"))
VOCAB = entry("tokenizer.ggml.tokens", ARRAY, struct.pack("<IQ", STRING, 3) + text("a") + text("bc") + text("d"))
SCORES = entry("tokenizer.ggml.scores", ARRAY, struct.pack("<IQ", 6, 3) + struct.pack("<3f", 0.1, 0.2, 0.3))
WINDOW = entry("llama.context_length", U32, struct.pack("<I", 4096))


def write(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "model.gguf"
    path.write_bytes(data)
    return path


def test_the_bundled_models_window_is_read_from_its_file(smollm2_gguf: Path) -> None:
    started = time.perf_counter()
    assert context_length(smollm2_gguf) == BUNDLED["smollm2-135m"].context_window == 8192
    assert time.perf_counter() - started < 1  # stops before the 49,152-token vocabulary
    assert is_gguf(smollm2_gguf)
    assert read_metadata(smollm2_gguf, {"general.name"})["general.architecture"] == "llama"


def test_arrays_are_skipped_and_the_window_found_after_them(tmp_path: Path) -> None:
    path = write(tmp_path, header(ARCH, VOCAB, SCORES, WINDOW, entry("general.name", STRING, text("tiny"))))
    assert context_length(path) == 4096
    metadata = read_metadata(path)
    assert metadata == {"general.architecture": "llama", "llama.context_length": 4096, "general.name": "tiny"}


def test_version_1_counts_are_32_bit(tmp_path: Path) -> None:
    def text1(value: str) -> bytes:
        return struct.pack("<I", len(value)) + value.encode()

    data = (b"GGUF" + struct.pack("<III", 1, 0, 2) + text1("general.architecture") + struct.pack("<I", STRING)
            + text1("gpt2") + text1("gpt2.context_length") + struct.pack("<I", U32) + struct.pack("<I", 1024))
    assert context_length(write(tmp_path, data)) == 1024


@pytest.mark.parametrize(("data", "message"), [
    (b"PK\x03\x04 a zip file", "is not a GGUF file"),
    (b"", "is not a GGUF file"),
    (header(ARCH, version=7), "unsupported GGUF version 7"),
    (header(ARCH, WINDOW)[:-3], "the header ends early"),
    (header(ARCH, count=2**62), "exceeds the file's size"),
    (header(entry("general.architecture", STRING, struct.pack("<Q", 2**40) + b"llama")), "exceeds the file's size"),
    (header(ARCH, entry("x", ARRAY, struct.pack("<IQ", U64, 20))), "the header ends early"),
    (header(ARCH, entry("x", 99, b"")), "unknown value type 99"),
    (header(ARCH, entry("x", ARRAY, struct.pack("<IQ", ARRAY, 1) * 6 + struct.pack("<IQ", U32, 0))), "nested too deeply"),
    (header(ARCH), "has no valid llama.context_length"),
    (header(WINDOW), "names no general.architecture"),
    (header(ARCH, entry("llama.context_length", STRING, text("8192"))), "has no valid llama.context_length"),
    (header(ARCH, entry("llama.context_length", U64, struct.pack("<Q", 0))), "has no valid llama.context_length"),
], ids=["zip", "empty", "version", "truncated", "huge-count", "huge-string", "short-array", "bad-type", "deep-arrays",
        "no-window", "no-arch", "window-is-text", "window-zero"])  # fmt: skip
def test_a_bad_header_is_a_one_line_error_naming_the_file(tmp_path: Path, data: bytes, message: str) -> None:
    path = write(tmp_path, data)
    started = time.perf_counter()
    with pytest.raises(GGUFError) as error:
        context_length(path)
    assert time.perf_counter() - started < 1
    assert message in str(error.value)
    assert str(path) in str(error.value) and "\n" not in str(error.value)


def test_a_directory_or_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(GGUFError, match="cannot read"):
        context_length(tmp_path)
    with pytest.raises(GGUFError, match="cannot read"):
        context_length(tmp_path / "missing.gguf")
    assert not is_gguf(tmp_path / "missing.gguf")
