"""The `pertool` command line: one module per subcommand, `main.py` dispatching."""

# --data-dir of every command that loads a benchmark: both kinds read from files take it.
DATA_DIR_HELP = ("ToolSpectrum data directory (data/, api/, prompts/) or PEToolBench data "
                 "(user_entries_test.json, its zip, or a directory holding either)")  # fmt: skip
