//! Evidence about a network beside its name: what its own reverse DNS and its own traffic show, and the
//! class the resolver decides with it.
//!
//! A name misleads on networks nobody picked (a national carrier named by a bare brand), so an AS
//! organisation's class is decided again when evidence about the network itself comes in (issue 22):
//!
//! - **reverse DNS of the network**: enrichment looks up the PTR names of a few addresses of the visitor's
//!   /24 when the network is first seen, and counts how many were generated from the address (an access
//!   network's pools), looked like servers (a hoster's) or named one organisation's domain ([`PtrCounts`]);
//! - **its traffic**: processing counts, per network, site and day, the distinct /24s (IPv6 /48s), cities and
//!   visitors its visitors come from ([`TrafficCounts`]). No address is kept: ingest puts on each event only
//!   which of 64 buckets a hash of its /24 falls in ([`prefix_bucket`]), processing ORs those buckets into a
//!   64-bit set per network and day, and the distinct count is estimated from how many bits are set
//!   ([`estimate`]). Six bits of a hash of a /24 name a 64th of the address space: nothing can be traced
//!   back to an address, or even to a network, from them.
//!
//! What was found, and what the resolver decided with it, is one [`NetworkEvidence`] per network (AS
//! number), kept in the store's `network_evidence` table so that it survives restarts and reaches every
//! ingest and processing process.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::event::CompanyInfo;
use crate::{IdSource, NetworkClass};

/// Reverse DNS of a few addresses of a network: of `looked_up` addresses, how many names were generated
/// from the address (or by the ISP for a line), looked like servers, or named an organisation's own host
/// (forward-confirmed).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PtrCounts {
    pub looked_up: u8,
    pub generated: u8,
    pub servers: u8,
    pub organisation: u8,
}

/// What a network's traffic showed on one site in one day: distinct visitors, /24s (IPv6 /48s) and cities,
/// each estimated from a 64-bit set ([`estimate`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrafficCounts {
    pub visitors: u32,
    pub networks: u32,
    pub cities: u32,
}

/// Everything known about one AS organisation's network beyond its name and footprint, and the class the
/// resolver decided with it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkEvidence {
    pub asn: u32,
    /// The AS organisation's name.
    pub name: String,
    pub ptr: PtrCounts,
    /// The registrable domain the forward-confirmed organisation names share (more than half of them, at
    /// least two), when it is not the network operator's; empty otherwise.
    pub ptr_domain: String,
    /// The strongest site-day of traffic seen (the most distinct /24s).
    pub traffic: TrafficCounts,
    /// The class and its confidence from the name and footprint alone (the compiled table's).
    pub base_class: NetworkClass,
    pub base_confidence: u8,
    /// The class and its confidence with the evidence.
    pub class: NetworkClass,
    pub class_confidence: u8,
    /// The account key the organisation now has: `ptr_domain` when the class makes accounts and the names
    /// share one domain, else `as<N>`.
    pub key: String,
    /// The evidence signals the decision used, comma-separated (`ptr:generated`, `traffic:spread`).
    pub signals: String,
    /// When the evidence was last decided on, Unix ms.
    pub decided_ms: i64,
    /// When the PTR evidence is looked up again, Unix ms.
    pub expires_ms: i64,
}

impl NetworkEvidence {
    /// The account key of the AS's own organisation: `as<N>`.
    pub fn as_key(&self) -> String {
        format!("as{}", self.asn)
    }

    /// Whether the evidence changes what stored events of the network say enough to relabel them: another
    /// class, another key, or a class confidence on the other side of `min_confidence` (what alerts wait
    /// for). Smaller changes of confidence reach new events only.
    pub fn relabels(&self, min_confidence: u8) -> bool {
        self.class != self.base_class
            || self.key != self.as_key()
            || (self.base_confidence < min_confidence) != (self.class_confidence < min_confidence)
    }

    /// The organisation an event of this network counts for with the evidence, or `None` when its answer
    /// stands: only events the AS layer answered for the network itself (`id_source` `asn`, its AS number,
    /// keyed `as<N>` or already by the decided key) take the decided class, confidence and key.
    pub fn label(&self, c: &CompanyInfo) -> Option<CompanyInfo> {
        let own = c.id_source == IdSource::Asn
            && c.asn == self.asn
            && self.asn != 0
            && (c.company_domain == self.as_key() || c.company_domain == self.key);
        if !own || self.key.is_empty() {
            return None;
        }
        let changed = c.network_class != self.class
            || c.class_confidence != self.class_confidence
            || c.company_domain != self.key;
        changed.then(|| CompanyInfo {
            company_domain: self.key.clone(),
            network_class: self.class,
            class_confidence: self.class_confidence,
            ..c.clone()
        })
    }
}

/// Buckets a hashed /24, city or visitor falls in: one bit of a `u64` each.
pub const BUCKETS: u32 = 64;

