"""Downloads: hostile servers and mirrors for `pertool data download`.

Every case must end within its bound with one error line (exit 2), leave no staging folder and
no data dir it created, and keep a previous copy intact. Servers are the one configurable stub
(real HTTP on loopback); mirrors are real directories with FIFOs, devices, sockets and links.
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

from hostile import Case, assert_one_line_error, case, pertool
from pertool.testing.openai_stub import Reply, StubServer

CASES: list[Case] = []

PTBENCH_FILES = ("test_trained_user/data.json", "test_untrained_user/data.json")
TOOLSPECTRUM_FILE = "api/API_description.json"  # a required file of ToolSpectrum


def _data_dir() -> Path:
    return Path(os.environ["PERTOOL_DATA_DIR"])


def _assert_nothing_left(work: Path) -> None:
    data = _data_dir()
    assert not data.exists(), f"left behind: {sorted(p.name for p in data.rglob('*'))}"
    leftovers = [p for p in work.rglob(".ptbench-*")] + [p for p in work.rglob(".toolspectrum-*")]
    assert not leftovers, f"staging left behind: {leftovers}"


def _download(*args: str | Path, timeout: float = 60) -> tuple[float, object]:
    started = time.monotonic()
    proc = pertool("data", "download", *args, timeout=timeout)
    return time.monotonic() - started, proc


def _mirror(work: Path, body: bytes = b"[]") -> Path:
    root = work / "mirror"
    for rel in PTBENCH_FILES:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(body)
    return root


def _serve(reply: Reply) -> StubServer:
    return StubServer(lambda body, request: reply)


def _base(server: StubServer) -> str:
    return f"http://127.0.0.1:{server.port}/"


# --- servers --------------------------------------------------------------------------------


@case(CASES)
def trickling_server_ends_within_the_deadline(work: Path) -> None:
    with _serve(Reply(raw=b"[" + b" " * 10_000 + b"]", trickle_s=0.5)) as server:
        took, proc = _download("ptbench", "--from", _base(server), "--timeout", "2")
    assert_one_line_error(proc, mentions="took longer than 2 s")
    assert took < 10, f"took {took:.1f} s"
    _assert_nothing_left(work)


@case(CASES)
def silent_server_ends_within_the_deadline(work: Path) -> None:
    with _serve(Reply(raw=b"[]", delay_s=8)) as server:
        took, proc = _download("ptbench", "--from", _base(server), "--timeout", "1.5")
    assert_one_line_error(proc, mentions="took longer than")
    assert took < 8, f"took {took:.1f} s"
    _assert_nothing_left(work)


@case(CASES)
def declared_size_over_the_cap_is_refused_unread(work: Path) -> None:
    with _serve(Reply(raw=b"x" * 300_000)) as server:
        _, proc = _download("ptbench", "--from", _base(server), "--max-download-mb", "0.1")
    assert_one_line_error(proc, mentions="exceeds 0.1 MB")
    _assert_nothing_left(work)


@case(CASES)
def undeclared_size_over_the_cap_stops_at_the_cap(work: Path) -> None:
    with _serve(Reply(raw=b"x" * 300_000, content_length=False)) as server:
        _, proc = _download("ptbench", "--from", _base(server), "--max-download-mb", "0.1")
    assert_one_line_error(proc, mentions="--max-download-mb")
    _assert_nothing_left(work)


@case(CASES)
def cap_counts_all_files_together(work: Path) -> None:
    with _serve(Reply(raw=b"x" * 80_000)) as server:  # each file under the cap, both over it
        _, proc = _download("ptbench", "--from", _base(server), "--max-download-mb", "0.1")
    assert_one_line_error(proc, mentions="exceeds")
    _assert_nothing_left(work)


for _status in (500, 403, 401, 418, 204):

    def _status_case(work: Path, status: int = _status) -> None:
        with _serve(Reply(status=status, raw=b"nope")) as server:
            _, proc = _download("ptbench", "--from", _base(server))
        assert_one_line_error(proc, mentions=f"HTTP {status}")
        _assert_nothing_left(work)

    case(CASES, f"http_{_status}_is_one_line")(_status_case)


@case(CASES)
def http_404_names_the_missing_file(work: Path) -> None:
    with _serve(Reply(status=404, raw=b"")) as server:
        _, proc = _download("ptbench", "--from", _base(server))
    assert_one_line_error(proc, mentions="test_trained_user/data.json is missing")
    _assert_nothing_left(work)


@case(CASES)
def dropped_connection(work: Path) -> None:
    with _serve(Reply(drop=True)) as server:
        _, proc = _download("ptbench", "--from", _base(server))
    assert_one_line_error(proc, mentions="cannot reach")
    _assert_nothing_left(work)


@case(CASES)
def truncated_body(work: Path) -> None:
    with _serve(Reply(raw=b"[1, 2", headers={"Content-Length": "5000"}, content_length=False)) as server:
        _, proc = _download("ptbench", "--from", _base(server), "--timeout", "5")
    assert_one_line_error(proc)
    _assert_nothing_left(work)


@case(CASES)
def redirect_loop(work: Path) -> None:
    with _serve(Reply(status=302, raw=b"", headers={"Location": "/again"})) as server:
        _, proc = _download("ptbench", "--from", _base(server))
    assert_one_line_error(proc, mentions="redirects")
    _assert_nothing_left(work)


@case(CASES)
def redirect_to_another_scheme(work: Path) -> None:
    with _serve(Reply(status=301, raw=b"", headers={"Location": "file:///etc/passwd"})) as server:
        _, proc = _download("ptbench", "--from", _base(server))
    assert_one_line_error(proc, mentions="only http")
    _assert_nothing_left(work)


@case(CASES)
def right_counts_wrong_bytes_are_refused(work: Path) -> None:
    # 474/609 samples used to be enough; now only the pinned commit's blobs are.
    record = {"user_profile": {}, "platforms": [], "tools": [], "query": "q", "answer": ["P", []],
              "query_params": [], "profile_params": []}
    root = work / "mirror"
    for rel, count in zip(PTBENCH_FILES, (474, 609)):
        (root / rel).parent.mkdir(parents=True)
        (root / rel).write_text(json.dumps([record] * count))
    _, proc = _download("ptbench", "--from", root)
    assert_one_line_error(proc, mentions="git blob id")
    _assert_nothing_left(work)


@case(CASES)
def failed_download_keeps_the_previous_copy(work: Path) -> None:
    previous = _data_dir() / "ptbench" / PTBENCH_FILES[0]
    previous.parent.mkdir(parents=True)
    previous.write_text("[] ")
    with _serve(Reply(raw=b"[" * 10, trickle_s=0.5)) as server:
        _, proc = _download("ptbench", "--from", _base(server), "--timeout", "1")
    assert_one_line_error(proc, mentions="took longer")
    assert previous.read_text() == "[] "
    assert sorted(p.name for p in _data_dir().iterdir()) == ["ptbench"], list(_data_dir().iterdir())


for _url in ("http://127.0.0.1:9/", "http://127.0.0.1:99999/", "http://[::1/", "ftp://example.org/x/",
             "http:///nohost", "http://bad host/"):

    def _url_case(work: Path, url: str = _url) -> None:
        _, proc = _download("ptbench", "--from", url, "--timeout", "10")
        assert_one_line_error(proc)
        _assert_nothing_left(work)

    case(CASES, f"bad_url {_url}")(_url_case)


# --- mirrors --------------------------------------------------------------------------------


@case(CASES)
def fifo_in_a_mirror_is_refused_at_once(work: Path) -> None:
    root = _mirror(work)
    target = root / PTBENCH_FILES[0]
    target.unlink()
    os.mkfifo(target)
    took, proc = _download("ptbench", "--from", root, timeout=20)
    assert_one_line_error(proc, mentions="a FIFO")
    assert took < 10
    _assert_nothing_left(work)


for _device in ("/dev/zero", "/dev/null", "/dev/urandom"):

    def _device_case(work: Path, device: str = _device) -> None:
        root = _mirror(work)
        target = root / PTBENCH_FILES[1]
        target.unlink()
        target.symlink_to(device)
        took, proc = _download("ptbench", "--from", root, timeout=20)
        assert_one_line_error(proc, mentions="character device")
        assert took < 10
        _assert_nothing_left(work)

    case(CASES, f"mirror_link_to {_device}")(_device_case)


@case(CASES)
def socket_in_a_mirror(work: Path) -> None:
    root = _mirror(work)
    target = root / PTBENCH_FILES[0]
    target.unlink()
    sock = socket.socket(socket.AF_UNIX)
    try:
        sock.bind(str(target))
        _, proc = _download("ptbench", "--from", root)
    finally:
        sock.close()
    assert_one_line_error(proc, mentions="not a regular file")
    _assert_nothing_left(work)


@case(CASES)
def link_to_a_fifo(work: Path) -> None:
    root = _mirror(work)
    fifo = work / "pipe"
    os.mkfifo(fifo)
    (root / PTBENCH_FILES[0]).unlink()
    (root / PTBENCH_FILES[0]).symlink_to(fifo)
    _, proc = _download("ptbench", "--from", root, timeout=20)
    assert_one_line_error(proc, mentions="a FIFO")
    _assert_nothing_left(work)


@case(CASES)
def directory_in_place_of_a_file(work: Path) -> None:
    root = _mirror(work)
    (root / PTBENCH_FILES[0]).unlink()
    (root / PTBENCH_FILES[0]).mkdir()
    _, proc = _download("ptbench", "--from", root)
    assert_one_line_error(proc, mentions="a directory")
    _assert_nothing_left(work)


@case(CASES)
def symlink_loop(work: Path) -> None:
    root = _mirror(work)
    (root / PTBENCH_FILES[0]).unlink()
    (root / PTBENCH_FILES[0]).symlink_to(root / PTBENCH_FILES[0])
    _, proc = _download("ptbench", "--from", root)
    assert_one_line_error(proc)
    _assert_nothing_left(work)


@case(CASES)
def dangling_symlink_is_missing(work: Path) -> None:
    root = _mirror(work)
    (root / PTBENCH_FILES[0]).unlink()
    (root / PTBENCH_FILES[0]).symlink_to(work / "nowhere")
    _, proc = _download("ptbench", "--from", root)
    assert_one_line_error(proc, mentions="missing")
    _assert_nothing_left(work)


@case(CASES)
def sparse_file_over_the_cap_is_refused_unread(work: Path) -> None:
    root = _mirror(work)
    with open(root / PTBENCH_FILES[0], "wb") as handle:
        handle.truncate(50 * 1024 * 1024 * 1024)  # 50 GB of holes
    took, proc = _download("ptbench", "--from", root, timeout=30)
    assert_one_line_error(proc, mentions="exceeds 500 MB")
    assert took < 10
    _assert_nothing_left(work)


@case(CASES)
def toolspectrum_mirror_with_a_fifo(work: Path) -> None:
    root = work / "ts"
    (root / "api").mkdir(parents=True)
    os.mkfifo(root / TOOLSPECTRUM_FILE)
    _, proc = _download("toolspectrum", "--from", root, timeout=20)
    assert_one_line_error(proc, mentions="a FIFO")
    _assert_nothing_left(work)


@case(CASES)
def toolspectrum_mirror_with_wrong_bytes(work: Path) -> None:
    root = work / "ts"
    for rel in ("api/API_description.json", "api/API_description_environment.json",
                "api/API_description_persona.json", "prompts/prompt_call_api.txt",
                "prompts/prompt_call_api_environment.txt", "prompts/prompt_call_api_persona.txt"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text("{}")
    _, proc = _download("toolspectrum", "--from", root)
    assert_one_line_error(proc, mentions="sha256")
    _assert_nothing_left(work)


for _where in ("missing", "file"):

    def _from_case(work: Path, where: str = _where) -> None:
        source = work / "source"
        if where == "file":
            source.write_text("not a directory")
        _, proc = _download("ptbench", "--from", source)
        assert_one_line_error(proc, mentions="missing from")
        _assert_nothing_left(work)

    case(CASES, f"from_{_where}")(_from_case)


@case(CASES)
def data_dir_is_a_file(work: Path) -> None:
    data = _data_dir()
    data.parent.mkdir(parents=True, exist_ok=True)
    data.write_text("mine")
    _, proc = _download("ptbench", "--from", _mirror(work))
    assert_one_line_error(proc, mentions="data dir")
    assert data.read_text() == "mine"


for _option, _value in (("--timeout", "0"), ("--timeout", "-1"), ("--timeout", "nan"), ("--timeout", "inf"),
                        ("--max-download-mb", "0"), ("--max-download-mb", "-5"),
                        ("--max-download-mb", "nan"), ("--max-download-mb", "1e99")):

    def _option_case(work: Path, option: str = _option, value: str = _value) -> None:
        _, proc = _download("ptbench", "--from", _mirror(work), option, value)
        assert_one_line_error(proc, mentions=option)
        _assert_nothing_left(work)

    case(CASES, f"option {_option} {_value}")(_option_case)
