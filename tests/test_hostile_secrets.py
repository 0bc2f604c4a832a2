"""Credentials written in --base-url never reach what pertool writes; error bodies are scrubbed
before they are cut; "is this loopback" parses the host (issue 11, part 9)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from factory import record, write_split_dir
from pertool.errors import BackendError, PertoolError, SpecError
from pertool.models.base import Request
from pertool.models.openai_compat import OpenAICompatBackend, RetryPolicy
from pertool.models.registry import ModelOptions, create_backend
from pertool.testing.backends import complete_once
from pertool.urls import is_loopback, redact_url, restore_base_url, scrub, url_secrets
from support.cli import run_pertool
from support.openai_stub import Reply, StubServer, chat

USER_KEY = "sk-userinfo-SECRET-81f3"
QUERY_KEY = "sk-query-SECRET-27c9"
SECRETS = (USER_KEY, QUERY_KEY, base64.b64encode(f"ann:{USER_KEY}".encode()).decode())


@pytest.mark.parametrize(("url", "local"), [
    ("http://127.0.0.1:8000/v1", True),
    ("http://127.3.4.5/v1", True),
    ("http://localhost:8000/v1", True),
    ("http://LOCALHOST/v1", True),
    ("http://[::1]:8000/v1", True),
    ("http://[::ffff:127.0.0.1]/v1", True),
    ("http://user:pw@127.0.0.1/v1", True),
    ("http://localhost.example.com/v1", False),
    ("http://127.0.0.1.evil.com/v1", False),
    ("http://127.0.0.1@evil.com/v1", False),
    ("http://evil.com/127.0.0.1/v1", False),
    ("http://evil.com/v1?host=localhost", False),
    ("http://mylocalhost/v1", False),
    ("http://128.0.0.1/v1", False),
    ("http://0.0.0.0/v1", False),
    ("http://[::2]/v1", False),
    ("http://[::1/v1", False),
    ("localhost", False),
    ("", False),
])  # fmt: skip
def test_loopback_parses_the_host(url: str, local: bool) -> None:
    assert is_loopback(url) is local


@pytest.mark.parametrize(("url", "shown"), [
    ("http://ann:KEY1234@h:8/v1", "http://***@h:8/v1"),
    ("http://KEY1234@h/v1", "http://***@h/v1"),
    ("https://h/v1?api-key=KEY1234", "https://h/v1?api-key=***"),
    ("https://h/v1?api-version=2024-06-01&key=KEY1234", "https://h/v1?api-version=2024-06-01&key=***"),
    ("https://h/v1?KEY1234", "https://h/v1?***"),
    ("https://h/v1#KEY1234", "https://h/v1#***"),
    ("http://127.0.0.1:8000/v1", "http://127.0.0.1:8000/v1"),
])  # fmt: skip
def test_redaction(url: str, shown: str) -> None:
    assert redact_url(url) == shown == redact_url(shown)
    assert "KEY1234" not in redact_url(url)
    if shown != url:
        assert "KEY1234" in url_secrets(url)


def test_scrub_masks_every_spelling_before_the_text_is_cut() -> None:
    url = "http://ann:K%2FEY99@h/v1"
    text = "x" * 190 + "K/EY99 K%2FEY99 " + base64.b64encode(b"ann:K/EY99").decode()
    scrubbed = scrub(text, url_secrets(url))
    assert "EY99" not in scrubbed and "YW5u" not in scrubbed
    assert "K/E" not in scrubbed[:195]  # cut after scrubbing: no head of the key is left


def test_resume_needs_the_credentials_again_and_only_for_the_same_server() -> None:
    stored = redact_url("http://ann:KEY1234@h/v1")
    with pytest.raises(PertoolError, match="--base-url"):
        restore_base_url(stored, None)
    with pytest.raises(PertoolError, match="not this run's server"):
        restore_base_url(stored, "http://ann:KEY1234@other/v1")
    assert restore_base_url(stored, "http://bob:OTHER99@h/v1") == "http://bob:OTHER99@h/v1"
    assert restore_base_url("http://127.0.0.1:1/v1", None) == "http://127.0.0.1:1/v1"
    assert restore_base_url(None, None) is None


def test_a_key_echoed_across_the_cut_never_shows(stub_server: Any) -> None:
    key = "sk-echo-SECRET-0042"
    # The key starts at character 190: cut-then-scrub would leave "sk-echo-SE" behind.
    server = stub_server(lambda body, request: Reply(status=400, raw=("e" * 190 + request.headers["authorization"]
                                                                      + " again " + key).encode()))  # fmt: skip
    backend = OpenAICompatBackend("m", server.url, api_key=key, retry=RetryPolicy(max_attempts=1))

    with pytest.raises(BackendError) as info:
        complete_once(backend, Request(messages=({"role": "user", "content": "hi"},)))
    message = str(info.value)
    assert "HTTP 400" in message and "sk-echo" not in message and "***" in message


@pytest.mark.parametrize("url", ["http://localhost.example.com/v1", "http://127.0.0.1.evil.com/v1"])
def test_a_remote_server_that_looks_local_needs_a_key(url: str) -> None:
    with pytest.raises(SpecError, match="not on this machine"):
        create_backend("openai-compatible/m", ModelOptions(base_url=url))


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/v1", "127.0.0.1:8000", "http://127.0.0.1:port/v1"])
def test_a_base_url_that_is_not_http_is_refused_at_setup(url: str) -> None:
    with pytest.raises(SpecError, match="--base-url"):
        create_backend("openai-compatible/m", ModelOptions(base_url=url, api_key_env="HOME"))


def secret_url(server: StubServer) -> str:
    return f"http://ann:{USER_KEY}@127.0.0.1:{server.port}/v1?api-key={QUERY_KEY}&api-version=2024-06-01"


def assert_no_secret(*places: Path | str) -> None:
    for place in places:
        data = place.read_bytes() if isinstance(place, Path) else place.encode("utf-8", "surrogatepass")
        for secret in SECRETS:
            assert secret.encode() not in data, f"{secret} in {place if isinstance(place, Path) else 'output'}"


def test_credentials_in_base_url_never_reach_disk_or_stderr(tmp_path: Path) -> None:
    records = [record(query=f"Order paper, case {i}.") for i in range(3)]
    benchmark = f"ptbench:{write_split_dir(tmp_path / 'bench', records, [])}"
    env = {"PERTOOL_CACHE_DIR": str(tmp_path / "cache")}
    out = tmp_path / "run"
    answers = {"status": 500}

    def respond(body: Any, request: Any) -> Reply:  # echoes everything it was sent
        if answers["status"] != 200:
            echo = json.dumps({"path": request.path, "headers": request.headers})
            return Reply(status=answers["status"], raw=echo.encode())
        return Reply(json=chat("MegaMart:[placeOrder(productName='paper', quantity=2, address='1 Elm St')]"))

    with StubServer(respond) as server:
        proc = run_pertool("eval", "--benchmark", benchmark, "--model", "openai-compatible/m",
                           "--base-url", secret_url(server), "--max-attempts", "2", "--backoff-cap", "0",
                           "--out", out, "--no-progress", env=env)  # fmt: skip
        assert server.requests and QUERY_KEY in server.requests[0].path  # the key was sent, as asked
        assert server.requests[0].path.startswith("/v1/chat/completions?")
        assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
        errors = (out / "errors.jsonl").read_text()
        assert "HTTP 500" in errors and "***" in errors
        config = json.loads((out / "config.json").read_text())
        assert config["options"]["base_url"] == (f"http://***@127.0.0.1:{server.port}/v1"
                                                 "?api-key=***&api-version=2024-06-01")  # fmt: skip

        # --resume: the credentials are not in config.json, so it asks for them, once more.
        refused = run_pertool("eval", "--resume", out, "--no-progress", env=env)
        assert refused.returncode == 2 and "--base-url" in refused.stderr and "Traceback" not in refused.stderr
        answers["status"] = 200
        resumed = run_pertool("eval", "--resume", out, "--base-url", secret_url(server), "--no-progress", env=env)
        assert resumed.returncode == 0, resumed.stderr[-2000:]
        assert len((out / "predictions.jsonl").read_text().splitlines()) == 3

    written = [p for d in (out, tmp_path / "cache") for p in d.rglob("*") if p.is_file()]
    assert len(written) >= 4
    assert_no_secret(*written, proc.stdout, proc.stderr, refused.stderr, resumed.stdout, resumed.stderr)


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("shift", range(0, 20, 5))
def test_litellm_scrubs_the_key_before_cutting_its_message(stub_server: Any, monkeypatch: Any, shift: int) -> None:
    """LiteLLM's error quotes the body; the key, echoed back to back, straddles the 300-character
    cut at some offset: scrubbed first, no piece of it survives the cut."""
    pytest.importorskip("litellm")
    key = "Zq" * 10
    monkeypatch.setenv("PTB_LITELLM_KEY", key)
    error = {"error": {"message": "e" * shift + (key + " ") * 40}}
    server = stub_server(lambda body, request: Reply(status=400, json=error))
    backend = create_backend("litellm/openai/m", ModelOptions(base_url=server.url, api_key_env="PTB_LITELLM_KEY",
                                                              max_attempts=1))  # fmt: skip

    with pytest.raises(BackendError) as info:
        complete_once(backend, Request(messages=({"role": "user", "content": "hi"},)))
    message = str(info.value)
    assert "***" in message and "Zq" not in message and "Z..." not in message, message
