"""Experiment tracking: `--log-to mlflow[:URI]` and `--log-to wandb` on eval, ablate and
`train lora`.

    targets.py         the `--log-to` values: parsed, and their packages checked before a run
    tracker.py         the one interface every tracker implements (start, log_metrics,
                       log_artifact, finish)
    mlflow_tracker.py  MLflow through its client (default store: an embedded SQLite file)
    wandb_tracker.py   Weights & Biases (online, or offline with WANDB_MODE=offline)
    figures.py         what is logged: config.json -> params (no secrets), metrics.json ->
                       metrics with their intervals, training.json -> losses per step
    publish.py         logging a finished run directory, an ablation or a training run to every
                       target; a tracker that fails is one warning line, never a changed run

Logging happens after the run's files are written: the run directory is the record, a tracker
only a copy of it.
"""
