"""The fingerprint of the benchmark content a run was scored against (metrics.json's
`benchmark_fingerprint`): a report or compare recomputes it over the samples the run's config
selects and refuses the run when they differ (the benchmark changed since).

Recipe: sha256 over the UTF-8 bytes of `{"compat": MODE}` (MODE: the --compat mode or null),
then for each sample in run order a newline and the sample's JSON (pydantic's `model_dump_json`
of `pertool.schema.Sample`: every field, in the schema's field order, so the id, the gold answer
and everything a prompt reads), without the `extra` keys its kind names as locations
(`BenchmarkKind.location_keys`: where this machine keeps the data, e.g. ToolSpectrum's root
directory), so the same benchmark read from another directory has the same fingerprint.
Written "sha256:<hex>". Serialisation runs in pydantic's compiled
core: about 10 microseconds per sample.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

from pertool.kinds import kind_of
from pertool.schema import Sample

__all__ = ["FINGERPRINT_KEY", "SCORED_FILES_KEY", "benchmark_fingerprint"]

FINGERPRINT_KEY = "benchmark_fingerprint"
# metrics.json: {"scores.jsonl": "sha256:...", "predictions.jsonl": "sha256:..."} as scored.
SCORED_FILES_KEY = "scored_files"


def benchmark_fingerprint(samples: Sequence[Sample], compat: str | None) -> str:
    digest = hashlib.sha256(json.dumps({"compat": compat}).encode())
    for sample in samples:
        keys = [k for k in kind_of(sample).location_keys if k in sample.extra]
        digest.update(b"\n")
        digest.update(sample.model_dump_json(exclude={"extra": set(keys)} if keys else None).encode())
    return "sha256:" + digest.hexdigest()
