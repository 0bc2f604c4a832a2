"""`pertool view`'s HTTP server: stdlib `http.server` on 127.0.0.1 only.

    /                          the leaderboard (polls /api/runs)
    /api/runs                  every run's row as JSON
    /run/NAME/                 the run's report: `pertool report`'s page, rendered on demand
    /compare?a=RUN&b=RUN       the samples two runs share, with both outcomes
    /compare?a=RUN&b=RUN&id=S  one sample: both runs' answers side by side

A run NAME (percent-encoded, "/" as %2F for `ablate`'s nested runs) is looked up among the runs
the scan of RUNS_DIR lists: a URL never becomes a path, so nothing outside RUNS_DIR can be
named. Only GET and HEAD; a request from another Host (DNS rebinding) is refused; each
connection times out; rendered pages are cached per run and dropped when its files change.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from pertool.viewer.pages import compare_page, error_page, index_page, samples_page
from pertool.viewer.runs import RunsIndex, lock_held, run_signature

__all__ = ["ViewServer", "make_server"]

_CACHED_RUNS = 8  # rendered reports and loaded runs kept in memory
_MAX_QUERY = 4096
_SECURITY = {
    "Content-Security-Policy": "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
    "img-src data:; connect-src 'self'; base-uri 'none'; form-action 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


class _NotFound(Exception):
    pass


class ViewServer(ThreadingHTTPServer):
    daemon_threads = True  # a slow page load never holds up Ctrl-C

    def __init__(self, root: Path, port: int):
        self.index = RunsIndex(root)
        self._cache: OrderedDict[tuple[str, str], tuple[Any, Any]] = OrderedDict()
        self._cache_lock = threading.Lock()
        super().__init__(("127.0.0.1", port), _Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/"

    def cached(self, what: str, name: str, make: Callable[[Path], Any]) -> Any:
        """`make(path)` of run `name`, computed again only when the run's files changed."""
        path = self.index.path_of(name)
        if path is None:
            raise _NotFound(f"no run named {name!r} in {self.index.root}")
        signature = (run_signature(path), lock_held(path))
        key = (what, name)
        with self._cache_lock:
            hit = self._cache.get(key)
            if hit is not None and hit[0] == signature:
                self._cache.move_to_end(key)
                return hit[1]
        value = make(path)
        with self._cache_lock:
            self._cache[key] = (signature, value)
            while len(self._cache) > _CACHED_RUNS:
                self._cache.popitem(last=False)
        return value


def make_server(root: Path, port: int) -> ViewServer:
    return ViewServer(root, port)


def _load_run(path: Path) -> Any:
    from pertool.report.rundata import load_run

    return load_run(path)


def _report(path: Path) -> str:
    from pertool.report.html import render_report

    page = render_report([_load_run(path)])
    back = ('<p style="margin:.5em 1.5em"><a href="/">&larr; all runs</a> (pertool view; this page is '
            "<code>pertool report</code>'s, as it was when opened)</p>")  # fmt: skip
    return page.replace("<body>", "<body>" + back, 1)


class _Handler(BaseHTTPRequestHandler):
    server: ViewServer
    timeout = 15  # seconds a connection may sit idle or trickle its request
    protocol_version = "HTTP/1.0"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        pass

    def do_HEAD(self) -> None:  # noqa: N802 - the stdlib's name
        self._answer(head=True)

    def do_GET(self) -> None:  # noqa: N802
        self._answer(head=False)

    def _answer(self, *, head: bool) -> None:
        try:
            status, kind, body = self._route()
        except _NotFound as exc:
            status, kind, body = HTTPStatus.NOT_FOUND, "text/html", error_page(404, str(exc))
        except Exception as exc:  # noqa: BLE001 - a run that cannot be shown is a page saying why
            message = " ".join(str(exc).split())[:1000] or type(exc).__name__
            status, kind, body = HTTPStatus.UNPROCESSABLE_ENTITY, "text/html", error_page(422, message)
        data = body.encode("utf-8", "replace")
        try:
            self.send_response(status)
            self.send_header("Content-Type", f"{kind}; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            for name, value in _SECURITY.items():
                self.send_header(name, value)
            self.end_headers()
            if not head:
                self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the browser went away
            pass

    def _route(self) -> tuple[int, str, str]:
        host = (self.headers.get("Host") or "").rsplit(":", 1)[0]
        if host not in ("127.0.0.1", "localhost", "[::1]"):
            return HTTPStatus.FORBIDDEN, "text/html", error_page(403, "pertool view answers 127.0.0.1 only")
        url = urlsplit(self.path)
        if len(url.query) > _MAX_QUERY:
            raise _NotFound("query too long")
        segments = url.path.split("/")[1:]  # split before decoding: %2F stays inside a name
        if url.path in ("/", "/index.html"):
            return HTTPStatus.OK, "text/html", index_page(str(self.server.index.root))
        if url.path == "/api/runs":
            return HTTPStatus.OK, "application/json", json.dumps(self.server.index.rows(), allow_nan=False)
        if len(segments) == 2 and segments[0] == "run" and segments[1]:  # /run/NAME: the trailing slash
            return HTTPStatus.MOVED_PERMANENTLY, "text/html", self._redirect(url.path + "/")
        if len(segments) == 3 and segments[0] == "run" and segments[2] == "":
            name = unquote(segments[1])
            return HTTPStatus.OK, "text/html", self.server.cached("report", name, _report)
        if url.path == "/compare":
            query = parse_qs(url.query, max_num_fields=3)
            a, b = (query.get(k, [""])[0] for k in ("a", "b"))
            if not a or not b:
                raise _NotFound("name two runs: /compare?a=RUN&b=RUN")
            runs = [self.server.cached("data", name, _load_run) for name in (a, b)]
            if "id" not in query:
                return HTTPStatus.OK, "text/html", samples_page(runs[0], runs[1], (a, b))
            sample = query["id"][0]
            if not any(v.id == sample for run in runs for v in run.samples):
                raise _NotFound(f"neither run has a sample {sample!r}")
            return HTTPStatus.OK, "text/html", compare_page(runs[0], runs[1], (a, b), sample)
        raise _NotFound(f"nothing at {url.path}")

    def _redirect(self, location: str) -> str:
        # http.server sends headers in order; Location goes out with the body's headers below
        self._location = location
        return error_page(301, f"moved to {location}")

    def send_response(self, code: int, message: str | None = None) -> None:
        super().send_response(code, message)
        location = getattr(self, "_location", None)
        if location is not None and code == HTTPStatus.MOVED_PERMANENTLY:
            self.send_header("Location", location)
