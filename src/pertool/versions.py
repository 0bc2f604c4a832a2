"""pertool's own version, and installed package versions for the records pertool writes
(training.json, model markers). Library modules take `__version__` from here, never from the
package root (which is the public API, above every layer)."""

from __future__ import annotations

__all__ = ["__version__", "installed_version"]

__version__ = "0.1.0"


def installed_version(package: str) -> str | None:
    """The installed distribution's version, None when it is not installed."""
    from importlib import metadata  # not at import time: `import pertool` stays fast

    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None
