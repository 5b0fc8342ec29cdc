//! Who wins: overlapping ranges become disjoint segments, each with one record.
//!
//! The rules, applied per address:
//! 1. The organisation comes from the highest-priority layer that has the address: customer CSV, then
//!    MMDB, then AS ranges. A customer range wins even when an MMDB network around it is narrower.
//! 2. Within one layer, the narrowest range (fewest addresses) wins, whatever the file order; among equally
//!    narrow ranges, the one read first (config order, then line order) wins.
//! 3. The place (country, city) comes from the narrowest MMDB network with one, independently of which
//!    layer gave the organisation.
//!
//! A sweep over range starts and ends with a heap of open ranges does this in O(n log n), then adjacent
//! segments with the same record are merged so a lookup's prefix is as wide as the answer allows.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use vtrack_model::event::CompanyInfo;

use crate::source::{Entry, Family, Sources};
use crate::Source;

/// A range of addresses with one answer. Record 0 is "nothing known" and is never stored in a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Segment {
    pub start: u128,
    pub end: u128,
    pub rec: u32,
}

/// An answer: the organisation and place of a segment, and which layer gave the organisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Record {
    pub info: CompanyInfo,
    pub source: Source,
}

/// The sources, resolved into disjoint sorted segments per family and the records they point at.
#[derive(Debug)]
pub(crate) struct Compiled {
    /// `records[0]` is a placeholder for "no record".
    pub records: Vec<Record>,
    pub v4: Vec<Segment>,
    pub v6: Vec<Segment>,
}

pub(crate) const V4_MAX: u128 = u32::MAX as u128;
pub(crate) const V6_MAX: u128 = u128::MAX;

/// Resolves the overlaps of one list of ranges: returns disjoint, sorted `(start, end, value)` runs.
fn sweep<K: Ord + Copy>(entries: &[Entry], max: u128, rank: impl Fn(&Entry) -> K) -> Vec<(u128, u128, u32)> {
    let mut events: Vec<(u128, u32, bool)> = Vec::with_capacity(entries.len() * 2);
    for (i, e) in entries.iter().enumerate() {
        events.push((e.start, i as u32, true));
        if e.end < max {
            events.push((e.end + 1, i as u32, false));
        }
    }
    events.sort_unstable_by_key(|ev| ev.0);
    let mut open: BinaryHeap<Reverse<(K, u32)>> = BinaryHeap::new();
    let mut closed = vec![false; entries.len()];
    let mut out: Vec<(u128, u128, u32)> = Vec::new();
    let mut k = 0;
    while k < events.len() {
        let pos = events[k].0;
        while let Some(&(p, i, start)) = events.get(k) {
            if p != pos {
                break;
            }
            if start {
                open.push(Reverse((rank(&entries[i as usize]), i)));
            } else {
                closed[i as usize] = true;
            }
            k += 1;
        }
        while open.peek().is_some_and(|Reverse((_, i))| closed[*i as usize]) {
            open.pop();
        }
        let Some(Reverse((_, winner))) = open.peek() else {
            continue;
        };
        let end = events.get(k).map_or(max, |ev| ev.0 - 1);
        let value = entries[*winner as usize].value;
        match out.last_mut() {
            Some(last) if last.2 == value && last.1.checked_add(1) == Some(pos) => last.1 = end,
            _ => out.push((pos, end, value)),
        }
    }
    out
}

