"""Secrets: credentials written in --base-url (userinfo, key-like query parameters) never reach
config.json, errors.jsonl, metrics, the response cache, stdout or stderr; error bodies that echo
the key are scrubbed before they are cut; "is this loopback" parses the host.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from hostile import Case, assert_one_line_error, case, pertool
from pertool.errors import BackendError
from pertool.models.base import Request
from pertool.models.openai_compat import OpenAICompatBackend, RetryPolicy
from pertool.testing.backends import complete_once
from pertool.testing.openai_stub import Reply, StubServer, chat
from pertool.urls import is_loopback, redact_url

CASES: list[Case] = []
KEY = "sk-hostile-SECRET-9d2e41"
GOOD = "P:[f()]"


def bench(tmp: Path, n: int = 2) -> str:
    root = tmp / "bench/test_trained_user"
    root.mkdir(parents=True)
    record = {"user_profile": {"basic_features": {}, "user_history": {}}, "platforms": [{"name": "P", "profile": {}}],
              "tools": [], "answer": ["P", [{"f": {}}]], "query_params": [], "profile_params": []}  # fmt: skip
    (root / "data.json").write_text(json.dumps([{**record, "query": f"q{i}"} for i in range(n)]))
    return f"ptbench:{tmp / 'bench'}"


def echo(status: int) -> Any:
    """A server that answers `status` with everything it was sent (path, headers, body)."""

    def respond(body: Any, request: Any) -> Reply:
        if status == 200:
            return Reply(json=chat(GOOD))
        return Reply(status=status, raw=json.dumps({"path": request.path, "headers": request.headers,
                                                    "body": body}).encode())  # fmt: skip

    return respond


def leaks(tmp: Path, texts: list[str], secrets: list[str]) -> list[str]:
    found = []
    files = [p for p in tmp.rglob("*") if p.is_file() and "bench" not in p.parts]
    files += [p for p in (tmp.parent / "cache").rglob("*") if p.is_file()]
    for secret in secrets:
        for f in files:
            if secret.encode() in f.read_bytes():
                found.append(f"{secret} in {f.name}")
        found += [f"{secret} in output" for t in texts if secret in t]
    return found


URLS = {
    "userinfo": ("http://ann:{key}@127.0.0.1:{port}/v1", ["ann:{key}"]),
    "userinfo, user only": ("http://{key}@127.0.0.1:{port}/v1", []),
    "userinfo, encoded": ("http://ann:{key}%2F%40x@127.0.0.1:{port}/v1", ["ann:{key}/@x"]),
    "query api-key": ("http://127.0.0.1:{port}/v1?api-key={key}", []),
    "query api_key": ("http://127.0.0.1:{port}/v1?api_key={key}", []),
    "query key": ("http://127.0.0.1:{port}/v1?key={key}", []),
    "query token": ("http://127.0.0.1:{port}/v1?token={key}&api-version=1", []),
    "query sig": ("http://127.0.0.1:{port}/v1?sv=2&sig={key}", []),
    "query bare": ("http://127.0.0.1:{port}/v1?{key}", []),
    "query and userinfo": ("http://u:{key}@127.0.0.1:{port}/v1?access_token={key}", ["u:{key}"]),
    "localhost userinfo": ("http://ann:{key}@localhost:{port}/v1", ["ann:{key}"]),
}


def leak_case(name: str, template: str, basics: list[str], status: int) -> None:
    def run(tmp: Path) -> None:
        with StubServer(echo(status)) as server:
            url = template.format(key=KEY, port=server.port)
            out = tmp / "run"
            proc = pertool("eval", "--benchmark", bench(tmp), "--model", "openai-compatible/m", "--base-url", url,
                           "--out", out, "--no-progress", "--max-attempts", "2", "--backoff-cap", "0")  # fmt: skip
            assert server.requests, "the server was never asked"
        assert "Traceback" not in proc.stderr, proc.stderr[-1500:]
        secrets = [KEY] + [base64.b64encode(b.format(key=KEY).encode()).decode() for b in basics]
        found = leaks(tmp, [proc.stdout, proc.stderr], secrets)
        assert not found, found
        config = json.loads((out / "config.json").read_text())
        assert config["options"]["base_url"] == redact_url(url) and "***" in config["options"]["base_url"]
        if status != 200:
            assert f"HTTP {status}" in (out / "errors.jsonl").read_text()

    CASES.append(Case(f"{name}, server answers {status}", run))


for _name, (_template, _basics) in URLS.items():
    leak_case(_name, _template, _basics, 500)
for _name in ("userinfo", "query api-key", "query and userinfo"):
    leak_case(_name, *URLS[_name], 200)
    leak_case(_name, *URLS[_name], 400)


def resume_case(name: str, given: str | None, accepted: bool) -> None:
    def run(tmp: Path) -> None:
        answers = {"status": 503}

        def respond(body: Any, request: Any) -> Reply:
            return echo(answers["status"])(body, request)

        with StubServer(respond) as server:
            url = f"http://ann:{KEY}@127.0.0.1:{server.port}/v1?api-key={KEY}"
            out = tmp / "run"
            first = pertool("eval", "--benchmark", bench(tmp), "--model", "openai-compatible/m", "--base-url", url,
                            "--out", out, "--no-progress", "--max-attempts", "1")  # fmt: skip
            answers["status"] = 200
            again = given.format(key=KEY, port=server.port) if given else None
            args = ["--base-url", again] if again else []
            resumed = pertool("eval", "--resume", out, "--no-progress", *args)
        assert not leaks(tmp, [first.stderr, first.stdout, resumed.stdout, resumed.stderr], [KEY])
        if accepted:
            assert resumed.returncode == 0, resumed.stderr[-800:]
            assert len((out / "predictions.jsonl").read_text().splitlines()) == 2
        else:
            assert_one_line_error(resumed, mentions="--base-url")
            assert (out / "predictions.jsonl").read_text() == ""

    CASES.append(Case(f"resume: {name}", run))


resume_case("no --base-url: asks for the credentials", None, False)
resume_case("same URL again", "http://ann:{key}@127.0.0.1:{port}/v1?api-key={key}", True)
resume_case("rotated key, same server", "http://ann:NEWKEY77@127.0.0.1:{port}/v1?api-key=NEWKEY88", True)
resume_case("another server", "http://ann:{key}@127.0.0.2:{port}/v1?api-key={key}", False)
resume_case("credentials dropped", "http://127.0.0.1:{port}/v1", False)


def _ask(url: str) -> str:
    backend = OpenAICompatBackend("m", url, api_key=KEY, retry=RetryPolicy(max_attempts=1))

    try:
        complete_once(backend, Request(messages=({"role": "user", "content": "x"},)))
    except BackendError as exc:
        return str(exc)
    raise AssertionError("an error status was taken as an answer")


@case(CASES, "a key echoed across the 200-character cut is scrubbed whole")
def _across_the_cut(tmp: Path) -> None:
    for offset in (150, 185, 190, 195, 199, 200):
        body = ("e" * offset + KEY + " " + KEY).encode()
        with StubServer(lambda b, r, body=body: Reply(status=400, raw=body)) as server:  # type: ignore[misc]
            message = _ask(server.url)
        assert "sk-hos" not in message and "ECRET" not in message, (offset, message)


@case(CASES, "a key echoed by a 401 ends the run, never shown")
def _echo_401(tmp: Path) -> None:
    with StubServer(echo(401)) as server:
        out = tmp / "run"
        proc = pertool("eval", "--benchmark", bench(tmp), "--model", "openai-compatible/m", "--base-url", server.url,
                       "--api-key-env", "HOSTILE_KEY", "--out", out, "--no-progress",
                       env={"HOSTILE_KEY": KEY})  # fmt: skip
    assert proc.returncode != 0 and "Traceback" not in proc.stderr, proc.stderr[-800:]
    assert "401" in proc.stderr
    assert not leaks(tmp, [proc.stdout, proc.stderr], [KEY, base64.b64encode(KEY.encode()).decode()])


LOOPBACK = {
    "http://127.0.0.1:9/v1": True, "http://127.8.9.10:9/v1": True, "http://localhost:9/v1": True,
    "http://[::1]:9/v1": True, "http://LocalHost:9/v1": True, "http://[::ffff:127.0.0.1]:9/v1": True,
    "http://localhost.example.com/v1": False, "http://127.0.0.1.evil.com/v1": False,
    "http://127.0.0.1@evil.com/v1": False, "http://evil.com/127.0.0.1": False, "http://evil.com?localhost": False,
    "http://notlocalhost/v1": False, "http://localhost-proxy/v1": False, "http://[::1].evil.com/v1": False,
    "http://0x7f000001/v1": False, "http://2130706433/v1": False, "http://[::1": False, "": False,
}  # fmt: skip


@case(CASES, "loopback parser")
def _loopback(tmp: Path) -> None:
    wrong = [url for url, local in LOOPBACK.items() if is_loopback(url) is not local]
    assert not wrong, wrong


for _url in ("http://localhost.example.com/v1", "http://127.0.0.1.evil.com/v1", "http://127.0.0.1@evil.com/v1"):

    @case(CASES, f"remote server named like a local one needs a key: {_url}")
    def _remote(tmp: Path, url: str = _url) -> None:
        proc = pertool("eval", "--benchmark", bench(tmp), "--model", "openai-compatible/m", "--base-url", url,
                       "--out", tmp / "run", "--no-progress")  # fmt: skip
        assert_one_line_error(proc, mentions="not on this machine")
