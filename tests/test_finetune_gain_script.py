"""benchmarks/finetune_gain.py's own arithmetic, on real runs of fast models: the sign of the
paired difference (LoRA minus zero-shot, whichever run `pertool compare` ranks best) and the
results file, whose other sections it must leave alone."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

from support.cli import run_pertool

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "finetune_gain.py"


@pytest.fixture(scope="module")
def script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("finetune_gain", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two runs on the same 60 builtin-mini samples: a strong and a weak baseline."""
    root = tmp_path_factory.mktemp("finetune-gain")
    env = {"PERTOOL_CACHE_DIR": str(root / "cache")}
    for name, model in (("strong", "baseline/history"), ("weak", "baseline/random")):
        run_pertool("eval", "--benchmark", "builtin-mini", "--limit", "60", "--model", model, "--out",
                    root / name, "--no-progress", "--resamples", "200", env=env, check=True)  # fmt: skip
    return root


def overall(run: Path) -> float:
    return float(json.loads((run / "metrics.json").read_text())["splits"]["overall"]["platform"])


@pytest.mark.parametrize("lora_is", ["strong", "weak"])
def test_the_paired_difference_is_lora_minus_zero_shot(script: ModuleType, runs: Path, tmp_path: Path,
                                                       lora_is: str) -> None:  # fmt: skip
    zero = "weak" if lora_is == "strong" else "strong"
    (tmp_path / "zero-shot").symlink_to(runs / zero)
    (tmp_path / "lora").symlink_to(runs / lora_is)
    out = tmp_path / "compare.csv"
    run_pertool("compare", tmp_path / "zero-shot", tmp_path / "lora", "--metric", "platform", "--format", "csv",
                "--out", out, check=True)  # fmt: skip
    shown, p_value = script._paired_delta(out)
    expected = overall(runs / lora_is) - overall(runs / zero)
    assert expected != 0
    diff = float(shown.split()[0])
    assert diff == pytest.approx(expected, abs=5e-4)
    low, high = (float(x) for x in shown.split("[")[1].split("]")[0].split(","))
    assert low <= diff <= high
    assert 0 <= float(p_value) <= 1


def test_empty_cells_are_shown_as_dashes(script: ModuleType, tmp_path: Path) -> None:
    csv_file = tmp_path / "compare.csv"
    csv_file.write_text("run,diff_vs_best,diff_low,diff_high,p_value,significant\n"
                        "zero-shot,,,,,\nlora,0.0,,,,false\n")  # fmt: skip
    assert script._paired_delta(csv_file) == ("+0.000", "-")


def test_a_section_replaces_only_itself(script: ModuleType, tmp_path: Path) -> None:
    results = tmp_path / "results.md"
    results.write_text("# Results\n\nintro\n\n<!-- finetune_gain:full:begin -->\nGPU\n<!-- finetune_gain:full:end -->\n")
    script._write_section(results, "cpu", "first\n")
    script._write_section(results, "cpu", "second\n")
    text = results.read_text()
    assert text.startswith("# Results\n\nintro\n") and "GPU\n" in text
    assert "second\n" in text and "first" not in text
    assert text.count("<!-- finetune_gain:cpu:begin -->") == 1
