"""Authentication schemes: :class:`AuthBase` flows and the loop that runs them.

An auth scheme is a flow: an async generator that yields the requests to send
and receives each response (``response = yield request``). Basic is one step,
Digest two (challenge, then answer), and a custom scheme, such as a bearer
token or a request signature, is a few lines::

    class BearerAuth(AuthBase):
        def __init__(self, token: str) -> None:
            self.token = token

        async def auth_flow(self, request: Request) -> AuthFlow:
            yield request.with_header("Authorization", f"Bearer {self.token}")

:func:`send_with_auth` runs a flow around one ``send`` callable, the way the
client's redirect loop wraps ``send``. Which scheme applies to which request
(explicit ``auth=``, URL userinfo, ``.netrc``) is decided by the client; the
header grammar and Digest arithmetic live in :mod:`aiosonic.protocols.http_auth`.
"""

from __future__ import annotations

import logging
import netrc
import os
import secrets
from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from urllib.parse import ParseResult, SplitResult, unquote

from aiosonic.exceptions import AuthenticationError, InvalidRequest
from aiosonic.headers import HttpHeaders
from aiosonic.protocols.http_auth import (
    DigestChallenge,
    basic_credentials,
    digest_credentials,
    parse_challenges,
    select_digest_challenge,
)
from aiosonic.request import Request
from aiosonic.response import HttpResponse
from aiosonic.urls import Origin

__all__ = [
    "MAX_AUTH_ROUNDS",
    "Auth",
    "AuthBase",
    "AuthFlow",
    "AuthType",
    "AuthsType",
    "BasicAuth",
    "BearerAuth",
    "DigestAuth",
    "NetrcAuth",
    "as_auth",
    "auth_for_host",
    "normalize_auths",
    "resolve_auth",
    "send_with_auth",
]

logger = logging.getLogger(__name__)

#: The generator type of :meth:`AuthBase.auth_flow`.
AuthFlow = AsyncGenerator[Request, HttpResponse]

#: Requests one flow may send: Digest needs three at most (a try, the answer
#: to the challenge, a retry on a stale nonce); more means a flow is looping.
MAX_AUTH_ROUNDS = 8
#: Body bytes of a challenge response read to keep its connection; a 401 page
#: is small, and a bigger one is cheaper to drop with its connection.
MAX_DISCARDED_BODY = 64 * 1024
#: Origins whose last Digest nonce is remembered per DigestAuth, so a client
#: that talks to many hosts keeps a bounded amount of state.
MAX_DIGEST_ORIGINS = 64


class AuthBase(ABC):
    """Base class of auth schemes: implement :meth:`auth_flow`."""

    @abstractmethod
    def auth_flow(self, request: Request) -> AuthFlow:
        """Yield the requests to send; each ``yield`` returns the response.

        Write it as ``async def`` with ``yield``. The flow ends when it
        returns; the last response goes to the caller. Never mutate
        ``request``: derive one with :meth:`Request.with_header`.

        Args:
            request: The request as the caller built it.
        """
        raise NotImplementedError


