"""A stand-in for `vllm serve` (the tests cannot install vLLM), on the tests' one stub server
(`pertool.testing.openai_stub`) at the host and port it is given.

    fake_vllm.py serve MODEL --host H --port P [--enable-lora --lora-modules NAME=PATH ...] [...]

Serves GET /v1/models and POST /v1/chat/completions like vLLM's OpenAI server. The answer text
names the model requested and the argv received, so tests can see what reached the process.
Behaviour knobs, read from the environment (tests set them with monkeypatch):

    FAKE_VLLM_DELAY   seconds to sleep before listening (exercises the readiness wait)
    FAKE_VLLM_FAIL    print this and exit 3 at once (a server that dies while loading)
    FAKE_VLLM_STATE   write {"pid", "child_pid", "argv"} here once listening
    FAKE_VLLM_CHILD   "1": start a worker child that ignores SIGTERM, like a stuck GPU worker
    FAKE_VLLM_ANSWER_DELAY  seconds to wait before each chat answer (a slow model)
    FAKE_VLLM_TERM_DELAY    seconds to linger after SIGTERM before exiting (a slow shutdown)
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from pertool.testing.openai_stub import Reply, StubRequest, StubServer, chat

ANSWER = "fake vllm answer"


def parse(argv: list[str]) -> dict[str, Any]:
    if len(argv) < 2 or argv[0] != "serve":
        sys.exit(f"usage: fake_vllm.py serve MODEL --host H --port P ...; got {argv}")
    args: dict[str, Any] = {"model": argv[1], "host": "127.0.0.1", "port": 8000, "lora": {}, "other": []}
    rest = argv[2:]
    i = 0
    while i < len(rest):
        flag = rest[i]
        if flag in ("--host", "--port"):
            args[flag[2:]] = rest[i + 1]
            i += 2
        elif flag == "--lora-modules":
            i += 1
            while i < len(rest) and not rest[i].startswith("--"):
                name, _, path = rest[i].partition("=")
                args["lora"][name] = path
                i += 1
        else:  # --enable-lora and anything else: recorded, otherwise ignored
            args["other"].append(flag)
            i += 1
    args["port"] = int(args["port"])
    return args


def responder(args: dict[str, Any], argv: list[str]) -> Callable[[Any, StubRequest], Reply]:
    served = [args["model"], *args["lora"]]

    def respond(body: Any, request: StubRequest) -> Reply:
        method = "GET" if body is None else "POST"
        sys.stderr.write(f"fake-vllm: {method} {request.path}\n")
        if method == "GET":
            if request.path != "/v1/models":
                return Reply(404, json={"error": {"message": f"no route {request.path}"}})
            return Reply(json={"object": "list", "data": [{"id": name, "object": "model"} for name in served]})
        if request.path != "/v1/chat/completions":
            return Reply(404, json={"error": {"message": f"no route {request.path}"}})
        time.sleep(float(os.environ.get("FAKE_VLLM_ANSWER_DELAY") or 0))
        model = body.get("model") if isinstance(body, dict) else None
        if model not in served:  # vLLM answers 404 for a model it does not serve
            return Reply(404, json={"error": {"message": f"The model `{model}` does not exist."}})
        text = f"{ANSWER} model={model} argv={json.dumps(argv)}"
        return Reply(json=chat(text, usage={"prompt_tokens": 7, "completion_tokens": 5, "total_tokens": 12},
                               model=model, created=int(time.time())))  # fmt: skip

    return respond


def main() -> None:
    argv = sys.argv[1:]
    # Exit on SIGTERM the way vLLM does: promptly (or after FAKE_VLLM_TERM_DELAY), without
    # waiting for workers.
    linger = float(os.environ.get("FAKE_VLLM_TERM_DELAY") or 0)

    def on_sigterm(*_: Any) -> None:
        time.sleep(linger)
        os._exit(0)

    signal.signal(signal.SIGTERM, on_sigterm)
    print(f"fake-vllm: starting with argv {argv}", flush=True)
    if message := os.environ.get("FAKE_VLLM_FAIL"):
        print(f"fake-vllm: loading model...\n{message}", flush=True)
        sys.exit(3)
    args = parse(argv)
    child = None
    if os.environ.get("FAKE_VLLM_CHILD") == "1":
        code = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(120)"
        child = subprocess.Popen([sys.executable, "-c", code])
    time.sleep(float(os.environ.get("FAKE_VLLM_DELAY") or 0))
    StubServer(responder(args, argv), host=args["host"], port=args["port"])  # serves on its own thread
    if state := os.environ.get("FAKE_VLLM_STATE"):
        info = {"pid": os.getpid(), "child_pid": child.pid if child else None, "argv": argv}
        with open(state, "w") as handle:
            json.dump(info, handle)
    print(f"fake-vllm: listening on {args['host']}:{args['port']}", flush=True)
    threading.Event().wait()  # until SIGTERM


if __name__ == "__main__":
    main()
