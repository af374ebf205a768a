"""TLS session resumption: the context that offers a session, and one connector's store.

asyncio's and uvloop's SSL protocols create each connection's
:class:`ssl.SSLObject` with ``context.wrap_bio(incoming, outgoing,
server_side=..., server_hostname=...)`` and pass no ``session=``, so a caller
of ``create_connection`` or ``start_tls`` cannot ask for one. The public way
in is the context itself: :class:`ResumingContext` is an
:class:`ssl.SSLContext` whose ``wrap_bio`` adds the session that the dialing
task offers (a :class:`contextvars.ContextVar`, set only around that task's
handshake). The loops call ``wrap_bio`` from ``connection_made``, run in a
copy of the dialing task's context: asyncio's as it is at
``create_connection`` or ``start_tls``, uvloop's ``start_tls`` as it was when
the transport was made, so the offer is set before connecting. Two dials in
flight never see each other's session. Checked on CPython 3.11, 3.12 and
3.13, on asyncio and uvloop 0.23, with TLS 1.2 and 1.3
(benchmarks/results/tls_resumption.md).

:class:`TLSSessions` is one connector's store: per pool key (everything that
shapes a connection: origin, verification, client certificate, context,
ALPN), at most one session, for at most :data:`MAX_SESSION_KEYS` keys (least
recently used dropped). A session is only offered with the context object it
was made with, so it never crosses TLS configurations.

Does not live here: building contexts (:mod:`aiosonic.tls`), dialing
(:mod:`aiosonic.dialer`), counting resumptions (:mod:`aiosonic.stats`).
"""

from __future__ import annotations

import ssl
import time
from collections import OrderedDict
from collections.abc import Hashable
from contextvars import ContextVar, Token
from types import TracebackType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aiosonic.tls import ClientCert, TLSContextCache

__all__ = ["MAX_SESSION_KEYS", "ResumingContext", "SessionDial", "TLSSessions"]

#: Pool keys whose session a connector keeps. Each holds one session (about
#: 1-2 KB), or the SSL object of the newest connection until its TLS 1.3
#: ticket is read: bounded, because a crawler meets many origins.
MAX_SESSION_KEYS = 128

#: The session the current task's dial offers, with the context it belongs to.
_OFFER: ContextVar[tuple[ssl.SSLContext, ssl.SSLSession] | None] = ContextVar(
    "aiosonic_tls_offer", default=None
)


class ResumingContext(ssl.SSLContext):
    """A client context that offers the dialing task's session in ``wrap_bio``.

    Without an offer (any dial not made by a connector with resumption on,
    and every server-side use) it behaves as :class:`ssl.SSLContext`.
    """

    def wrap_bio(
        self,
        incoming: ssl.MemoryBIO,
        outgoing: ssl.MemoryBIO,
        server_side: bool = False,
        server_hostname: str | bytes | None = None,
        session: ssl.SSLSession | None = None,
    ) -> ssl.SSLObject:
        """Wrap the BIOs, with the offered session when the caller passed none."""
        offer = _OFFER.get()
        # A session may only be set on a connection of the context that made
        # it (CPython raises otherwise); a dial through a proxy that is also
        # TLS uses another context object or none is offered.
        if session is None and offer is not None and offer[0] is self and not server_side:
            session = offer[1]
        return super().wrap_bio(incoming, outgoing, server_side, server_hostname, session)


class _Entry:
    """What one pool key keeps: its context, a session, or where the next comes from."""

    __slots__ = ("context", "offered_id", "session", "single_use", "source")

    def __init__(self, context: ssl.SSLContext) -> None:
        self.context = context
        self.session: ssl.SSLSession | None = None
        # The newest connection: in TLS 1.3 its ticket arrives after the
        # handshake, so its session is read when the next dial wants it.
        self.source: ssl.SSLObject | None = None
        # TLS 1.3 tickets are used once (RFC 8446 §C.4: reuse lets observers
        # link connections); the id of the last one offered, not to offer again.
        self.single_use = False
        self.offered_id = b""


