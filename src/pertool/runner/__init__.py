"""Running models on benchmarks: rendering, concurrency, cache, resume, run directories."""
