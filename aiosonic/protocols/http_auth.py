"""HTTP authentication rules as pure functions: challenges in, header values out.

* :func:`parse_challenges` reads a ``WWW-Authenticate`` value (RFC 9110 §11.6.1);
* :func:`basic_credentials` builds a ``Basic`` value (RFC 7617);
* :class:`DigestChallenge` and :func:`digest_credentials` answer a ``Digest``
  challenge (RFC 7616).

No I/O and no state: the nonce count, the client nonce and which challenge is
remembered for which origin live in :mod:`aiosonic.auth`.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from urllib.parse import quote

from aiosonic.exceptions import AuthenticationError, InvalidRequest
from aiosonic.protocols.h11_rules import TCHAR

__all__ = [
    "DIGEST_ALGORITHMS",
    "Challenge",
    "DigestChallenge",
    "basic_credentials",
    "digest_credentials",
    "parse_challenges",
    "select_digest_challenge",
]

#: Hash functions by Digest algorithm name (RFC 7616 §3.3 and §6.1). SHA-512-256
#: is registered too, but OpenSSL builds disagree on offering it, so it is not.
DIGEST_ALGORITHMS: Mapping[str, Callable[[bytes], hashlib._Hash]] = MappingProxyType(
    {"MD5": hashlib.md5, "SHA-256": hashlib.sha256}
)
# The qop values this module can compute, in order of preference: auth-int
# also protects the body but needs all of it in advance (RFC 7616 §3.4.3).
_QOP_PREFERENCE = ("auth", "auth-int")

# RFC 9110 §5.6.2 token (its tchar as h11_rules has it), §11.2 token68,
# §5.6.4 quoted-string.
_TCHAR_CLASS = "[" + re.escape(TCHAR.decode("ascii")) + "]"
_TOKEN_RE = re.compile(_TCHAR_CLASS + "+")
_TOKEN68_RE = re.compile(r"[A-Za-z0-9\-._~+/]+=*[ \t]*(?=,|$)")
_PARAM_NAME_RE = re.compile("(" + _TCHAR_CLASS + r"+)[ \t]*=[ \t]*")
_QUOTED_RE = re.compile(r'"((?:[^"\\]|\\.)*)"')
_ESCAPED_RE = re.compile(r"\\(.)")
# RFC 8187 attr-char, for ``username*`` (RFC 7616 §3.4.4).
_ATTR_CHAR_SAFE = "!#$&+-.^_`|~"


@dataclass(frozen=True, slots=True)
class Challenge:
    """One challenge of a ``WWW-Authenticate`` field.

    Attributes:
        scheme: The auth scheme, lower-case (``"basic"``, ``"digest"``).
        params: Parameters by lower-case name, quoted values unescaped.
        token68: The token68 form some schemes use instead of parameters.
    """

    scheme: str
    params: Mapping[str, str]
    token68: str | None = None


def _malformed(value: str, pos: int, expected: str) -> AuthenticationError:
    return AuthenticationError(
        f"malformed WWW-Authenticate {value[:120]!r}: expected {expected} at offset {pos}"
    )


def _skip(value: str, pos: int, chars: str) -> int:
    while pos < len(value) and value[pos] in chars:
        pos += 1
    return pos


def _starts_param(value: str, pos: int) -> bool:
    """Whether ``name=value`` starts at ``pos``; ``abc=`` alone is a padded token68."""
    name = _PARAM_NAME_RE.match(value, pos)
    return name is not None and value[name.end() : name.end() + 1] not in ("", ",", "=")


def _param_value(value: str, pos: int) -> tuple[str, int]:
    """Read a token or quoted-string at ``pos``; return it and the offset after it."""
    if value.startswith('"', pos):
        quoted = _QUOTED_RE.match(value, pos)
        if quoted is None:
            raise _malformed(value, pos, "a closing quote")
        return _ESCAPED_RE.sub(r"\1", quoted.group(1)), quoted.end()
    token = _TOKEN_RE.match(value, pos)
    if token is None:
        raise _malformed(value, pos, "a token or quoted-string")
    return token.group(), token.end()


def _parse_params(value: str, pos: int) -> tuple[dict[str, str], int]:
    """Read ``#auth-param`` from ``pos`` up to the start of the next challenge."""
    params: dict[str, str] = {}
    while True:
        name = _PARAM_NAME_RE.match(value, pos)
        if name is None:
            # Not ``name=``: the next challenge's scheme (or the end) starts here.
            return params, pos
        param_value, pos = _param_value(value, name.end())
        # RFC 9110 §11.2: a name occurs once per challenge; keep the first.
        params.setdefault(name.group(1).lower(), param_value)
        pos = _skip(value, pos, " \t")
        if pos >= len(value):
            return params, pos
        if value[pos] != ",":
            raise _malformed(value, pos, "',' between parameters")
        pos = _skip(value, pos, " \t,")


