//! Reading the sources into ranges, before they are compiled.
//!
//! Each source file becomes a list of address ranges, each pointing at an interned organisation (or, for
//! geo data, a place). Nothing is resolved here: overlaps are kept and sorted out by
//! [`crate::compile`], so the rules for who wins live in one place.

mod country_csv;
mod csv_ranges;
mod mmdb;

#[cfg(test)]
pub(crate) use mmdb::{DOMAIN_CONFIDENCE, SHARED_DOMAIN_ORGS};

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::path::Path;

use vtrack_model::config::ResolveConfig;
use vtrack_model::{IdSource, NetworkClass};

use crate::ResolveError;

/// Which layer of sources an organisation came from. Earlier layers win over later ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Source {
    /// The customer's own ranges (`--companies`, CSV `cidr,name,domain[,class]`).
    Companies,
    /// A MaxMind-format database (`--mmdb`). Also reported for an address known only to a City
    /// database, which gives a place and no organisation.
    Mmdb,
    /// AS-level ranges (`--asn-csv`, CSV `start,end,asn,org`).
    Asn,
}

impl Source {
    /// The lowercase name printed by `vtrack resolve`.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Companies => "companies",
            Source::Mmdb => "mmdb",
            Source::Asn => "asn",
        }
    }

    /// The identification source an organisation from this layer is reported with.
    pub fn id_source(self) -> IdSource {
        match self {
            Source::Companies => IdSource::Ranges,
            Source::Mmdb => IdSource::Mmdb,
            Source::Asn => IdSource::Asn,
        }
    }
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An organisation as one source describes it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Org {
    pub name: String,
    /// The account key, made by [`crate::account_key::account_key`]: the domain, else `as<N>` for the
    /// organisation that runs the AS, else the name key (`org:…`), else empty.
    pub domain: String,
    pub asn: u32,
    pub class: NetworkClass,
    pub source: Source,
    /// How sure the source is that the address is this organisation's (`id_confidence`, 0–100): its
    /// layer's [`IdSource::default_confidence`], except where the MMDB layer says otherwise.
    pub confidence: u8,
    /// How sure the class is (`class_confidence`, 0–100): the class model's probability for an AS-layer
    /// organisation, 100 where the source gave the class.
    pub class_confidence: u8,
}

impl Org {
    /// The organisation that runs AS `asn`, known by its AS number and name only: its account key is
    /// `as<N>` (the name key when the AS number is 0).
    pub fn from_asn(name: &str, asn: u32, source: Source) -> Org {
        Org {
            name: name.to_string(),
            domain: crate::account_key::account_key(name, asn, true, None),
            asn,
            class: crate::classify::classify(name, asn),
            source,
            confidence: source.id_source().default_confidence(),
            class_confidence: 0,
        }
    }
}

/// A place: ISO country code and city name, either may be empty.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub(crate) struct Geo {
    pub country: String,
    pub city: String,
}

/// One range of one source. Addresses are integers; IPv4 ones are kept apart from IPv6 ones.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Entry {
    pub start: u128,
    pub end: u128,
    /// Index into [`Sources::orgs`] or [`Sources::geos`].
    pub value: u32,
    /// Position across all sources, in config order: among equally narrow ranges, the earlier wins.
    pub order: u32,
}

/// The ranges of one address family.
#[derive(Debug, Default)]
pub(crate) struct Family {
    pub org: Vec<Entry>,
    pub geo: Vec<Entry>,
}

/// Values stored once and referred to by index.
#[derive(Debug)]
pub(crate) struct Interner<T> {
    pub items: Vec<T>,
    index: HashMap<T, u32>,
}

impl<T: Clone + Eq + Hash> Interner<T> {
    fn new() -> Self {
        Interner { items: Vec::new(), index: HashMap::new() }
    }

    pub fn intern(&mut self, item: T) -> u32 {
        if let Some(&i) = self.index.get(&item) {
            return i;
        }
        let i = self.items.len() as u32;
        self.items.push(item.clone());
        self.index.insert(item, i);
        i
    }
}

