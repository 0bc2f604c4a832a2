"""Installed package versions, for the records pertool writes (training.json, model markers)."""

from __future__ import annotations

from importlib import metadata

__all__ = ["installed_version"]


def installed_version(package: str) -> str | None:
    """The installed distribution's version, None when it is not installed."""
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None
