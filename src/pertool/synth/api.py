"""`run_synthesis`: PTool's pipeline from Python (what `pertool synth` calls).

With `ray` settings the model's requests go to replicas on Ray (`RayPool`), one request at a
time as the stages make them: the stage functions, the pipeline directory and the response cache
stay here, so files, order and cache are those of a local run (docs/scaling.md says why the
unit is a request and not a batch of records)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pertool.modelcalls import open_cache
from pertool.models.base import Completion, Request, Sampling
from pertool.models.registry import ModelOptions, create_backend
from pertool.synth.llm import SynthLLM
from pertool.synth.pipeline import STAGE_ORDER, Stage, run_stages
from pertool.synth.records import SynthConfig
from pertool.synth.store import PipelineDir

if TYPE_CHECKING:
    from pertool.distributed import RaySettings
    from pertool.models.base import Backend

__all__ = ["run_synthesis", "stage_functions"]


def stage_functions() -> dict[str, Stage]:
    from importlib import import_module

    return {name: import_module(f"pertool.synth.stages.{name}").run for name in STAGE_ORDER}


async def run_synthesis(out: Path, model: str, *, config: SynthConfig | None = None,
                        options: ModelOptions | None = None, only: list[str] | None = None,
                        use_cache: bool = True, concurrency: int = 8,
                        prices: dict[str, float] | None = None, show_progress: bool = False,
                        ray: RaySettings | None = None) -> dict[str, Any]:  # fmt: skip
    """Run the stages not yet done in `out` (all, or `only`); returns the summary. `ray`: the
    model runs as replicas on Ray (`--executor ray`); None: in this process."""
    directory = PipelineDir(out)
    if config is None:
        config = directory.config()  # a pipeline started before: its own config
    backend = _backend(model, options or ModelOptions(), ray)
    cache = open_cache(backend, use_cache)
    sampling = Sampling(temperature=config.temperature, max_tokens=config.max_tokens)
    llm = SynthLLM(backend, cache, sampling, concurrency=concurrency, prices=prices)
    try:
        return await run_stages(directory, config, llm, stage_functions(), only, show_progress)
    finally:
        # where the answers came from (the one line Ray adds), said before the replicas stop
        said = backend.summary() if isinstance(backend, _PoolOnFirstUse) else None
        await backend.aclose()
        if cache is not None:
            cache.close()
        if said:
            print(said, file=sys.stderr)


def _backend(model: str, options: ModelOptions, ray: RaySettings | None) -> Backend:
    return create_backend(model, options) if ray is None else _PoolOnFirstUse(model, options, ray)


class _PoolOnFirstUse:
    """The Ray pool, started when a stage first needs the model (a cache key or a call): a re-run
    of a finished pipeline asks nothing, so it starts no Ray and loads no replica. A start that
    failed is tried once: every later use raises its error again (the stages go on to other
    items after one fails, and each new try could wait minutes for resources)."""

    name = "ray"

    def __init__(self, model: str, options: ModelOptions, ray: RaySettings):
        self.model, self._options, self._ray = model, options, ray
        self._pool: Any = None
        self._failed: BaseException | None = None

    def _started(self) -> Any:
        if self._failed is not None:
            raise self._failed
        if self._pool is None:
            from pertool.distributed import RayPool

            try:
                self._pool = RayPool(self.model, self._options, (), self._ray)  # synthesis ships no samples
            except Exception as exc:
                self._failed = exc
                raise
        return self._pool

    def identity(self) -> dict[str, Any]:
        return self._started().identity()  # type: ignore[no-any-return]

    async def complete(self, request: Request) -> Completion:
        return await self._started().complete(request)  # type: ignore[no-any-return]

    def summary(self) -> str:
        return self._pool.summary() if self._pool is not None else ""

    async def aclose(self) -> None:
        if self._pool is not None:
            await self._pool.aclose()
