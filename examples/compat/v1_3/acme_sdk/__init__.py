"""Acme SDK: the Acme platform's async client, built on aiosonic 1.3."""

from acme_sdk.api import AcmeAPI, make_http_client
from acme_sdk.auth import SignatureAuth

__all__ = ["AcmeAPI", "SignatureAuth", "make_http_client"]
