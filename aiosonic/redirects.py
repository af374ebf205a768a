"""Redirect policy (RFC 9110 §15.4): from a 3xx response to the next request.

Pure functions: :func:`is_redirect` says whether a response is one to follow,
and :func:`next_request` builds the request that follows it, applying the
method rewrite (301/302/303 -> GET), body rules (307/308 keep the body) and
credential stripping across origins. The loop and the hop limit live in the
client.
"""

from __future__ import annotations

from urllib.parse import urljoin

from aiosonic.exceptions import InvalidRequest
from aiosonic.request import Request
from aiosonic.urls import ParsedURL, parse_url

__all__ = [
    "DEFAULT_MAX_REDIRECTS",
    "MAX_REDIRECTS",
    "REDIRECT_STATUSES",
    "crosses_credential_boundary",
    "is_redirect",
    "next_request",
]

#: Hops a request follows before MaxRedirects unless ``max_redirects`` says
#: otherwise: the published 1.x default (0.14 to 0.24 followed 30; browsers
#: stop around 20, curl at 50). A redirect chain longer than 5 is rare and
#: is more often a loop than a route.
DEFAULT_MAX_REDIRECTS = 5
#: The same default, under its earlier name.
MAX_REDIRECTS = DEFAULT_MAX_REDIRECTS
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_FOLLOWED_SCHEMES = frozenset({"http", "https"})
# Dropped when the origin changes or TLS is lost: they authenticate the caller.
_CREDENTIALS = frozenset({"authorization", "cookie", "proxy-authorization"})
# Dropped when the body is: they describe it.
_BODY_HEADERS = frozenset(
    {"content-length", "content-type", "transfer-encoding", "content-encoding"}
)


def is_redirect(status_code: int, location: str | None) -> bool:
    """Return whether a response with this status and Location is a redirect."""
    return status_code in REDIRECT_STATUSES and bool(location)


def _utf8_location(location: str) -> str:
    """Re-decode a Location read as latin-1 as UTF-8 when its bytes are UTF-8.

    Servers often send a non-ASCII path unescaped, as UTF-8 bytes; read as
    latin-1 they would be percent-encoded twice (``é`` -> ``%C3%83%C2%A9``).
    """
    try:
        return location.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return location


def crosses_credential_boundary(old: ParsedURL, new: ParsedURL) -> bool:
    """Whether credentials must be dropped going from ``old`` to ``new``.

    The client applies the same rule to ``auth=``: a scheme stops at the hop
    where this is true.
    """
    if old.is_secure and not new.is_secure:
        return True
    return old.origin != new.origin and not (
        # http -> https upgrade of the same host on default ports keeps them.
        old.host == new.host
        and old.scheme == "http"
        and new.scheme == "https"
        and old.port == 80
        and new.port == 443
    )


def next_request(request: Request, status_code: int, location: str) -> Request:
    """Build the request that follows a redirect.

    Args:
        request: The request that got the redirect.
        status_code: The redirect status.
        location: The raw ``Location`` value, possibly relative.

    Raises:
        InvalidRequest: The target is not ``http``/``https``, or a 307/308
            needs a body that was streamed and cannot be sent again.
    """
    target = urljoin(request.url.url, _utf8_location(location).strip())
    scheme = target.split(":", 1)[0].lower()
    if scheme not in _FOLLOWED_SCHEMES:
        raise InvalidRequest(
            f"refusing to follow a redirect to {target[:80]!r}: only http and https are followed"
        )
    new_url = parse_url(target)
    method = request.method
    body = request.body
    chunked = request.chunked
    drop = {"host"}
    if status_code in (301, 302, 303) and method != "HEAD":
        method = "GET"
        body = None
        chunked = False
        drop |= _BODY_HEADERS
    elif status_code in (307, 308) and not request.replayable:
        raise InvalidRequest(
            f"cannot follow {status_code} to {new_url.url}: the streamed body cannot be re-sent"
        )
    if crosses_credential_boundary(request.url, new_url):
        drop |= _CREDENTIALS
    headers = [("Host", new_url.host_header)]
    headers.extend(p for p in request.headers if p[0].lower() not in drop)
    return Request(
        method=method,
        url=new_url,
        headers=headers,
        body=body,
        chunked=chunked,
        replayable=request.replayable,
    )
