"""torch on one thread for a test module and the pertool processes it starts.

On 2 cores shared with other test workers, torch's two threads spin-wait on each other: a
SmolLM2 LoRA run measured 100 s of CPU with two threads and 30 s with one, and greedy
generation 10 times slower. Use as a module-scoped autouse fixture:

    one_thread = pytest.fixture(scope="module", autouse=True)(one_torch_thread)

and pass `ONE_THREAD_ENV` to `run_pertool(..., env=...)`.
"""

from __future__ import annotations

from collections.abc import Iterator

__all__ = ["ONE_THREAD_ENV", "one_torch_thread"]

ONE_THREAD_ENV = {"OMP_NUM_THREADS": "1"}  # read by torch when a subprocess starts


def one_torch_thread() -> Iterator[None]:
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
