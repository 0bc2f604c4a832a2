"""Where benchmark data comes from: the pinned public copies (`pertool data download`), the
bundled example, and the data directories. The spec strings users type are resolved by the
benchmark kinds (`pertool.kinds.load_benchmark`):

    builtin            the built-in benchmark's test split (generated once, then cached)
    builtin:train      its train split (builtin:test: the test split)
    builtin-mini       the compact setting for CPU experiments (prompts of about 1,000 tokens at
                       most, 600 train and 200 test samples); builtin-mini:train, builtin-mini:test
    dataset:DIR        the test split of a dataset written by `pertool generate`
    example            the small PTBench-format example bundled with pertool
    ptbench            the copy fetched by `pertool data download ptbench`
    ptbench:PATH       a PTBench `data.json`, or a directory with the split directories
    toolspectrum:SUBSET   persona, environment, persona_environment or all, from --data-dir,
                       $PERTOOL_DATA_DIR, or the copy fetched by `pertool data download toolspectrum`
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from pertool.benchmarks.download import RemoteDataset, blob_verifier, sha256_verifier
from pertool.benchmarks.ptbench import SPLIT_DIRS, load_ptbench
from pertool.fileio import user_data_dir

__all__ = ["PTBENCH_BLOBS", "PTBENCH_REMOTE", "EXAMPLE_DIR", "TOOLSPECTRUM_REMOTE", "ptbench_dir",
           "ptbench_remote", "toolspectrum_dir"]

PTBENCH_COMMIT = "9678ecc80b3b39fa9694f25662c44bf4245f0486"
# The git blob ids the pinned commit's tree names for the two data files: a downloaded file is
# accepted only if it is byte for byte that file.
PTBENCH_BLOBS = {
    "test_trained_user/data.json": "7ad83937095ed1600dc16e6279ecc03d342c5404",
    "test_untrained_user/data.json": "758405efd338080a91b695a8c5afbf24078e9714",
}
EXAMPLE_DIR = Path(str(resources.files("pertool") / "data" / "example"))
EXAMPLE_PREDICTIONS = EXAMPLE_DIR / "predictions.jsonl"


def ptbench_dir() -> Path:
    return user_data_dir() / "ptbench"


def _describe_ptbench(root: Path) -> str:
    """Sample counts of verified files (loading them also proves pertool can read them)."""
    return ", ".join(f"{split}: {len(load_ptbench(root / d / 'data.json'))} samples"
                     for split, d in SPLIT_DIRS.items())  # fmt: skip


TOOLSPECTRUM_COMMIT = "83585ddaef64aa02e9cdf8cc3c58627ee94cf50a"
TOOLSPECTRUM_SHA256 = {
    "data/dataset_persona.json": "adf0ea32101ccdb7bd2dc8c6751bac2f5c6023638844222b005213fe8a856e32",
    "data/dataset_environment.json": "a21e958712818e223e0d9190f5c19d335d6fa43f75fda5292ce1b01bb751996f",
    "data/dataset_persona_environment.json": "50b0abb433b0424ee99fa78cb9fc5ff8742f5ac0f33205ec0da7749b99508b57",  # noqa: E501
    "api/API_description.json": "665455d4ff3b6fd1dde831b935da2f82c66b4229839265b5ebeba07a14b2ba24",
    "api/API_description_environment.json": "954d9a3bcbca1139994cfe23e155172bd02343f3fd34a29b657e2be1dc137422",  # noqa: E501
    "api/API_description_persona.json": "c2fc3d1c06a403c5c2e3e8fe6179994279b2427f150fcf441f36052e4da55b19",
    "prompts/prompt_call_api.txt": "790df72f86f152ec409c7bec41b26a27e72eae59d4c7e266e2a4664f013dfa69",
    "prompts/prompt_call_api_environment.txt": "8478e677301b8929376ee45aa82f56cf4b3a8f8945081412c248fc48b9fee490",  # noqa: E501
    "prompts/prompt_call_api_persona.txt": "dca202f7b9d852ff03784d3089f7f1b4ac370e217a27e3cab64adfb577f615c3",
}


def toolspectrum_dir() -> Path:
    return user_data_dir() / "toolspectrum"


TOOLSPECTRUM_REMOTE = RemoteDataset(
    name="toolspectrum",
    base_url=f"https://raw.githubusercontent.com/BUAA-IRIP-LLM/ToolSpectrum/{TOOLSPECTRUM_COMMIT}/",
    files=tuple(TOOLSPECTRUM_SHA256),
    verify=sha256_verifier(TOOLSPECTRUM_SHA256),
    # A mirror may hold only some subsets (../shared lacks persona_environment); API and prompt
    # files are required.
    optional=tuple(f for f in TOOLSPECTRUM_SHA256 if f.startswith("data/")),
)


def ptbench_remote(blobs: dict[str, str] | None = None) -> RemoteDataset:
    """PTBench at the pinned commit. `blobs` replaces the pinned ids: for tests, which cannot
    ship the real files; users cannot reach it (no option or variable sets it)."""
    return RemoteDataset(
        name="ptbench",
        base_url=f"https://raw.githubusercontent.com/hyfshadow/PTBench/{PTBENCH_COMMIT}/",
        files=tuple(f"{d}/data.json" for d in SPLIT_DIRS.values()),
        verify=blob_verifier(PTBENCH_BLOBS if blobs is None else blobs, _describe_ptbench),
    )


PTBENCH_REMOTE = ptbench_remote()
