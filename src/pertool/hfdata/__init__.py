"""Hugging Face datasets: benchmarks and SFT sets saved as `datasets` DatasetDicts (with typed
features and a dataset card), and `hf:PATH` specs that load a saved benchmark back.

    need.py       the `datasets` import, with the install command when it is missing
    rows.py       a Sample as one typed row and back, losslessly
    card.py       the dataset card (README.md)
    benchmark.py  `pertool data export --format hf` and the `hf:PATH` loader
    sft.py        `pertool train export --format hf`
"""
