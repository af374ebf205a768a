"""Tune a TCP socket: the :class:`SocketOptions` of a connector, and the published helpers.

Lives here: :class:`SocketOptions`, the socket options every connection of a
connector gets (``TCP_NODELAY``, keepalive, ``TCP_USER_TIMEOUT``, the network
interface and the local address), the code that puts them on a socket, and
the helpers published in aiosonic 1.x (:func:`tcp_keepalive`,
:func:`tcp_nodelay`, :func:`keepalive_flags`).

Does not live here: choosing and racing addresses
(:mod:`aiosonic.happy_eyeballs`) and opening the connection
(:mod:`aiosonic.dialer`).
"""

from __future__ import annotations

import ipaddress
import math
import socket
import sys
from contextlib import suppress
from dataclasses import dataclass, field

from aiosonic.exceptions import ConnectError

__all__ = ["SocketOptions", "keepalive_flags", "tcp_keepalive", "tcp_nodelay"]

#: The idle time before the first keepalive probe: Linux and Windows call it
#: TCP_KEEPIDLE, macOS TCP_KEEPALIVE.
_TCP_KEEPIDLE: int | None = getattr(socket, "TCP_KEEPIDLE", None) or getattr(
    socket, "TCP_KEEPALIVE", None
)
_TCP_KEEPINTVL: int | None = getattr(socket, "TCP_KEEPINTVL", None)
_TCP_KEEPCNT: int | None = getattr(socket, "TCP_KEEPCNT", None)
_TCP_USER_TIMEOUT: int | None = getattr(socket, "TCP_USER_TIMEOUT", None)
_SO_BINDTODEVICE: int | None = getattr(socket, "SO_BINDTODEVICE", None)

#: Linux keeps TCP_KEEPIDLE and TCP_KEEPINTVL in whole seconds up to this (tcp(7)).
_MAX_KEEPALIVE_SECONDS = 32767
#: ... and TCP_KEEPCNT up to this many probes.
_MAX_KEEPALIVE_PROBES = 127

#: One option to set: (level, option, value, readable name for errors).
_SockOpt = tuple[int, int, int, str]


def _require(option: int | None, name: str, field_name: str) -> int:
    """Return the socket constant, or say that this platform lacks it.

    Raises:
        ValueError: The platform has no such socket option.
    """
    if option is None:
        raise ValueError(
            f"SocketOptions.{field_name} needs the {name} socket option, "
            f"which this platform ({sys.platform}) does not have"
        )
    return option


def _whole_seconds(value: float, field_name: str) -> int:
    """Round a positive number of seconds up to the kernel's whole seconds.

    Raises:
        ValueError: ``value`` is not in (0, 32767].
    """
    if not 0 < value <= _MAX_KEEPALIVE_SECONDS:
        raise ValueError(
            f"SocketOptions.{field_name} must be in (0, {_MAX_KEEPALIVE_SECONDS}] seconds, "
            f"got {value!r}"
        )
    return max(1, math.ceil(value))


