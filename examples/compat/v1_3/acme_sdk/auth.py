"""Request signing for the Acme admin endpoints, as an aiosonic ``Auth``."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any
from urllib.parse import urlsplit

from aiosonic.auth import Auth


def signature(secret: str, method: str, path: str) -> str:
    """Hex HMAC-SHA256 of ``"METHOD /path"``, the way the platform checks it."""
    message = f"{method.upper()} {path}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


class SignatureAuth(Auth):
    """Signs each request with the account secret (``X-Acme-Signature``)."""

    def __init__(self, key_id: str, secret: str) -> None:
        self.key_id = key_id
        self.secret = secret

    def apply(self, headers: Any, method: str, url: str) -> None:
        path = urlsplit(url).path or "/"
        headers["X-Acme-Key"] = self.key_id
        headers["X-Acme-Signature"] = signature(self.secret, method, path)
