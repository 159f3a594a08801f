"""Base-URL safety check and Retry-After parsing shared by the remote providers; no network lookups of public names."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from workflows.gateway.providers.base import ProviderConfigError
from workflows.gateway.providers.urls import check_base_url, retry_after_seconds


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1:8080", "loopback"),
        ("http://[::1]:8080/v1", "loopback"),
        ("http://localhost:8080", "loopback"),  # a name that resolves to loopback, via /etc/hosts
        ("http://2130706433/", "loopback"),  # 127.0.0.1 written as one number, which the resolver accepts
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://[fe80::1]/", "link-local"),
        ("http://10.1.2.3/", "private"),
        ("http://192.168.0.10/", "private"),
        ("http://[fc00::1]/", "private"),
        ("http://[::ffff:169.254.169.254]/", "link-local"),  # IPv4-mapped IPv6 reaches the IPv4 host
        ("http://0.0.0.0:8000/", "unspecified"),
        ("http://100.64.0.1/", "not a globally routable"),
        ("http://224.0.0.1/", "multicast"),
    ],
)
def test_it_refuses_non_public_hosts_by_default(url, reason):
    with pytest.raises(ProviderConfigError, match=reason) as caught:
        check_base_url(url, allow_private=False)

    assert str(caught.value).startswith("base_url host ")


def test_it_names_the_address_a_hostname_resolved_to():
    with pytest.raises(ProviderConfigError, match=r"base_url host localhost \(127\.0\.0\.1\) is a loopback address"):
        check_base_url("http://localhost:8080", allow_private=False)


@pytest.mark.parametrize("url", ["https://8.8.8.8/v1", "http://[2001:4860:4860::8888]:8080", " https://1.1.1.1 "])
def test_it_accepts_public_address_literals(url):
    assert check_base_url(url, allow_private=False) == url.strip()


@pytest.mark.parametrize("url", ["http://127.0.0.1:8080", "http://localhost:1234/v1", "http://169.254.169.254"])
def test_it_accepts_private_hosts_when_the_deployment_allows_them(url):
    assert check_base_url(url, allow_private=True) == url


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("http://LocalHost.:8080/v1", ["localhost"]),
        ("http://[0:0::1]:8080", ["::1"]),
        ("http://10.0.0.5:80", ["10.0.0.5"]),
    ],
)
def test_it_accepts_hosts_on_the_allow_list(url, allowed):
    assert check_base_url(url, allow_private=False, allowed_hosts=allowed) == url


def test_the_allow_list_covers_only_the_hosts_it_names():
    with pytest.raises(ProviderConfigError, match=r"169\.254\.169\.254 is a link-local address"):
        check_base_url("http://169.254.169.254/", allow_private=False, allowed_hosts=["localhost", "10.0.0.5"])


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://8.8.8.8/", "base_url must use http or https, not 'ftp'"),
        ("file:///etc/passwd", "base_url must use http or https, not 'file'"),
        ("8.8.8.8:8080", "base_url must use http or https"),
        ("http:///v1", "base_url has no host"),
        ("http://8.8.8.8:99999/", "base_url is not a valid URL"),
    ],
)
def test_it_refuses_urls_that_are_not_http_endpoints(url, message):
    with pytest.raises(ProviderConfigError, match=message):
        check_base_url(url, allow_private=True)


def test_it_refuses_credentials_in_the_url_without_repeating_them():
    with pytest.raises(ProviderConfigError, match="must not contain credentials") as caught:
        check_base_url("https://user:s3cret@8.8.8.8/", allow_private=True)

    assert "s3cret" not in str(caught.value)


def test_it_refuses_a_host_it_cannot_resolve():
    # A 64-character label is not a valid DNS name, so the lookup fails locally, without asking any DNS server.
    host = "a" * 64 + ".example"

    with pytest.raises(ProviderConfigError, match=rf"base_url host {host} does not resolve"):
        check_base_url(f"http://{host}/", allow_private=False)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("3", 3.0), (" 1.5 ", 1.5), ("0", 0.0), ("-4", 0.0), (None, None), ("", None), ("soon", None), ("inf", None)],
)
def test_it_reads_retry_after_seconds(value, seconds):
    assert retry_after_seconds(value) == seconds


def test_it_reads_retry_after_dates_relative_to_now():
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)

    assert retry_after_seconds("Thu, 01 Jan 2026 12:00:30 GMT", now=now) == 30.0
    assert retry_after_seconds("Thu, 01 Jan 2026 11:00:00 GMT", now=now) == 0.0
