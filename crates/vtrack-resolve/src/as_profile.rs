//! What an AS's own announcements say about what it is, beside its name.
//!
//! An enterprise announces its own few blocks from a handful of sites; a network operator announces
//! its customers' and regions' blocks, dozens to thousands of them, and holds the IPv6 allocation a
//! registry gives a local internet registry (a /32 or wider) where an enterprise holds a /48 of
//! provider-independent space. A hoster's ranges are placed in many countries; an access network's in one.
//! An operator often runs several ASes under one name. So the shape of the address space an AS holds is
//! evidence of its own, independent of the language of its name:
//!
//! - [`AsProfile::v4_addresses`], [`AsProfile::v4_ranges`] and their mean size;
//! - [`AsProfile::v6_ranges`] and [`AsProfile::v6_widest`], the widest IPv6 prefix it announces;
//! - [`AsProfile::countries`] and [`AsProfile::country`], where the country data places its addresses;
//! - [`AsProfile::siblings`], the ASes of the same organisation (the same name key) in the data.
//!
//! None of these decides alone: carmakers and banks that got a class A before 1994 still announce a /8
//! in one block, and universities are registries too. The classifier ([`crate::class_model`]) weighs each
//! signal with the name's words, with weights learned from hand-labelled random samples. The profile is
//! computed once per table build, from the AS-range and country layers only, and applies only to the
//! organisations of the AS-range layer: a range whose source gave the class (a customer CSV's class
//! column, an MMDB `user_type`) keeps it.

use std::collections::HashMap;
use std::path::PathBuf;

use serde::Serialize;
use vtrack_model::config::ResolveConfig;

use crate::source::Sources;
use crate::{ResolveError, Source};

/// The footprint of one AS in the AS-range and country data.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct AsProfile {
    /// IPv4 addresses announced, summed over the AS's ranges.
    pub v4_addresses: u64,
    /// IPv4 ranges (rows) announced.
    pub v4_ranges: u32,
    /// IPv6 ranges (rows) announced.
    pub v6_ranges: u32,
    /// The prefix length of the widest IPv6 range it announces (32 for a /32); 0 when it has none.
    pub v6_widest: u8,
    /// How many countries the country data places its IPv4 addresses in (0 without country data).
    pub countries: u16,
    /// The country holding most of its IPv4 addresses, ISO 3166-1 alpha-2; `[0, 0]` when unknown.
    pub country: [u8; 2],
    /// ASes in the data whose organisation has the same name key, this one included.
    pub siblings: u32,
}

impl AsProfile {
    /// The main country as text, empty when unknown.
    pub fn country_code(&self) -> &str {
        std::str::from_utf8(&self.country).ok().filter(|c| c.bytes().all(|b| b.is_ascii_uppercase())).unwrap_or("")
    }
}

/// The profiles of many ASes, by AS number.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AsProfiles {
    by_asn: HashMap<u32, AsProfile>,
}

impl AsProfiles {
    /// Profiles by AS number.
    pub fn from_map(by_asn: HashMap<u32, AsProfile>) -> AsProfiles {
        AsProfiles { by_asn }
    }

    /// Every profile, by AS number.
    pub fn iter(&self) -> impl Iterator<Item = (&u32, &AsProfile)> {
        self.by_asn.iter()
    }

    /// The profile of `asn`, if the data has it.
    pub fn get(&self, asn: u32) -> Option<&AsProfile> {
        self.by_asn.get(&asn)
    }

    /// Number of ASes profiled.
    pub fn len(&self) -> usize {
        self.by_asn.len()
    }

    /// Whether no AS is profiled.
    pub fn is_empty(&self) -> bool {
        self.by_asn.is_empty()
    }

    /// Profiles every AS of the AS-range layer of `sources`, with the country layer where it has one,
    /// exactly as the table build does.
    pub fn from_sources(sources: &Sources) -> AsProfiles {
        let mut by_asn: HashMap<u32, AsProfile> = HashMap::new();
        let orgs = &sources.orgs.items;
        let mut names: HashMap<u32, String> = HashMap::new();
        let mut placed: HashMap<u32, HashMap<[u8; 2], u64>> = HashMap::new();
        let geo = GeoIndex::new(sources);
        for (family, v4) in [(&sources.v4, true), (&sources.v6, false)] {
            for e in &family.org {
                let Some(org) = orgs.get(e.value as usize) else { continue };
                if org.source != Source::Asn || org.asn == 0 {
                    continue;
                }
                names.entry(org.asn).or_insert_with(|| org.name.clone());
                let p = by_asn.entry(org.asn).or_default();
                if v4 {
                    p.v4_addresses += u64::try_from(e.end - e.start + 1).unwrap_or(u64::MAX);
                    p.v4_ranges += 1;
                    geo.place(e.start, e.end, placed.entry(org.asn).or_default());
                } else {
                    p.v6_ranges += 1;
                    let len = 128 - (e.end - e.start).checked_add(1).map_or(128, |n| n.ilog2()) as u8;
                    p.v6_widest = if p.v6_widest == 0 { len } else { p.v6_widest.min(len) };
                }
            }
        }
        let mut per_key: HashMap<String, u32> = HashMap::new();
        for name in names.values() {
            *per_key.entry(crate::account_key::name_key(name).unwrap_or_default()).or_default() += 1;
        }
        for (asn, p) in by_asn.iter_mut() {
            if let Some(places) = placed.get(asn) {
                p.countries = u16::try_from(places.len()).unwrap_or(u16::MAX);
                if let Some((c, _)) = places.iter().max_by_key(|(c, n)| (**n, std::cmp::Reverse(**c))) {
                    p.country = *c;
                }
            }
            let key = names.get(asn).and_then(|n| crate::account_key::name_key(n)).unwrap_or_default();
            p.siblings = per_key.get(&key).copied().unwrap_or(1);
        }
        AsProfiles { by_asn }
    }

