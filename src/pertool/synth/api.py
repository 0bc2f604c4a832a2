"""`run_synthesis`: PTool's pipeline from Python (what `pertool synth` calls)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pertool.modelcalls import open_cache
from pertool.models.base import Sampling
from pertool.models.registry import ModelOptions, create_backend
from pertool.synth.llm import SynthLLM
from pertool.synth.pipeline import STAGE_ORDER, Stage, run_stages
from pertool.synth.records import SynthConfig
from pertool.synth.store import PipelineDir

__all__ = ["run_synthesis", "stage_functions"]


def stage_functions() -> dict[str, Stage]:
    from importlib import import_module

    return {name: import_module(f"pertool.synth.stages.{name}").run for name in STAGE_ORDER}


async def run_synthesis(out: Path, model: str, *, config: SynthConfig | None = None,
                        options: ModelOptions | None = None, only: list[str] | None = None,
                        use_cache: bool = True, concurrency: int = 8,
                        prices: dict[str, float] | None = None,
                        show_progress: bool = False) -> dict[str, Any]:  # fmt: skip
    """Run the stages not yet done in `out` (all, or `only`); returns the summary."""
    directory = PipelineDir(out)
    if config is None:
        config = directory.config()  # a pipeline started before: its own config
    backend = create_backend(model, options or ModelOptions())
    cache = open_cache(backend, use_cache)
    sampling = Sampling(temperature=config.temperature, max_tokens=config.max_tokens)
    llm = SynthLLM(backend, cache, sampling, concurrency=concurrency, prices=prices)
    try:
        return await run_stages(directory, config, llm, stage_functions(), only, show_progress)
    finally:
        await backend.aclose()
        if cache is not None:
            cache.close()
