"""The dataset card (README.md) written beside a saved dataset: what it is, where it comes from,
under which terms, which pertool wrote it, how many rows each split has, and its fields."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pertool.versions import __version__

__all__ = ["dataset_card"]


def dataset_card(*, title: str, source: str, kind: str, license_note: str, splits: Mapping[str, int],
                 fields: Sequence[tuple[str, str, str]], notes: Sequence[str] = ()) -> str:  # fmt: skip
    """`fields`: (name, feature type, meaning) per column."""
    total = sum(splits.values())
    lines = ["---", f"pretty_name: {_yaml_text(title)}", "tags:", "- pertool", "- tool-calling",
             "- personalization", "---", "", f"# {title}", "",
             f"Written by pertool {__version__} (`pertool data export --format hf` / `pertool train "
             "export --format hf`) as a saved Hugging Face `datasets` DatasetDict: load it with "
             "`datasets.load_from_disk(DIR)`, or evaluate it with `pertool eval --benchmark hf:DIR`.", "",
             f"- Source: `{source}`", f"- Benchmark kind: `{kind}`", f"- License: {license_note}",
             f"- pertool version: {__version__}", "", "## Splits", "", "| split | rows |",
             "|---|---:|"]  # fmt: skip
    lines += [f"| {name} | {count} |" for name, count in splits.items()]
    lines += [f"| (all) | {total} |", "", "## Fields", "", "| field | type | meaning |", "|---|---|---|"]
    lines += [f"| `{name}` | {kind_} | {meaning} |" for name, kind_, meaning in fields]
    if notes:
        lines += ["", "## Notes", "", *(f"- {note}" for note in notes)]
    return "\n".join(lines) + "\n"


def _yaml_text(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
