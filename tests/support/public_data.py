"""Public benchmark data for tests: one place that finds it, skips without it, fails in CI.

Looked up in $PERTOOL_TEST_DATA (a directory holding e.g. `toolspectrum/`), then
`../shared/data` beside the repository. When it is absent the test skips with the reason, except
when $PERTOOL_REQUIRE_PUBLIC_DATA=1 (set by .ci/run when ../shared exists): then it fails.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

__all__ = ["public_data_dir", "require_public_data"]

REPO = Path(__file__).resolve().parents[2]


def public_data_dir(name: str) -> Path | None:
    roots = [Path(os.environ["PERTOOL_TEST_DATA"])] if os.environ.get("PERTOOL_TEST_DATA") else []
    roots.append(REPO.parent / "shared" / "data")
    for root in roots:
        if (root / name).is_dir():
            return root / name
    return None


def require_public_data(name: str) -> Path:
    """The public data set `name`, or skip (fail where CI requires public data)."""
    found = public_data_dir(name)
    if found is not None:
        return found
    reason = (f"public data `{name}` not found (set PERTOOL_TEST_DATA or put it in "
              f"{REPO.parent / 'shared' / 'data'})")  # fmt: skip
    if os.environ.get("PERTOOL_REQUIRE_PUBLIC_DATA") == "1":
        pytest.fail(reason + "; PERTOOL_REQUIRE_PUBLIC_DATA=1 requires it")
    pytest.skip(reason)
