//! Which address is the visitor's.
//!
//! `X-Forwarded-For` is believed only as far as trusted proxies vouch for it: starting at the TCP peer,
//! each hop that is a trusted proxy hands over to the address it forwarded for, right to left. The first
//! untrusted address is the client. A visitor who forges the header only adds entries to the left of the
//! one their first trusted proxy appended, so they cannot choose the company they resolve to.

use ipnetwork::IpNetwork;
use std::net::IpAddr;

/// The client address behind `peer`, given the `X-Forwarded-For` header values in order.
pub fn client_ip<'a>(peer: IpAddr, forwarded_for: impl IntoIterator<Item = &'a str>, trusted: &[IpNetwork]) -> IpAddr {
    let peer = peer.to_canonical();
    if !is_trusted(peer, trusted) {
        return peer;
    }
    let hops: Vec<&str> = forwarded_for.into_iter().flat_map(|v| v.split(',')).collect();
    let mut current = peer;
    for hop in hops.iter().rev() {
        let Some(ip) = parse_hop(hop) else { break };
        current = ip;
        if !is_trusted(current, trusted) {
            break;
        }
    }
    current
}

pub(crate) fn is_trusted(ip: IpAddr, trusted: &[IpNetwork]) -> bool {
    trusted.iter().any(|net| net.contains(ip))
}

/// Accepts `1.2.3.4`, `2001:db8::1`, `1.2.3.4:5678` and `[2001:db8::1]:5678`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    if let Ok(sa) = hop.parse::<std::net::SocketAddr>() {
        return Some(sa.ip().to_canonical());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(list: &[&str]) -> Vec<IpNetwork> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }
    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn untrusted_peer_is_the_client_whatever_it_claims() {
        let t = nets(&["10.0.0.0/8"]);
        assert_eq!(client_ip(ip("198.51.100.7"), ["203.0.113.9"], &t), ip("198.51.100.7"));
    }

    #[test]
    fn trusted_hops_are_walked_right_to_left() {
        let t = nets(&["10.0.0.0/8", "127.0.0.1/32"]);
        // forged, real client, inner proxy — appended by the proxies in that order
        let xff = ["6.6.6.6, 198.51.100.7", "10.1.2.3"];
        assert_eq!(client_ip(ip("127.0.0.1"), xff, &t), ip("198.51.100.7"));
        assert_eq!(client_ip(ip("10.0.0.1"), ["[2001:db8::5]:443"], &t), ip("2001:db8::5"));
        assert_eq!(client_ip(ip("10.0.0.1"), ["198.51.100.7:1234"], &t), ip("198.51.100.7"));
    }

    #[test]
    fn garbage_or_all_trusted_stops_at_the_last_good_hop() {
        let t = nets(&["10.0.0.0/8"]);
        assert_eq!(client_ip(ip("10.0.0.1"), ["not-an-ip"], &t), ip("10.0.0.1"));
        assert_eq!(client_ip(ip("10.0.0.1"), ["10.0.0.2"], &t), ip("10.0.0.2"));
        assert_eq!(client_ip(ip("10.0.0.1"), [], &t), ip("10.0.0.1"));
    }

    proptest::proptest! {
        /// Whatever the headers say, the walk ends at the peer or at an address one of the hops named, and
        /// an untrusted peer is always the client.
        #[test]
        fn the_walk_ends_at_the_peer_or_a_named_hop(
            headers in proptest::collection::vec(".{0,60}", 0..4),
            hops in proptest::collection::vec(proptest::prelude::any::<std::net::Ipv4Addr>(), 0..4),
            peer in proptest::prelude::any::<std::net::Ipv4Addr>(),
            trusted_peer in proptest::prelude::any::<bool>(),
        ) {
            let t = nets(&["10.0.0.0/8", "127.0.0.1/32"]);
            let peer = if trusted_peer { ip("10.1.1.1") } else { IpAddr::V4(peer) };
            let mut values = headers.clone();
            values.push(hops.iter().map(|h| h.to_string()).collect::<Vec<_>>().join(", "));
            let client = client_ip(peer, values.iter().map(String::as_str), &t);
            if !is_trusted(peer, &t) {
                proptest::prop_assert_eq!(client, peer);
            } else {
                let named = client == peer
                    || values.iter().flat_map(|v| v.split(',')).filter_map(parse_hop).any(|h| h == client);
                proptest::prop_assert!(named, "{} from {:?}", client, values);
            }
        }
    }

    #[test]
    fn ipv4_mapped_peers_are_ipv4() {
        let t = nets(&["127.0.0.0/8"]);
        assert_eq!(client_ip(ip("::ffff:127.0.0.1"), ["198.51.100.7"], &t), ip("198.51.100.7"));
        assert_eq!(client_ip(ip("::ffff:198.51.100.7"), [], &t), ip("198.51.100.7"));
    }
}