class SessionDial:
    """One dial's part: offer a session around the handshake, then learn from it.

    ``with`` it around the call that does the TLS handshake, then call
    :meth:`handshaken` with the connection's SSL object.
    """

    __slots__ = ("_context", "_key", "_offered", "_sessions", "_token")

    def __init__(
        self,
        sessions: TLSSessions | None,
        key: Hashable,
        context: ssl.SSLContext | None,
        offered: ssl.SSLSession | None,
    ) -> None:
        self._sessions = sessions
        self._key = key
        self._context = context
        self._offered = offered
        self._token: Token[tuple[ssl.SSLContext, ssl.SSLSession] | None] | None = None

    def __repr__(self) -> str:
        return f"<SessionDial [{self._key!r}, offered={self._offered is not None}]>"

    def __enter__(self) -> SessionDial:
        context, offered = self._context, self._offered
        if context is not None and offered is not None:
            self._token = _OFFER.set((context, offered))
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._token is not None:
            _OFFER.reset(self._token)
            self._token = None

    def handshaken(self, ssl_object: ssl.SSLObject | None) -> None:
        """Note the connection the dial made (None if it has no TLS).

        A custom network backend's stream may answer ``ssl_object`` with its
        own object (the mock transport's does): only an SSLObject is read.
        """
        if self._sessions is not None and isinstance(ssl_object, ssl.SSLObject):
            self._sessions.handshaken(self._key, ssl_object, self._offered)


#: The dial of a connector with resumption off, or of a caller's own context.
_NO_DIAL = SessionDial(None, None, None, None)


class TLSSessions:
    """One connector's TLS: the shared contexts, and its sessions to resume per pool key.

    Args:
        contexts: Where contexts are built and cached (shared by connectors).
        enabled: Offer sessions; when False, every dial does a full handshake.
    """

    def __init__(self, contexts: TLSContextCache, enabled: bool = True) -> None:
        self.contexts = contexts
        self.enabled = enabled
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()

    def __repr__(self) -> str:
        held = sum(entry.session is not None for entry in self._entries.values())
        return (
            f"<TLSSessions [resumption={'on' if self.enabled else 'off'}, "
            f"keys={len(self._entries)}, sessions={held}]>"
        )

    def get(
        self, verify: bool, alpn: tuple[str, ...] = ("http/1.1",), cert: ClientCert | None = None
    ) -> ssl.SSLContext:
        """Return the shared context for ``verify``, ``alpn`` and ``cert`` (see TLSContextCache)."""
        return self.contexts.get(verify, alpn, cert)

    def dial(self, key: Hashable, context: ssl.SSLContext | None) -> SessionDial:
        """Return the dial to ``key`` with ``context``: its session to offer, if any.

        A context that is not a :class:`ResumingContext` (one the caller
        built), or None (plaintext), cannot be given a session: such dials
        are not tracked. Enter the dial before the transport is made: uvloop's
        ``start_tls`` runs the handshake in the context of the transport's
        creation.
        """
        if not self.enabled or not isinstance(context, ResumingContext):
            return _NO_DIAL
        entry = self._entries.get(key)
        if entry is None or entry.context is not context:
            # New, or the context was rebuilt (trust store changed): start over.
            entry = self._add(key, context)
        else:
            self._entries.move_to_end(key)
        return SessionDial(self, key, context, self._take(entry))

    def handshaken(
        self, key: Hashable, ssl_object: ssl.SSLObject, offered: ssl.SSLSession | None
    ) -> None:
        """Learn from a new connection to ``key``: drop a refused session, keep the source."""
        entry = self._entries.get(key)
        if entry is None or entry.context is not ssl_object.context:
            return  # evicted, or started over with a new context, while dialing
        if offered is not None and not ssl_object.session_reused:
            entry.session = None  # refused (new ticket keys, expired): do not offer it again
        entry.single_use = ssl_object.version() == "TLSv1.3"
        entry.source = ssl_object

    def forget(self) -> None:
        """Drop every session (and the SSL objects they would come from)."""
        self._entries.clear()

    def _add(self, key: Hashable, context: ssl.SSLContext) -> _Entry:
        entries = self._entries
        entries.pop(key, None)
        if len(entries) >= MAX_SESSION_KEYS:
            entries.popitem(last=False)
        entry = entries[key] = _Entry(context)
        return entry

    @staticmethod
    def _take(entry: _Entry) -> ssl.SSLSession | None:
        """Return the session to offer now, and update what ``entry`` keeps."""
        session = entry.session
        source = entry.source
        if session is None and source is not None:
            candidate = source.session
            # TLS 1.3: no ticket until the first read after the handshake; a
            # resumed connection shows the ticket it was resumed with until the
            # server's new one is read.
            if (
                candidate is not None
                and candidate.id != entry.offered_id
                and (candidate.has_ticket or not entry.single_use)
            ):
                session = candidate
                entry.source = None
        if session is None:
            return None
        if time.time() >= session.time + session.timeout:
            entry.session = None  # expired: the server would refuse it
            return None
        if entry.single_use:
            entry.session = None
            entry.offered_id = session.id
        else:
            entry.session = session
        return session
