//! What the router and the subgraph kit must decide the same way, in one small crate with no
//! dependency but serde (the router must not pull the kit's database and broker stack):
//!
//! - [`IpNet`]: an IPv4 or IPv6 network in CIDR notation (`10.0.0.0/8`; a bare address is a
//!   single host), as `ERP_TRUSTED_PROXIES` and the router's `trusted_proxies` give them;
//! - [`client_ip`] and [`client_address`]: the one trust model for a caller's address: the TCP
//!   peer, unless the peer is a trusted proxy, which alone may say who its client is;
//! - [`AddressKey`]: the address a per-client limit is keyed by (IPv6 grouped by /64,
//!   IPv4-mapped IPv6 as IPv4);
//! - [`cost`]: the estimate of what an operation may return, from its list sizes.

pub mod cost;

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// The header in which the router tells a subgraph the client's address. The router always
/// sets it (replacing whatever a client sent); a subgraph believes it only from a trusted proxy.
pub const CLIENT_ADDRESS_HEADER: &str = "x-erp-client-address";

/// The same address in one form: an IPv4-mapped IPv6 address (`::ffff:192.0.2.1`, what a
/// dual-stack socket reports for an IPv4 client) is the IPv4 address.
pub fn normalise(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

/// An IPv4 or IPv6 network: an address and a prefix length, host bits cleared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

/// A network that does not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseNetError(String);

impl fmt::Display for ParseNetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` is not an IP address or a CIDR network such as 10.0.0.0/8",
            self.0
        )
    }
}

impl std::error::Error for ParseNetError {}

impl IpNet {
    /// The network of `addr` with `prefix` bits (host bits cleared). An IPv4-mapped IPv6
    /// network of at least 96 bits is the IPv4 network it maps.
    pub fn new(addr: IpAddr, prefix: u8) -> Option<Self> {
        match addr {
            IpAddr::V6(v6) if prefix >= 96 && v6.to_ipv4_mapped().is_some() => {
                Self::new(normalise(addr), prefix - 96)
            }
            IpAddr::V4(v4) if prefix <= 32 => {
                let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
                Some(Self {
                    addr: IpAddr::V4(Ipv4Addr::from(u32::from(v4) & mask)),
                    prefix,
                })
            }
            IpAddr::V6(v6) if prefix <= 128 => {
                let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
                Some(Self {
                    addr: IpAddr::V6(Ipv6Addr::from(u128::from(v6) & mask)),
                    prefix,
                })
            }
            _ => None,
        }
    }

    /// A single address (/32 or /128).
    pub fn host(addr: IpAddr) -> Self {
        let addr = normalise(addr);
        Self {
            addr,
            prefix: if addr.is_ipv4() { 32 } else { 128 },
        }
    }

    /// 127.0.0.0/8 and ::1: what a process reaching another on the same machine comes from.
    pub fn loopback() -> [IpNet; 2] {
        [
            Self {
                addr: IpAddr::V4(Ipv4Addr::new(127, 0, 0, 0)),
                prefix: 8,
            },
            Self::host(IpAddr::V6(Ipv6Addr::LOCALHOST)),
        ]
    }

    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// Whether `ip` (normalised) is in this network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, normalise(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(ip) & mask == u32::from(net)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(ip) & mask == u128::from(net)
            }
            _ => false,
        }
    }
}

impl FromStr for IpNet {
    type Err = ParseNetError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        let error = || ParseNetError(text.to_owned());
        match text.split_once('/') {
            None => text.parse().map(Self::host).map_err(|_| error()),
            Some((addr, prefix)) => {
                let addr: IpAddr = addr.parse().map_err(|_| error())?;
                let prefix: u8 = prefix.parse().map_err(|_| error())?;
                Self::new(addr, prefix).ok_or_else(error)
            }
        }
    }
}

impl fmt::Display for IpNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl serde::Serialize for IpNet {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for IpNet {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// `10.0.0.0/8, 127.0.0.1` (blank entries ignored), as an environment variable gives them.
pub fn parse_list(text: &str) -> Result<Vec<IpNet>, ParseNetError> {
    text.split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(str::parse)
        .collect()
}

/// Whether `ip` is in one of `networks`.
pub fn is_trusted(ip: IpAddr, networks: &[IpNet]) -> bool {
    networks.iter().any(|net| net.contains(ip))
}

/// An address as a forwarding header writes it: bare, or with a port (`192.0.2.1:4711`,
/// `[2001:db8::1]:443`), or bracketed.
pub fn parse_address(text: &str) -> Option<IpAddr> {
    let text = text.trim();
    if let Ok(ip) = text.parse() {
        return Some(normalise(ip));
    }
    if let Ok(addr) = text.parse::<std::net::SocketAddr>() {
        return Some(normalise(addr.ip()));
    }
    text.strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
        .and_then(|inner| inner.parse().ok())
        .map(normalise)
}

/// The client's address as a proxy-aware server sees it: the TCP peer, unless the peer is one
/// of `trusted` proxies; then `X-Forwarded-For` (every occurrence, in order) is read from the
/// right, each hop being the address the proxy to its right saw, and the first hop that is not
/// itself trusted is the client. A hop that does not parse stops the walk at the last trusted
/// one, so garbage or a forged entry left of the real client cannot move the answer.
pub fn client_ip(peer: IpAddr, forwarded_for: &[&str], trusted: &[IpNet]) -> IpAddr {
    let peer = normalise(peer);
    if !is_trusted(peer, trusted) {
        return peer;
    }
    let mut client = peer;
    for header in forwarded_for.iter().rev() {
        for hop in header.split(',').rev().map(str::trim) {
            if hop.is_empty() {
                continue;
            }
            let Some(ip) = parse_address(hop) else {
                return client;
            };
            client = ip;
            if !is_trusted(ip, trusted) {
                return ip;
            }
        }
    }
    client
}

/// [`client_ip`] for a server behind the router: a trusted peer (the router) names the client
/// in [`CLIENT_ADDRESS_HEADER`] (`asserted`), which wins over `X-Forwarded-For`; from any other
/// peer both headers are ignored.
pub fn client_address(
    peer: IpAddr,
    asserted: Option<&str>,
    forwarded_for: &[&str],
    trusted: &[IpNet],
) -> IpAddr {
    let peer = normalise(peer);
    if !is_trusted(peer, trusted) {
        return peer;
    }
    match asserted.and_then(parse_address) {
        Some(ip) => ip,
        None => client_ip(peer, forwarded_for, trusted),
    }
}

/// The address a per-client limit is keyed by: an IPv4 address itself, an IPv6 address its /64
/// (one subscriber's link: a single host can use any of its 2^64 addresses, so keying by the
/// full address would give it unlimited buckets). Displays as `192.0.2.1` or
/// `2001:db8:1:2::/64`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AddressKey(IpAddr);

impl AddressKey {
    pub fn of(ip: IpAddr) -> Self {
        match normalise(ip) {
            IpAddr::V6(v6) => AddressKey(IpAddr::V6(Ipv6Addr::from(
                u128::from(v6) & (u128::MAX << 64),
            ))),
            v4 => AddressKey(v4),
        }
    }
}

impl fmt::Display for AddressKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            IpAddr::V4(v4) => write!(f, "{v4}"),
            IpAddr::V6(v6) => write!(f, "{v6}/64"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn nets(s: &str) -> Vec<IpNet> {
        parse_list(s).unwrap()
    }

    /// As the configuration gives them (a plain address is a host).
    fn proxies() -> Vec<IpNet> {
        serde_json::from_str(r#"["10.0.0.0/8", "127.0.0.1"]"#).unwrap()
    }

    #[test]
    fn networks_parse_in_cidr_or_as_single_addresses() {
        assert_eq!(
            "10.1.2.3/8".parse::<IpNet>().unwrap().to_string(),
            "10.0.0.0/8"
        );
        assert_eq!(
            "127.0.0.1".parse::<IpNet>().unwrap().to_string(),
            "127.0.0.1/32"
        );
        assert_eq!(
            "2001:db8::1/32".parse::<IpNet>().unwrap().to_string(),
            "2001:db8::/32"
        );
        assert_eq!("::1".parse::<IpNet>().unwrap().to_string(), "::1/128");
        assert_eq!("0.0.0.0/0".parse::<IpNet>().unwrap().prefix(), 0);
        // An IPv4-mapped network is the IPv4 network.
        assert_eq!(
            "::ffff:10.0.0.0/104".parse::<IpNet>().unwrap().to_string(),
            "10.0.0.0/8"
        );
        for bad in [
            "",
            "10.0.0.0/33",
            "::/129",
            "10.0.0/8",
            "host.example",
            "1.2.3.4/x",
        ] {
            assert!(bad.parse::<IpNet>().is_err(), "{bad} parsed");
        }
        assert_eq!(nets(" 10.0.0.0/8, ,::1 ").len(), 2);
        assert!(parse_list("10.0.0.0/8,nope").is_err());
        let error = "nope".parse::<IpNet>().unwrap_err().to_string();
        assert!(error.contains("`nope`"), "{error}");
        assert!(serde_json::from_str::<IpNet>(r#""10.0.0.0/40""#).is_err());
    }

    #[test]
    fn containment_follows_the_prefix_and_normalises_mapped_addresses() {
        let net: IpNet = "10.0.0.0/8".parse().unwrap();
        assert!(net.contains(ip("10.255.0.1")));
        assert!(!net.contains(ip("11.0.0.1")));
        assert!(net.contains(ip("::ffff:10.1.2.3")), "IPv4-mapped");
        assert!(!net.contains(ip("2001:db8::1")));
        let v6: IpNet = "2001:db8::/32".parse().unwrap();
        assert!(v6.contains(ip("2001:db8:ffff::1")));
        assert!(!v6.contains(ip("2001:db9::1")));
        assert!(IpNet::loopback()
            .iter()
            .any(|n| n.contains(ip("127.0.0.53"))));
        assert!(IpNet::loopback().iter().any(|n| n.contains(ip("::1"))));
        assert!(!IpNet::loopback().iter().any(|n| n.contains(ip("10.0.0.1"))));
        let everything: IpNet = "0.0.0.0/0".parse().unwrap();
        assert!(everything.contains(ip("203.0.113.9")));
    }

    #[test]
    fn mapped_addresses_are_their_ipv4_address() {
        assert_eq!(normalise(ip("::ffff:192.0.2.1")), ip("192.0.2.1"));
        assert_eq!(normalise(ip("2001:db8::1")), ip("2001:db8::1"));
        assert_eq!(normalise(ip("::1")), ip("::1"));
        assert_eq!(normalise(ip("192.0.2.1")), ip("192.0.2.1"));
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
        // A dual-stack listener reports the proxy as IPv4-mapped: still trusted.
        assert_eq!(
            client_ip(ip("::ffff:10.1.2.3"), &["198.51.100.1"], &proxies()),
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
            client_ip(ip("10.1.2.3"), &["[2001:db8::3]"], &proxies()),
            ip("2001:db8::3")
        );
        assert_eq!(
            client_ip(ip("10.1.2.3"), &["2001:db8::2"], &proxies()),
            ip("2001:db8::2")
        );
        assert_eq!(
            client_ip(ip("10.1.2.3"), &["::ffff:198.51.100.4"], &proxies()),
            ip("198.51.100.4")
        );
    }

    #[test]
    fn all_hops_trusted_yields_the_leftmost() {
        assert_eq!(
            client_ip(ip("10.1.2.3"), &["10.9.9.9, 10.8.8.8"], &proxies()),
            ip("10.9.9.9")
        );
    }

    #[test]
    fn the_routers_word_is_believed_only_from_a_trusted_peer() {
        let router = nets("127.0.0.0/8");
        // From the router: its header names the client, over any X-Forwarded-For.
        assert_eq!(
            client_address(
                ip("127.0.0.1"),
                Some("203.0.113.5"),
                &["198.51.100.1"],
                &router
            ),
            ip("203.0.113.5")
        );
        // From anyone else: the peer, whatever the headers say.
        assert_eq!(
            client_address(ip("192.0.2.9"), Some("203.0.113.5"), &["1.1.1.1"], &router),
            ip("192.0.2.9")
        );
        // A trusted peer without the header (or with garbage in it) falls back to the walk.
        assert_eq!(
            client_address(ip("127.0.0.1"), None, &["198.51.100.1"], &router),
            ip("198.51.100.1")
        );
        assert_eq!(
            client_address(ip("127.0.0.1"), Some("nonsense"), &[], &router),
            ip("127.0.0.1")
        );
        // Nothing trusted (the default): the peer.
        assert_eq!(
            client_address(ip("127.0.0.1"), Some("203.0.113.5"), &[], &[]),
            ip("127.0.0.1")
        );
    }

    #[test]
    fn ipv6_clients_share_the_key_of_their_64_and_mapped_ones_are_ipv4() {
        let a = AddressKey::of(ip("2001:db8:1:2:aaaa::1"));
        let b = AddressKey::of(ip("2001:db8:1:2:ffff:ffff:ffff:ffff"));
        let other = AddressKey::of(ip("2001:db8:1:3::1"));
        assert_eq!(a, b);
        assert_ne!(a, other);
        assert_eq!(a.to_string(), "2001:db8:1:2::/64");
        assert_eq!(AddressKey::of(ip("192.0.2.7")).to_string(), "192.0.2.7");
        assert_eq!(
            AddressKey::of(ip("::ffff:192.0.2.7")),
            AddressKey::of(ip("192.0.2.7"))
        );
        assert_eq!(
            AddressKey::of(ip("::ffff:192.0.2.7")).to_string(),
            "192.0.2.7"
        );
    }
}