def parse_challenges(value: str) -> list[Challenge]:
    """Split a ``WWW-Authenticate`` value into its challenges (RFC 9110 §11.6.1).

    ``challenge = auth-scheme [ 1*SP ( token68 / #auth-param ) ]``; a field may
    hold several challenges separated by commas, like its parameters.

    Args:
        value: The field value (several fields may be joined with ``", "``).

    Returns:
        The challenges, in the order the server listed them.

    Raises:
        AuthenticationError: The value does not follow the grammar.
    """
    challenges: list[Challenge] = []
    pos = _skip(value, 0, " \t,")
    while pos < len(value):
        scheme = _TOKEN_RE.match(value, pos)
        if scheme is None:
            raise _malformed(value, pos, "an auth scheme")
        pos = _skip(value, scheme.end(), " \t")
        token68 = None
        params: dict[str, str] = {}
        match68 = _TOKEN68_RE.match(value, pos)
        if match68 is not None and not _starts_param(value, pos):
            token68 = match68.group().rstrip(" \t")
            pos = match68.end()
        else:
            params, pos = _parse_params(value, pos)
        challenges.append(Challenge(scheme.group().lower(), MappingProxyType(params), token68))
        pos = _skip(value, pos, " \t,")
    return challenges


def basic_credentials(username: str, password: str) -> str:
    """Return the ``Authorization`` value for Basic auth (RFC 7617 §2, UTF-8 charset).

    Raises:
        InvalidRequest: The user-id has a colon or either part has a control
            character, which RFC 7617 §2 forbids.
    """
    if ":" in username:
        raise InvalidRequest("Basic auth user-id must not contain ':' (RFC 7617 §2)")
    for what, text in (("user-id", username), ("password", password)):
        if any(ord(char) < 0x20 or ord(char) == 0x7F for char in text):
            raise InvalidRequest(f"Basic auth {what} has a control character (RFC 7617 §2)")
    token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
    return f"Basic {token}"


@dataclass(frozen=True, slots=True)
class DigestChallenge:
    """A ``Digest`` challenge this module can answer (RFC 7616 §3.3).

    Attributes:
        realm: The protection space, as received.
        nonce: The server nonce.
        algorithm: Upper-case algorithm: ``MD5``, ``MD5-SESS``, ``SHA-256``,
            ``SHA-256-SESS``.
        qop: Offered quality-of-protection values, lower-case; empty for an
            RFC 2069 server that offers none.
        opaque: Echoed back unchanged when present.
        stale: The previous nonce expired; the credentials were fine.
        userhash: The server wants the user name hashed (RFC 7616 §3.4.4).
    """

    realm: str
    nonce: str
    algorithm: str
    qop: tuple[str, ...]
    opaque: str | None
    stale: bool
    userhash: bool

    @classmethod
    def from_challenge(cls, challenge: Challenge) -> DigestChallenge:
        """Validate a parsed ``Digest`` challenge.

        Raises:
            AuthenticationError: ``realm`` or ``nonce`` is missing, or the
                algorithm or ``qop`` is one this module cannot compute.
        """
        params = challenge.params
        missing = [name for name in ("realm", "nonce") if name not in params]
        if missing:
            raise AuthenticationError(
                f"Digest challenge lacks {' and '.join(missing)}: {dict(params)!r}"
            )
        algorithm = params.get("algorithm", "MD5").upper()
        if algorithm.removesuffix("-SESS") not in DIGEST_ALGORITHMS:
            raise AuthenticationError(
                f"unsupported Digest algorithm {params['algorithm']!r}; "
                f"supported: {', '.join(_supported_algorithms())}"
            )
        qop = tuple(q.strip().lower() for q in params.get("qop", "").split(",") if q.strip())
        if qop and not any(q in _QOP_PREFERENCE for q in qop):
            raise AuthenticationError(
                f"unsupported Digest qop {params['qop']!r}; supported: auth, auth-int"
            )
        return cls(
            realm=params["realm"],
            nonce=params["nonce"],
            algorithm=algorithm,
            qop=qop,
            opaque=params.get("opaque"),
            stale=params.get("stale", "").lower() == "true",
            userhash=params.get("userhash", "").lower() == "true",
        )

    def choose_qop(self, can_hash_body: bool) -> str | None:
        """Return the ``qop`` to answer with, or None for an RFC 2069 server.

        Args:
            can_hash_body: The whole body is known in advance, as auth-int needs.

        Raises:
            AuthenticationError: Only auth-int is offered and the body is a stream.
        """
        if not self.qop:
            return None
        if "auth" in self.qop:
            return "auth"
        if can_hash_body:
            return "auth-int"
        raise AuthenticationError(
            "the server offers only Digest qop=auth-int, which hashes the whole body "
            "in advance: unsupported for a streamed body; send bytes instead"
        )


