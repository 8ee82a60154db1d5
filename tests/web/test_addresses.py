"""Which client a request comes from, behind trusted proxies or not (no I/O)."""

from hub.config import parse_networks
from hub.web.addresses import client_address, client_key

PROXIES = parse_networks("10.0.0.0/8, 192.0.2.1")


def test_the_peer_is_the_client_unless_it_is_a_trusted_proxy() -> None:
    """X-Forwarded-For from an untrusted peer is ignored; with no proxies configured,
    always."""
    assert client_address("203.0.113.5", ["198.51.100.1"], PROXIES) == "203.0.113.5"
    assert client_address("127.0.0.1", ["198.51.100.1"], ()) == "127.0.0.1"


def test_the_right_most_untrusted_hop_is_the_client() -> None:
    """Behind trusted proxies, the client is the right-most address they did not add
    themselves; what the client wrote further left is ignored."""
    chain = ["1.2.3.4, 198.51.100.7", "10.1.2.3"]
    assert client_address("192.0.2.1", chain, PROXIES) == "198.51.100.7"
    assert client_address("10.9.9.9", ["198.51.100.7"], PROXIES) == "198.51.100.7"


def test_a_garbled_or_missing_chain_falls_back_to_the_nearest_proxy() -> None:
    """A hop that is not an address (not written by a trusted proxy) or an absent header
    leaves the nearest trusted address as the client, never a string the client chose."""
    assert client_address("10.0.0.1", ["nonsense, 10.0.0.2"], PROXIES) == "10.0.0.2"
    assert client_address("10.0.0.1", [], PROXIES) == "10.0.0.1"


def test_ipv6_clients_are_counted_by_their_64() -> None:
    """An IPv6 client is keyed by its /64 (one subscriber's block); IPv4 by address."""
    assert client_key("2001:db8:1:2:aaaa::1") == client_key("2001:db8:1:2:bbbb::9")
    assert client_key("2001:db8:1:2::1") != client_key("2001:db8:1:3::1")
    assert client_key("203.0.113.5") == "203.0.113.5"
    assert client_address("::ffff:203.0.113.5", [], ()) == "203.0.113.5"
