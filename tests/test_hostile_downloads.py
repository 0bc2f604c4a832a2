"""Downloads are bounded (issue 11, parts 4 and 9): a whole-download deadline, a size cap, no
special files from a mirror, nothing left behind on failure. Real HTTP on loopback (the one stub
server), real FIFOs and device links."""

import os
import time

import pytest

from factory import record, write_split_dir
from pertool.benchmarks.download import Limits, download
from pertool.benchmarks.registry import PTBENCH_REMOTE, ptbench_dir
from pertool.errors import DownloadError
from support.cli import run_pertool
from support.openai_stub import Reply

FILES = ("test_trained_user/data.json", "test_untrained_user/data.json")


def base(server):
    return f"http://127.0.0.1:{server.port}/"


def assert_nothing_left(data_dir):
    assert not data_dir.exists(), sorted(data_dir.rglob("*"))


def test_trickling_server_ends_at_the_whole_download_deadline(stub_server, isolated_data_dir):
    server = stub_server(lambda body, request: Reply(raw=b"[" + b" " * 5000 + b"]", trickle_s=0.2))
    started = time.monotonic()
    with pytest.raises(DownloadError, match="took longer than 1.5 s"):
        download(PTBENCH_REMOTE, ptbench_dir(), base(server), Limits(deadline_s=1.5))
    assert time.monotonic() - started < 5
    assert_nothing_left(isolated_data_dir)


def test_trickling_server_through_the_cli(stub_server, isolated_data_dir):
    server = stub_server(lambda body, request: Reply(raw=b"[" + b" " * 5000 + b"]", trickle_s=0.5))
    started = time.monotonic()
    proc = run_pertool("data", "download", "ptbench", "--from", base(server), "--timeout", "2", timeout=30)
    assert time.monotonic() - started < 12
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("pertool: error: ") and "took longer than 2 s" in proc.stderr
    assert_nothing_left(isolated_data_dir)


def test_size_cap_with_and_without_a_declared_length(stub_server, isolated_data_dir):
    for declared in (True, False):
        server = stub_server(lambda body, request, d=declared: Reply(raw=b"x" * 200_000, content_length=d))
        with pytest.raises(DownloadError, match="exceeds 0.1 MB .*--max-download-mb"):
            download(PTBENCH_REMOTE, ptbench_dir(), base(server), Limits(max_bytes=int(0.1 * 1024 * 1024)))
        assert_nothing_left(isolated_data_dir)
    proc = run_pertool("data", "download", "ptbench", "--from", base(server), "--max-download-mb", "0.1")
    assert proc.returncode == 2 and "exceeds 0.1 MB" in proc.stderr and "Traceback" not in proc.stderr


def test_fifo_in_a_mirror_is_refused_without_hanging(tmp_path, isolated_data_dir):
    root = write_split_dir(tmp_path / "mirror", [record()], [record()])
    (root / FILES[0]).unlink()
    os.mkfifo(root / FILES[0])
    started = time.monotonic()
    proc = run_pertool("data", "download", "ptbench", "--from", root, timeout=30)
    assert time.monotonic() - started < 10
    assert proc.returncode == 2 and "is not a regular file (a FIFO); refused" in proc.stderr
    assert_nothing_left(isolated_data_dir)


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom"])
def test_mirror_link_to_a_device_is_refused_unread(tmp_path, isolated_data_dir, device):
    root = write_split_dir(tmp_path / "mirror", [record()], [record()])
    (root / FILES[1]).unlink()
    (root / FILES[1]).symlink_to(device)
    with pytest.raises(DownloadError, match="not a regular file \\(a character device\\)"):
        download(PTBENCH_REMOTE, ptbench_dir(), str(root))
    assert_nothing_left(isolated_data_dir)


def test_mirror_file_over_the_cap_is_refused_by_its_size(tmp_path, isolated_data_dir):
    root = write_split_dir(tmp_path / "mirror", [record()], [record()])
    with open(root / FILES[0], "r+b") as handle:
        handle.truncate(10 * 1024 * 1024 * 1024)  # sparse: refused before a byte is read
    started = time.monotonic()
    with pytest.raises(DownloadError, match="exceeds 500 MB"):
        download(PTBENCH_REMOTE, ptbench_dir(), str(root))
    assert time.monotonic() - started < 2
    assert_nothing_left(isolated_data_dir)


def test_a_failure_removes_only_what_it_created(tmp_path, isolated_data_dir):
    isolated_data_dir.mkdir()
    (isolated_data_dir / "mine.txt").write_text("keep")
    with pytest.raises(DownloadError):
        download(PTBENCH_REMOTE, ptbench_dir(), str(tmp_path / "nowhere"))
    assert [p.name for p in isolated_data_dir.iterdir()] == ["mine.txt"]


@pytest.mark.parametrize("option,value", [("--timeout", "0"), ("--timeout", "nan"), ("--max-download-mb", "-1")])
def test_download_options_are_checked(tmp_path, option, value):
    proc = run_pertool("data", "download", "ptbench", "--from", tmp_path, option, value)
    assert proc.returncode == 2 and f"pertool: error: {option}:" in proc.stderr and "Traceback" not in proc.stderr
