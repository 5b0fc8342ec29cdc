//! Reverse DNS of a network itself (issue 22): when an AS organisation's network is first seen, the PTR
//! names of a few of its addresses tell an access network (names generated from the address, dynamic-line
//! words, the ISP's own domain) from a hoster (server, VPS, static-host names, cloud zones) and from an
//! organisation (names in one registrable domain, forward-confirmed).
//!
//! The addresses looked up are the visitor's and a few others of the same /24 (IPv6: /64) at fixed offsets:
//! a network's names follow one pattern per block, and a few of them are enough to see which. They are held
//! only while they are looked up; what is kept is the counts ([`PtrCounts`]) and the domain the
//! organisation names share, by AS number.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use vtrack_model::event::CompanyInfo;
use vtrack_model::evidence::PtrCounts;
use vtrack_model::IdSource;

use crate::dns::Dns;
use crate::ptr_name::{network_kind, NetworkName};

/// Addresses of the visitor's block looked up besides hers, by their last octet (IPv6: last group).
const OFFSETS: [u16; 5] = [1, 10, 50, 100, 200];

/// What reverse DNS of a network's addresses showed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetworkPtr {
    pub asn: u32,
    pub ptr: PtrCounts,
    /// The registrable domain more than half of the confirmed organisation names share (at least two of
    /// them), empty when there is none.
    pub domain: String,
}

/// Whether the network of an address that resolved to `network` is worth looking at: an AS's own
/// organisation (the AS layer's answer, keyed `as<N>`) whose class makes accounts, which is the class a name
/// gets wrong at the most cost.
pub fn worth_a_look(network: &CompanyInfo) -> bool {
    // Called for every event ingest accepts: no allocation.
    network.asn != 0
        && network.id_source == IdSource::Asn
        && network.network_class.is_account()
        && vtrack_resolve::account_key::as_key(&network.company_domain) == Some(network.asn)
}

/// The addresses looked up for the network of `ip`: `ip` itself, then the others of its /24 (/64) at
/// [`OFFSETS`].
pub fn sample(ip: IpAddr) -> Vec<IpAddr> {
    let others: Vec<IpAddr> = match ip {
        IpAddr::V4(a) => {
            let [x, y, z, _] = a.octets();
            OFFSETS.iter().map(|&o| IpAddr::V4(Ipv4Addr::new(x, y, z, o as u8))).collect()
        }
        IpAddr::V6(a) => {
            let s = a.segments();
            OFFSETS.iter().map(|&o| IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, o))).collect()
        }
    };
    let mut out = vec![ip];
    for a in others {
        if !out.contains(&a) {
            out.push(a);
        }
    }
    out
}

/// Looks up the PTR names of the addresses of `ip`'s block ([`sample`]) and counts what they show about
/// the network `network` (the hot path's answer for `ip`). Organisation names count only when they lead
/// back to their address (anyone can write another's name into their PTR). An address without a PTR name,
/// or whose lookup failed, counts as looked up and nothing else.
pub async fn look(dns: &Dns, ip: IpAddr, network: &CompanyInfo) -> NetworkPtr {
    let addrs = sample(ip);
    // All at once: a few queries, each bounded by the resolver's timeout.
    let mut lookups = tokio::task::JoinSet::new();
    for (i, &a) in addrs.iter().enumerate() {
        let dns = dns.clone();
        lookups.spawn(async move { (i, a, dns.ptr(a).await) });
    }
    let mut answers = Vec::with_capacity(addrs.len());
    while let Some(joined) = lookups.join_next().await {
        answers.extend(joined.ok());
    }
    // In the sample's order, so the count does not depend on which answer came first.
    answers.sort_by_key(|(i, _, _)| *i);
    let answers = answers.into_iter().map(|(_, a, names)| (a, names));
    let is_org = network.network_class.is_account();
    let mut ptr = PtrCounts { looked_up: u8::try_from(addrs.len()).unwrap_or(u8::MAX), ..PtrCounts::default() };
    let mut domains: BTreeMap<String, u8> = BTreeMap::new();
    for (addr, names) in answers {
        let Ok(names) = names else { continue };
        // One vote per address: the first name that says something.
        let kinds =
            names.iter().map(|n| (n, network_kind(n, addr, &network.company_name, &network.company_domain, is_org)));
        let Some((name, kind)) = kinds.into_iter().find(|(_, k)| *k != NetworkName::Nothing) else { continue };
        match kind {
            NetworkName::Generated => ptr.generated += 1,
            NetworkName::Server => ptr.servers += 1,
            NetworkName::Organisation(domain) => {
                if dns.forward(name).await.is_ok_and(|back| back.contains(&addr)) {
                    ptr.organisation += 1;
                    *domains.entry(domain).or_default() += 1;
                }
            }
            NetworkName::Nothing => {}
        }
    }
    let domain = domains
        .into_iter()
        .max_by_key(|(d, n)| (*n, std::cmp::Reverse(d.clone())))
        .filter(|(_, n)| *n >= 2 && u16::from(*n) * 2 > u16::from(ptr.organisation))
        .map(|(d, _)| d)
        .unwrap_or_default();
    NetworkPtr { asn: network.asn, ptr, domain }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vtrack_model::NetworkClass;

    #[test]
    fn the_sample_is_the_visitor_s_block() {
        let s = sample("100.65.1.7".parse().unwrap());
        let want: Vec<IpAddr> =
            ["100.65.1.7", "100.65.1.1", "100.65.1.10", "100.65.1.50", "100.65.1.100", "100.65.1.200"]
                .iter()
                .map(|a| a.parse().unwrap())
                .collect();
        assert_eq!(s, want);
        let s = sample("100.65.1.10".parse().unwrap());
        assert_eq!(s.len(), 5, "the visitor's address once: {s:?}");
        let s = sample("2001:db8:1:2::abcd".parse().unwrap());
        assert_eq!(s[1], "2001:db8:1:2::1".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn only_as_organisations_with_an_account_class_are_looked_at() {
        let c = CompanyInfo {
            company_domain: "as64510".into(),
            asn: 64510,
            network_class: NetworkClass::Business,
            id_source: IdSource::Asn,
            ..Default::default()
        };
        assert!(worth_a_look(&c));
        assert!(!worth_a_look(&CompanyInfo { network_class: NetworkClass::Isp, ..c.clone() }));
        assert!(!worth_a_look(&CompanyInfo { company_domain: "org:la-presse".into(), ..c.clone() }));
        assert!(!worth_a_look(&CompanyInfo { id_source: IdSource::Ranges, ..c }));
    }
}
