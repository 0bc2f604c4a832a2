"""Server URLs given by users: credentials kept out of everything written, and "is it local".

A `--base-url` may carry a credential: userinfo (`http://user:KEY@host/v1`) or a query
parameter (`?api-key=KEY`, `?token=...`, Azure's `?sig=...`). `redact_url` replaces the whole
userinfo and every query value with `***` (only the harmless `api-version`-like values stay
readable), so config.json, errors.jsonl, messages and cache identities never hold the key.
`url_secrets` lists those credentials so that text a server sends back (an error body that
echoes the request) can be scrubbed with `scrub` before it is cut or written.

`is_loopback` parses the host: 127.0.0.0/8, ::1 (also IPv4-mapped) and `localhost` exactly.
A substring test would let `http://localhost.example.com` or `http://127.0.0.1.evil.com` pass.
"""

from __future__ import annotations

import base64
import ipaddress
import re
from collections.abc import Iterable
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from pertool.errors import PertoolError

__all__ = ["MASK", "host_of", "is_loopback", "redact_url", "restore_base_url", "scrub", "url_secrets"]

MASK = "***"
# Query parameters that only name a protocol version: shown as given.
_PLAIN_QUERY = frozenset({"api-version", "api_version", "version"})
_HOST_PORT = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[^\[\]:@/?#\s]+)(:[0-9]*)?")


def redact_url(url: str) -> str:
    """`url` with its userinfo, query values and fragment masked; unparseable text is masked whole."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return MASK
    host = parts.netloc.rpartition("@")[2]
    netloc = f"{MASK}@{host}" if "@" in parts.netloc else parts.netloc
    query = "&".join(f"{name}={value if name.lower() in _PLAIN_QUERY else MASK}" if sep else MASK
                     for name, sep, value in _query(parts.query))  # fmt: skip
    return urlunsplit((parts.scheme, netloc, parts.path, query, MASK if parts.fragment else ""))


def url_secrets(url: str | None) -> list[str]:
    """The credentials written in `url` (what `redact_url` masks), raw, decoded and encoded."""
    if not url:
        return []
    try:
        parts = urlsplit(url)
    except ValueError:
        return [url]
    found: list[str] = [parts.fragment]
    basic = []
    if "@" in parts.netloc:
        userinfo = parts.netloc.rpartition("@")[0]
        found += [userinfo, *userinfo.split(":", 1)]
        # sent as `Authorization: Basic base64(user:password)`, which a server may echo
        basic.append(base64.b64encode(unquote(userinfo).encode("utf-8", "surrogatepass")).decode())
    found += [value if sep else name for name, sep, value in _query(parts.query)
              if not sep or name.lower() not in _PLAIN_QUERY]  # fmt: skip
    out: set[str] = set(basic)
    for value in found:
        if len(value) >= 3:  # masking "a" or "" would garble every message
            out.update({value, unquote(value), quote(unquote(value), safe="")})
    return sorted(out, key=len, reverse=True)  # longest first: a secret may contain another


def _query(query: str) -> list[tuple[str, str, str]]:
    """(name, "=", value) per `&`-separated piece; a piece without `=` is all secret."""
    return [piece.partition("=") for piece in query.split("&") if piece]


def scrub(text: str, secrets: Iterable[str | None]) -> str:
    """`text` with every secret replaced by `***`. Scrub before cutting: a key across the cut
    would otherwise leave its head behind."""
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


def host_of(url: str | None) -> str | None:
    """The host `url` connects to (lowercase, IPv6 without brackets), or None when the
    authority is not plainly `[userinfo@]host[:port]` (`http://[::1].evil.com` is refused)."""
    if not url:
        return None
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        return None
    if not _HOST_PORT.fullmatch(parts.netloc.rpartition("@")[2]):
        return None
    return parts.hostname or None


def is_loopback(url: str | None) -> bool:
    """Whether `url` points at this machine: 127.0.0.0/8, ::1, or the name `localhost`."""
    host = host_of(url)
    if host is None:
        return False
    if host == "localhost":  # urlsplit lowercases the host
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def restore_base_url(stored: str | None, given: str | None) -> str | None:
    """The URL a resumed run connects to. config.json keeps the redacted form; a URL that had
    credentials must be given again with --base-url, and must redact to the stored form."""
    if given is None:
        if stored is not None and stored != redact_url(stored):
            return stored  # stored before redaction existed: nothing to restore
        if stored is not None and MASK in stored:
            raise PertoolError(f"this run's --base-url held credentials, which config.json does not "
                               f"keep ({stored}); give it again: --resume DIR --base-url URL")  # fmt: skip
        return stored
    if redact_url(given) != stored:
        raise PertoolError(f"--base-url {redact_url(given)} is not this run's server ({stored}); "
                           "--resume takes the rest of its settings from config.json")  # fmt: skip
    return given
