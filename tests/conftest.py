from __future__ import annotations

import http.server
import os
import signal
import threading
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest

from pertool.testing.browser import ReportBrowser, missing_reason, report_browser

# A shell starts background jobs with SIGINT ignored, and children inherit that, so a test
# run launched as `make test &` would give every pertool subprocess an ignored Ctrl-C. The
# tests that press Ctrl-C model a terminal user, whose SIGINT is never ignored: restore the
# default here, before any subprocess (or pytest-xdist worker) starts.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture
def serve_dir() -> Iterator:
    """Serve a directory over real HTTP on a loopback port; yields a function dir -> base URL."""
    servers: list[http.server.ThreadingHTTPServer] = []

    class QuietHandler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    def start(directory: Path) -> str:
        handler = partial(QuietHandler, directory=str(directory))
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture(autouse=True)
def isolated_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Downloads in tests never touch the real user data dir."""
    data = tmp_path / "pertool-data"
    monkeypatch.setenv("PERTOOL_DATA_DIR", str(data))
    return data


@pytest.fixture
def stub_server() -> Iterator:
    """Start configurable OpenAI-compatible stub servers (tests/support/openai_stub.py); all
    are stopped after the test. Yields a function respond -> StubServer."""
    from support.openai_stub import StubServer

    started: list[StubServer] = []

    def start(respond=None) -> StubServer:  # type: ignore[no-untyped-def]
        server = StubServer(respond)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def public_toolspectrum() -> Path:
    """The public ToolSpectrum data (skips without it, fails where CI requires it)."""
    from support.public_data import require_public_data

    return require_public_data("toolspectrum")


@pytest.fixture(scope="session")
def toolspectrum_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small ToolSpectrum data directory the tests build themselves (support/toolspectrum_fixture.py):
    the logic tests run on it with or without the public data. Shared by the session: copy it
    before changing anything in it."""
    from support.toolspectrum_fixture import write_toolspectrum

    return write_toolspectrum(tmp_path_factory.mktemp("toolspectrum-fixture") / "toolspectrum")


@pytest.fixture(scope="session")
def smollm2_dir() -> Path:
    """SmolLM2-135M-Instruct as a Transformers checkpoint (support/real_models.py)."""
    from support.real_models import smollm2_checkpoint

    return smollm2_checkpoint()


@pytest.fixture(scope="session")
def smollm2_gguf() -> Path:
    """SmolLM2-135M-Instruct's packaged GGUF file (support/real_models.py)."""
    from support.real_models import smollm2_gguf as find_gguf

    return find_gguf()


@pytest.fixture(scope="module")
def browser() -> Iterator[ReportBrowser]:
    """Headless Chromium driving report pages (one per test module); CI must have it."""
    problem = missing_reason()
    if problem is not None:
        if os.environ.get("CI"):
            pytest.fail(f"headless Chromium cannot be driven: {problem}; CI must run the browser tests")
        pytest.skip(f"headless Chromium cannot be driven: {problem}")
    with report_browser() as chromium:
        yield chromium
