"""The stub server lives in the package (`pertool.testing.openai_stub`) so that benchmark
scripts can use it without importing tests; tests import it from here."""

from pertool.testing.openai_stub import Reply, StubRequest, StubServer, chat, tool_calls

__all__ = ["Reply", "StubRequest", "StubServer", "chat", "tool_calls"]
