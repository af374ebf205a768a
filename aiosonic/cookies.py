"""The client cookie jar (:class:`CookieJar`) behind ``handle_cookies=True``.

It stores cookies from ``Set-Cookie`` response headers and builds the
``Cookie`` request header for a URL, following RFC 6265 §5: domain and path
matching, host-only cookies, ``Secure``, expiry through ``Max-Age`` and
``Expires``, and the send order of §5.4.

The cookie pair (name and value) is parsed with :class:`http.cookies.SimpleCookie`;
the attributes are parsed here per RFC 6265 §5.2, because ``SimpleCookie``
drops the whole cookie on attributes it does not know (``Partitioned``) or on
legal ``Expires`` forms it cannot tokenise (RFC 850 and asctime dates). A
``Set-Cookie`` that cannot be parsed is ignored and logged at debug level,
never raised: a server's bad cookie must not fail the request.

Without a public-suffix list, a ``Domain`` attribute with no dot (``Domain=com``)
is refused unless it equals the host. Storage is bounded by
:data:`MAX_COOKIES_PER_DOMAIN` and :data:`MAX_COOKIES`. Which requests use the
jar, and redirects, are the client's business, not this module's.
"""

from __future__ import annotations

import ipaddress
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC
from email.utils import parsedate_to_datetime
from http.cookies import CookieError, Morsel, SimpleCookie

__all__ = ["CookieJar"]

logger = logging.getLogger(__name__)

#: Longest ``Set-Cookie`` value stored, in characters. RFC 6265 §6.1 asks
#: clients to support at least 4096 bytes per cookie (name, value and
#: attributes); browsers stop there too, so no server relies on more.
MAX_SET_COOKIE_LENGTH = 4096

#: Most cookies kept for one domain; the oldest is evicted past it.
#: RFC 6265 §6.1 asks for at least 50 per domain; we keep 50 so one server
#: cannot crowd out the others.
MAX_COOKIES_PER_DOMAIN = 50

#: Most cookies in the jar; the oldest is evicted past it. RFC 6265 §6.1
#: asks for at least 3000 in total.
MAX_COOKIES = 3000

# RFC 6265 §5.2: attribute names we act on (compared in lower case); the
# others, like SameSite or Partitioned, are ignored as §5.2 step 6 says.
_KNOWN_ATTRIBUTES = frozenset({"expires", "max-age", "domain", "path", "secure", "httponly"})

_SECURE_SCHEMES = frozenset({"https", "wss"})

# Max-Age digits parsed as given; longer values (31 million years and up)
# are clamped, which keeps int() and float addition away from huge numbers.
_MAX_AGE_DIGITS = 15


@dataclass(slots=True)
class _StoredCookie:
    """A cookie in the jar with the metadata RFC 6265 §5.3 keeps beside it."""

    morsel: Morsel[str]
    domain: str
    path: str
    host_only: bool
    secure: bool
    expires_at: float | None  # seconds since the epoch; None: a session cookie
    creation: int  # insertion rank, kept on replacement (§5.3 step 11.3)


def _canonical_host(host: str) -> str:
    """Lower-case ``host`` and drop IPv6 brackets."""
    return host.strip("[]").lower()