/// Lays the places over the organisations: every boundary of either starts a new piece.
fn overlay(
    orgs: &[(u128, u128, u32)],
    geos: &[(u128, u128, u32)],
    max: u128,
) -> Vec<(u128, u128, Option<u32>, Option<u32>)> {
    let mut points: Vec<u128> = Vec::with_capacity((orgs.len() + geos.len()) * 2);
    for &(s, e, _) in orgs.iter().chain(geos) {
        points.push(s);
        if e < max {
            points.push(e + 1);
        }
    }
    points.sort_unstable();
    points.dedup();
    let (mut i, mut j) = (0, 0);
    let mut out: Vec<(u128, u128, Option<u32>, Option<u32>)> = Vec::new();
    for (n, &p) in points.iter().enumerate() {
        let end = points.get(n + 1).map_or(max, |next| next - 1);
        while orgs.get(i).is_some_and(|o| o.1 < p) {
            i += 1;
        }
        while geos.get(j).is_some_and(|g| g.1 < p) {
            j += 1;
        }
        let org = orgs.get(i).filter(|o| o.0 <= p).map(|o| o.2);
        let geo = geos.get(j).filter(|g| g.0 <= p).map(|g| g.2);
        if org.is_none() && geo.is_none() {
            continue;
        }
        match out.last_mut() {
            Some(last) if (last.2, last.3) == (org, geo) && last.1.checked_add(1) == Some(p) => last.1 = end,
            _ => out.push((p, end, org, geo)),
        }
    }
    out
}

/// Turns read sources into disjoint segments and interned records.
pub(crate) fn compile(sources: &Sources) -> Compiled {
    let mut records = vec![Record { info: CompanyInfo::default(), source: Source::Mmdb }];
    let mut index: HashMap<(Option<u32>, Option<u32>), u32> = HashMap::new();
    let mut family = |fam: &Family, max: u128| -> Vec<Segment> {
        let orgs = &sources.orgs.items;
        let org_runs = sweep(&fam.org, max, |e| (orgs[e.value as usize].source, e.end - e.start, e.order));
        let geo_runs = sweep(&fam.geo, max, |e| (e.end - e.start, e.order));
        overlay(&org_runs, &geo_runs, max)
            .into_iter()
            .map(|(start, end, org, geo)| {
                let rec = *index.entry((org, geo)).or_insert_with(|| {
                    records.push(record(sources, org, geo));
                    (records.len() - 1) as u32
                });
                Segment { start, end, rec }
            })
            .collect()
    };
    let mut v4 = family(&sources.v4, V4_MAX);
    let mut v6 = family(&sources.v6, V6_MAX);
    let records = by_coverage(records, &mut v4, &mut v6);
    Compiled { records, v4, v6 }
}

/// Orders the records by the share of the address space they answer for, largest first, so the records
/// random traffic hits most share cache lines. Record 0 stays the placeholder.
fn by_coverage(records: Vec<Record>, v4: &mut [Segment], v6: &mut [Segment]) -> Vec<Record> {
    let mut weight = vec![0f64; records.len()];
    for s in v4.iter() {
        weight[s.rec as usize] += (s.end - s.start + 1) as f64 / 2f64.powi(32);
    }
    for s in v6.iter() {
        weight[s.rec as usize] += (s.end - s.start) as f64 / 2f64.powi(128);
    }
    let mut order: Vec<u32> = (1..records.len() as u32).collect();
    order.sort_by(|&a, &b| weight[b as usize].total_cmp(&weight[a as usize]).then(a.cmp(&b)));
    let mut new_index = vec![0u32; records.len()];
    for (new, &old) in order.iter().enumerate() {
        new_index[old as usize] = new as u32 + 1;
    }
    for s in v4.iter_mut().chain(v6.iter_mut()) {
        s.rec = new_index[s.rec as usize];
    }
    let mut slots: Vec<Option<Record>> = records.into_iter().map(Some).collect();
    let mut sorted = Vec::with_capacity(slots.len());
    sorted.push(slots[0].take().unwrap_or(Record { info: CompanyInfo::default(), source: Source::Mmdb }));
    sorted.extend(order.iter().filter_map(|&old| slots[old as usize].take()));
    sorted
}

fn record(sources: &Sources, org: Option<u32>, geo: Option<u32>) -> Record {
    let mut info = CompanyInfo::default();
    let mut source = Source::Mmdb;
    if let Some(o) = org.and_then(|o| sources.orgs.items.get(o as usize)) {
        info.company_name = o.name.clone();
        info.company_domain = o.domain.clone();
        info.asn = o.asn;
        info.network_class = o.class;
        info.class_confidence = o.class_confidence;
        info.id_source = o.source.id_source();
        info.id_confidence = o.confidence;
        source = o.source;
    }
    if let Some(g) = geo.and_then(|g| sources.geos.items.get(g as usize)) {
        info.country = g.country.clone();
        info.city = g.city.clone();
    }
    Record { info, source }
}

