import json
import subprocess

import pytest

from factory import record, write_split_dir
from pertool.benchmarks.download import download, git_blob_id
from pertool.benchmarks.registry import PTBENCH_BLOBS, PTBENCH_REMOTE, ptbench_dir, ptbench_remote
from pertool.errors import DownloadError
from pertool.kinds import load_benchmark

FILES = ("test_trained_user/data.json", "test_untrained_user/data.json")


def blobs_of(root):
    """The ids a test's own mirror must match (tests cannot ship the real PTBench files)."""
    return {rel: git_blob_id((root / rel).read_bytes()) for rel in FILES}


@pytest.fixture(scope="module")
def full_size(tmp_path_factory):
    root = tmp_path_factory.mktemp("ptbench-mirror")
    return write_split_dir(root, [record()] * 474, [record(platform="Other")] * 609)


def test_download_over_loopback_http(full_size, serve_dir):
    summary = download(ptbench_remote(blobs_of(full_size)), ptbench_dir(), serve_dir(full_size))
    assert summary == "trained: 474 samples, untrained: 609 samples; git blob ids of 2 files verified"
    samples = load_benchmark("ptbench")
    assert len(samples) == 1083 and samples[-1].id == "untrained:608"


def test_download_from_a_directory(full_size):
    download(ptbench_remote(blobs_of(full_size)), ptbench_dir(), str(full_size))
    assert len(load_benchmark("ptbench")) == 1083


def test_the_pinned_ids_refuse_data_with_the_right_counts(full_size, serve_dir):
    # Any data with 474/609 samples used to be accepted; only the pinned files are now.
    with pytest.raises(DownloadError, match="git blob id .* does not match the pinned commit's 7ad83937"):
        download(PTBENCH_REMOTE, ptbench_dir(), str(full_size))
    with pytest.raises(DownloadError, match="does not match"):
        download(PTBENCH_REMOTE, ptbench_dir(), serve_dir(full_size))
    assert not ptbench_dir().parent.exists()  # nothing left behind, not even the data dir


def test_one_changed_byte_is_refused_and_nothing_is_written(tmp_path, full_size):
    expected = blobs_of(full_size)
    changed = write_split_dir(tmp_path / "changed", [record()] * 474, [record(platform="Other")] * 609)
    path = changed / FILES[1]
    path.write_bytes(path.read_bytes().replace(b"Other", b"0ther", 1))
    with pytest.raises(DownloadError, match="test_untrained_user/data.json: git blob id"):
        download(ptbench_remote(expected), ptbench_dir(), str(changed))
    assert not ptbench_dir().parent.exists()


def test_git_blob_id_is_gits(tmp_path):
    for content in (b"", b"hello\n", json.dumps([record()] * 3).encode(), bytes(range(256)) * 40):
        path = tmp_path / "f"
        path.write_bytes(content)
        by_git = subprocess.run(["git", "hash-object", str(path)], capture_output=True, text=True,
                                check=True, timeout=30).stdout.strip()
        assert git_blob_id(content) == by_git
    assert PTBENCH_BLOBS == {"test_trained_user/data.json": "7ad83937095ed1600dc16e6279ecc03d342c5404",
                             "test_untrained_user/data.json": "758405efd338080a91b695a8c5afbf24078e9714"}


def test_failed_download_keeps_the_previous_copy(full_size, tmp_path, serve_dir):
    download(ptbench_remote(blobs_of(full_size)), ptbench_dir(), str(full_size))
    broken = tmp_path / "broken"
    (broken / "test_trained_user").mkdir(parents=True)
    (broken / "test_trained_user" / "data.json").write_text("[{")
    (broken / "test_untrained_user").mkdir()
    (broken / "test_untrained_user" / "data.json").write_text(json.dumps([record()] * 609))
    with pytest.raises(DownloadError, match="not valid JSON"):
        download(ptbench_remote(blobs_of(broken)), ptbench_dir(), serve_dir(broken))
    assert len(load_benchmark("ptbench")) == 1083
    assert not [p for p in ptbench_dir().parent.iterdir() if p.name.startswith(".ptbench")]


def test_http_errors_and_unreachable_hosts_are_clear(tmp_path, serve_dir):
    with pytest.raises(DownloadError, match="test_trained_user/data.json is missing from"):
        download(PTBENCH_REMOTE, ptbench_dir(), serve_dir(tmp_path))
    with pytest.raises(DownloadError, match="cannot reach .* --from DIR"):
        download(PTBENCH_REMOTE, ptbench_dir(), "http://127.0.0.1:9/")  # discard port: refused
    assert not ptbench_dir().parent.exists()
