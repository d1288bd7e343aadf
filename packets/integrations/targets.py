"""Where outbound events may go: public addresses only, unless a setting says otherwise.

An owner points a subscription at an automation tool on the internet. Pointing it at this
server's own network (loopback, private ranges, link-local such as a cloud's metadata service at
169.254.169.254) would let the desk be used to reach what the outside cannot: a server-side
request forgery. ``target_problem`` resolves the host the way the sender will (every address DNS
gives) and refuses the URL when any of them is not a public address. It runs when a subscription
is saved and again before each send, since a name can be pointed elsewhere after it was saved.
``OUTBOUND_ALLOW_PRIVATE_TARGETS`` turns the check off (a receiver on the same private network,
or tests with a receiver on loopback).
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings


def _not_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    for attribute, words in (
        ("is_loopback", "a loopback"),
        ("is_link_local", "a link-local"),
        ("is_private", "a private"),
        ("is_multicast", "a multicast"),
        ("is_reserved", "a reserved"),
        ("is_unspecified", "an unspecified"),
    ):
        if getattr(address, attribute):
            return words
    return "" if address.is_global else "a non-public"


def resolve(host: str, port: int) -> list[str]:
    """Every address the host resolves to (an IP literal resolves to itself)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({info[4][0] for info in infos})


def target_problem(url: str) -> str:
    """Why events must not be sent to ``url``; empty when they may."""
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        return "the address must be an http:// or https:// URL with a host"
    if settings.OUTBOUND_ALLOW_PRIVATE_TARGETS:
        return ""
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        addresses = resolve(parts.hostname, port)
    except (OSError, UnicodeError, ValueError) as exc:
        return f"{parts.hostname} cannot be resolved ({exc.__class__.__name__})"
    for text in addresses:
        kind = _not_public(ipaddress.ip_address(text.split("%")[0]))
        if kind:
            return (
                f"{parts.hostname} resolves to {text}, {kind} address: events go only to public addresses "
                "(OUTBOUND_ALLOW_PRIVATE_TARGETS=true allows others)"
            )
    return ""
