"""PTBench-format records and files for tests: they live in the package (`pertool.testing.factory`)
so that benchmark scripts can use them without importing tests."""

from pertool.testing.factory import record, write_split_dir

__all__ = ["record", "write_split_dir"]
