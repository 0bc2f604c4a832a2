import json

import pytest

from factory import record, write_split_dir
from pertool.benchmarks.download import download
from pertool.benchmarks.registry import PTBENCH_REMOTE, load_benchmark, ptbench_dir
from pertool.errors import DownloadError


@pytest.fixture(scope="module")
def full_size(tmp_path_factory):
    root = tmp_path_factory.mktemp("ptbench-mirror")
    return write_split_dir(root, [record()] * 474, [record(platform="Other")] * 609)


def test_download_over_loopback_http(full_size, serve_dir):
    summary = download(PTBENCH_REMOTE, ptbench_dir(), serve_dir(full_size))
    assert summary == "trained: 474 samples, untrained: 609 samples"
    samples = load_benchmark("ptbench")
    assert len(samples) == 1083 and samples[-1].id == "untrained:608"


def test_download_from_a_directory(full_size):
    download(PTBENCH_REMOTE, ptbench_dir(), str(full_size))
    assert len(load_benchmark("ptbench")) == 1083


def test_wrong_counts_are_rejected_and_nothing_is_written(tmp_path, serve_dir):
    small = write_split_dir(tmp_path / "small", [record()] * 3, [record()] * 609)
    with pytest.raises(DownloadError, match="expected 474 samples, found 3"):
        download(PTBENCH_REMOTE, ptbench_dir(), serve_dir(small))
    assert not ptbench_dir().exists() or not any(ptbench_dir().rglob("*.json"))
    assert not [p for p in ptbench_dir().parent.iterdir() if p.name.startswith(".ptbench")]


def test_failed_download_keeps_the_previous_copy(full_size, tmp_path, serve_dir):
    download(PTBENCH_REMOTE, ptbench_dir(), str(full_size))
    broken = tmp_path / "broken"
    (broken / "test_trained_user").mkdir(parents=True)
    (broken / "test_trained_user" / "data.json").write_text("[{")
    (broken / "test_untrained_user").mkdir()
    (broken / "test_untrained_user" / "data.json").write_text(json.dumps([record()] * 609))
    with pytest.raises(DownloadError, match="not valid JSON"):
        download(PTBENCH_REMOTE, ptbench_dir(), serve_dir(broken))
    assert len(load_benchmark("ptbench")) == 1083


def test_http_errors_and_unreachable_hosts_are_clear(tmp_path, serve_dir):
    with pytest.raises(DownloadError, match="test_trained_user/data.json is missing from"):
        download(PTBENCH_REMOTE, ptbench_dir(), serve_dir(tmp_path))
    with pytest.raises(DownloadError, match="cannot reach .* --from DIR"):
        download(PTBENCH_REMOTE, ptbench_dir(), "http://127.0.0.1:9/")  # discard port: refused