class Auth(AuthBase):
    """A scheme that sets headers: implement :meth:`apply` (the published 1.x contract).

    Subclasses written for the published ``aiosonic.auth.Auth`` work as they
    are: :meth:`apply` gets the request's headers, changes them in place, and
    the request goes with what it left. A scheme that must see the response
    (a challenge) implements :meth:`AuthBase.auth_flow` instead.
    """

    def apply(self, headers: HttpHeaders, method: str, url: str) -> None:
        """Add the credentials to ``headers``, in place.

        Args:
            headers: The request's headers (case-insensitive, multi-valued).
            method: The request's method, upper-case.
            url: The request's URL, without userinfo.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement apply() or auth_flow()")

    async def auth_flow(self, request: Request) -> AuthFlow:
        """Send the request once, with the headers :meth:`apply` left."""
        headers = HttpHeaders(request.headers)
        self.apply(headers, request.method, request.url.url)
        yield request.with_headers(list(headers.items()))


class BasicAuth(Auth):
    """HTTP Basic auth (RFC 7617), user and password encoded as UTF-8.

    Args:
        username: The user-id; it must not contain ``:``.
        password: The password.

    Raises:
        InvalidRequest: The user-id has a colon or either part a control character.
    """

    def __init__(self, username: str, password: str) -> None:
        self.username = username
        self._password = password
        self._header = basic_credentials(username, password)

    def __repr__(self) -> str:
        return f"<BasicAuth user={self.username!r}>"

    @property
    def password(self) -> str:
        """The password (kept out of ``repr()``); setting it re-encodes the header."""
        return self._password

    @password.setter
    def password(self, value: str) -> None:
        self._header = basic_credentials(self.username, value)
        self._password = value

    def apply(self, headers: HttpHeaders, method: str, url: str) -> None:
        """Set the ``Authorization`` header (the published 1.x interface)."""
        headers["Authorization"] = self._header

    async def auth_flow(self, request: Request) -> AuthFlow:
        """Send the request once, with the Basic credentials."""
        yield request.with_header("Authorization", self._header)


class BearerAuth(Auth):
    """Bearer token auth (RFC 6750 §2.1): ``Authorization: Bearer <token>``.

    Args:
        token: The token, sent as it is.

    Raises:
        InvalidRequest: The token has a control character (it would split the header).
    """

    def __init__(self, token: str) -> None:
        if any(ord(c) < 0x20 or ord(c) == 0x7F for c in token):
            raise InvalidRequest("a bearer token must not contain control characters (CR, LF...)")
        self.token = token
        self._header = f"Bearer {token}"

    def __repr__(self) -> str:
        return "<BearerAuth>"

    def apply(self, headers: HttpHeaders, method: str, url: str) -> None:
        """Set the ``Authorization`` header (the published 1.x interface)."""
        headers["Authorization"] = self._header

    async def auth_flow(self, request: Request) -> AuthFlow:
        """Send the request once, with the token."""
        yield request.with_header("Authorization", self._header)


@dataclass(slots=True)
class _NonceState:
    """The challenge last answered for one origin, and how often its nonce was used."""

    challenge: DigestChallenge
    count: int = 0

    def next_count(self) -> int:
        self.count += 1
        return self.count


def _can_hash_body(request: Request) -> bool:
    """Whether the whole body is known in advance, as Digest qop=auth-int needs."""
    return request.body is None or isinstance(request.body, bytes)


class DigestAuth(AuthBase):
    """HTTP Digest auth (RFC 7616): MD5, SHA-256 and their ``-sess`` forms.

    The first request to an origin goes without credentials; the 401 challenge
    is answered by sending the request again. The nonce is then reused for
    later requests to that origin with an increasing nonce count, so they
    need no extra round trip until the server calls the nonce stale.

    A replay needs the body again, so a streamed body fails with
    :class:`~aiosonic.exceptions.InvalidRequest` once challenged; pass bytes.

    Args:
        username: User name (UTF-8).
        password: Password (UTF-8).
    """

    def __init__(self, username: str, password: str) -> None:
        self.username = username
        self._password = password
        self._nonces: dict[Origin, _NonceState] = {}

    def __repr__(self) -> str:
        return f"<DigestAuth user={self.username!r} origins={len(self._nonces)}>"

    def _authorize(self, request: Request, state: _NonceState) -> Request:
        body = request.body if isinstance(request.body, bytes) else None
        value = digest_credentials(
            state.challenge,
            self.username,
            self._password,
            request.method,
            request.url.target,
            state.next_count(),
            secrets.token_hex(16),
            body,
            can_hash_body=_can_hash_body(request),
        )
        return request.with_header("Authorization", value)

    def _remember(self, origin: Origin, challenge: DigestChallenge) -> _NonceState:
        self._nonces.pop(origin, None)
        if len(self._nonces) >= MAX_DIGEST_ORIGINS:
            del self._nonces[next(iter(self._nonces))]
        state = self._nonces[origin] = _NonceState(challenge)
        return state

    async def auth_flow(self, request: Request) -> AuthFlow:
        """Answer the server's Digest challenge; retry once on a stale nonce."""
        origin = request.url.origin
        state = self._nonces.get(origin)
        # A remembered nonce saves the round trip (RFC 7616 §3.4, nc); it also
        # lets a streamed body, which cannot be replayed, go out authorised.
        qop = state.challenge.qop if state is not None else ()
        if state is not None and (not qop or "auth" in qop or _can_hash_body(request)):
            response = yield self._authorize(request, state)
        else:
            response = yield request
        # Whether the last Authorization answered the challenge just before it:
        # then a new 401 means wrong credentials, unless the nonce was stale.
        fresh = False
        stale_retried = False
        while response.status_code == 401:
            fields = response.headers.getall("www-authenticate", [])
            challenge = select_digest_challenge(parse_challenges(", ".join(fields)))
            if challenge is None:
                return
            if fresh:
                if not challenge.stale or stale_retried:
                    return
                stale_retried = True
            state = self._remember(origin, challenge)
            fresh = True
            response = yield self._authorize(request, state)


