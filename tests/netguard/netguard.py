"""Block every outbound network connection except loopback, for the test suite and the app servers it starts.

`install()` patches ``socket.socket.connect`` / ``connect_ex`` and ``socket.getaddrinfo``: a non-loopback address or
host name raises :class:`NetworkBlocked` (an ``OSError``, what libraries expect from a dead network). The test
suite installs it in-process (tests/conftest.py) and, through ``sitecustomize.py`` in this folder on PYTHONPATH with
``GENMODELS_BLOCK_NETWORK=1``, in every Python subprocess it starts (``python app.py``, workers).
"""
from __future__ import annotations

import errno
import ipaddress
import socket

LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", ""}


class NetworkBlocked(OSError):
    pass


def _is_local(host) -> bool:
    if host is None:
        return True
    if isinstance(host, bytes):
        host = host.decode(errors="replace")
    host = str(host).strip("[]").lower()
    if host in LOCAL_NAMES:
        return True
    try:
        ip = ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        return False
    return ip.is_loopback or ip.is_unspecified or (ip.version == 6 and ip.ipv4_mapped is not None
                                                   and ip.ipv4_mapped.is_loopback)


def _check(family, address) -> None:
    if family in (socket.AF_INET, socket.AF_INET6) and isinstance(address, tuple) and not _is_local(address[0]):
        raise NetworkBlocked(errno.ENETUNREACH, f"outbound network is blocked in the test suite: {address[0]}")


def install() -> None:
    if getattr(socket, "_genmodels_guard", False):
        return
    connect, connect_ex, getaddrinfo = socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo

    def guarded_connect(self, address):
        _check(self.family, address)
        return connect(self, address)

    def guarded_connect_ex(self, address):
        _check(self.family, address)
        return connect_ex(self, address)

    def guarded_getaddrinfo(host, *args, **kwargs):
        if not _is_local(host):
            raise socket.gaierror(socket.EAI_NONAME, f"name resolution is blocked in the test suite: {host}")
        return getaddrinfo(host, *args, **kwargs)

    socket.socket.connect, socket.socket.connect_ex = guarded_connect, guarded_connect_ex
    socket.getaddrinfo = guarded_getaddrinfo
    socket._genmodels_guard = True
