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
import sys
from typing import NamedTuple

import certifi

from aiosonic.exceptions import InvalidRequest
from aiosonic.tls_sessions import ResumingContext

__all__ = [
    "SHARED_CONTEXTS",
    "CertType",
    "ClientCert",
    "TLSContextCache",
    "as_client_cert",
    "create_default_context",
    "get_default_ssl_context",
]

#: Configurations kept at once; a cache of contexts, not a record of them.
MAX_CONTEXTS = 32


class ClientCert(NamedTuple):
    """A client certificate for TLS: PEM files, and the key's password if it is encrypted.

    Hashable, so a cached context (and through it the pool key) tells one
    certificate from another. Its ``repr`` never shows the password.
    """

    certfile: str
    keyfile: str | None = None
    password: str | bytes | None = None

    def __repr__(self) -> str:
        secret = ", password=***" if self.password is not None else ""
        return f"ClientCert(certfile={self.certfile!r}, keyfile={self.keyfile!r}{secret})"

    def load_into(self, context: ssl.SSLContext) -> None:
        """Load the certificate chain into ``context``.

        Raises:
            InvalidRequest: A file is missing or unreadable, the key does not
                match, or the password is wrong.
        """
        try:
            context.load_cert_chain(self.certfile, self.keyfile, self.password)
        except (OSError, ssl.SSLError) as exc:
            raise InvalidRequest(f"cannot load the client certificate {self!r}: {exc}") from exc


#: What ``cert=`` accepts: a PEM file holding certificate and key, or
#: ``(certfile, keyfile)``, or ``(certfile, keyfile, password)``.
CertType = (
    str
    | os.PathLike[str]
    | tuple[str, str | None]
    | tuple[str, str | None, str | bytes | None]
    | ClientCert
    | None
)


def as_client_cert(value: CertType, check: bool = True) -> ClientCert | None:
    """Return ``value`` as a :class:`ClientCert`, checked by loading it once if ``check``.

    Unchecked, a certificate that cannot be loaded fails when the first
    context is built with it, with the same error.

    Raises:
        InvalidRequest: ``value`` is not a ``cert=`` shape, or cannot be loaded.
    """
    if value is None or isinstance(value, ClientCert):
        cert = value
    elif isinstance(value, (str, os.PathLike)):
        cert = ClientCert(os.fspath(value))
    elif isinstance(value, tuple) and len(value) in (2, 3) and isinstance(value[0], str):
        cert = ClientCert(*value)
    else:
        raise InvalidRequest(
            "cert must be a PEM path, (certfile, keyfile) or (certfile, keyfile, password), "
            f"got {type(value).__name__}"
        )
    if cert is not None and check:
        cert.load_into(ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT))  # fail here, not per connection
    return cert


def create_default_context(
    verify: bool = True, alpn: tuple[str, ...] = ("http/1.1",), cert: ClientCert | None = None
) -> ssl.SSLContext:
    """Build a client SSL context.

    Args:
        verify: Verify the peer certificate and host name (SNI is always sent).
        alpn: Protocols to offer with ALPN.
        cert: A client certificate to present when the server asks for one.

    Returns:
        A new context: a :class:`~aiosonic.tls_sessions.ResumingContext`, so
        a connector can resume TLS sessions made with it.
    """
    if verify:
        cafile = os.environ.get("SSL_CERT_FILE")
        capath = os.environ.get("SSL_CERT_DIR")
        if cafile or capath:
            context = _verifying_context(cafile or None, capath or None)
        else:
            context = _verifying_context(certifi.where(), None)
    else:
        context = ResumingContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if alpn:
        context.set_alpn_protocols(list(alpn))
    if cert is not None:
        cert.load_into(context)
    return context


def _verifying_context(cafile: str | None, capath: str | None) -> ssl.SSLContext:
    """Build what ``ssl.create_default_context(cafile=, capath=)`` builds, as a ResumingContext.

    The stdlib function always makes a plain :class:`ssl.SSLContext`; this
    repeats its steps for a client (CPython 3.11-3.13), and
    tests/test_tls_sessions.py checks the two agree on every setting.
    """
    context = ResumingContext(ssl.PROTOCOL_TLS_CLIENT)
    context.verify_mode = ssl.CERT_REQUIRED
    context.check_hostname = True
    if sys.version_info >= (3, 13):
        context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN | ssl.VERIFY_X509_STRICT
    if cafile or capath:
        context.load_verify_locations(cafile, capath)
    else:
        context.load_default_certs(ssl.Purpose.SERVER_AUTH)
    keylog = os.environ.get("SSLKEYLOGFILE")
    if keylog and not sys.flags.ignore_environment:
        context.keylog_filename = keylog
    return context


def get_default_ssl_context(verify: bool = True, http2: bool = False) -> ssl.SSLContext:
    """Build a new client context (the published helper's name and arguments).

    Args:
        verify: Verify the peer certificate and host name.
        http2: Offer ``h2`` before ``http/1.1`` with ALPN.

    Returns:
        A new context, configured as :func:`create_default_context` does.
    """
    return create_default_context(verify, ("h2", "http/1.1") if http2 else ("http/1.1",))


class TLSContextCache:
    """SSL contexts keyed by everything that shapes them.

    The key includes the trust-store environment variables, so changing them
    takes effect for the next connection without a restart.
    """

    def __init__(self) -> None:
        self._contexts: dict[tuple[object, ...], ssl.SSLContext] = {}

    def __repr__(self) -> str:
        return f"<TLSContextCache [{len(self._contexts)} contexts]>"

    def get(
        self, verify: bool, alpn: tuple[str, ...] = ("http/1.1",), cert: ClientCert | None = None
    ) -> ssl.SSLContext:
        """Return the cached context for ``verify``, ``alpn`` and ``cert``, building it once.

        The same arguments give the same context object, so connections made
        with it share a pool key; another certificate gets another context.
        """
        env = (os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))
        key = (verify, alpn, *env) if cert is None else (verify, alpn, *env, cert)
        context = self._contexts.get(key)
        if context is None:
            if len(self._contexts) >= MAX_CONTEXTS:  # a changing environment, or many certs
                self._contexts.clear()
            context = self._contexts[key] = create_default_context(verify, alpn, cert)
        return context

    def clear(self) -> None:
        """Drop every cached context."""
        self._contexts.clear()


#: The contexts every connector uses: a new client over HTTPS does not load
#: the CA bundle again (a cold start would otherwise pay for it each time).
SHARED_CONTEXTS = TLSContextCache()
