"""`pertool data download petoolbench`: the zip from a loopback mirror (HTTP or a directory),
sha256 verified, its one member extracted next to it, atomically; the pinned hash checked
against the real zip when present."""

from __future__ import annotations

import hashlib
import json

import pytest

from pertool.benchmarks.download import download
from pertool.benchmarks.petoolbench import petoolbench_dir
from pertool.benchmarks.petoolbench_remote import PETOOLBENCH_REMOTE, PETOOLBENCH_SHA256, petoolbench_remote
from pertool.errors import DownloadError
from pertool.kinds import load_benchmark, remote_dataset
from support.cli import run_pertool
from support.petoolbench_fixture import ENTRIES, write_zip, zip_bytes
from support.public_data import require_public_data


def test_download_over_loopback_http_extracts_the_member(tmp_path, serve_dir):
    _, sha = write_zip(tmp_path / "mirror")
    summary = download(petoolbench_remote(sha), petoolbench_dir(), serve_dir(tmp_path / "mirror"))
    assert summary == "6 entries (18 samples in 3 settings); sha256 verified, user_entries_test.json extracted"
    assert json.loads((petoolbench_dir() / "user_entries_test.json").read_text()) == ENTRIES
    assert (petoolbench_dir() / "user_entries_test.json.zip").is_file()
    assert not (petoolbench_dir() / "__MACOSX").exists()
    assert [s.id for s in load_benchmark("petoolbench:ratings")][-1] == "ratings:5"  # found without --data-dir


def test_download_from_a_directory_and_through_the_cli(tmp_path, isolated_data_dir):
    _, sha = write_zip(tmp_path / "mirror")
    download(petoolbench_remote(sha), petoolbench_dir(), str(tmp_path / "mirror"))
    assert len(load_benchmark("petoolbench")) == 18
    assert remote_dataset("petoolbench") == (PETOOLBENCH_REMOTE, petoolbench_dir())
    # The CLI uses the pinned hash: the test's own zip is refused, with nothing written.
    fresh = tmp_path / "fresh-data"
    result = run_pertool("data", "download", "petoolbench", "--from", tmp_path / "mirror",
                         env={"PERTOOL_DATA_DIR": str(fresh)})  # fmt: skip
    assert result.returncode == 2 and f"does not match the pinned {PETOOLBENCH_SHA256}" in result.stderr
    assert result.stderr.count("\n") == 1 and not fresh.exists()


@pytest.mark.parametrize(("archive", "message"), [
    (zip_bytes(member="other.json"), "expected one member user_entries_test.json"),
    (zip_bytes(member="../../user_entries_test.json"), None),  # its own path is never used: lands in place
    (b"PK\x05\x06" + b"\0" * 18, "expected one member"),
    (b"not a zip at all", "not a readable zip archive"),
    (zip_bytes([{"query": 1}]), "sample 0, field query: expected a string"),
])  # fmt: skip
def test_bad_archives_are_refused_and_nothing_is_written(tmp_path, archive, message):
    _, sha = write_zip(tmp_path / "mirror", archive)
    remote = petoolbench_remote(sha)
    if message is None:
        download(remote, petoolbench_dir(), str(tmp_path / "mirror"))
        assert sorted(p.name for p in petoolbench_dir().iterdir()) == ["user_entries_test.json",
                                                                       "user_entries_test.json.zip"]  # fmt: skip
        assert not (petoolbench_dir().parent.parent / "user_entries_test.json").exists()
        assert not (tmp_path / "user_entries_test.json").exists()
        return
    with pytest.raises(DownloadError, match=message):
        download(remote, petoolbench_dir(), str(tmp_path / "mirror"))
    assert not petoolbench_dir().parent.exists()  # not even the data dir


def test_a_changed_byte_keeps_the_previous_copy(tmp_path):
    _, sha = write_zip(tmp_path / "mirror")
    download(petoolbench_remote(sha), petoolbench_dir(), str(tmp_path / "mirror"))
    data = bytearray(zip_bytes())
    data[-30] ^= 1
    write_zip(tmp_path / "mirror", bytes(data))
    with pytest.raises(DownloadError, match="sha256 .* does not match the pinned"):
        download(petoolbench_remote(sha), petoolbench_dir(), str(tmp_path / "mirror"))
    assert len(load_benchmark("petoolbench")) == 18
    assert not [p for p in petoolbench_dir().parent.iterdir() if p.name.startswith(".petoolbench")]


def test_the_pinned_hash_is_the_real_zips():
    real = require_public_data("petoolbench") / "user_entries_test.json.zip"
    assert hashlib.sha256(real.read_bytes()).hexdigest() == PETOOLBENCH_SHA256
    assert PETOOLBENCH_REMOTE.base_url == ("https://raw.githubusercontent.com/travis-xu/PEToolBench/"
                                           "55b0a58db57653e7643a6fe760ebb9fbc4e22338/")  # fmt: skip


def test_the_real_zip_downloads_from_a_mirror_directory(tmp_path):
    real = require_public_data("petoolbench")
    summary = download(PETOOLBENCH_REMOTE, petoolbench_dir(), str(real))
    assert summary.startswith("1000 entries (3000 samples in 3 settings); sha256 verified")
    extracted = petoolbench_dir() / "user_entries_test.json"
    assert hashlib.sha256(extracted.read_bytes()).hexdigest() == (
        "abb31db9a77cb5edd2a4639e371e41d5279c719eef97ea456f982d94c42471e7")