@dataclass(frozen=True, slots=True)
class SocketOptions:
    """Socket options for every connection a connector opens; immutable.

    The names follow rnet's client options. Durations are in seconds.

    Args:
        tcp_nodelay: Send small writes at once (``TCP_NODELAY``, Nagle off).
            On by default, as asyncio and uvloop already set it.
        tcp_keepalive: Turn TCP keepalive on, probing after this many idle
            seconds (``SO_KEEPALIVE`` + ``TCP_KEEPIDLE``); ``None`` leaves it off.
            The kernel counts whole seconds: a fraction rounds up.
        tcp_keepalive_interval: Seconds between keepalive probes
            (``TCP_KEEPINTVL``); needs ``tcp_keepalive``. ``None``: the OS default.
        tcp_keepalive_retries: Unanswered probes before the connection is
            dropped (``TCP_KEEPCNT``); needs ``tcp_keepalive``. ``None``: the OS default.
        tcp_user_timeout: Seconds sent data may stay unacknowledged before the
            connection is dropped (``TCP_USER_TIMEOUT``, Linux); ``None``: the
            OS default.
        interface: Send through this network interface only (``SO_BINDTODEVICE``,
            Linux; may need ``CAP_NET_RAW``), such as ``"eth0"``.
        local_address: Connect from this local IP address (port chosen by the
            OS). Only destinations of its address family are tried.

    Raises:
        ValueError: A value is out of range, ``local_address`` is not an IP
            address, keepalive details are given without ``tcp_keepalive``, or
            the platform lacks the socket option an argument needs.
    """

    tcp_nodelay: bool = True
    tcp_keepalive: float | None = None
    tcp_keepalive_interval: float | None = None
    tcp_keepalive_retries: int | None = None
    tcp_user_timeout: float | None = None
    interface: str | None = None
    local_address: str | None = None
    #: What :meth:`apply` sets, worked out once.
    _sockopts: tuple[_SockOpt, ...] = field(init=False, repr=False, compare=False)
    #: The address family of ``local_address``, or None.
    local_family: int | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_sockopts", self._build_sockopts())
        object.__setattr__(self, "local_family", self._check_local_address())
        if self.interface is not None:
            _require(_SO_BINDTODEVICE, "SO_BINDTODEVICE", "interface")
            if not self.interface or "\0" in self.interface:
                raise ValueError(f"SocketOptions.interface must be a name, got {self.interface!r}")

    def _build_sockopts(self) -> tuple[_SockOpt, ...]:
        opts: list[_SockOpt] = []
        if not self.tcp_nodelay:
            # The loops turn it on for every TCP transport; off must come after.
            opts.append((socket.IPPROTO_TCP, socket.TCP_NODELAY, 0, "TCP_NODELAY"))
        if self.tcp_keepalive is None:
            if self.tcp_keepalive_interval is not None or self.tcp_keepalive_retries is not None:
                raise ValueError(
                    "SocketOptions.tcp_keepalive_interval and tcp_keepalive_retries "
                    "need tcp_keepalive (the idle seconds before the first probe)"
                )
        else:
            idle = _require(_TCP_KEEPIDLE, "TCP_KEEPIDLE", "tcp_keepalive")
            opts.append((socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1, "SO_KEEPALIVE"))
            seconds = _whole_seconds(self.tcp_keepalive, "tcp_keepalive")
            opts.append((socket.IPPROTO_TCP, idle, seconds, "TCP_KEEPIDLE"))
        if self.tcp_keepalive_interval is not None:
            interval = _require(_TCP_KEEPINTVL, "TCP_KEEPINTVL", "tcp_keepalive_interval")
            seconds = _whole_seconds(self.tcp_keepalive_interval, "tcp_keepalive_interval")
            opts.append((socket.IPPROTO_TCP, interval, seconds, "TCP_KEEPINTVL"))
        if self.tcp_keepalive_retries is not None:
            count = _require(_TCP_KEEPCNT, "TCP_KEEPCNT", "tcp_keepalive_retries")
            if not 1 <= self.tcp_keepalive_retries <= _MAX_KEEPALIVE_PROBES:
                raise ValueError(
                    f"SocketOptions.tcp_keepalive_retries must be in 1..{_MAX_KEEPALIVE_PROBES}, "
                    f"got {self.tcp_keepalive_retries!r}"
                )
            opts.append((socket.IPPROTO_TCP, count, self.tcp_keepalive_retries, "TCP_KEEPCNT"))
        if self.tcp_user_timeout is not None:
            user_timeout = _require(_TCP_USER_TIMEOUT, "TCP_USER_TIMEOUT", "tcp_user_timeout")
            milliseconds = round(self.tcp_user_timeout * 1000)
            if not 0 < milliseconds < 2**31:
                raise ValueError(
                    f"SocketOptions.tcp_user_timeout must be a positive number of seconds "
                    f"(at least 0.001), got {self.tcp_user_timeout!r}"
                )
            opts.append((socket.IPPROTO_TCP, user_timeout, milliseconds, "TCP_USER_TIMEOUT"))
        return tuple(opts)

    def _check_local_address(self) -> int | None:
        if self.local_address is None:
            return None
        try:
            address = ipaddress.ip_address(self.local_address)
        except ValueError as exc:
            raise ValueError(
                f"SocketOptions.local_address must be an IP address, got {self.local_address!r}"
            ) from exc
        return socket.AF_INET6 if address.version == 6 else socket.AF_INET

    @property
    def needs_own_socket(self) -> bool:
        """Whether the socket must be set up before connect (``interface``)."""
        return self.interface is not None

    @property
    def has_sockopts(self) -> bool:
        """Whether :meth:`apply` has anything to set."""
        return bool(self._sockopts)

    def bind(self, sock: socket.socket) -> None:
        """Bind a new, unconnected socket to ``interface`` and ``local_address``.

        Raises:
            ConnectError: The OS refused (no such interface, no permission,
                the address is not local).
        """
        if self.interface is not None:
            assert _SO_BINDTODEVICE is not None  # checked in __post_init__
            try:
                sock.setsockopt(socket.SOL_SOCKET, _SO_BINDTODEVICE, self.interface.encode())
            except OSError as exc:
                raise ConnectError(
                    f"cannot bind the socket to network interface {self.interface!r} "
                    f"(SO_BINDTODEVICE): {exc}"
                ) from exc
        if self.local_address is not None:
            try:
                sock.bind((self.local_address, 0))
            except OSError as exc:
                raise ConnectError(
                    f"cannot bind the socket to local address {self.local_address!r}: {exc}"
                ) from exc

    def apply(self, sock: socket.socket) -> None:
        """Set the TCP options on a connected socket (asyncio's or uvloop's view of it).

        Raises:
            ConnectError: The OS refused an option.
        """
        for level, option, value, name in self._sockopts:
            try:
                sock.setsockopt(level, option, value)
            except OSError as exc:
                raise ConnectError(f"cannot set {name}={value} on the socket: {exc}") from exc


# --- the helpers published in aiosonic 1.x -------------------------------------


def tcp_keepalive(sock: socket.socket | None) -> None:
    """Turn TCP keepalive (``SO_KEEPALIVE``) on for ``sock``.

    Args:
        sock: The socket; ``None`` is accepted and left alone.
    """
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)


def tcp_nodelay(sock: socket.socket | None, value: bool) -> None:
    """Turn ``TCP_NODELAY`` (Nagle's algorithm off) on or off for a TCP socket.

    Sockets of other families (Unix sockets), ``None`` and sockets the OS
    no longer accepts options on (already closed) are left alone.

    Args:
        sock: The socket.
        value: ``True`` sends small writes at once.
    """
    if sock is None or sock.family not in (socket.AF_INET, socket.AF_INET6):
        return
    with suppress(OSError):  # closed already: nothing to tune
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, bool(value))


def keepalive_flags() -> int:
    """Return the number aiosonic 1.x added to ``getaddrinfo()`` flags for keepalive.

    Kept for code written against the published package only: the value is
    ``SOL_SOCKET | SO_KEEPALIVE``, which is not a set of address-info flags
    and turns nothing on. Use :class:`SocketOptions` (``tcp_keepalive=``).
    """
    return socket.SOL_SOCKET | socket.SO_KEEPALIVE