/// Every range of every source, read and not yet compiled.
#[derive(Debug)]
pub struct Sources {
    pub(crate) orgs: Interner<Org>,
    pub(crate) geos: Interner<Geo>,
    pub(crate) v4: Family,
    pub(crate) v6: Family,
    order: u32,
    /// AS-range organisations by AS number and name, so each is classified once, not once per row.
    asn_orgs: HashMap<u32, Vec<(String, u32)>>,
    /// The footprint of each AS of the AS-range layer (set once every source is read).
    pub(crate) profiles: crate::as_profile::AsProfiles,
}

impl Default for Sources {
    fn default() -> Self {
        Sources {
            orgs: Interner::new(),
            geos: Interner::new(),
            v4: Family::default(),
            v6: Family::default(),
            order: 0,
            asn_orgs: HashMap::new(),
            profiles: Default::default(),
        }
    }
}

/// Maps an address to its family's integer; an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) is IPv4.
pub(crate) fn key(ip: IpAddr) -> (bool, u128) {
    match ip {
        IpAddr::V4(a) => (true, u128::from(u32::from(a))),
        IpAddr::V6(a) => match a.to_ipv4_mapped() {
            Some(v4) => (true, u128::from(u32::from(v4))),
            None => (false, u128::from(a)),
        },
    }
}

impl Sources {
    /// Reads every source file the config names, in layer order. `progress` is told each file's name.
    pub fn load(cfg: &ResolveConfig, mut progress: impl FnMut(&Path)) -> Result<Sources, ResolveError> {
        let mut s = Sources::default();
        for path in &cfg.companies {
            progress(path);
            csv_ranges::read_companies(path, &mut s)?;
        }
        for path in &cfg.mmdb {
            progress(path);
            mmdb::read(path, &mut s)?;
        }
        for path in &cfg.asn_csv {
            progress(path);
            csv_ranges::read_asn(path, &mut s)?;
        }
        for path in &cfg.country_csv {
            progress(path);
            country_csv::read(path, &mut s)?;
        }
        crate::as_profile::apply(&mut s);
        tracing::debug!(
            v4 = s.v4.org.len() + s.v4.geo.len(),
            v6 = s.v6.org.len() + s.v6.geo.len(),
            orgs = s.orgs.items.len(),
            "sources read"
        );
        Ok(s)
    }

    /// Number of ranges read, organisation and geo, both families.
    pub fn len(&self) -> usize {
        self.v4.org.len() + self.v4.geo.len() + self.v6.org.len() + self.v6.geo.len()
    }

    /// Whether no source had any range.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds a range of an organisation; the caller has checked `start <= end` within one family.
    pub(crate) fn add_org(&mut self, start: IpAddr, end: IpAddr, org: Org) {
        let value = self.orgs.intern(org);
        self.push(start, end, value, false);
    }

    /// Adds a range of an AS-level organisation, building (and classifying) it only the first time.
    pub(crate) fn add_asn_org(&mut self, start: IpAddr, end: IpAddr, name: &str, asn: u32, source: Source) {
        let names = self.asn_orgs.entry(asn).or_default();
        let value = match names.iter().find(|(n, _)| n == name) {
            Some(&(_, id)) => id,
            None => {
                let id = self.orgs.intern(Org::from_asn(name, asn, source));
                names.push((name.to_string(), id));
                id
            }
        };
        self.push(start, end, value, false);
    }

    /// Adds a range of a place; the caller has checked `start <= end` within one family.
    pub(crate) fn add_geo(&mut self, start: IpAddr, end: IpAddr, geo: Geo) {
        let value = self.geos.intern(geo);
        self.push(start, end, value, true);
    }

    fn push(&mut self, start: IpAddr, end: IpAddr, value: u32, geo: bool) {
        let ((v4, s), (_, e)) = (key(start), key(end));
        // A range written as IPv4-mapped IPv6 on both ends is stored as the IPv4 range it is.
        let (v4, s, e) = if v4 == key(end).0 { (v4, s, e) } else { (false, to_u128(start), to_u128(end)) };
        let family = if v4 { &mut self.v4 } else { &mut self.v6 };
        let list = if geo { &mut family.geo } else { &mut family.org };
        list.push(Entry { start: s, end: e, value, order: self.order });
        self.order = self.order.wrapping_add(1);
    }
}

fn to_u128(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u128::from(a.to_ipv6_mapped()),
        IpAddr::V6(a) => u128::from(a),
    }
}