def _is_ip(host: str) -> bool:
    """Tell whether ``host`` (canonical) is an IPv4 or IPv6 address literal."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _domain_match(host: str, domain: str) -> bool:
    """RFC 6265 §5.1.3: does ``host`` domain-match ``domain`` (both canonical)?"""
    if host == domain:
        return True
    return host.endswith(domain) and host[-len(domain) - 1] == "." and not _is_ip(host)


def _request_path(path: str) -> str:
    """Return the path of a request target without its query; ``/`` if empty."""
    path = path.split("?", 1)[0]
    return path if path.startswith("/") else "/"


def _default_path(request_path: str) -> str:
    """RFC 6265 §5.1.4: the directory of the request path."""
    if request_path.count("/") <= 1:
        return "/"
    return request_path[: request_path.rfind("/")]


def _path_match(request_path: str, cookie_path: str) -> bool:
    """RFC 6265 §5.1.4: does ``request_path`` path-match ``cookie_path``?"""
    if not request_path.startswith(cookie_path):
        return False
    return (
        len(request_path) == len(cookie_path)
        or cookie_path.endswith("/")
        or request_path[len(cookie_path)] == "/"
    )


def _split_set_cookie(header: str) -> tuple[str, dict[str, str]] | None:
    """Split a ``Set-Cookie`` value into its pair and its known attributes.

    Returns:
        ``(name=value, {attribute: value})`` with attribute names in lower
        case, the last occurrence winning (§5.3); ``None`` if there is no pair.
    """
    pair, *parts = header.split(";")
    if "=" not in pair:
        return None  # RFC 6265 §5.2 step 2
    attributes: dict[str, str] = {}
    for part in parts:
        name, _, value = part.partition("=")
        name = name.strip().lower()
        if name in _KNOWN_ATTRIBUTES:
            attributes[name] = value.strip()
    return pair.strip(), attributes


def _parse_pair(pair: str) -> Morsel[str] | None:
    """Parse ``name=value`` with ``SimpleCookie``; ``None`` if it refuses it."""
    parsed: SimpleCookie = SimpleCookie()
    try:
        parsed.load(pair)
    except CookieError as exc:
        logger.debug("ignoring cookie pair %.60r: %s", pair, exc)
        return None
    if len(parsed) != 1:
        return None
    return next(iter(parsed.values()))


def _expiry(attributes: dict[str, str], now: float) -> float | None:
    """Return when the cookie expires (epoch seconds), or ``None`` for a session cookie.

    ``Max-Age`` wins over ``Expires`` (RFC 6265 §5.3 step 3). A malformed
    value of either is ignored, as §5.2.1 and §5.2.2 say.
    """
    max_age = attributes.get("max-age")
    if max_age is not None:
        negative = max_age.startswith("-")
        digits = max_age[1:] if negative else max_age
        if digits.isascii() and digits.isdigit():
            if negative or not digits.strip("0"):
                # §5.2.2: zero or less means "the earliest representable time".
                return float("-inf")
            # More digits than a float keeps exactly mean "practically never".
            seconds = int(digits) if len(digits) <= _MAX_AGE_DIGITS else 10**_MAX_AGE_DIGITS
            return now + seconds
    expires = attributes.get("expires")
    if expires is not None:
        try:
            moment = parsedate_to_datetime(expires)
        except (TypeError, ValueError, OverflowError):
            return None
        if moment.tzinfo is None:  # "-0000" and asctime dates: treat as UTC
            moment = moment.replace(tzinfo=UTC)
        return moment.timestamp()
    return None


class CookieJar:
    """Keep cookies across requests as RFC 6265 §5 describes.

    Args:
        clock: Returns the current time in seconds since the epoch; tests
            inject a fake one.
    """

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        # domain -> (path, name) -> cookie; keyed by domain so a lookup only
        # visits the host and its parent domains.
        self._domains: dict[str, dict[tuple[str, str], _StoredCookie]] = {}
        self._next_creation = 0

    def update_from_response(
        self, scheme: str, host: str, path: str, set_cookie_values: Iterable[str]
    ) -> None:
        """Store the cookies a response set.

        Args:
            scheme: The request URL's scheme (``http``, ``https``).
            host: The request URL's host.
            path: The request URL's path; a query part is ignored.
            set_cookie_values: The response's ``Set-Cookie`` header values.
        """
        del scheme  # RFC 6265 lets any scheme set a Secure cookie
        host = _canonical_host(host)
        now = self._clock()
        for header in set_cookie_values:
            if len(header) > MAX_SET_COOKIE_LENGTH:
                logger.debug(
                    "ignoring Set-Cookie from %s: %d characters, more than %d",
                    host,
                    len(header),
                    MAX_SET_COOKIE_LENGTH,
                )
                continue
            cookie = self._build(header, host, _request_path(path), now)
            if cookie is not None:
                self._store(cookie, now)

    def header_for(self, scheme: str, host: str, path: str) -> str | None:
        """Return the ``Cookie`` header value for a request, or ``None``.

        Args:
            scheme: The request URL's scheme; ``Secure`` cookies go only
                over ``https`` (and ``wss``).
            host: The request URL's host.
            path: The request URL's path; a query part is ignored.

        Returns:
            ``name=value`` pairs joined by ``"; "``, longest path first, then
            oldest first (RFC 6265 §5.4), or ``None`` when no cookie applies.
        """
        if not self._domains:
            return None
        host = _canonical_host(host)
        request_path = _request_path(path)
        secure = scheme.lower() in _SECURE_SCHEMES
        now = self._clock()
        chosen: list[_StoredCookie] = []
        for domain in self._candidate_domains(host):
            for cookie in self._domains.get(domain, {}).values():
                if cookie.host_only and domain != host:
                    continue
                if cookie.secure and not secure:
                    continue
                if cookie.expires_at is not None and cookie.expires_at <= now:
                    continue
                if _path_match(request_path, cookie.path):
                    chosen.append(cookie)
        if not chosen:
            return None
        chosen.sort(key=lambda c: (-len(c.path), c.creation))
        return "; ".join(f"{c.morsel.key}={c.morsel.coded_value}" for c in chosen)

    def clear(self) -> None:
        """Forget every cookie."""
        self._domains.clear()

    def by_domain(self) -> dict[str, SimpleCookie]:
        """Return a snapshot of the live cookies: a ``SimpleCookie`` per domain.

        The published client kept its cookies so (``cookies_map``); changing
        the snapshot changes nothing in the jar.
        """
        now = self._clock()
        snapshot: dict[str, SimpleCookie] = {}
        for domain, cookies in self._domains.items():
            for cookie in sorted(cookies.values(), key=lambda c: c.creation):
                if cookie.expires_at is not None and cookie.expires_at <= now:
                    continue
                group = snapshot.setdefault(domain, SimpleCookie())
                group[cookie.morsel.key] = cookie.morsel.copy()
        return snapshot

    def __len__(self) -> int:
        self._drop_expired(self._clock())
        return sum(len(cookies) for cookies in self._domains.values())

    def __iter__(self) -> Iterator[Morsel[str]]:
        self._drop_expired(self._clock())
        cookies = [c for by_key in self._domains.values() for c in by_key.values()]
        return iter([c.morsel for c in cookies])

    def __repr__(self) -> str:
        return f"<CookieJar [{len(self)} cookies]>"

    # --- internals ----------------------------------------------------------

    @staticmethod
    def _candidate_domains(host: str) -> list[str]:
        """Return ``host`` and, unless it is an IP address, its parent domains."""
        if _is_ip(host):
            return [host]
        labels = host.split(".")
        return [".".join(labels[i:]) for i in range(len(labels))]

    def _build(self, header: str, host: str, request_path: str, now: float) -> _StoredCookie | None:
        """Turn one ``Set-Cookie`` value into a cookie, or ``None`` to ignore it."""
        split = _split_set_cookie(header)
        morsel = None if split is None else _parse_pair(split[0])
        if split is None or morsel is None:
            logger.debug("ignoring unparsable Set-Cookie from %s: %.60r", host, header)
            return None
        attributes = split[1]
        # RFC 6265 §5.2.3: one leading dot is dropped; an empty value is ignored.
        domain = attributes.get("domain", "").lower()
        if domain.startswith("."):
            domain = domain[1:]
        if not domain or (domain == host and _is_ip(host)):
            host_only, domain = True, host  # an IP address has no subdomains
        elif "." not in domain and domain == host:
            # §5.3 step 5 stand-in: a dotless Domain may only name the host itself.
            host_only = True
        elif "." in domain and _domain_match(host, domain):
            host_only = False  # sent to subdomains too, even when domain == host
        else:
            # §5.3 step 6, plus the dotless (public-suffix-like) case.
            logger.debug("ignoring cookie %r from %s: Domain=%s", morsel.key, host, domain)
            return None
        path = attributes.get("path", "")
        if not path.startswith("/"):  # §5.2.4
            path = _default_path(request_path)
        morsel["domain"] = domain
        morsel["path"] = path
        for name in ("expires", "max-age"):
            if name in attributes:
                morsel[name] = attributes[name]
        secure = "secure" in attributes
        morsel["secure"] = secure
        morsel["httponly"] = "httponly" in attributes
        return _StoredCookie(
            morsel=morsel,
            domain=domain,
            path=path,
            host_only=host_only,
            secure=secure,
            expires_at=_expiry(attributes, now),
            creation=0,
        )

    def _store(self, cookie: _StoredCookie, now: float) -> None:
        """Insert, replace or (when already expired) delete a cookie (§5.3 step 11)."""
        by_key = self._domains.setdefault(cookie.domain, {})
        key = (cookie.path, cookie.morsel.key)
        old = by_key.pop(key, None)
        if cookie.expires_at is not None and cookie.expires_at <= now:
            if not by_key:
                del self._domains[cookie.domain]
            return
        if old is not None:
            cookie.creation = old.creation
        else:
            cookie.creation = self._next_creation
            self._next_creation += 1
        by_key[key] = cookie
        self._evict(cookie.domain, now)

    def _evict(self, domain: str, now: float) -> None:
        """Drop expired cookies, then the oldest, to honour the size limits."""
        by_key = self._domains[domain]
        if len(by_key) > MAX_COOKIES_PER_DOMAIN:
            self._drop_expired(now)
            by_key = self._domains.get(domain, {})
            while len(by_key) > MAX_COOKIES_PER_DOMAIN:
                oldest = min(by_key.values(), key=lambda c: c.creation)
                del by_key[(oldest.path, oldest.morsel.key)]
        total = sum(len(cookies) for cookies in self._domains.values())
        if total > MAX_COOKIES:
            self._drop_expired(now)
            everything = sorted(
                (c for cookies in self._domains.values() for c in cookies.values()),
                key=lambda c: c.creation,
            )
            for oldest in everything[: len(everything) - MAX_COOKIES]:
                del self._domains[oldest.domain][(oldest.path, oldest.morsel.key)]
            self._domains = {d: cookies for d, cookies in self._domains.items() if cookies}

    def _drop_expired(self, now: float) -> None:
        """Remove every cookie whose expiry has passed."""
        for domain in list(self._domains):
            by_key = self._domains[domain]
            for key in [
                k for k, c in by_key.items() if c.expires_at is not None and c.expires_at <= now
            ]:
                del by_key[key]
            if not by_key:
                del self._domains[domain]
