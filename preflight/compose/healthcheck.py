"""A Compose `healthcheck:` as the App's probe: an HTTP check where the test is a curl or wget
of a local URL on the app port, else the same command as an exec probe; and its timings."""

from __future__ import annotations

import math
import re
import shlex
from typing import Any, Optional
from urllib.parse import urlsplit

from .findings import NOT_MAPPED, NOTICE, ImportedService

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}
_LOCAL_HOSTS = {"localhost", "127.0.0.1", "0.0.0.0", "::1"}

# Options that do not change what a plain GET checks; anything else keeps the exec probe.
_CURL_FLAGS = re.compile(r"-[fsSLIk]+|--(fail|fail-with-body|silent|show-error|location|head|insecure)")
_CURL_WITH_VALUE = {"-o", "--output", "-m", "--max-time", "--connect-timeout", "--retry", "-w", "--write-out"}
_WGET_FLAGS = re.compile(r"-[qS]*(O-)?|-nv|--(spider|quiet|no-verbose|no-check-certificate)|"
                         r"--(tries|timeout|output-document)=\S+")
_WGET_WITH_VALUE = {"-O", "-qO", "-T", "--timeout", "-t", "--tries"}


def seconds(value: Any) -> Optional[int]:
    """'1m30s' -> 90, '500ms' -> 1 (probes count whole seconds, at least one); None if unreadable."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return max(1, math.ceil(value))
    text = str(value).strip()
    parts = _DURATION_PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        return None
    return max(1, math.ceil(sum(float(n) * _UNIT_SECONDS[u] for n, u in parts)))


def command_of(test: Any) -> Optional[list[str]]:
    """The argv Docker runs: ["CMD", ...] as is; ["CMD-SHELL", "..."] and a plain string in a shell."""
    if isinstance(test, str) and test.strip():
        return ["/bin/sh", "-c", test]
    if isinstance(test, list) and len(test) >= 2 and all(isinstance(part, str) for part in test):
        if test[0] == "CMD":
            return list(test[1:])
        if test[0] == "CMD-SHELL":
            return ["/bin/sh", "-c", " ".join(test[1:])]
    return None


def local_http_check(argv: list[str]) -> Optional[tuple[str, int]]:
    """(path, port) when the command only fetches a local http:// URL with curl or wget."""
    if argv[:2] == ["/bin/sh", "-c"]:
        first = re.split(r"\|\||&&|;|\|", argv[2], maxsplit=1)[0]
        try:
            argv = shlex.split(first)
        except ValueError:
            return None
    if not argv:
        return None
    tool = argv[0].rsplit("/", 1)[-1]
    if tool not in ("curl", "wget"):
        return None
    flags, with_value = (_CURL_FLAGS, _CURL_WITH_VALUE) if tool == "curl" else (_WGET_FLAGS, _WGET_WITH_VALUE)
    urls: list[str] = []
    words = iter(argv[1:])
    for word in words:
        if word in with_value:
            next(words, None)
        elif word.startswith("-"):
            if not flags.fullmatch(word) and not (word.startswith("--") and word.split("=")[0] in with_value):
                return None
        else:
            urls.append(word)
    if len(urls) != 1:
        return None
    url = urlsplit(urls[0])
    try:
        port = url.port or 80
    except ValueError:
        return None
    if url.scheme != "http" or url.hostname not in _LOCAL_HOSTS:
        return None
    path = (url.path or "/") + (f"?{url.query}" if url.query else "")
    return path, port


def probe_from_healthcheck(healthcheck: dict[str, Any], port: Optional[int],
                           out: ImportedService) -> tuple[Optional[dict[str, Any]], Optional[int]]:
    """The probe entry and, for a local HTTP check, the port it names."""
    argv = command_of(healthcheck.get("test"))
    if argv is None:
        out.note(NOT_MAPPED, "healthcheck.test", f"{healthcheck.get('test')!r} is not a Docker healthcheck "
                 "test ([CMD, ...], [CMD-SHELL, '...'] or a string); no probe mapped")
        return None, None
    probe: dict[str, Any] = {}
    http = local_http_check(argv)
    found_port = None
    if http and (port is None or http[1] == port):
        probe["path"], found_port = http
        if port is None:
            out.note(NOTICE, "healthcheck.test", f"the service names no port; the app port is {found_port}, "
                     "the one its healthcheck fetches")
    else:
        probe["command"] = argv
        if http:
            out.note(NOTICE, "healthcheck.test", f"fetches port {http[1]}, not the app port {port}: kept as an "
                     "exec probe")
        out.note(NOTICE, "healthcheck.test", f"an exec probe runs {argv[0] if argv[0] != '/bin/sh' else 'a shell'} "
                 "inside the container, as Docker does: the image must have it")
    for key, target, low, high in (("interval", "periodSeconds", 1, 3600), ("timeout", "timeoutSeconds", 1, 3600),
                                   ("start_period", "startSeconds", 5, 3600)):
        if key not in healthcheck:
            continue
        value = seconds(healthcheck[key])
        if value is None:
            out.note(NOT_MAPPED, f"healthcheck.{key}", f"{healthcheck[key]!r} is not a duration such as 30s or 1m30s")
        elif key != "start_period" or value > 0:
            probe[target] = min(max(value, low), high)
    if "retries" in healthcheck:
        try:
            probe["failureThreshold"] = min(max(int(healthcheck["retries"]), 1), 100)
        except (TypeError, ValueError):
            out.note(NOT_MAPPED, "healthcheck.retries", f"{healthcheck['retries']!r} is not a number")
    if "start_interval" in healthcheck:
        out.note(NOT_MAPPED, "healthcheck.start_interval", "the startup probe checks every 5 s")
    return probe, found_port