    /// Reads AS-range files (`start,end,asn,org`, the `--asn-csv` format) and country-range files
    /// (`--country-csv`) and profiles their ASes.
    pub fn from_files(asn_csv: &[PathBuf], country_csv: &[PathBuf]) -> Result<AsProfiles, ResolveError> {
        let cfg = ResolveConfig { asn_csv: asn_csv.to_vec(), country_csv: country_csv.to_vec(), ..Default::default() };
        Ok(AsProfiles::from_sources(&Sources::load(&cfg, |_| {})?))
    }
}

/// The IPv4 country ranges, sorted, to place an AS's ranges in countries.
struct GeoIndex {
    /// (start, end, country), sorted by start, not overlapping (the country data's ranges are disjoint).
    ranges: Vec<(u128, u128, [u8; 2])>,
}

impl GeoIndex {
    fn new(sources: &Sources) -> GeoIndex {
        let mut ranges: Vec<(u128, u128, [u8; 2])> = sources
            .v4
            .geo
            .iter()
            .filter_map(|e| {
                let code = sources.geos.items.get(e.value as usize)?.country.as_bytes();
                (code.len() == 2).then(|| (e.start, e.end, [code[0], code[1]]))
            })
            .collect();
        ranges.sort_unstable();
        GeoIndex { ranges }
    }

    /// Adds the addresses of `start..=end` to the country each falls in.
    fn place(&self, start: u128, end: u128, into: &mut HashMap<[u8; 2], u64>) {
        let first = self.ranges.partition_point(|r| r.1 < start);
        for &(s, e, c) in self.ranges[first..].iter().take_while(|r| r.0 <= end) {
            let (lo, hi) = (s.max(start), e.min(end));
            if lo <= hi {
                *into.entry(c).or_default() += u64::try_from(hi - lo + 1).unwrap_or(u64::MAX);
            }
        }
    }
}

/// Classifies the organisations of the AS-range layer with their AS's profile; called once, after every
/// source is read. Organisations of other layers keep their class (their source gave it, or their ranges
/// say nothing about their AS).
pub(crate) fn apply(sources: &mut Sources) {
    let profiles = AsProfiles::from_sources(sources);
    for org in sources.orgs.items.iter_mut().filter(|o| o.source == Source::Asn && o.asn != 0) {
        let decision = crate::class_model::decide(&org.name, org.asn, profiles.get(org.asn), &[]);
        org.class = decision.class;
        org.class_confidence = decision.confidence;
    }
    // Kept with the table: the class is decided again when evidence about a network comes in.
    sources.profiles = profiles;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(name: &str, text: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("vtrack-as-profile-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn profiles_count_ranges_prefixes_countries_and_siblings() {
        let asn = write(
            "asn.csv",
            "198.18.0.0,198.18.0.255,64500,Example Broadband\n198.18.1.0,198.18.1.255,64500,Example Broadband\n\
             198.18.2.0,198.18.3.255,64501,Example Broadband Inc.\n198.18.4.0,198.18.4.255,64502,Acme\n\
             2001:db8::,2001:db8:ffff:ffff:ffff:ffff:ffff:ffff,64500,Example Broadband\n\
             2001:db9::,2001:db9::ffff:ffff:ffff:ffff:ffff,64500,Example Broadband\n",
        );
        let countries = write("countries.csv", "198.18.0.0,198.18.0.255,DE\n198.18.1.0,198.18.2.255,AT\n");
        let p = AsProfiles::from_files(&[asn], &[countries]).unwrap();
        let broadband = p.get(64500).unwrap();
        assert_eq!((broadband.v4_addresses, broadband.v4_ranges, broadband.v6_ranges), (512, 2, 2));
        assert_eq!(broadband.v6_widest, 32, "the widest of a /32 and a /48");
        assert_eq!((broadband.countries, broadband.country_code()), (2, "AT"), "a tie goes to the first code");
        assert_eq!(broadband.siblings, 2, "Example Broadband and Example Broadband Inc. are one name");
        let other = p.get(64501).unwrap();
        assert_eq!((other.countries, other.country_code(), other.v6_widest), (1, "AT", 0));
        let acme = p.get(64502).unwrap();
        assert_eq!((acme.countries, acme.country_code(), acme.siblings), (0, "", 1));
    }
}