class NetrcAuth(AuthBase):
    """Basic auth with the login and password ``.netrc`` gives the request's host.

    The file is ``file`` if given, else the ``NETRC`` environment variable as
    it is when this object is made, else ``~/.netrc`` (with the standard
    library's ownership and permission checks). It is read once, on first
    use, like the proxy variables ``trust_env`` reads once per client. A
    missing file or host sends the request without credentials; a malformed
    or unreadable file is logged as a warning and treated the same way.

    Args:
        file: Path of the netrc file.
    """

    def __init__(self, file: str | None = None) -> None:
        self.file = file or os.environ.get("NETRC") or None
        self._netrc: netrc.netrc | None = None
        self._loaded = False

    def __repr__(self) -> str:
        return f"<NetrcAuth file={self.file or '~/.netrc'!r}>"

    def _load(self) -> netrc.netrc | None:
        if not self._loaded:
            self._loaded = True
            try:
                self._netrc = netrc.netrc(self.file)
            except FileNotFoundError:
                logger.debug("no netrc file at %s", self.file or "~/.netrc")
            except (netrc.NetrcParseError, OSError) as exc:
                logger.warning("ignoring netrc file %s: %s", self.file or "~/.netrc", exc)
        return self._netrc

    def credentials(self, host: str) -> tuple[str, str] | None:
        """Return ``(login, password)`` for ``host`` (or the default entry), or None."""
        parsed = self._load()
        entry = parsed.authenticators(host) if parsed is not None else None
        if entry is None:
            return None
        login, _, password = entry
        if not login and not password:
            return None
        return login, password or ""

    async def auth_flow(self, request: Request) -> AuthFlow:
        """Send the request with the host's netrc credentials, if any."""
        found = self.credentials(request.url.host)
        if found is None:
            yield request
        else:
            yield request.with_header("Authorization", basic_credentials(*found))


#: What ``auth=`` accepts: a scheme, or ``(user, password)`` for Basic.
AuthType = AuthBase | tuple[str, str] | None


#: What ``HTTPClient(auths=...)`` maps: ``"host"`` or ``"host:port"`` to a scheme.
AuthsType = Mapping[str, AuthBase | tuple[str, str]] | None


def normalize_auths(auths: AuthsType) -> dict[str, AuthBase]:
    """Return ``auths`` keyed for :func:`auth_for_host`: lower-case, IPv6 without brackets.

    Raises:
        InvalidRequest: A key is not a ``str`` or a value is not a scheme or
            ``(user, password)``.
    """
    table: dict[str, AuthBase] = {}
    for key, value in (auths or {}).items():
        if not isinstance(key, str) or not key:
            raise InvalidRequest(f"auths keys must be 'host' or 'host:port' strings, got {key!r}")
        scheme = as_auth(value)
        if scheme is not None:
            table[key.lower().replace("[", "").replace("]", "")] = scheme
    return table


def auth_for_host(auths: dict[str, AuthBase], host: str, port: int) -> AuthBase | None:
    """Return the scheme ``auths`` (from :func:`normalize_auths`) has for ``host``.

    ``"host:port"`` is looked up first (``port`` is the URL's, or its scheme's
    default), then ``"host"``: credentials go only to the hosts named.
    """
    host = host.lower()
    found = auths.get(f"{host}:{port}")
    return found if found is not None else auths.get(host)


