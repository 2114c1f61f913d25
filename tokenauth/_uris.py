"""RFC 3986 §6.2.2-6.2.3 normalisation of an HTTP(S) URI, for DPoP's ``htu`` (RFC 9449 §4.3)."""

from __future__ import annotations

import functools
import re

__all__ = ["normalised_uri"]

_DEFAULT_PORTS = {"http": "80", "https": "443"}
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*", re.ASCII)
_PORT = re.compile(r"0*[0-9]{0,5}", re.ASCII)  # never a number too long for int()
# RFC 3986 §2.3 unreserved characters: "%41" and "A" are the same URI, "%2F" and "/" are not.
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
# What a path or userinfo may hold as is (§3.3: pchar and "/"); all else is percent-encoded.
_PATH_CHARACTERS = _UNRESERVED | frozenset("!$&'()*+,;=:@/")
_PERCENT = re.compile(r"%([0-9A-Fa-f]{2})", re.ASCII)
_NORMAL_ALREADY = re.compile(r"[A-Za-z0-9\-._~!$&'()*+,;=:@/]*", re.ASCII)  # no "%", nothing to do


# The same few URIs come again and again (each endpoint's, each client's htu for it).
@functools.lru_cache(maxsize=256)
def normalised_uri(uri: str) -> str | None:
    """``scheme://authority/path`` of ``uri`` in normal form, without query and fragment;
    None when it is no absolute URI with an authority (or its port is not a number).

    Scheme and host in lower case, the scheme's default port and an empty one dropped, an
    empty path made "/", percent-encodings upper-cased, unreserved characters decoded, other
    characters encoded (UTF-8), and "." and ".." segments removed.
    """
    scheme, separator, rest = uri.partition("://")
    if not separator or not _SCHEME.fullmatch(scheme):
        return None
    scheme = scheme.lower()
    end = len(rest)
    for delimiter in "/?#":  # the authority ends at the first of these (RFC 3986 §3.2)
        index = rest.find(delimiter)
        if index != -1:
            end = min(end, index)
    authority = _authority(scheme, rest[:end])
    if authority is None:
        return None
    path = rest[end:].partition("#")[0].partition("?")[0]
    return f"{scheme}://{authority}{_remove_dot_segments(_percent_encoding(path)) or '/'}"


def _authority(scheme: str, authority: str) -> str | None:
    userinfo, at, host_port = authority.rpartition("@")
    if host_port.startswith("["):  # an IP literal: "[::1]:8000"
        host, bracket, port = host_port.partition("]")
        host += bracket
        if not bracket or (port and not port.startswith(":")):
            return None
        port = port[1:]
    else:
        host, _, port = host_port.partition(":")
    if not host or not _PORT.fullmatch(port) or ":" in port:
        return None
    number = str(int(port)) if port else ""  # "08000" is port 8000
    if port and int(port) > 65535:
        return None
    port_part = "" if number in ("", _DEFAULT_PORTS.get(scheme)) else f":{number}"
    user_part = f"{_percent_encoding(userinfo)}@" if at else ""
    if host.startswith("["):
        host = host.lower()  # an IPv6 literal's hex digits; its brackets are no path characters
    else:  # lower case once decoded ("%41" is "a"), then the hex digits upper-cased again
        host = _percent_encoding(_percent_encoding(host).lower())
    return f"{user_part}{host}{port_part}"


def _percent_encoding(component: str) -> str:
    """Upper-case hex digits, decode what is unreserved, encode what may not stand as is."""
    if _NORMAL_ALREADY.fullmatch(component):  # most paths: one regex, not a loop per character
        return component
    out: list[str] = []
    index = 0
    while index < len(component):
        match = _PERCENT.match(component, index)
        if match:
            character = chr(int(match[1], 16))
            out.append(character if character in _UNRESERVED else f"%{match[1].upper()}")
            index = match.end()
            continue
        character = component[index]
        if character in _PATH_CHARACTERS:
            out.append(character)
        else:  # a space, a lone "%", non-ASCII: as its UTF-8 octets (RFC 3987 §3.1)
            data = character.encode("utf-8", "surrogatepass")
            out.extend(f"%{octet:02X}" for octet in data)
        index += 1
    return "".join(out)


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 §5.2.4, step by step."""
    if "/." not in path and not path.startswith("."):
        return path  # no dot segment: most paths
    output: list[str] = []
    while path:
        if path.startswith("../"):
            path = path[3:]
        elif path.startswith(("./", "/./")):
            path = path[2:]
        elif path == "/.":
            path = "/"
        elif path.startswith("/../"):
            path = path[3:]
            if output:
                output.pop()
        elif path == "/..":
            path = "/"
            if output:
                output.pop()
        elif path in (".", ".."):
            path = ""
        else:
            start = 1 if path.startswith("/") else 0
            end = path.find("/", start)
            end = len(path) if end == -1 else end
            output.append(path[:end])
            path = path[end:]
    return "".join(output)
