"""PTool's stages, one module each; each exposes `run(ctx)` and `SCRIPTED` (its tasks' answers
for `pertool mock-server --scripted`)."""