/// The widest CIDR block around `ip` that lies inside `[start, end]`, as a prefix length of `bits`.
///
/// Clearing the low `h` bits of `ip` stays `>= start` when `h` is at most the highest bit where they
/// differ, or at most the trailing zeros of `start`; setting them stays `<= end` likewise with the trailing
/// ones of `end`. So the answer is a handful of bit counts, not a loop.
pub(crate) fn block_len(ip: u128, start: u128, end: u128, bits: u32) -> u8 {
    let below = |a: u128, b: u128, run: u32| {
        if a == b {
            run
        } else {
            (127 - (a ^ b).leading_zeros()).max(run)
        }
    };
    let h1 = below(ip, start, start.trailing_zeros());
    let h2 = below(ip, end, end.trailing_ones());
    (bits - h1.min(h2).min(bits)) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive_block_len(ip: u128, s: u128, e: u128, bits: u32) -> u8 {
        (0..=bits)
            .find(|&len| {
                let host = if len == bits { 0 } else { u128::MAX >> (128 - (bits - len)) };
                let a = ip & !host;
                a >= s && (a | host) <= e
            })
            .map_or(bits as u8, |l| l as u8)
    }

    #[test]
    fn block_len_matches_a_loop() {
        let cases =
            [(10u128, 0u128, 255u128), (0, 0, 255), (255, 0, 255), (5, 4, 11), (8, 4, 11), (100, 3, 200), (7, 7, 7)];
        for (ip, s, e) in cases {
            assert_eq!(block_len(ip, s, e, 32), naive_block_len(ip, s, e, 32), "{ip} in {s}..{e}");
        }
        let mut x = 0x9e37_79b9_7f4a_7c15u128;
        for _ in 0..20_000 {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let (a, b, c) = ((x >> 64) as u32 as u128, (x >> 96) as u32 as u128, (x >> 32) as u32 as u128);
            let mut v = [a, b, c];
            v.sort();
            assert_eq!(block_len(v[1], v[0], v[2], 32), naive_block_len(v[1], v[0], v[2], 32), "{v:?}");
        }
        assert_eq!(block_len(u32::MAX as u128, 0, u32::MAX as u128, 32), 0);
        assert_eq!(block_len(5, 0, u128::MAX, 128), 0);
        assert_eq!(block_len(u128::MAX, u128::MAX, u128::MAX, 128), 128);
    }

    fn entry(start: u128, end: u128, value: u32, order: u32) -> Entry {
        Entry { start, end, value, order }
    }

    #[test]
    fn narrower_wins_whatever_the_order() {
        // The real data's overlap: 214.95.0.0-215.0.255.255 and 215.0.0.0-215.1.3.255.
        let a = entry(0xD65F_0000, 0xD700_FFFF, 1, 0);
        let b = entry(0xD700_0000, 0xD701_03FF, 2, 1);
        for list in [vec![a, b], vec![b, a]] {
            let runs = sweep(&list, V4_MAX, |e| (e.end - e.start, e.order));
            assert_eq!(runs, vec![(0xD65F_0000, 0xD6FF_FFFF, 1), (0xD700_0000, 0xD701_03FF, 2)]);
        }
    }

    #[test]
    fn overlay_splits_at_every_boundary_and_merges_equal_neighbours() {
        let orgs = [(0, 99, 1), (100, 199, 1), (300, 399, 2)];
        let geos = [(50, 349, 7)];
        let out = overlay(&orgs, &geos, V4_MAX);
        assert_eq!(
            out,
            vec![
                (0, 49, Some(1), None),
                (50, 199, Some(1), Some(7)),
                (200, 299, None, Some(7)),
                (300, 349, Some(2), Some(7)),
                (350, 399, Some(2), None)
            ]
        );
    }
}