def _supported_algorithms() -> list[str]:
    return [name + suffix for name in DIGEST_ALGORITHMS for suffix in ("", "-sess")]


def select_digest_challenge(challenges: Iterable[Challenge]) -> DigestChallenge | None:
    """Return the first ``Digest`` challenge that can be answered.

    RFC 7616 §3.7: the server lists its challenges in order of preference and
    the client uses the first one it supports.

    Returns:
        The challenge, or None when the server sent no Digest challenge.

    Raises:
        AuthenticationError: Every Digest challenge is malformed or unsupported;
            the message lists why.
    """
    reasons: list[str] = []
    for challenge in challenges:
        if challenge.scheme != "digest":
            continue
        try:
            return DigestChallenge.from_challenge(challenge)
        except AuthenticationError as exc:
            reasons.append(str(exc))
    if reasons:
        raise AuthenticationError("no Digest challenge can be answered: " + "; ".join(reasons))
    return None


def _octets(text: str) -> bytes:
    """Return the bytes a header value was received or will be sent as."""
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode("utf-8")


def _quoted(text: str) -> str:
    """Return ``text`` as an RFC 9110 §5.6.4 quoted-string."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def digest_credentials(
    challenge: DigestChallenge,
    username: str,
    password: str,
    method: str,
    uri: str,
    nonce_count: int,
    cnonce: str,
    body: bytes | None = None,
    can_hash_body: bool = True,
) -> str:
    """Return the ``Authorization`` value answering a Digest challenge (RFC 7616 §3.4).

    Args:
        challenge: The challenge to answer.
        username: User name; UTF-8, as RFC 7616 §4 prescribes.
        password: Password; UTF-8.
        method: Request method.
        uri: The request-target, exactly as on the request line.
        nonce_count: How many requests used this nonce, this one included.
        cnonce: A fresh client nonce.
        body: The request body, hashed for qop=auth-int.
        can_hash_body: ``body`` is the whole body (not a stream).

    Raises:
        AuthenticationError: Only qop=auth-int is offered for a streamed body.
    """
    hash_name = challenge.algorithm.removesuffix("-SESS")
    hash_func = DIGEST_ALGORITHMS[hash_name]

    def hex_hash(*parts: bytes) -> bytes:
        return hash_func(b":".join(parts)).hexdigest().encode("ascii")

    user = username.encode("utf-8")
    realm = _octets(challenge.realm)
    nonce = _octets(challenge.nonce)
    nc = f"{nonce_count:08x}"
    qop = challenge.choose_qop(can_hash_body)

    ha1 = hex_hash(user, realm, password.encode("utf-8"))
    if challenge.algorithm.endswith("-SESS"):
        ha1 = hex_hash(ha1, nonce, cnonce.encode("ascii"))
    a2 = [method.encode("ascii"), _octets(uri)]
    if qop == "auth-int":
        a2.append(hex_hash(body or b""))
    ha2 = hex_hash(*a2)
    if qop is None:
        # RFC 2069 compatibility: no qop, no nonce count, no client nonce.
        response = hex_hash(ha1, nonce, ha2)
    else:
        response = hex_hash(ha1, nonce, nc.encode(), cnonce.encode("ascii"), qop.encode(), ha2)

    fields: list[str] = []
    if challenge.userhash:
        hashed_user = hex_hash(user, realm).decode("ascii")
        fields.append(f"username={_quoted(hashed_user)}")
    elif username.isascii():
        fields.append(f"username={_quoted(username)}")
    else:
        # RFC 7616 §3.4.4: a name a quoted-string cannot carry goes in username*.
        fields.append(f"username*=UTF-8''{quote(username, safe=_ATTR_CHAR_SAFE)}")
    fields += [
        f"realm={_quoted(challenge.realm)}",
        f"uri={_quoted(uri)}",
        f"algorithm={challenge.algorithm.replace('-SESS', '-sess')}",
        f"nonce={_quoted(challenge.nonce)}",
    ]
    if qop is not None:
        fields += [f"nc={nc}", f"cnonce={_quoted(cnonce)}", f"qop={qop}"]
    fields.append(f"response={_quoted(response.decode('ascii'))}")
    if challenge.opaque is not None:
        fields.append(f"opaque={_quoted(challenge.opaque)}")
    if challenge.userhash:
        fields.append("userhash=true")
    return "Digest " + ", ".join(fields)
