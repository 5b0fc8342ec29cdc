//! What an AS's own announcements say about what it is, when its name says nothing.
//!
//! An enterprise announces its own few blocks from a handful of sites; a network operator announces
//! its customers' and regions' blocks, dozens to thousands of them. So the shape of the address space an
//! AS holds in the AS data is a signal of its own, independent of the language of its name:
//!
//! - **[`AsProfile::v4_ranges`] ≥ 64** or **[`AsProfile::v6_ranges`] ≥ 48**: an operator. Companies that
//!   run their own AS multihome one or a few blocks (a /16 or some /24s, an IPv6 /32 or a /48 per site);
//!   the rows of `@ip-location-db/asn` for a large company are typically 1 to 30, rarely 50.
//! - **[`AsProfile::v4_ranges`] ≥ 32 with [`AsProfile::v6_ranges`] ≥ 8**: an operator. The companies
//!   that announce dozens of IPv4 blocks are the legacy multinationals, and they announce IPv6 in one to
//!   four prefixes if at all; hosters and access networks with as many IPv4 blocks number customers or
//!   regions in IPv6 too.
//! - **Address space alone is not a signal**, although a business rarely *gets* more than a /14 today:
//!   carmakers, banks, chemists and computer makers that got a class A or B before 1994 (Ford, Apple,
//!   Mercedes-Benz, Procter & Gamble, Bank of America) still announce a /8 to a /14, in one to fifty
//!   blocks, and are accounts; mid-size national carriers announce the same in twenty. So
//!   [`AsProfile::v4_addresses`] only decides *which kind* of operator, below.
//!
//! Which kind of operator follows from the **mean size of its IPv4 ranges**: an access network numbers
//! its subscribers from large regional pools (a /20 to a /12 each), a hoster hands out /24s to /29s per
//! data centre and customer. Below a mean of 4 096 addresses (a /20) per range the operator is a
//! `hosting` network, at or above it an `isp`.
//!
//! The profile is the last word only when the name rules ([`crate::classify`]) found nothing: a name that
//! says "University" or "Hosting" wins over any footprint. It never applies to a range whose source gave
//! the class (a customer CSV's class column, an MMDB `user_type`), and it never looks at the ranges of
//! another layer: the table build profiles each AS from its AS-range rows only, once per table build.
//!
//! The thresholds come from how addresses are allocated (RIR policies, the /24 minimum routable IPv4
//! prefix, the /48 site assignment in IPv6), not from the evaluation sets; `vtrack classify --eval`
//! measures them with the `--profiles` or `--asn-csv` options.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Serialize;
use vtrack_model::config::ResolveConfig;
use vtrack_model::NetworkClass;

use crate::source::Sources;
use crate::{ResolveError, Source};

/// The footprint of one AS in the AS-range data: its ranges and how many IPv4 addresses they hold.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct AsProfile {
    /// IPv4 addresses announced, summed over the AS's ranges.
    pub v4_addresses: u64,
    /// IPv4 ranges (rows) announced.
    pub v4_ranges: u32,
    /// IPv6 ranges (rows) announced.
    pub v6_ranges: u32,
}

impl AsProfile {
    /// From this many IPv4 ranges on, an AS is a network operator.
    pub const OPERATOR_V4_RANGES: u32 = 64;
    /// From this many IPv6 ranges on, an AS is a network operator.
    pub const OPERATOR_V6_RANGES: u32 = 48;
    /// At least this many IPv4 ranges…
    pub const DUAL_V4_RANGES: u32 = 32;
    /// …together with at least this many IPv6 ranges is a network operator too.
    pub const DUAL_V6_RANGES: u32 = 8;
    /// Operators whose IPv4 ranges hold fewer addresses than this (a /19) on average are hosters.
    pub const HOSTING_MEAN_RANGE: u64 = 1 << 12;

    /// Whether the footprint is a network operator's rather than an enterprise's (see the module docs).
    pub fn is_operator(&self) -> bool {
        self.v4_ranges >= Self::OPERATOR_V4_RANGES
            || self.v6_ranges >= Self::OPERATOR_V6_RANGES
            || (self.v4_ranges >= Self::DUAL_V4_RANGES && self.v6_ranges >= Self::DUAL_V6_RANGES)
    }

