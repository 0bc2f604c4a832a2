"""The errors pertool raises on purpose.

    PertoolError                 base: anything the user can act on (the CLI prints it, exit 2)
    +-- DataError                a source file is malformed: names the file, the sample, the field
    +-- SpecError                a benchmark or model spec string cannot be resolved
    +-- DownloadError            fetching data failed (offline, HTTP error, verification)

Model output that does not parse is not an exception at the API surface: the parser returns a
`Prediction` with `parse_error` set, because a bad answer is a result to score, not a crash.
"""

from __future__ import annotations

__all__ = ["DataError", "DownloadError", "PertoolError", "SpecError"]


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
