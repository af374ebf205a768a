"""TLS configuration: build SSL contexts once per configuration and reuse them.

Loading a CA bundle costs milliseconds, so contexts are built once per process
and configuration (:data:`SHARED_CONTEXTS`): new connections, and new clients,
reuse them. A context is never changed after it is built. The trust
store is certifi's bundle unless ``SSL_CERT_FILE`` or ``SSL_CERT_DIR`` is set,
in which case those are used instead (as OpenSSL and curl do).
"""

from __future__ import annotations

import os
import ssl

import certifi

__all__ = ["SHARED_CONTEXTS", "TLSContextCache", "create_default_context"]

#: Configurations kept at once; a cache of contexts, not a record of them.
MAX_CONTEXTS = 32


def create_default_context(
    verify: bool = True, alpn: tuple[str, ...] = ("http/1.1",)
) -> ssl.SSLContext:
    """Build a client SSL context.

    Args:
        verify: Verify the peer certificate and host name (SNI is always sent).
        alpn: Protocols to offer with ALPN.

    Returns:
        A new context.
    """
    if verify:
        cafile = os.environ.get("SSL_CERT_FILE")
        capath = os.environ.get("SSL_CERT_DIR")
        if cafile or capath:
            context = ssl.create_default_context(cafile=cafile or None, capath=capath or None)
        else:
            context = ssl.create_default_context(cafile=certifi.where())
    else:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if alpn:
        context.set_alpn_protocols(list(alpn))
    return context


class TLSContextCache:
    """SSL contexts keyed by everything that shapes them.

    The key includes the trust-store environment variables, so changing them
    takes effect for the next connection without a restart.
    """

    def __init__(self) -> None:
        self._contexts: dict[tuple[object, ...], ssl.SSLContext] = {}

    def __repr__(self) -> str:
        return f"<TLSContextCache [{len(self._contexts)} contexts]>"

    def get(self, verify: bool, alpn: tuple[str, ...] = ("http/1.1",)) -> ssl.SSLContext:
        """Return the cached context for ``verify`` and ``alpn``, building it once."""
        key = (verify, alpn, os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))
        context = self._contexts.get(key)
        if context is None:
            if len(self._contexts) >= MAX_CONTEXTS:  # only a changing environment gets here
                self._contexts.clear()
            context = self._contexts[key] = create_default_context(verify, alpn)
        return context

    def clear(self) -> None:
        """Drop every cached context."""
        self._contexts.clear()


#: The contexts every connector uses: a new client over HTTPS does not load
#: the CA bundle again (a cold start would otherwise pay for it each time).
SHARED_CONTEXTS = TLSContextCache()