    /// The class the footprint implies: `hosting` or `isp` for an operator, `None` for anything else.
    ///
    /// ```
    /// use vtrack_model::NetworkClass;
    /// use vtrack_resolve::as_profile::AsProfile;
    /// let cable = AsProfile { v4_addresses: 4 << 20, v4_ranges: 120, v6_ranges: 10 };
    /// let hoster = AsProfile { v4_addresses: 80 << 10, v4_ranges: 150, v6_ranges: 20 };
    /// let carmaker = AsProfile { v4_addresses: 1 << 24, v4_ranges: 3, v6_ranges: 2 };
    /// assert_eq!(cable.operator_class(), Some(NetworkClass::Isp));
    /// assert_eq!(hoster.operator_class(), Some(NetworkClass::Hosting));
    /// assert_eq!(carmaker.operator_class(), None);
    /// ```
    pub fn operator_class(&self) -> Option<NetworkClass> {
        if !self.is_operator() {
            return None;
        }
        let mean = self.v4_addresses / u64::from(self.v4_ranges.max(1));
        Some(if mean < Self::HOSTING_MEAN_RANGE { NetworkClass::Hosting } else { NetworkClass::Isp })
    }
}

/// The profiles of many ASes, by AS number.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AsProfiles {
    by_asn: HashMap<u32, AsProfile>,
}

/// Why a profile file cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// The file cannot be opened or read.
    #[error("cannot read AS profiles {path}: {error}")]
    Io { path: String, error: std::io::Error },
    /// A line is not `asn,v4_addresses,v4_ranges,v6_ranges` with numbers.
    #[error("{path}:{line}: {message}")]
    Line { path: String, line: u64, message: String },
}

/// The header of a profile file.
pub const HEADER: [&str; 4] = ["asn", "v4_addresses", "v4_ranges", "v6_ranges"];

impl AsProfiles {
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

    /// Every profile, by ascending AS number.
    pub fn iter(&self) -> impl Iterator<Item = (u32, AsProfile)> + '_ {
        let mut all: Vec<(u32, AsProfile)> = self.by_asn.iter().map(|(&a, &p)| (a, p)).collect();
        all.sort_unstable_by_key(|&(a, _)| a);
        all.into_iter()
    }

    /// Profiles every AS of the AS-range layer of `sources`, exactly as the table build does.
    pub fn from_sources(sources: &Sources) -> AsProfiles {
        let mut by_asn: HashMap<u32, AsProfile> = HashMap::new();
        let orgs = &sources.orgs.items;
        for (family, v4) in [(&sources.v4, true), (&sources.v6, false)] {
            for e in &family.org {
                let Some(org) = orgs.get(e.value as usize) else { continue };
                if org.source != Source::Asn || org.asn == 0 {
                    continue;
                }
                let p = by_asn.entry(org.asn).or_default();
                if v4 {
                    p.v4_addresses += u64::try_from(e.end - e.start + 1).unwrap_or(u64::MAX);
                    p.v4_ranges += 1;
                } else {
                    p.v6_ranges += 1;
                }
            }
        }
        AsProfiles { by_asn }
    }

    /// Reads AS-range files (`start,end,asn,org`, the `--asn-csv` format) and profiles their ASes.
    pub fn from_asn_csv(paths: &[PathBuf]) -> Result<AsProfiles, ResolveError> {
        let cfg = ResolveConfig { asn_csv: paths.to_vec(), ..ResolveConfig::default() };
        Ok(AsProfiles::from_sources(&Sources::load(&cfg, |_| {})?))
    }

    /// Reads a profile file with the header `asn,v4_addresses,v4_ranges,v6_ranges`.
    pub fn read(path: &Path) -> Result<AsProfiles, ProfileError> {
        let shown = path.display().to_string();
        let file = std::fs::File::open(path).map_err(|error| ProfileError::Io { path: shown.clone(), error })?;
        AsProfiles::parse(file, &shown)
    }

    /// Parses a profile file from `input`; `origin` names it in errors.
    pub fn parse(input: impl Read, origin: &str) -> Result<AsProfiles, ProfileError> {
        let path = origin.to_string();
        let mut reader = csv::ReaderBuilder::new().has_headers(true).flexible(false).from_reader(input);
        let line_error = |line: u64, message: String| ProfileError::Line { path: path.clone(), line, message };
        let header = reader.headers().map_err(|e| line_error(1, e.to_string()))?.clone();
        if header.iter().map(str::trim).ne(HEADER) {
            return Err(line_error(1, format!("the header must be `{}`", HEADER.join(","))));
        }
        let mut by_asn = HashMap::new();
        for record in reader.records() {
            let record = record.map_err(|e| {
                let line = e.position().map_or(0, |p| p.line());
                line_error(line, e.to_string())
            })?;
            let line = record.position().map_or(0, |p| p.line());
            let number = |i: usize| -> Result<u64, ProfileError> {
                record[i]
                    .trim()
                    .parse::<u64>()
                    .map_err(|_| line_error(line, format!("bad {} {:?}: expected a number", HEADER[i], &record[i])))
            };
            let small = |i: usize| -> Result<u32, ProfileError> {
                u32::try_from(number(i)?).map_err(|_| line_error(line, format!("{} is too large", HEADER[i])))
            };
            let asn = small(0)?;
            let profile = AsProfile { v4_addresses: number(1)?, v4_ranges: small(2)?, v6_ranges: small(3)? };
            by_asn.insert(asn, profile);
        }
        Ok(AsProfiles { by_asn })
    }
}

