"""HTTP rules shared by the remote providers: where a configured base URL may point, and what Retry-After asks for.

`check_base_url` guards against server-side request forgery: a base URL is configuration that a team may
control, and without the check it could aim the workers (and the bearer token they send) at the cloud metadata
service (169.254.169.254), at localhost, or at anything else on the private network. The check runs when a
provider is built, so a bad URL is refused before any call is made.

Its limits, stated so nobody relies on more than it gives: the host is resolved once, at construction, so a DNS
server that answers differently later (DNS rebinding) is not caught, and the HTTP clients follow redirects,
which a hostile public server could use to bounce a request inward. Deployments that let untrusted teams choose
base URLs should also block private ranges at the network egress.
"""

from __future__ import annotations

import ipaddress
import math
import socket
from collections.abc import Collection
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

from workflows.gateway.providers.base import ProviderConfigError

ALLOWED_SCHEMES = ("http", "https")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def check_base_url(url: str, *, allow_private: bool, allowed_hosts: Collection[str] = ()) -> str:
    """The URL, stripped of surrounding whitespace, if a provider may send requests to it.

    Raises ProviderConfigError naming `base_url` when the scheme is not http(s), when the URL carries
    credentials, or when its host is (or resolves to) a loopback, private, link-local, multicast or reserved
    address, unless `allow_private` is set or the host is listed in `allowed_hosts`.
    """
    url = url.strip()
    try:
        parts = urlsplit(url)
        port = parts.port  # parsing the port validates it (a port like ":99999" raises here)
    except ValueError as error:
        raise ProviderConfigError(f"base_url is not a valid URL: {error}") from error
    if parts.scheme.lower() not in ALLOWED_SCHEMES:
        raise ProviderConfigError(
            f"base_url must use http or https, not {parts.scheme or 'no scheme'!r} (e.g. https://tgi.example.com)"
        )
    # Credentials in a URL leak into logs, error messages and cache keys; the token has its own setting. The
    # URL itself is deliberately not echoed here, since it holds the credentials.
    if parts.username is not None or parts.password is not None:
        raise ProviderConfigError("base_url must not contain credentials (user:password@host); pass the token instead")
    host = parts.hostname
    if not host:
        raise ProviderConfigError("base_url has no host (e.g. https://tgi.example.com)")

    if allow_private or _normalised_host(host) in {_normalised_host(allowed) for allowed in allowed_hosts}:
        return url

    for address in _addresses_of(host, port):
        reason = _non_public_reason(address)
        if reason is not None:
            shown = host if host == str(address) else f"{host} ({address})"
            raise ProviderConfigError(
                f"base_url host {shown} is {reason}; this deployment only allows public addresses "
                "(allow private base URLs, or list the host in the allowed hosts, to permit it)"
            )
    return url


def _normalised_host(host: str) -> str:
    host = host.strip().strip("[]").rstrip(".").lower()
    try:
        return str(ipaddress.ip_address(host))  # one spelling per address: "::0001" and "::1" are the same host
    except ValueError:
        return host


def _addresses_of(host: str, port: int | None) -> list[IPAddress]:
    try:
        return [ipaddress.ip_address(host)]  # a literal needs no lookup
    except ValueError:
        pass
    try:
        # Every address is checked, not only the first: the HTTP client may connect to any of them.
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        # Refused rather than let through: a host that cannot be checked cannot be trusted.
        raise ProviderConfigError(f"base_url host {host} does not resolve ({error})") from error
    return [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]


def _non_public_reason(address: IPAddress) -> str | None:
    # IPv6 forms that embed an IPv4 address reach that IPv4 host, so the embedded address is what counts.
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is not None:
            return _non_public_reason(embedded)
    if address.is_unspecified:
        return "an unspecified address"
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address (where cloud metadata services such as 169.254.169.254 live)"
    if address.is_multicast:
        return "a multicast address"
    if address.is_private:
        return "a private address"
    if address.is_reserved:
        return "a reserved address"
    if not address.is_global:
        return "not a globally routable address"
    return None


def retry_after_seconds(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds a Retry-After header value asks to wait (delay-seconds or an HTTP date); None if absent or garbled."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(seconds, 0.0) if math.isfinite(seconds) else None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)  # RFC 9110 dates are always GMT
    return max((when - (now or datetime.now(UTC))).total_seconds(), 0.0)


def check_reachable(url: str, *, timeout_seconds: float = 3.0) -> None:
    """Refuse a base URL nothing listens on, so a typo fails when a run is created, not mid-run.

    Only a TCP connection is opened (no request is sent): the server may still fail later, which the
    gateway's retries handle; this catches the common case of a wrong host or port.
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((host, port), timeout=timeout_seconds):
            pass
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise ProviderConfigError(f"base_url: nothing answers at {host}:{port} ({reason})") from None
