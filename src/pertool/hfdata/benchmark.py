"""`pertool data export --format hf` and the `hf:PATH` spec.

An export is a directory: the DatasetDict `save_to_disk` writes (one split per benchmark split,
features declared in rows.py), README.md (the dataset card), `pertool-dataset.json` (the kind,
the source spec, the license note, the counts: what `hf:PATH` needs to load it back through the
kind that owns it) and, for kinds whose prompts read files beside the data (their
`location_keys`, e.g. ToolSpectrum's templates and API files), a bounded copy of those
directories under `pertool_files/`, so the export is evaluable wherever it is moved.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pertool.errors import DataError, PertoolError, SpecError
from pertool.fileio import atomic_write_text, read_json
from pertool.hfdata.card import dataset_card
from pertool.hfdata.need import datasets_module
from pertool.hfdata.rows import benchmark_features, row_of, sample_of
from pertool.schema import Sample
from pertool.versions import __version__

__all__ = ["HF_SPEC", "INFO_FILE", "export_benchmark", "export_info", "load_hf_benchmark", "push_export"]

INFO_FILE = "pertool-dataset.json"
HF_SPEC = "hf"  # the spec prefix: hf:PATH
BENCHMARK_FORMAT = "pertool-benchmark"
FILES_DIR = "pertool_files"
MAX_LOCATION_BYTES = 64 * 1024 * 1024  # a kind's data directory copied into the export, at most
_SPLIT_NAME = r"^\w+(\.\w+)*$"  # what `datasets` accepts as a split name

_FIELDS = (
    ("position", "int64", "the sample's place in the source benchmark (splits may interleave)"),
    ("id", "string", "sample id, `<split>:<index>`"),
    ("benchmark", "string", "the source's benchmark name (it decides the benchmark kind)"),
    ("split", "string", "the benchmark split"),
    ("user_id", "string (nullable)", "the user's id, when the benchmark has one"),
    ("query", "string", "the user's request"),
    ("gold_platform", "string (nullable)", "the gold platform or app; null: the gold is a refusal"),
    ("platform_names", "list of string", "names of the offered platforms (derived, for browsing)"),
    ("tool_names", "list of string", "names of the offered tools (derived, for browsing)"),
    ("gold_call_names", "list of string", "names of the gold calls (derived, for browsing)"),
    ("profile", "string (JSON)", "the user profile: basic features and history"),
    ("environment", "string (JSON, nullable)", "the situation of the request, when the benchmark has one"),
    ("platforms", "string (JSON)", "the offered platforms with their profiles"),
    ("tools", "string (JSON)", "the offered tools, OpenAI `tools=` shaped"),
    ("gold_calls", "string (JSON)", "the gold calls: each argument's LIST of accepted values and its source"),
    ("extra", "string (JSON)", "source fields with no place above (kept for lossless export)"),
)  # fmt: skip
_NOTES = (
    "The nested fields are JSON text, not Arrow structs: their values are heterogeneous (accepted "
    "values mix strings, numbers and booleans; records carry fields others lack), and JSON keeps "
    "each value exactly (`1`, `1.0` and `true` stay apart). `json.loads` a field to read it.",
)


# A sample's kind's `location_keys` (passed in: this layer sits below the kinds).
LocationKeys = Callable[[Sample], Sequence[str]]


def export_benchmark(samples: Sequence[Sample], spec: str, out: Path, *, kind: str, license_note: str,
                     location_keys: LocationKeys, source: str | None = None) -> dict[str, int]:  # fmt: skip
    """Write `samples` (all of one kind) into the empty directory `out`; the counts per split."""
    import re

    datasets = datasets_module()
    if not samples:
        raise PertoolError(f"{spec} has no samples to export")
    bad = next((s for s in samples if not re.match(_SPLIT_NAME, s.split)), None)
    if bad is not None:
        raise PertoolError(f"sample {bad.id}: split {bad.split!r} is not a valid Hugging Face split name "
                           "(letters, digits, underscores and dots)")  # fmt: skip
    samples = _with_location_files(samples, out, location_keys)
    features = benchmark_features(datasets)
    by_split: dict[str, list[dict[str, Any]]] = {}
    for position, sample in enumerate(samples):
        by_split.setdefault(sample.split, []).append(row_of(sample, position))
    splits = {name: datasets.Dataset.from_dict({f: [r[f] for r in rows] for f in features}, features=features)
              for name, rows in by_split.items()}  # fmt: skip
    datasets.DatasetDict(splits).save_to_disk(str(out))
    counts = {name: len(rows) for name, rows in by_split.items()}
    source = source or spec
    info = {"format": BENCHMARK_FORMAT, "format_version": 1, "kind": kind, "source": source,
            "license": license_note, "pertool_version": __version__, "splits": counts,
            "samples": len(samples)}  # fmt: skip
    atomic_write_text(out / INFO_FILE, json.dumps(info, indent=2) + "\n")
    card = dataset_card(title=f"{source} (pertool benchmark export)", source=source, kind=kind,
                        license_note=license_note, splits=counts, fields=_FIELDS, notes=_NOTES)  # fmt: skip
    atomic_write_text(out / "README.md", card)
    return counts


def _with_location_files(samples: Sequence[Sample], out: Path, location_keys: LocationKeys) -> list[Sample]:
    """Copy each directory a sample's location keys name into the export (bounded, regular files
    only) and point the samples there; the run fingerprint ignores these keys."""
    copies: dict[tuple[str, str], str] = {}
    result = []
    for sample in samples:
        changed = {}
        for key in location_keys(sample):
            where = sample.extra.get(key)
            if not isinstance(where, str):
                continue
            if (key, where) not in copies:
                relative = f"{FILES_DIR}/{key}/{sum(1 for k, _ in copies if k == key)}"
                _copy_tree(Path(where), out / relative, key)
                copies[key, where] = relative
            changed[key] = copies[key, where]  # relative: resolved against the export when loaded
        result.append(sample.model_copy(update={"extra": {**sample.extra, **changed}}) if changed else sample)
    return result


def _copy_tree(source: Path, dest: Path, key: str) -> None:
    if not source.is_dir():
        raise PertoolError(f"{source} (the samples' {key}) is not a directory; cannot carry it into the "
                           "export")
    files = [p for p in sorted(source.rglob("*")) if p.is_file() and not p.is_symlink()]
    size = sum(p.stat().st_size for p in files)
    if size > MAX_LOCATION_BYTES:
        raise PertoolError(f"{source} (the samples' {key}) holds {size / 2**20:.0f} MB, more than the "
                           f"{MAX_LOCATION_BYTES // 2**20} MB an export carries; load the benchmark "
                           "from a directory holding only its own files")  # fmt: skip
    for file in files:
        target = dest / file.relative_to(source)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(file, target)


def export_info(path: str | Path) -> dict[str, Any]:
    """`pertool-dataset.json` of a benchmark export; anything else is one SpecError line."""
    if not str(path):
        raise SpecError("hf: needs a path: hf:DIR, a directory written by `pertool data export --format hf`")
    root = Path(path)
    info_file = root / INFO_FILE
    if not root.is_dir() or not info_file.is_file():
        raise SpecError(f"hf:{path} is not a benchmark saved by `pertool data export --format hf` "
                        f"(no {INFO_FILE} in it)")  # fmt: skip
    try:
        info = read_json(info_file)
    except DataError as exc:
        raise SpecError(f"hf:{path}: {exc}") from None
    if not (isinstance(info, dict) and info.get("format") == BENCHMARK_FORMAT
            and isinstance(info.get("kind"), str)):  # fmt: skip
        raise SpecError(f"hf:{path}: {info_file.name} does not describe a pertool benchmark export "
                        f"(expected format {BENCHMARK_FORMAT!r} and a kind)")  # fmt: skip
    return info


def load_hf_benchmark(path: str, location_keys: LocationKeys) -> list[Sample]:
    """The samples of an export, in the source's order (the caller checks they are of the kind
    the export records)."""
    root = Path(path)
    export_info(root)  # one line for a directory that is not an export, before datasets reads it
    datasets = datasets_module()
    try:
        saved = datasets.load_from_disk(str(root))
    except Exception as exc:  # datasets raises many types for a damaged directory
        raise SpecError(f"hf:{path}: cannot be read as a saved dataset ({type(exc).__name__}: "
                        f"{str(exc).splitlines()[0] if str(exc) else 'no detail'})") from None  # fmt: skip
    if not isinstance(saved, datasets.DatasetDict):
        raise SpecError(f"hf:{path}: holds one dataset, not the DatasetDict of splits an export writes")
    placed: list[tuple[int, Sample]] = []
    for split, table in saved.items():
        where = f"{root}/{split}"
        for index, row in enumerate(table):
            sample = sample_of(row, where, index)
            placed.append((row["position"], _located(sample, root, location_keys(sample))))
    placed.sort(key=lambda item: item[0])
    return [sample for _, sample in placed]


def _located(sample: Sample, root: Path, keys: Sequence[str]) -> Sample:
    """Location keys that point into the export's copied files, made absolute."""
    changed = {key: str(root.resolve() / sample.extra[key]) for key in keys
               if str(sample.extra.get(key, "")).startswith(FILES_DIR + "/")}  # fmt: skip
    return sample.model_copy(update={"extra": {**sample.extra, **changed}}) if changed else sample


