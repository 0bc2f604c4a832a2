"""`pertool synth run --executor ray`: bad executor options are one line before anything is
written. The run on real Ray (same dataset as the local run, 0 calls when re-run) shares the
two-node cluster of tests/test_ray_eval.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from pertool.cli.main import main

CONFIG = Path(__file__).resolve().parents[1] / "examples" / "synth-small.yaml"


@pytest.mark.parametrize(("option", "value", "message"), [
    ("--replicas", "0", "--replicas must be at least 1, not 0"),
    ("--replica-gpus", "nan", "--replica-gpus must be 0 or more, not nan"),
    ("--replica-cpus", "-1", "--replica-cpus must be 0 or more, not -1.0"),
])  # fmt: skip
def test_bad_executor_options_are_one_line_before_anything_is_written(tmp_path: Path, capsys, option: str,
                                                                       value: str, message: str) -> None:  # fmt: skip
    out = tmp_path / "run"
    code = main(["synth", "run", "--config", str(CONFIG), "--model", "openai-compatible/scripted", "--base-url",
                 "http://127.0.0.1:9/v1", "--out", str(out), "--executor", "ray", option, value])  # fmt: skip
    assert code == 2
    assert capsys.readouterr().err.strip().splitlines() == [f"pertool: error: {message}"]
    assert not out.exists()
