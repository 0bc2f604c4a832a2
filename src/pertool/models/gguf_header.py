"""The few facts pertool needs from a GGUF file's header, read without llama.cpp or `gguf`.

A GGUF file starts with b"GGUF", a version (1-3), the tensor count and the count of metadata
entries; each entry is a key, a type and a value (numbers, strings, arrays). The context window
is `<general.architecture>.context_length`. Reading is bounded: every length is checked against
what is left of the file, arrays nest at most a few levels, at most `MAX_HEADER_BYTES` are read,
and reading stops as soon as the wanted keys are known (they come before the tokenizer's
vocabulary in files written by llama.cpp's converters).
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import IO, Any

from pertool.errors import GGUFError

__all__ = ["MAGIC", "GGUFError", "context_length", "is_gguf", "read_metadata"]

MAGIC = b"GGUF"
MAX_HEADER_BYTES = 256 * 2**20  # a real header (vocabulary included) is a few MB
MAX_DEPTH = 4  # arrays of arrays of ...
# value type -> struct format of a scalar (8: string, 9: array are read apart)
_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q",
            12: "<d"}  # fmt: skip
_STRING, _ARRAY = 8, 9


def is_gguf(path: Path) -> bool:
    try:
        with open(path, "rb") as handle:
            return handle.read(4) == MAGIC
    except OSError:
        return False


def read_metadata(path: Path, wanted: set[str] | None = None) -> dict[str, Any]:
    """The header's scalar and string entries (arrays are skipped); with `wanted`, reading stops
    once all of those keys (and `general.architecture`) were seen."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as handle:
            return _Reader(handle, size, str(path)).metadata(wanted)
    except OSError as exc:
        raise GGUFError(f"{path}: cannot read: {exc.strerror or exc}") from None


def context_length(path: Path) -> int:
    """The model's context window, from `<arch>.context_length`."""
    metadata = read_metadata(path, {".context_length"})
    arch = metadata.get("general.architecture")
    if not isinstance(arch, str):
        raise GGUFError(f"{path}: the GGUF metadata names no general.architecture")
    value = metadata.get(f"{arch}.context_length")
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise GGUFError(f"{path}: the GGUF metadata has no valid {arch}.context_length")
    return value


class _Reader:
    def __init__(self, handle: IO[bytes], size: int, name: str):
        self.handle = handle
        self.size = size
        self.name = name
        self.version = 3

    def metadata(self, wanted: set[str] | None) -> dict[str, Any]:
        if self.handle.read(4) != MAGIC:
            raise GGUFError(f"{self.name} is not a GGUF file (it does not start with 'GGUF')")
        self.version = self._scalar("<I")
        if self.version not in (1, 2, 3):
            raise GGUFError(f"{self.name}: unsupported GGUF version {self.version}")
        self._count()  # tensors
        entries = self._count()
        found: dict[str, Any] = {}
        for _ in range(entries):
            key = self._string()
            kind = self._scalar("<I")
            value = self._value(kind, depth=0)
            if value is not None:
                found[key] = value
            if wanted is not None and self._complete(found, wanted):
                break
        return found

    @staticmethod
    def _complete(found: dict[str, Any], wanted: set[str]) -> bool:
        arch = found.get("general.architecture")
        if not isinstance(arch, str):
            return False
        # A wanted key starting with "." is relative to the architecture (".context_length").
        return all((arch + key if key.startswith(".") else key) in found for key in wanted)

    def _value(self, kind: int, depth: int) -> Any:
        if kind in _SCALARS:
            return self._scalar(_SCALARS[kind])
        if kind == _STRING:
            return self._string()
        if kind == _ARRAY:
            if depth >= MAX_DEPTH:
                raise self._corrupt("arrays nested too deeply")
            item = self._scalar("<I")
            count = self._count()
            if item in _SCALARS:  # fixed size: skip at once
                self._skip(count * struct.calcsize(_SCALARS[item]))
            else:
                for _ in range(count):
                    self._value(item, depth + 1)
            return None
        raise self._corrupt(f"unknown value type {kind}")

    def _count(self) -> int:
        count = self._scalar("<I" if self.version == 1 else "<Q")
        if count > self.size:  # every item takes at least a byte
            raise self._corrupt(f"count {count} exceeds the file's size")
        return int(count)

    def _string(self) -> str:
        length = self._count()
        return self._read(length).decode("utf-8", "replace")

    def _scalar(self, fmt: str) -> Any:
        return struct.unpack(fmt, self._read(struct.calcsize(fmt)))[0]

    def _read(self, n: int) -> bytes:
        self._bound(n)
        data = self.handle.read(n)
        if len(data) != n:
            raise self._corrupt("the header ends early")
        return data

    def _skip(self, n: int) -> None:
        self._bound(n)
        self.handle.seek(n, 1)

    def _bound(self, n: int) -> None:
        end = self.handle.tell() + n
        if end > self.size:
            raise self._corrupt("the header ends early")
        if end > MAX_HEADER_BYTES:
            raise self._corrupt(f"the metadata is larger than {MAX_HEADER_BYTES // 2**20} MB")

    def _corrupt(self, why: str) -> GGUFError:
        return GGUFError(f"{self.name}: not a readable GGUF header at byte {self.handle.tell()}: {why}")
