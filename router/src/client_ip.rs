//! The client's address, computed once per HTTP request in `on_http_request` with the one trust
//! model of [`erp_net::client_ip`] (the TCP peer; `X-Forwarded-For` only from
//! `trusted_proxies`), and kept in the plugin context for the public rate-limit bucket, the
//! WebSocket caps and the subgraph requests. A WebSocket's operations share the plugin context
//! of its upgrade request, so they carry the address the upgrade came from.
//!
//! Every subgraph request gets [`erp_net::CLIENT_ADDRESS_HEADER`] set to this address (any value
//! a client sent is replaced: the router never propagates it), so that the subgraphs, which
//! trust the router, see the real client (login lockout, audit records, punches).

use std::net::{IpAddr, Ipv4Addr};

use erp_net::{AddressKey, IpNet};
use hive_router::http::HeaderValue;
use hive_router::ntex::web::{DefaultError, WebRequest};

/// The address of the client of this request (or WebSocket connection).
pub struct ClientAddress {
    pub ip: IpAddr,
    /// What per-client limits are keyed by (IPv6 by /64).
    pub key: AddressKey,
    /// `ip` as the value of the subgraph requests' client-address header.
    pub header: HeaderValue,
}

impl ClientAddress {
    pub fn new(ip: IpAddr) -> Self {
        let ip = erp_net::normalise(ip);
        Self {
            ip,
            key: AddressKey::of(ip),
            header: header_value(ip),
        }
    }

    /// The client of `request`: its TCP peer, or, from a trusted proxy, the address the proxy
    /// forwarded. (`X-Forwarded-For` is not even read from anyone else.)
    pub fn of(request: &WebRequest<DefaultError>, trusted_proxies: &[IpNet]) -> Self {
        let peer = request
            .peer_addr()
            .map(|addr| addr.ip())
            .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        let ip = if erp_net::is_trusted(peer, trusted_proxies) {
            let forwarded = request
                .headers()
                .get_all("x-forwarded-for")
                .filter_map(|value| value.to_str().ok())
                .collect::<Vec<_>>();
            erp_net::client_ip(peer, &forwarded, trusted_proxies)
        } else {
            peer
        };
        Self::new(ip)
    }
}

/// `ip` as a header value, formatted on the stack (one allocation per request, the value's).
fn header_value(ip: IpAddr) -> HeaderValue {
    use std::io::Write;
    // The longest address text, an IPv6 address with an embedded IPv4 one, is 45 bytes.
    let mut text = [0u8; 64];
    let mut cursor = std::io::Cursor::new(&mut text[..]);
    let written = write!(cursor, "{ip}").map(|()| cursor.position() as usize);
    // An address's text always fits and is always a valid header value.
    written
        .ok()
        .and_then(|len| HeaderValue::from_bytes(&text[..len]).ok())
        .unwrap_or(HeaderValue::from_static("0.0.0.0"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_address_is_normalised_keyed_and_ready_as_a_header() {
        let mapped = ClientAddress::new("::ffff:198.51.100.7".parse().unwrap());
        assert_eq!(mapped.ip, "198.51.100.7".parse::<IpAddr>().unwrap());
        assert_eq!(mapped.header, "198.51.100.7");
        assert_eq!(mapped.key.to_string(), "198.51.100.7");
        let v6 = ClientAddress::new("2001:db8:1:2::9".parse().unwrap());
        assert_eq!(v6.header, "2001:db8:1:2::9");
        let longest = "ffff:ffff:ffff:ffff:ffff:fffe:255.255.255.255";
        assert_eq!(
            ClientAddress::new(longest.parse().unwrap()).header,
            "ffff:ffff:ffff:ffff:ffff:fffe:ffff:ffff"
        );
        assert_eq!(v6.key.to_string(), "2001:db8:1:2::/64");
    }
}
