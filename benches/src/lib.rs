//! The contenders of the resolver benchmarks, built from the same real data.
//!
//! `scripts/fetch-asn-data.sh` fetches npm `@ip-location-db/asn` into `.cache/ip-location-db/asn/`. From
//! it, [`Setup::load`] compiles vtrack's [`Table`] and derives, from that table's own resolved ranges, every
//! other contender, so all of them give the same answer for every address:
//!
//! - an MMDB written with vtrack's writer, records `{autonomous_system_number, autonomous_system_organization}`,
//!   read with the `maxminddb` crate;
//! - a `prefix_trie::PrefixMap` over the same CIDRs;
//! - a sorted array of range starts searched with `partition_point`.
//!
//! Each lookup ends with the same work: read the AS number and the organisation name's length. vtrack is
//! timed through [`Table::resolve`], the call ingest makes for every beacon; `Table::lookup` (which also
//! finds the matched prefix) is shown beside it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use prefix_trie::PrefixMap;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use vtrack_model::config::ResolveConfig;
use vtrack_model::event::CompanyInfo;
use vtrack_resolve::Table;
use vtrack_testkit::mmdb::{Value, Writer};

/// Where the fetch script puts the data.
pub fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.cache/ip-location-db/asn")
}

/// The record the MMDB contender decodes per lookup: what a caller of `maxminddb` needs for an account.
#[derive(serde::Deserialize)]
pub struct AsnOrg<'a> {
    pub autonomous_system_number: u32,
    #[serde(borrow)]
    pub autonomous_system_organization: &'a str,
}

/// Disjoint sorted ranges searched by binary search.
pub struct SortedRanges<K> {
    pub starts: Vec<K>,
    /// `(end, answer index)` for the range starting at the same position in `starts`.
    pub rest: Vec<(K, u32)>,
}

impl<K: Ord + Copy> SortedRanges<K> {
    #[inline]
    pub fn get(&self, ip: K) -> Option<u32> {
        let i = self.starts.partition_point(|&s| s <= ip).checked_sub(1)?;
        let (end, v) = self.rest[i];
        (ip <= end).then_some(v)
    }
}

/// Splits `[start, end]` of a `bits`-bit family into the fewest CIDR blocks, as `(network, length)`.
pub fn cidrs(mut start: u128, end: u128, bits: u32) -> Vec<(u128, u8)> {
    let mut out = Vec::new();
    loop {
        let align = start.trailing_zeros().min(bits);
        let span = 128 - (end - start).saturating_add(1).leading_zeros() - 1;
        let span = if end - start == u128::MAX { 128 } else { span };
        let host = align.min(span);
        out.push((start, (bits - host) as u8));
        let last = start + if host == 128 { u128::MAX } else { (1u128 << host) - 1 };
        if last >= end {
            return out;
        }
        start = last + 1;
    }
}

/// Everything the benches compare, built once.
pub struct Setup {
    pub cfg: ResolveConfig,
    pub table: Table,
    pub build_time: Duration,
    /// The distinct answers, in full (for the MMDB) and compact (for the contenders that store an index).
    pub answers: Vec<CompanyInfo>,
    pub records: Vec<AsnOrgRecord>,
    pub v4: Vec<(u32, u32, u32)>,
    pub v6: Vec<(u128, u128, u32)>,
}

