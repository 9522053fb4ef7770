"""The trust boundary's decisions on their own, for the cases a test server cannot reach (a wildcard
bind, the machine's own name, domain entries); test_trust_boundary.py attacks a real server."""

from __future__ import annotations

import pytest

from modelrunner.server.trust import TrustBoundary, host_name, is_cross_site, origin_matches


@pytest.mark.parametrize(("header", "name"), [("[::1]:12434", "::1"), ("LocalHost.:80", "localhost"),
                                              ("127.0.0.1", "127.0.0.1"), ("evil.test:1", "evil.test")])
def test_host_names_are_read_without_port_case_or_final_dot(header: str, name: str) -> None:
    assert host_name(header) == name


def test_loopback_binds_answer_only_to_loopback_and_listed_names() -> None:
    trust = TrustBoundary(bind_host="127.0.0.1", port=12434, allowed_hosts=(".lan.test", "box.example"),
                          machine_name="my-laptop")
    for name in ("localhost", "app.localhost", "127.9.9.9", "::1", "my-laptop", "box.example", "gpu.lan.test"):
        assert trust.is_own_host(name), name
    for name in ("evil.test", "lan.test.evil.test", "192.168.1.20", "localhost.evil.test", "", "0.0.0.0"):
        assert not trust.is_own_host(name), name


def test_a_wildcard_bind_answers_to_address_literals_never_to_foreign_names() -> None:
    trust = TrustBoundary(bind_host="0.0.0.0", port=12434)
    assert trust.is_own_host("192.168.1.20") and trust.is_own_host("fe80::1")
    assert not trust.is_own_host("evil.test")
    assert TrustBoundary(bind_host="0.0.0.0", port=1, allowed_hosts=("*",)).is_own_host("evil.test")


def test_origin_patterns_have_one_wildcard_and_literal_brackets() -> None:
    assert origin_matches("http://[::1]:8080", "http://[::1]:*")
    assert not origin_matches("http://1:8080", "http://[::1]:*")
    assert origin_matches("https://a.tools.example", "https://*.tools.example")
    assert not origin_matches("https://tools.example.evil", "https://*.tools.example")


def test_cross_site_is_another_origin_than_the_runners_own() -> None:
    own = {b"host": b"127.0.0.1:12434", b"origin": b"http://127.0.0.1:12434"}
    assert not is_cross_site(own)
    assert is_cross_site({**own, b"origin": b"http://localhost:5173"})
    assert is_cross_site({b"host": b"127.0.0.1:12434", b"sec-fetch-site": b"same-site"})
    assert not is_cross_site({b"host": b"127.0.0.1:12434"})
