"""Parse the ``Link`` response header (RFC 8288 §3): pure, no I/O.

One field value holds comma-separated links, each ``<URI-Reference>``
followed by ``;``-separated parameters whose values may be tokens or quoted
strings. Commas inside ``<...>`` or inside quotes do not separate links, so
the value is scanned, not split. What the links mean is the caller's concern.
"""

from __future__ import annotations

__all__ = ["parse_link_header"]

#: A Link value longer than this is not parsed past it: a response may carry
#: any header, and a hostile one should not cost unbounded work per access.
MAX_LINK_VALUE = 64 * 1024


def _split_outside(value: str, separator: str) -> list[str]:
    """Split ``value`` on ``separator`` where it is outside ``<...>`` and quotes."""
    parts: list[str] = []
    start = 0
    in_angle = in_quote = escaped = False
    for index, char in enumerate(value):
        if escaped:
            escaped = False
        elif in_quote:
            if char == "\\":
                escaped = True
            elif char == '"':
                in_quote = False
        elif in_angle:
            in_angle = char != ">"
        elif char == '"':
            in_quote = True
        elif char == "<":
            in_angle = True
        elif char == separator:
            parts.append(value[start:index])
            start = index + 1
    parts.append(value[start:])
    return parts


def _unquote(value: str) -> str:
    """Return a parameter value without its quotes and backslash escapes (RFC 9110 §5.6.4)."""
    value = value.strip(" \t")
    if len(value) >= 2 and value[0] == value[-1] == '"':
        out: list[str] = []
        escaped = False
        for char in value[1:-1]:
            if escaped or char != "\\":
                out.append(char)
                escaped = False
            else:
                escaped = True
        return "".join(out)
    return value


def parse_link_header(value: str) -> list[dict[str, str]]:
    """Parse a ``Link`` field value into one dict per link.

    Args:
        value: The field value; several ``Link`` fields joined with ``", "``
            parse as one.

    Returns:
        One dict per link, in order: ``"url"`` is the target (not resolved
        against the request URL), and each parameter is under its lowercased
        name (``"rel"``, ``"title"``, ...), unquoted. A parameter without a
        value maps to ``""``; a repeated one keeps its first value
        (RFC 8288 §3.3 says to ignore later ``rel``). A part that does not
        start with ``<`` is skipped.
    """
    links: list[dict[str, str]] = []
    for part in _split_outside(value[:MAX_LINK_VALUE], ","):
        part = part.strip(" \t")
        if not part.startswith("<"):
            continue
        end = part.find(">")
        if end == -1:
            continue
        link = {"url": part[1:end].strip(" \t")}
        for param in _split_outside(part[end + 1 :], ";"):
            name, has_value, raw = param.partition("=")
            name = name.strip(" \t").lower()
            if name and name != "url" and name not in link:
                link[name] = _unquote(raw) if has_value else ""
        links.append(link)
    return links
