//! The learned layer: networks enrichment found (reverse DNS, RDAP), answered from memory.
//!
//! It sits below the customer's own ranges and above the IP databases ([`crate::Resolver::company`]).
//! It is rebuilt whole and swapped in when ranges are learned, like the table: lookups never lock. A
//! rebuild is a hash map of the ranges, so a million of them take well under a second (measured by the
//! `learned_layer` benchmark).
//!
//! Widening: a single address learns only itself (a /32 or /128). When several addresses of one /24
//! (IPv4) or /64 (IPv6) have each been learned for the same organisation, and none of that block for
//! another, the whole block answers for it: offices get their addresses in blocks, and the next colleague
//! should not wait for a lookup.

use std::collections::HashMap;
use std::net::IpAddr;

use ipnetwork::IpNetwork;
use vtrack_model::event::CompanyInfo;
use vtrack_model::LearnedRange;

/// Distinct learned addresses of one block, all for one organisation, before the block answers for it.
pub const WIDEN_MIN_ADDRESSES: usize = 3;
const WIDEN_V4: u8 = 24;
const WIDEN_V6: u8 = 64;

/// The learned networks, by prefix length, longest first.
#[derive(Debug, Default)]
pub struct LearnedLayer {
    /// Prefix lengths present, longest first, per family.
    lengths_v4: Vec<u8>,
    lengths_v6: Vec<u8>,
    by_network: HashMap<IpNetwork, CompanyInfo>,
    ranges: usize,
}

impl LearnedLayer {
    /// The layer of `ranges` that have not expired at `now_ms`. Of two findings for the same network,
    /// the more confident stands, then the later.
    pub fn build(ranges: &[LearnedRange], now_ms: i64) -> LearnedLayer {
        let mut best: HashMap<IpNetwork, &LearnedRange> = HashMap::new();
        for r in ranges.iter().filter(|r| r.expires_ms > now_ms) {
            let net = normalise(r.network);
            let keep = best.get(&net).is_none_or(|old| (r.confidence, r.found_ms) > (old.confidence, old.found_ms));
            if keep {
                best.insert(net, r);
            }
        }
        let mut by_network: HashMap<IpNetwork, CompanyInfo> = best.iter().map(|(net, r)| (*net, info(r))).collect();
        // Widen blocks whose learned hosts all agree.
        let mut blocks: HashMap<IpNetwork, (Option<&str>, usize, bool, &LearnedRange)> = HashMap::new();
        for (net, r) in &best {
            let Some(block) = block_of(*net) else { continue };
            let entry = blocks.entry(block).or_insert((None, 0, true, r));
            match entry.0 {
                None => entry.0 = Some(r.company_domain.as_str()),
                Some(d) if d != r.company_domain => entry.2 = false,
                Some(_) => {}
            }
            entry.1 += 1;
            if r.confidence < entry.3.confidence {
                entry.3 = r;
            }
        }
        for (block, (_, hosts, agree, weakest)) in blocks {
            if agree && hosts >= WIDEN_MIN_ADDRESSES {
                by_network.entry(block).or_insert_with(|| info(weakest));
            }
        }
        let lengths = |v4: bool| {
            let mut l: Vec<u8> = by_network.keys().filter(|n| n.is_ipv4() == v4).map(|n| n.prefix()).collect();
            l.sort_unstable_by(|a, b| b.cmp(a));
            l.dedup();
            l
        };
        LearnedLayer { lengths_v4: lengths(true), lengths_v6: lengths(false), ranges: best.len(), by_network }
    }

    /// The organisation of the narrowest learned network holding `ip`. No allocation, no lock.
    pub fn lookup(&self, ip: IpAddr) -> Option<&CompanyInfo> {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(IpAddr::V6(v6)),
            v4 => v4,
        };
        let lengths = if ip.is_ipv4() { &self.lengths_v4 } else { &self.lengths_v6 };
        lengths.iter().find_map(|&len| {
            let net = IpNetwork::new(ip, len).ok().and_then(|n| IpNetwork::new(n.network(), len).ok())?;
            self.by_network.get(&net)
        })
    }

    /// Learned ranges in the layer (before widening).
    pub fn len(&self) -> usize {
        self.ranges
    }

    pub fn is_empty(&self) -> bool {
        self.ranges == 0
    }
}