/// FNV-1a: stable across builds and processes, so every ingest process puts a /24 in the same bucket.
fn fnv1a(parts: &[&[u8]]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for part in parts {
        for &b in *part {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        h = (h ^ 0xff).wrapping_mul(0x0100_0000_01b3);
    }
    h
}

fn bucket(mut h: u64) -> u8 {
    // FNV mixes a few bytes poorly: MurmurHash3's finalizer spreads them over every bit first.
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^= h >> 33;
    (h % u64::from(BUCKETS)) as u8
}

/// The bucket of the /24 (IPv6: /48) holding `ip`: what ingest puts on an event instead of anything of the
/// address. IPv4-mapped IPv6 addresses count as IPv4.
pub fn prefix_bucket(ip: IpAddr) -> u8 {
    let v4 = match ip {
        IpAddr::V4(a) => Some(a),
        IpAddr::V6(a) => a.to_ipv4_mapped(),
    };
    match (v4, ip) {
        (Some(a), _) => bucket(fnv1a(&[b"4", &a.octets()[..3]])),
        (None, IpAddr::V6(a)) => bucket(fnv1a(&[b"6", &a.octets()[..6]])),
        (None, IpAddr::V4(_)) => 0,
    }
}

/// The bucket of a text (a city, a visitor id).
pub fn text_bucket(text: &str) -> u8 {
    bucket(fnv1a(&[text.as_bytes()]))
}

/// The distinct items a 64-bit set holds, estimated by linear counting (Whang et al. 1990): `m·ln(m/z)` for
/// `z` empty buckets of `m`. Up to about 20 items it is within one of the truth; a full set says "at least
/// 200".
pub fn estimate(bits: u64) -> u32 {
    let m = f64::from(BUCKETS);
    let zeros = f64::from(bits.count_zeros());
    if zeros == 0.0 {
        return 200;
    }
    (m * (m / zeros).ln()).round() as u32
}

/// The UTC day number of a Unix ms time: traffic is counted per day.
pub fn day_of(ts_ms: i64) -> i64 {
    ts_ms.div_euclid(86_400_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_stable_and_spread() {
        let a: IpAddr = "198.18.7.40".parse().unwrap();
        let b: IpAddr = "198.18.7.200".parse().unwrap();
        assert_eq!(prefix_bucket(a), prefix_bucket(b), "one /24, one bucket");
        assert_eq!(prefix_bucket(a), prefix_bucket("::ffff:198.18.7.1".parse().unwrap()));
        let mut bits = 0u64;
        for i in 0..=255u8 {
            bits |= 1 << prefix_bucket(IpAddr::from([198, 18, i, 1]));
        }
        assert!(bits.count_ones() > 50, "256 /24s fill most buckets: {}", bits.count_ones());
        let v6: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        assert_eq!(prefix_bucket(v6), prefix_bucket("2001:db8:1:ffff::9".parse().unwrap()), "one /48");
    }

    #[test]
    fn linear_counting_is_close_for_small_counts() {
        assert_eq!(estimate(0), 0);
        assert_eq!(estimate(1), 1);
        assert_eq!(estimate(0b1111), 4);
        let mut bits = 0u64;
        for i in 0..12u8 {
            bits |= 1 << prefix_bucket(IpAddr::from([100, 64, i, 1]));
        }
        let n = estimate(bits);
        assert!((9..=15).contains(&n), "12 /24s estimated as {n}");
        assert_eq!(estimate(u64::MAX), 200);
    }

    #[test]
    fn the_label_applies_to_the_network_s_own_answers_only() {
        let e = NetworkEvidence {
            asn: 64510,
            base_class: NetworkClass::Business,
            base_confidence: 60,
            class: NetworkClass::Isp,
            class_confidence: 92,
            key: "as64510".into(),
            ..Default::default()
        };
        let own = CompanyInfo {
            company_domain: "as64510".into(),
            asn: 64510,
            network_class: NetworkClass::Business,
            id_source: IdSource::Asn,
            class_confidence: 60,
            ..Default::default()
        };
        let l = e.label(&own).unwrap();
        assert_eq!((l.network_class, l.class_confidence), (NetworkClass::Isp, 92));
        assert_eq!(e.label(&l), None, "already labelled");
        let customer = CompanyInfo { company_domain: "org:acme".into(), ..own.clone() };
        assert_eq!(e.label(&customer), None);
        let learned = CompanyInfo { id_source: IdSource::Rdns, ..own.clone() };
        assert_eq!(e.label(&learned), None);
        assert!(e.relabels(80));
        let lifted = NetworkEvidence {
            class: NetworkClass::Business,
            class_confidence: 90,
            key: "umbrella.example".into(),
            ..e.clone()
        };
        assert_eq!(lifted.label(&own).unwrap().company_domain, "umbrella.example");
        let nudged = NetworkEvidence { class: NetworkClass::Business, class_confidence: 70, ..e };
        assert!(!nudged.relabels(80), "60 to 70 is below the alert threshold either way");
    }
}
