"""Fine-tuning helpers, and tiny offline models for tests and smoke runs."""
