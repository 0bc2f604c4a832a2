"""Helpers for testing code that talks to models through pertool: a configurable
OpenAI-compatible stub server on loopback (`pertool.testing.openai_stub`). Used by pertool's own
tests and benchmark scripts; nothing in the library imports it."""
