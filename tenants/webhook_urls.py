"""Which webhook URLs the platform may POST to: checked when an owner saves one, and again
for every delivery (DNS can change between the two).

A tenant's webhook URL is the one outbound address that comes from tenant input, so it must
not reach the platform's own network (SSRF): the scheme is https (http only with
``USAGE_BUDGET_WEBHOOK_ALLOW_HTTP``), the URL carries no credentials, and *every* address
its host resolves to must be a public one (not private, loopback, link-local, multicast,
reserved or unspecified; an IPv4-mapped IPv6 address is judged as the IPv4 it maps)
unless ``USAGE_BUDGET_WEBHOOK_ALLOW_PRIVATE`` is on (loopback tests, an internal receiver).
The sender then connects to one of the addresses checked here, never resolving the name
again, so a name that answers differently the second time cannot slip past.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError

MAX_LENGTH = 500

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class Target:
    """A checked URL: where to connect (``addresses``, all allowed) and what to ask for."""

    url: str
    scheme: str
    host: str  # as written (the Host header, TLS SNI and certificate name)
    port: int
    path: str  # path and query, "/" at least
    addresses: tuple[str, ...]


def _allowed(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def check(url: str) -> Target:
    """The checked ``url``, or ValidationError saying what is wrong with it (the message
    names the URL's host, never anything the resolver said about other hosts)."""
    url = str(url or "").strip()
    if not url or len(url) > MAX_LENGTH:
        raise ValidationError(f"Give a URL of at most {MAX_LENGTH} characters.", code="length")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise ValidationError("This is not a URL.", code="invalid") from None
    scheme = parts.scheme.lower()
    allow_http = bool(getattr(settings, "USAGE_BUDGET_WEBHOOK_ALLOW_HTTP", False))
    if scheme != "https" and not (scheme == "http" and allow_http):
        raise ValidationError(
            "The webhook URL must start with https://"
            + (" or http://." if allow_http else "."),
            code="scheme",
        )
    if parts.username is not None or parts.password is not None:
        raise ValidationError("Put no user name or password in the URL.", code="credentials")
    host = parts.hostname or ""
    if not host:
        raise ValidationError("The URL names no host.", code="host")
    if parts.fragment:
        raise ValidationError("Remove the #fragment: it is never sent.", code="fragment")
    port = port or (443 if scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise ValidationError(
            f"The host {host[:100]} cannot be resolved.", code="unresolvable"
        ) from None
    addresses: list[str] = []
    for info in infos:
        text = str(info[4][0]).split("%", 1)[0]  # an IPv6 scope id is not part of the address
        if text not in addresses:
            addresses.append(text)
    if not addresses:
        raise ValidationError(f"The host {host[:100]} has no address.", code="unresolvable")
    if not getattr(settings, "USAGE_BUDGET_WEBHOOK_ALLOW_PRIVATE", False):
        for text in addresses:
            if not _allowed(ipaddress.ip_address(text)):
                raise ValidationError(
                    f"The host {host[:100]} resolves to {text}, a private, loopback, "
                    "link-local or reserved address; webhooks go to public addresses only.",
                    code="private",
                )
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return Target(url, scheme, host, port, path, tuple(addresses))


def validate(url: str) -> None:
    """A form or model validator: ``check`` without its result."""
    check(url)