impl Setup {
    /// Compiles the real data, or says how to fetch it and returns `None`.
    pub fn load() -> Option<Setup> {
        let dir = data_dir();
        let (f4, f6) = (dir.join("asn-ipv4.csv"), dir.join("asn-ipv6.csv"));
        if !f4.is_file() || !f6.is_file() {
            eprintln!("no real AS data in {}: run scripts/fetch-asn-data.sh first", dir.display());
            return None;
        }
        let cfg = ResolveConfig { asn_csv: vec![f4, f6], ..Default::default() };
        let started = Instant::now();
        let table = match Table::build(&cfg) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("the real data does not build: {e}");
                return None;
            }
        };
        let build_time = started.elapsed();
        let mut answers: Vec<CompanyInfo> = Vec::new();
        let mut index = std::collections::HashMap::new();
        let (mut v4, mut v6) = (Vec::new(), Vec::new());
        for (first, last, info, _) in table.iter() {
            let id = *index.entry(std::ptr::from_ref(info) as usize).or_insert_with(|| {
                answers.push(info.clone());
                answers.len() as u32 - 1
            });
            match (first, last) {
                (IpAddr::V4(a), IpAddr::V4(b)) => v4.push((u32::from(a), u32::from(b), id)),
                (IpAddr::V6(a), IpAddr::V6(b)) => v6.push((u128::from(a), u128::from(b), id)),
                _ => {}
            }
        }
        let records =
            answers.iter().map(|a| AsnOrgRecord { org: a.company_name.as_str().into(), asn: a.asn }).collect();
        Some(Setup { cfg, table, build_time, answers, records, v4, v6 })
    }

    /// What a contender that stores an answer index does with it.
    #[inline(always)]
    pub fn touch_id(&self, id: u32) -> u64 {
        self.records.get(id as usize).map_or(0, |r| touch(r.asn, &r.org))
    }

    /// The resolved IPv4 ranges as CIDRs `(network, length, answer)`.
    pub fn v4_cidrs(&self) -> Vec<(u32, u8, u32)> {
        let split = |&(s, e, id): &(u32, u32, u32)| {
            cidrs(u128::from(s), u128::from(e), 32).into_iter().map(move |(n, l)| (n as u32, l, id))
        };
        self.v4.iter().flat_map(split).collect()
    }

    /// The resolved IPv6 ranges as CIDRs.
    pub fn v6_cidrs(&self) -> Vec<(u128, u8, u32)> {
        self.v6.iter().flat_map(|&(s, e, id)| cidrs(s, e, 128).into_iter().map(move |(n, l)| (n, l, id))).collect()
    }

    /// An MMDB of the same ranges, `{autonomous_system_number, autonomous_system_organization}` each.
    pub fn mmdb(&self) -> Vec<u8> {
        let mut w = Writer::new("vtrack-bench-ASN");
        let values: Vec<Value> = self
            .answers
            .iter()
            .map(|a| {
                Value::map([
                    ("autonomous_system_number", Value::U32(a.asn)),
                    ("autonomous_system_organization", Value::String(a.company_name.clone())),
                ])
            })
            .collect();
        for (net, len, id) in self.v4_cidrs() {
            let net = ipnetwork::IpNetwork::new(IpAddr::V4(Ipv4Addr::from(net)), len);
            if let Ok(net) = net {
                w.insert(net, &values[id as usize]);
            }
        }
        for (net, len, id) in self.v6_cidrs() {
            if let Ok(net) = ipnetwork::IpNetwork::new(IpAddr::V6(Ipv6Addr::from(net)), len) {
                w.insert(net, &values[id as usize]);
            }
        }
        let mut bytes = Vec::new();
        w.write(&mut bytes).expect("writing to memory");
        bytes
    }

    pub fn prefix_trie_v4(&self) -> PrefixMap<(u32, u8), u32> {
        let mut m = PrefixMap::new();
        for (net, len, id) in self.v4_cidrs() {
            m.insert((net, len), id);
        }
        m
    }

    pub fn prefix_trie_v6(&self) -> PrefixMap<(u128, u8), u32> {
        let mut m = PrefixMap::new();
        for (net, len, id) in self.v6_cidrs() {
            m.insert((net, len), id);
        }
        m
    }

    pub fn sorted_v4(&self) -> SortedRanges<u32> {
        SortedRanges {
            starts: self.v4.iter().map(|r| r.0).collect(),
            rest: self.v4.iter().map(|r| (r.1, r.2)).collect(),
        }
    }

    pub fn sorted_v6(&self) -> SortedRanges<u128> {
        SortedRanges {
            starts: self.v6.iter().map(|r| r.0).collect(),
            rest: self.v6.iter().map(|r| (r.1, r.2)).collect(),
        }
    }

    /// `n` IPv6 addresses inside the data's ranges (uniformly random ones would nearly all miss at the
    /// first level): a random range, then a random address in it.
    pub fn random_v6(&self, n: usize, seed: u64) -> Vec<u128> {
        let mut rng = StdRng::seed_from_u64(seed);
        (0..n)
            .map(|_| {
                let (s, e, _) = self.v6[rng.random_range(0..self.v6.len())];
                s + rng.random_range(0..=(e - s))
            })
            .collect()
    }

    /// How many CIDRs the raw IPv4 rows split into, before overlaps are resolved (the 565k).
    pub fn raw_v4_cidr_count(&self) -> usize {
        let Some(path) = self.cfg.asn_csv.first() else { return 0 };
        let Ok(text) = std::fs::read_to_string(path) else { return 0 };
        text.lines()
            .filter_map(|l| {
                let mut f = l.splitn(3, ',');
                let s: Ipv4Addr = f.next()?.parse().ok()?;
                let e: Ipv4Addr = f.next()?.parse().ok()?;
                Some(cidrs(u128::from(u32::from(s)), u128::from(u32::from(e)), 32).len())
            })
            .sum()
    }
}

/// `n` uniformly random IPv4 addresses.
pub fn random_v4(n: usize, seed: u64) -> Vec<u32> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n).map(|_| rng.random::<u32>()).collect()
}

/// What each contender does with an answer, the same small read for all: the AS number and the
/// organisation name's length.
#[inline(always)]
pub fn touch(asn: u32, org: &str) -> u64 {
    u64::from(asn) + org.len() as u64
}

/// The `{asn, org}` record the contenders that store an answer index read: 24 bytes, as compact as the
/// hot part of vtrack's records, so no contender pays for a fatter record than vtrack does.
pub struct AsnOrgRecord {
    pub org: Box<str>,
    pub asn: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_split_is_minimal_and_exact() {
        assert_eq!(cidrs(0, 255, 32), vec![(0, 24)]);
        assert_eq!(cidrs(1, 2, 32), vec![(1, 32), (2, 32)]);
        assert_eq!(cidrs(0, u32::MAX as u128, 32), vec![(0, 0)]);
        assert_eq!(cidrs(0, u128::MAX, 128), vec![(0, 0)]);
        assert_eq!(cidrs(0xC633_6400, 0xC633_647F, 32), vec![(0xC633_6400, 25)]);
        assert_eq!(cidrs(5, 17, 32), vec![(5, 32), (6, 31), (8, 29), (16, 31)]);
    }
}
