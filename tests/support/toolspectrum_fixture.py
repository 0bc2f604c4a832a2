"""The ToolSpectrum data directory the tests build themselves (`pertool.testing.toolspectrum`);
the `toolspectrum_dir` fixture in conftest.py writes it once per session."""

from pertool.testing.toolspectrum import ENVIRONMENTAL_PARAMS, write_toolspectrum

__all__ = ["ENVIRONMENTAL_PARAMS", "write_toolspectrum"]
