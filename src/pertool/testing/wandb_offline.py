"""Reading a W&B offline run back without the network: wandb 0.31 ships no Python reader for its
`.wandb` transaction log, and an offline run writes neither wandb-summary.json nor config.yaml
(`wandb sync` builds them), so this reads the log itself.

The log (wandb's "datastore", LevelDB's log format): a 7-byte header `:W&B`, magic 0xBEE1,
version; then 32 KiB blocks of chunks, each `<crc32c:u32><length:u16><type:u8>` and its bytes
(type 1: a whole record, 2/3/4: first, middle, last piece); fewer than 7 bytes left in a block are
padding. Each record is a `wandb.proto.wandb_internal_pb2.Record`."""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["OfflineRun", "offline_runs", "read_offline_run"]

_HEADER = struct.Struct("<4sHB")
_CHUNK = struct.Struct("<IHB")
_BLOCK = 32768
_FULL, _FIRST, _MIDDLE, _LAST = 1, 2, 3, 4


@dataclass
class OfflineRun:
    name: str
    group: str
    config: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)  # one dict per `run.log` call
    artifacts: dict[str, list[str]] = field(default_factory=dict)  # artifact name -> its file paths
    exit_code: int | None = None


def offline_runs(wandb_dir: Path) -> list[Path]:
    """The `.wandb` files of every offline run under WANDB_DIR, oldest first."""
    return sorted(Path(wandb_dir).glob("wandb/offline-run-*/run-*.wandb"))


def read_offline_run(path: Path) -> OfflineRun:
    run = OfflineRun(name="", group="")
    for record in _records(path):
        kind = record.WhichOneof("record_type")
        if kind == "run":
            run.name, run.group = record.run.display_name, record.run.run_group
            run.config.update(_items(record.run.config.update))
        elif kind == "config":
            run.config.update(_items(record.config.update))
        elif kind == "summary":
            run.summary.update(_items(record.summary.update))
        elif kind == "history":
            run.history.append(_items(record.history.item))
        elif kind == "artifact":
            run.artifacts[record.artifact.name] = [e.path for e in record.artifact.manifest.contents]
        elif kind == "exit":
            run.exit_code = record.exit.exit_code
    return run


def _items(updates: Any) -> dict[str, Any]:
    out = {}
    for item in updates:
        key = item.key or "/".join(item.nested_key)
        out[key] = json.loads(item.value_json)
    return out


def _records(path: Path) -> Iterator[Any]:
    from wandb.proto import wandb_internal_pb2

    data = Path(path).read_bytes()
    ident, magic, _ = _HEADER.unpack_from(data)
    if ident != b":W&B" or magic != 0xBEE1:
        raise ValueError(f"{path}: not a W&B transaction log")
    pos, pieces = _HEADER.size, b""
    while pos + _CHUNK.size <= len(data):
        left = _BLOCK - pos % _BLOCK
        _, length, kind = _CHUNK.unpack_from(data, pos) if left >= _CHUNK.size else (0, 0, 0)
        if left < _CHUNK.size or (kind == 0 and length == 0):  # the block's padding
            pos += left
            continue
        pieces += data[pos + _CHUNK.size : pos + _CHUNK.size + length]
        pos += _CHUNK.size + length
        if kind in (_FULL, _LAST):
            record = wandb_internal_pb2.Record()  # type: ignore[attr-defined]
            record.ParseFromString(pieces)
            pieces = b""
            yield record