def resolve_auth(
    auth: AuthType, urlparsed: ParseResult | SplitResult, auths: AuthsType = None
) -> AuthBase | None:
    """Return the scheme a request uses, in the published 1.3 order.

    The first found wins: ``auth`` itself, the URL's ``user:password@``
    (Basic), then the entry of ``auths`` for the URL's host (``host:port``
    first, the scheme's default port filled in, then ``host``).

    Args:
        auth: The request's ``auth=``.
        urlparsed: The parsed request URL.
        auths: Schemes by ``"host"`` or ``"host:port"``, as ``HTTPClient(auths=...)``.

    Returns:
        The scheme, or None when the request goes without authentication.

    Raises:
        InvalidRequest: ``auth`` or a value of ``auths`` is not a scheme or
            ``(user, password)``.
    """
    scheme = as_auth(auth)
    if scheme is not None:
        return scheme
    if urlparsed.username is not None:
        return BasicAuth(unquote(urlparsed.username), unquote(urlparsed.password or ""))
    if not auths or not urlparsed.hostname:
        return None
    port = urlparsed.port or (443 if urlparsed.scheme in ("https", "wss") else 80)
    return auth_for_host(normalize_auths(auths), urlparsed.hostname, port)


def as_auth(value: AuthType) -> AuthBase | None:
    """Return ``value`` as an auth scheme; ``(user, password)`` means Basic.

    Raises:
        InvalidRequest: ``value`` is neither.
    """
    if value is None or isinstance(value, AuthBase):
        return value
    if isinstance(value, tuple) and len(value) == 2 and all(isinstance(v, str) for v in value):
        return BasicAuth(value[0], value[1])
    raise InvalidRequest(
        f"auth must be an AuthBase or a (user, password) tuple of str, got {type(value).__name__}"
    )


async def send_with_auth(
    request: Request,
    auth: AuthBase,
    send: Callable[[Request], Awaitable[HttpResponse]],
) -> HttpResponse:
    """Run ``auth``'s flow for ``request``, sending each step with ``send``.

    Every response but the last is discarded before the next request goes,
    so its connection can carry that request.

    Returns:
        The response the flow ended on.

    Raises:
        InvalidRequest: The flow wants to send a streamed body a second time.
        AuthenticationError: The flow yields nothing, does not finish within
            :data:`MAX_AUTH_ROUNDS` requests, or rejects the challenge.
    """
    flow = auth.auth_flow(request)
    name = type(auth).__name__
    try:
        try:
            outgoing = await anext(flow)
        except StopAsyncIteration:
            raise AuthenticationError(f"{name}.auth_flow yielded no request") from None
        streams_sent: list[object] = []
        for _ in range(MAX_AUTH_ROUNDS):
            if not outgoing.replayable and outgoing.body is not None:
                if any(outgoing.body is sent for sent in streams_sent):
                    raise InvalidRequest(
                        f"{name} must send {outgoing.method} {outgoing.url.url} again, but "
                        "its streamed body was already consumed; pass the body as bytes"
                    )
                streams_sent.append(outgoing.body)
            response = await send(outgoing)
            try:
                outgoing = await flow.asend(response)
            except StopAsyncIteration:
                return response
            except BaseException:
                await response.aclose()
                raise
            # Answered: read the challenge's body so its connection can carry
            # the next request (or drop a big one with its connection).
            if response.stream is not None:
                await response.stream.discard(MAX_DISCARDED_BODY)
        raise AuthenticationError(
            f"{name} sent {MAX_AUTH_ROUNDS} requests for {request.url.url} without finishing"
        )
    finally:
        await flow.aclose()


def __getattr__(name: str) -> object:
    """Serve names the published module had that ours does not use (PEP 562, on first use)."""
    from aiosonic._published import resolve

    return resolve(__name__, name)


def __dir__() -> list[str]:
    from aiosonic._published import names

    return names(__name__, globals())