def push_export(out: Path, repo: str) -> str:
    """Upload a saved export to the Hub as the dataset `repo` (`DatasetDict.push_to_hub`, then our
    card's text under the metadata push_to_hub wrote (its `configs` map the splits), and
    pertool-dataset.json and pertool_files/). The token comes from the Hub's own login (HF_TOKEN or
    `hf auth login`); pertool never reads, passes or prints it. Not testable offline."""
    datasets = datasets_module()
    try:
        saved = datasets.load_from_disk(str(out))
        saved.push_to_hub(repo)
        from huggingface_hub import DatasetCard, HfApi

        card = DatasetCard.load(repo, repo_type="dataset")
        card.text = (out / "README.md").read_text(encoding="utf-8").split("\n---\n", 1)[-1]
        card.push_to_hub(repo, repo_type="dataset")
        api = HfApi()
        api.upload_file(path_or_fileobj=str(out / INFO_FILE), path_in_repo=INFO_FILE, repo_id=repo,
                        repo_type="dataset")  # fmt: skip
        if (out / FILES_DIR).is_dir():  # the prompt files some kinds read
            api.upload_folder(folder_path=str(out / FILES_DIR), path_in_repo=FILES_DIR, repo_id=repo,
                              repo_type="dataset")  # fmt: skip
    except Exception as exc:  # network, auth, naming: one line, the export itself stays on disk
        raise PertoolError(f"--push-to-hub {repo} failed ({type(exc).__name__}: "
                           f"{str(exc).splitlines()[0] if str(exc) else 'no detail'}); the dataset is "
                           f"saved in {out}") from None  # fmt: skip
    return f"https://huggingface.co/datasets/{repo}"
