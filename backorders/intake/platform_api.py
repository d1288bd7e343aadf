"""Calls from intake to ShipStation, BigCommerce and Magento: only to each one's configured host.

A webhook names what to fetch (ShipStation's ``resource_url``, BigCommerce's resource id); the
URL is called only when its scheme, host and port are those of the platform's configured API
(``SHIPSTATION_API_URL``, ``BIGCOMMERCE_API_URL``, ``MAGENTO_URL``), over https unless
``PLATFORM_API_ALLOW_HTTP`` allows a local stand-in, without following redirects. So a forged
``resource_url`` cannot make the desk carry its credentials, or reach anything, elsewhere.

What goes wrong becomes one of two errors: ``MissingFact("api", ...)`` when trying again later
may help (no answer, 429, 5xx: the delivery waits and the ``intake.retry_waiting`` schedule tries
again), ``MappingError`` when it will not (the platform refused: 4xx), kept as failed for replay.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from django.conf import settings

from .common import MappingError
from .waiting import MissingFact


@dataclass(frozen=True)
class Platform:
    name: str
    base: str
    headers: dict
    auth: tuple[str, str] | None = None
    missing: str = ""  # the settings to set, when some are not


def shipstation() -> Platform:
    key, secret = settings.SHIPSTATION_API_KEY, settings.SHIPSTATION_API_SECRET
    missing = "" if key and secret else "SHIPSTATION_API_KEY and SHIPSTATION_API_SECRET"
    return Platform("ShipStation", settings.SHIPSTATION_API_URL, {}, (key, secret), missing)


def bigcommerce() -> Platform:
    store, token = settings.BIGCOMMERCE_STORE_HASH, settings.BIGCOMMERCE_ACCESS_TOKEN
    missing = "" if store and token else "BIGCOMMERCE_STORE_HASH and BIGCOMMERCE_ACCESS_TOKEN"
    base = f"{settings.BIGCOMMERCE_API_URL}/stores/{store}"
    return Platform("BigCommerce", base, {"X-Auth-Token": token}, None, missing)


def magento() -> Platform:
    url, token = settings.MAGENTO_URL, settings.MAGENTO_ACCESS_TOKEN
    missing = "" if url and token else "MAGENTO_URL and MAGENTO_ACCESS_TOKEN"
    return Platform("Magento", f"{url}/rest", {"Authorization": f"Bearer {token}"}, None, missing)


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    return parts.scheme.lower(), (parts.hostname or "").lower(), parts.port


def url_problem(platform: Platform, url: str) -> str:
    """Why ``url`` must not be called with the platform's credentials; empty when it may."""
    if platform.missing:
        return f"the {platform.name} API is not configured: set {platform.missing}"
    scheme, host, port = _origin(url)
    allowed = _origin(platform.base)
    if (scheme, host, port) != allowed:
        return f"{url[:200]} is not on {platform.name}'s configured API host {allowed[1]}"
    if scheme != "https" and not (scheme == "http" and settings.PLATFORM_API_ALLOW_HTTP):
        return f"{platform.name}'s API must be called over https (PLATFORM_API_ALLOW_HTTP allows a local stand-in)"
    return ""


def call(platform: Platform, method: str, url: str, *, params=None, body=None) -> Any:
    """One call; the decoded JSON, or ``MissingFact("api")`` (try later) / ``MappingError`` (refused)."""
    if not url.startswith(("http://", "https://")):
        url = platform.base + url
    problem = url_problem(platform, url)
    if problem:
        raise MappingError(f"Not fetched: {problem}")
    try:
        response = requests.request(
            method,
            url,
            params=params,
            json=body,
            auth=platform.auth,
            headers={"Accept": "application/json", **platform.headers},
            timeout=(settings.STORE_API_CONNECT_TIMEOUT, settings.STORE_API_READ_TIMEOUT),
            allow_redirects=False,
        )
    except requests.RequestException as exc:
        raise MissingFact("api", platform.name, f"{platform.name} did not answer ({exc.__class__.__name__})") from None
    status = response.status_code
    if status == 429 or status >= 500:
        raise MissingFact("api", platform.name, f"{platform.name} answered {status}: {response.text[:300]}")
    if status >= 300:
        raise MappingError(f"{platform.name} refused {method} {urlsplit(url).path}: {status} {response.text[:300]}")
    if status == 204 or not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        raise MappingError(f"{platform.name} answered {status} with a body that is not JSON") from None