/// Reclassifies the organisations of the AS-range layer with their AS's profile; called once, after
/// every source is read. Organisations of other layers keep their class (their source gave it, or their
/// ranges say nothing about their AS).
pub(crate) fn apply(sources: &mut Sources) {
    let profiles = AsProfiles::from_sources(sources);
    if profiles.is_empty() {
        return;
    }
    // `Org::from_asn` classified each by name already; `business` is what the name rules give when no
    // rule matched, which is exactly when `classify_profiled` lets the footprint decide.
    for org in sources.orgs.items.iter_mut().filter(|o| o.source == Source::Asn && o.asn != 0) {
        if org.class == NetworkClass::Business {
            if let Some(class) = profiles.get(org.asn).and_then(AsProfile::operator_class) {
                org.class = class;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use NetworkClass::{Hosting, Isp};

    #[test]
    fn thresholds() {
        let p = |v4_addresses, v4_ranges, v6_ranges| AsProfile { v4_addresses, v4_ranges, v6_ranges };
        // A legacy class A in a few blocks is an enterprise, and so is a large space in a few dozen.
        assert_eq!(p(1 << 24, 3, 4).operator_class(), None);
        assert_eq!(p(1 << 22, 54, 4).operator_class(), None);
        // Many ranges of either family; small ones are a hoster's, large ones an access network's.
        assert_eq!(p(64 * 256, 64, 0).operator_class(), Some(Hosting));
        assert_eq!(p(64 << 12, 64, 0).operator_class(), Some(Isp));
        assert_eq!(p(64 * 4095, 64, 0).operator_class(), Some(Hosting));
        assert_eq!(p(0, 0, 48).operator_class(), Some(Hosting));
        assert_eq!(p(1 << 20, 10, 48).operator_class(), Some(Isp));
        assert_eq!(p(2048, 8, 47).operator_class(), None);
        // Dozens of IPv4 blocks and several IPv6 ones: an operator; a multinational has the first only.
        assert_eq!(p(32 * 1024, 32, 8).operator_class(), Some(Hosting));
        assert_eq!(p(32 * 1024, 32, 7).operator_class(), None);
        assert_eq!(p(31 * 1024, 31, 8).operator_class(), None);
        assert_eq!(AsProfile::default().operator_class(), None);
    }

    #[test]
    fn parses_the_profile_file() {
        let text = "asn,v4_addresses,v4_ranges,v6_ranges\n64500,65536,2,1\n64501,0,0,40\n";
        let profiles = AsProfiles::parse(text.as_bytes(), "<memory>").unwrap();
        assert_eq!(profiles.len(), 2);
        assert_eq!(profiles.get(64500), Some(&AsProfile { v4_addresses: 65536, v4_ranges: 2, v6_ranges: 1 }));
        assert_eq!(profiles.iter().map(|(a, _)| a).collect::<Vec<_>>(), [64500, 64501]);
        let bad = AsProfiles::parse("asn,v4_addresses,v4_ranges,v6_ranges\n1,x,0,0\n".as_bytes(), "p.csv");
        assert_eq!(bad.unwrap_err().to_string(), "p.csv:2: bad v4_addresses \"x\": expected a number");
        let header = AsProfiles::parse("asn,v4\n1,2\n".as_bytes(), "p.csv").unwrap_err().to_string();
        assert!(header.starts_with("p.csv:1: the header must be"), "{header}");
    }
}
