//! The client address a public-route limit is keyed by, trusted-proxy aware.

use std::net::IpAddr;

use hive_router::config::primitives::ip_network::IpNetwork;

/// The client's address: the TCP peer, unless the peer is a configured trusted proxy, in which
/// case `X-Forwarded-For` is read from the right (the entry the proxy itself appended) and the
/// first address that is not itself a trusted proxy is the client. A header that does not parse
/// stops the walk at the last trusted hop, so a client cannot spoof its way past a proxy.
pub fn client_ip(peer: IpAddr, forwarded_for: &[&str], trusted_proxies: &[IpNetwork]) -> IpAddr {
    let trusted = |ip: &IpAddr| trusted_proxies.iter().any(|net| net.contains(ip));
    if !trusted(&peer) {
        return peer;
    }
    let mut client = peer;
    let hops = forwarded_for
        .iter()
        .flat_map(|header| header.split(','))
        .map(str::trim)
        .filter(|hop| !hop.is_empty())
        .collect::<Vec<_>>();
    for hop in hops.into_iter().rev() {
        let Some(ip) = parse_hop(hop) else {
            return client;
        };
        client = ip;
        if !trusted(&ip) {
            return ip;
        }
    }
    client
}

/// An `X-Forwarded-For` hop: an address, possibly with a port (`1.2.3.4:5`, `[::1]:5`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    if let Ok(ip) = hop.parse() {
        return Some(ip);
    }
    if let Ok(addr) = hop.parse::<std::net::SocketAddr>() {
        return Some(addr.ip());
    }
    hop.trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// As the configuration gives them (a plain address is a /32).
    fn proxies() -> Vec<IpNetwork> {
        serde_json::from_str(r#"["10.0.0.0/8", "127.0.0.1"]"#).unwrap()
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        assert_eq!(
            client_ip(ip("203.0.113.7"), &["198.51.100.1"], &proxies()),
            ip("203.0.113.7")
        );
        assert_eq!(client_ip(ip("203.0.113.7"), &[], &[]), ip("203.0.113.7"));
    }

    #[test]
    fn a_trusted_proxy_forwards_the_client() {
        assert_eq!(
            client_ip(ip("10.1.2.3"), &["198.51.100.1"], &proxies()),
            ip("198.51.100.1")
        );
    }

    #[test]
    fn the_rightmost_untrusted_hop_wins_so_a_client_cannot_prepend_a_fake() {
        // The client sent "X-Forwarded-For: 1.1.1.1"; the edge proxy appended the real address,
        // then an inner proxy appended the edge proxy's.
        assert_eq!(
            client_ip(
                ip("127.0.0.1"),
                &["1.1.1.1, 198.51.100.9", "10.0.0.5"],
                &proxies()
            ),
            ip("198.51.100.9")
        );
    }

    #[test]
    fn a_trusted_proxy_without_the_header_or_with_garbage_is_its_own_client() {
        assert_eq!(client_ip(ip("10.1.2.3"), &[], &proxies()), ip("10.1.2.3"));
        assert_eq!(
            client_ip(ip("10.1.2.3"), &["not-an-ip"], &proxies()),
            ip("10.1.2.3")
        );
        // Garbage left of a valid hop is never reached.
        assert_eq!(
            client_ip(ip("10.1.2.3"), &["junk, 198.51.100.1"], &proxies()),
            ip("198.51.100.1")
        );
    }

    #[test]
    fn hops_with_ports_and_ipv6_parse() {
        assert_eq!(
            client_ip(ip("10.1.2.3"), &["198.51.100.1:4711"], &proxies()),
            ip("198.51.100.1")
        );
        assert_eq!(
            client_ip(ip("10.1.2.3"), &["[2001:db8::1]:443"], &proxies()),
            ip("2001:db8::1")
        );
        assert_eq!(
            client_ip(ip("10.1.2.3"), &["2001:db8::2"], &proxies()),
            ip("2001:db8::2")
        );
    }

    #[test]
    fn all_hops_trusted_yields_the_leftmost() {
        assert_eq!(
            client_ip(ip("10.1.2.3"), &["10.9.9.9, 10.8.8.8"], &proxies()),
            ip("10.9.9.9")
        );
    }
}