/// The network with its host bits cleared, IPv4-mapped IPv6 as IPv4.
fn normalise(net: IpNetwork) -> IpNetwork {
    let net = match net {
        IpNetwork::V6(v6) if v6.prefix() >= 96 => match v6.ip().to_ipv4_mapped() {
            Some(v4) => IpNetwork::new(IpAddr::V4(v4), v6.prefix() - 96).unwrap_or(net),
            None => net,
        },
        other => other,
    };
    IpNetwork::new(net.network(), net.prefix()).unwrap_or(net)
}

/// The block a single learned address widens into; `None` for a range that is already wider.
fn block_of(net: IpNetwork) -> Option<IpNetwork> {
    let len = match net {
        IpNetwork::V4(n) if n.prefix() == 32 => WIDEN_V4,
        IpNetwork::V6(n) if n.prefix() == 128 => WIDEN_V6,
        _ => return None,
    };
    let wide = IpNetwork::new(net.ip(), len).ok()?;
    IpNetwork::new(wide.network(), len).ok()
}

fn info(r: &LearnedRange) -> CompanyInfo {
    CompanyInfo {
        company_name: r.company_name.clone(),
        company_domain: r.company_domain.clone(),
        asn: 0,
        network_class: r.network_class,
        country: String::new(),
        city: String::new(),
        id_source: r.source,
        id_confidence: r.confidence,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vtrack_model::{IdSource, NetworkClass};

    fn range(net: &str, domain: &str) -> LearnedRange {
        LearnedRange {
            network: net.parse().unwrap(),
            company_name: domain.into(),
            company_domain: domain.into(),
            network_class: NetworkClass::Business,
            source: IdSource::Rdns,
            confidence: 60,
            evidence: format!("mail.{domain}"),
            found_ms: 1,
            expires_ms: 100,
        }
    }

    fn at(layer: &LearnedLayer, ip: &str) -> Option<String> {
        layer.lookup(ip.parse().unwrap()).map(|c| c.company_domain.clone())
    }

    #[test]
    fn a_single_address_learns_only_itself_and_expires() {
        let layer = LearnedLayer::build(&[range("192.0.2.10/32", "acme.example")], 50);
        assert_eq!(at(&layer, "192.0.2.10").as_deref(), Some("acme.example"));
        assert_eq!(at(&layer, "::ffff:192.0.2.10").as_deref(), Some("acme.example"));
        assert_eq!(at(&layer, "192.0.2.11"), None);
        assert!(LearnedLayer::build(&[range("192.0.2.10/32", "acme.example")], 100).is_empty());
    }

    #[test]
    fn agreeing_addresses_widen_to_their_block_and_disagreeing_ones_do_not() {
        let three: Vec<_> =
            ["192.0.2.1/32", "192.0.2.7/32", "192.0.2.9/32"].iter().map(|n| range(n, "acme.example")).collect();
        let layer = LearnedLayer::build(&three, 50);
        assert_eq!(at(&layer, "192.0.2.200").as_deref(), Some("acme.example"));
        assert_eq!(at(&layer, "192.0.3.1"), None);
        let two = LearnedLayer::build(&three[..2], 50);
        assert_eq!(at(&two, "192.0.2.200"), None);
        let mut mixed = three.clone();
        mixed.push(range("192.0.2.50/32", "other.example"));
        let layer = LearnedLayer::build(&mixed, 50);
        assert_eq!(at(&layer, "192.0.2.200"), None);
        assert_eq!(at(&layer, "192.0.2.50").as_deref(), Some("other.example"));
    }

    #[test]
    fn the_narrowest_network_wins() {
        let layer = LearnedLayer::build(
            &[range("198.51.100.0/24", "wide.example"), range("198.51.100.5/32", "narrow.example")],
            50,
        );
        assert_eq!(at(&layer, "198.51.100.5").as_deref(), Some("narrow.example"));
        assert_eq!(at(&layer, "198.51.100.6").as_deref(), Some("wide.example"));
        let v6 = LearnedLayer::build(&[range("2001:db8::/48", "v6.example")], 50);
        assert_eq!(at(&v6, "2001:db8::1").as_deref(), Some("v6.example"));
    }
}
