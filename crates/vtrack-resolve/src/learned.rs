//! The learned layer: networks enrichment found (reverse DNS, RDAP), answered from memory.
//!
//! It sits below the customer's own ranges and above the IP databases ([`crate::Resolver::company`]).
//! It is rebuilt whole and swapped in when ranges are learned, like the table: lookups never lock. A
//! rebuild is one sort and linear passes: a million ranges take about 0.6 s, each lookup a few hash probes
//! (the `learned_layer` benchmark).
//!
//! Widening: a single address learns only itself (a /32 or /128). When several addresses of one /24
//! (IPv4) or /64 (IPv6) have each been learned for the same organisation, and none of that block for
//! another, the whole block answers for it: offices get their addresses in blocks, and the next colleague
//! should not wait for a lookup.

use std::collections::HashMap;
use std::net::IpAddr;

use ipnetwork::IpNetwork;
use vtrack_model::event::CompanyInfo;
use vtrack_model::{IdSource, LearnedRange};

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
    /// (network address, prefix length) → index into `orgs`. A fast hasher: the keys are addresses that
    /// enrichment found, not input an attacker picks freely, and a rebuild hashes each once.
    v4: HashMap<(u32, u8), u32, FastHash>,
    v6: HashMap<(u128, u8), u32, FastHash>,
    /// Each distinct organisation once: many networks share one.
    orgs: Vec<CompanyInfo>,
    ranges: usize,
}

type FastHash = foldhash::fast::RandomState;

/// A network as a key: its address bits with the host bits cleared, and its prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Key {
    V4(u32, u8),
    V6(u128, u8),
}

impl Key {
    fn of(net: IpNetwork) -> Key {
        match net {
            IpNetwork::V4(n) => Key::V4(u32::from(n.network()), n.prefix()),
            IpNetwork::V6(n) => match n.ip().to_ipv4_mapped().filter(|_| n.prefix() >= 96) {
                Some(v4) => Key::v4(u32::from(v4), n.prefix() - 96),
                None => Key::v6(u128::from(n.network()), n.prefix()),
            },
        }
    }

    fn v4(addr: u32, len: u8) -> Key {
        let mask = if len == 0 { 0 } else { u32::MAX << (32 - u32::from(len.min(32))) };
        Key::V4(addr & mask, len.min(32))
    }

    fn v6(addr: u128, len: u8) -> Key {
        let mask = if len == 0 { 0 } else { u128::MAX << (128 - u32::from(len.min(128))) };
        Key::V6(addr & mask, len.min(128))
    }

    /// The block a single address widens into; `None` for a key that is already wider.
    fn block(self) -> Option<Key> {
        match self {
            Key::V4(a, 32) => Some(Key::v4(a, WIDEN_V4)),
            Key::V6(a, 128) => Some(Key::v6(a, WIDEN_V6)),
            _ => None,
        }
    }
}

impl LearnedLayer {
    /// The layer of `ranges` that have not expired at `now_ms`. Of two findings for the same network,
    /// the more confident stands, then the later.
    ///
    /// Sorting does the work a chain of hash maps would: the findings for one network end up side by
    /// side (best first), and so do the single addresses of one block, so both are one linear pass.
    pub fn build<'a>(ranges: impl IntoIterator<Item = &'a LearnedRange>, now_ms: i64) -> LearnedLayer {
        let mut found: Vec<(Key, &LearnedRange)> =
            ranges.into_iter().filter(|r| r.expires_ms > now_ms).map(|r| (Key::of(r.network), r)).collect();
        found.sort_unstable_by(|(ka, a), (kb, b)| {
            ka.cmp(kb).then_with(|| (b.confidence, b.found_ms).cmp(&(a.confidence, a.found_ms)))
        });
        found.dedup_by(|later, best| later.0 == best.0);

        let mut layer = LearnedLayer { ranges: found.len(), ..LearnedLayer::default() };
        layer.v4.reserve(found.iter().filter(|(k, _)| matches!(k, Key::V4(..))).count());
        layer.v6.reserve(found.iter().filter(|(k, _)| matches!(k, Key::V6(..))).count());
        let mut interned: HashMap<(&str, &str, u8, IdSource, u8), u32, FastHash> = HashMap::default();
        // The block being scanned: its key, its organisation, its single addresses, whether they agree.
        let mut run: Option<(Key, u32, usize, bool)> = None;
        let mut widened = Vec::new();
        for (key, r) in &found {
            let k = (r.company_domain.as_str(), r.company_name.as_str(), r.network_class as u8, r.source, r.confidence);
            let org = *interned.entry(k).or_insert_with(|| {
                layer.orgs.push(info(r));
                (layer.orgs.len() - 1) as u32
            });
            layer.insert(*key, org);
            let Some(block) = key.block() else { continue };
            match &mut run {
                Some((b, first, hosts, agree)) if *b == block => {
                    *hosts += 1;
                    *agree &= layer.orgs[*first as usize].company_domain == r.company_domain;
                }
                _ => {
                    widened.extend(run.take().filter(|&(_, _, hosts, agree)| agree && hosts >= WIDEN_MIN_ADDRESSES));
                    run = Some((block, org, 1, true));
                }
            }
        }
        widened.extend(run.filter(|&(_, _, hosts, agree)| agree && hosts >= WIDEN_MIN_ADDRESSES));
        for (block, org, _, _) in widened {
            if !layer.contains(block) {
                layer.insert(block, org);
            }
        }
        layer.lengths_v4.sort_unstable_by(|a, b| b.cmp(a));
        layer.lengths_v6.sort_unstable_by(|a, b| b.cmp(a));
        layer
    }

    fn insert(&mut self, key: Key, org: u32) {
        match key {
            Key::V4(a, l) => {
                if self.v4.insert((a, l), org).is_none() && !self.lengths_v4.contains(&l) {
                    self.lengths_v4.push(l);
                }
            }
            Key::V6(a, l) => {
                if self.v6.insert((a, l), org).is_none() && !self.lengths_v6.contains(&l) {
                    self.lengths_v6.push(l);
                }
            }
        }
    }

    fn contains(&self, key: Key) -> bool {
        match key {
            Key::V4(a, l) => self.v4.contains_key(&(a, l)),
            Key::V6(a, l) => self.v6.contains_key(&(a, l)),
        }
    }

    /// The organisation of the narrowest learned network holding `ip`. No allocation, no lock.
    pub fn lookup(&self, ip: IpAddr) -> Option<&CompanyInfo> {
        let v4 = match ip {
            IpAddr::V4(a) => Some(a),
            IpAddr::V6(a) => a.to_ipv4_mapped(),
        };
        let org = match (v4, ip) {
            (Some(a), _) => self.lengths_v4.iter().find_map(|&len| {
                let Key::V4(net, len) = Key::v4(u32::from(a), len) else { return None };
                self.v4.get(&(net, len))
            }),
            (None, IpAddr::V6(a)) => self.lengths_v6.iter().find_map(|&len| {
                let Key::V6(net, len) = Key::v6(u128::from(a), len) else { return None };
                self.v6.get(&(net, len))
            }),
            (None, IpAddr::V4(_)) => None,
        }?;
        self.orgs.get(*org as usize)
    }

    /// Learned ranges in the layer (before widening).
    pub fn len(&self) -> usize {
        self.ranges
    }

    pub fn is_empty(&self) -> bool {
        self.ranges == 0
    }
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
        // What named the network (a confirmed PTR name, a registry record) is the class's evidence too.
        class_confidence: vtrack_model::learned::LEARNED_CLASS_CONFIDENCE,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vtrack_model::NetworkClass;

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
