"""Calls to a model, the one way eval and synthesis make them: the response cache, the call on
a miss, and the accounting (`CachedCalls`, `ResponseCache`, `Usage`). Sits above `models/`
(the backends) and below `runner/` and `synth/`; knows nothing of benchmarks."""

from pertool.modelcalls.cache import ResponseCache, cache_key
from pertool.modelcalls.cached_calls import CachedCalls, Unusable, open_cache
from pertool.modelcalls.usage import Usage, answer_cost

__all__ = ["CachedCalls", "ResponseCache", "Unusable", "Usage", "answer_cost", "cache_key", "open_cache"]
