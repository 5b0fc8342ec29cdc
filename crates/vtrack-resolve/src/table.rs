//! The compiled, immutable table that answers lookups.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnetwork::{IpNetwork, Ipv4Network, Ipv6Network};
use vtrack_model::config::ResolveConfig;
use vtrack_model::event::CompanyInfo;
use vtrack_model::NetworkClass;

use crate::as_profile::{AsProfile, AsProfiles};
use crate::compile::{Compiled, Record};
use crate::poptrie::{Trie4, Trie6, V4_DIRECT_BITS, V6_DIRECT_BITS};
use crate::source::Sources;
use crate::{ResolveError, Source};

/// What a lookup found: the organisation and place of an address, and the widest prefix around the
/// address that has this same answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hit<'a> {
    /// The widest CIDR block around the address with this answer (IPv4 for IPv4-mapped IPv6 queries).
    pub prefix: IpNetwork,
    /// Empty strings for what no source knew.
    pub info: &'a CompanyInfo,
    /// The layer that gave the organisation.
    pub source: Source,
}

/// The answer for any address, known or not: what [`Table::resolve`] returns.
///
/// The fields most callers need (AS number, organisation name, class) are copied out of a compact
/// per-record array; `info` points at the full record (domain, place) and is read only if used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Answer<'a> {
    /// 0 when unknown.
    pub asn: u32,
    /// Empty when unknown.
    pub company_name: &'a str,
    pub network_class: NetworkClass,
    /// The whole record; all fields empty for an address no source knows.
    pub info: &'a CompanyInfo,
    /// The layer that gave the organisation; `None` for an address no source knows.
    pub source: Option<Source>,
}

/// What every address with no record resolves to.
static UNKNOWN_INFO: CompanyInfo = CompanyInfo {
    company_name: String::new(),
    company_domain: String::new(),
    asn: 0,
    network_class: NetworkClass::Unknown,
    country: String::new(),
    city: String::new(),
    id_source: vtrack_model::IdSource::None,
    id_confidence: 0,
    class_confidence: 0,
};

impl Answer<'static> {
    /// The answer for an address no source knows.
    pub const UNKNOWN: Answer<'static> =
        Answer { asn: 0, company_name: "", network_class: NetworkClass::Unknown, info: &UNKNOWN_INFO, source: None };
}

/// The hot part of a record, 24 bytes: with records ordered by how much address space they answer for,
/// the ones random traffic hits most fit in the first cache levels, where the full 112-byte records do
/// not. Measured on the real AS data: a third less time per lookup than reading the full record.
#[derive(Debug)]
pub(crate) struct Org {
    name: Box<str>,
    asn: u32,
    class: NetworkClass,
    source: Option<Source>,
}

impl Org {
    fn of(records: &[Record]) -> Vec<Org> {
        let org = |(i, r): (usize, &Record)| Org {
            name: r.info.company_name.as_str().into(),
            asn: r.info.asn,
            class: r.info.network_class,
            source: (i > 0).then_some(r.source),
        };
        records.iter().enumerate().map(org).collect()
    }
}

/// IP → company, compiled from the sources into a structure built for lookups.
///
/// Immutable once built: a reload builds a new one and swaps it in (see [`crate::Resolver`]), so lookups
/// never lock.
#[derive(Debug)]
pub struct Table {
    /// `records[0]` is the "nothing known" placeholder that leaf 0 points at.
    pub(crate) records: Vec<Record>,
    /// `orgs[i]` is the hot part of `records[i]`.
    orgs: Vec<Org>,
    pub(crate) v4: Trie4,
    pub(crate) v6: Trie6,
    /// The AS-range layer's organisations by AS number, with their footprints: what deciding a class again
    /// with a network's evidence needs ([`Table::decide_network`]). Off the hot path.
    pub(crate) networks: HashMap<u32, AsNetwork>,
}

/// An AS's own organisation as the AS-range layer knows it: its name, the class its name and footprint
/// gave it, and its footprint (`None` in a table read from a snapshot older than footprints).
#[derive(Debug, Clone, PartialEq)]
pub struct AsNetwork {
    pub name: String,
    pub class: NetworkClass,
    pub class_confidence: u8,
    pub profile: Option<AsProfile>,
}

/// The AS-range layer's organisations in `records`, each with its profile from `profiles`.
fn as_networks(records: &[Record], profiles: &AsProfiles) -> HashMap<u32, AsNetwork> {
    let mut out = HashMap::new();
    for r in records.iter().skip(1).filter(|r| r.source == Source::Asn && r.info.asn != 0) {
        let i = &r.info;
        if crate::account_key::as_key(&i.company_domain) != Some(i.asn) {
            continue;
        }
        out.entry(i.asn).or_insert_with(|| AsNetwork {
            name: i.company_name.clone(),
            class: i.network_class,
            class_confidence: i.class_confidence,
            profile: profiles.get(i.asn).copied(),
        });
    }
    out
}

/// Record indexes are 24 bits of a leaf.
pub(crate) const MAX_RECORDS: usize = (1 << 24) - 1;

impl Table {
    /// Builds the table from `cfg`: from the snapshot `cfg.db` when it is set, else from the sources.
    pub fn build(cfg: &ResolveConfig) -> Result<Table, ResolveError> {
        if let Some(db) = &cfg.db {
            return Table::read_snapshot(db);
        }
        let sources = Sources::load(cfg, |_| {})?;
        Table::from_sources(&sources)
    }

    /// Compiles sources that were read with [`Sources::load`].
    pub fn from_sources(sources: &Sources) -> Result<Table, ResolveError> {
        Table::from_sources_with_progress(sources, &mut |_| {})
    }

    /// Like [`Table::from_sources`], telling `progress` how many of [`Table::BUILD_STEPS`] are done.
    pub fn from_sources_with_progress(sources: &Sources, progress: &mut dyn FnMut(u64)) -> Result<Table, ResolveError> {
        let Compiled { records, v4, v6 } = crate::compile::compile(sources);
        if records.len() > MAX_RECORDS {
            return Err(ResolveError::TooManyRecords { count: records.len() - 1, limit: MAX_RECORDS - 1 });
        }
        let v4 = Trie4::build(&v4, 32, V4_DIRECT_BITS, progress);
        let v6 = Trie6::build(&v6, 128, V6_DIRECT_BITS, progress);
        // A direct entry holds a node offset in 24 bits.
        for words in [v4.heap.len(), v6.heap.len()] {
            if words >= 1 << 24 {
                return Err(ResolveError::TooLarge { words, limit: 1 << 24 });
            }
        }
        Ok(Table::new(records, v4, v6, &sources.profiles))
    }

    pub(crate) fn new(records: Vec<Record>, v4: Trie4, v6: Trie6, profiles: &AsProfiles) -> Table {
        let networks = as_networks(&records, profiles);
        Table { orgs: Org::of(&records), records, v4, v6, networks }
    }

    /// The AS-range layer's organisation of AS `asn`, if the table has it.
    pub fn as_network(&self, asn: u32) -> Option<&AsNetwork> {
        self.networks.get(&asn)
    }

    /// The footprints the table keeps, by AS number (what a snapshot stores).
    pub(crate) fn profiles_ref(&self) -> impl Iterator<Item = (&u32, &AsProfile)> {
        self.networks.iter().filter_map(|(asn, n)| Some((asn, n.profile.as_ref()?)))
    }

    /// The units of work [`Table::from_sources_with_progress`] reports: the direct slots of both tries.
    pub const BUILD_STEPS: u64 = (1 << V4_DIRECT_BITS) + (1 << V6_DIRECT_BITS);

    /// A table that knows no address: what ingest runs with when no source is configured.
    pub fn empty() -> Table {
        let records = vec![Record { info: CompanyInfo::default(), source: Source::Mmdb }];
        let v4 = Trie4::build(&[], 32, V4_DIRECT_BITS, &mut |_| {});
        let v6 = Trie6::build(&[], 128, V6_DIRECT_BITS, &mut |_| {});
        Table::new(records, v4, v6, &AsProfiles::default())
    }

    /// Reads a snapshot written by [`Table::write_snapshot`] (`vtrack build-db`): one read, then checks.
    pub fn read_snapshot(path: &std::path::Path) -> Result<Table, ResolveError> {
        crate::snapshot::read(path)
    }

    /// Writes the table as a snapshot that [`Table::read_snapshot`] loads in milliseconds. The file is
    /// written beside `path` and renamed into place, so a process watching it never reads half of it.
    pub fn write_snapshot(&self, path: &std::path::Path) -> Result<(), ResolveError> {
        crate::snapshot::write(self, path)
    }

    /// The organisation name the AS-range layer gives AS `asn`, if the table has it.
    pub fn as_name(&self, asn: u32) -> Option<String> {
        if let Some(n) = self.networks.get(&asn) {
            return Some(n.name.clone());
        }
        let r = self.records.iter().find(|r| r.source == Source::Asn && r.info.asn == asn)?;
        Some(r.info.company_name.clone())
    }

    /// The answer for an address, the empty one when no source knows it: the hot path of ingest, which
    /// needs an answer for every beacon. IPv4-mapped IPv6 addresses are resolved as IPv4.
    ///
    /// No allocation, no lock, no I/O, and no branch on whether the address is known, so a run of lookups
    /// keeps the processor's pipeline full.
    #[inline(always)]
    pub fn resolve(&self, ip: IpAddr) -> Answer<'_> {
        let leaf = match ip {
            IpAddr::V4(a) => self.v4.lookup_v4(u32::from(a)),
            IpAddr::V6(a) => match a.to_ipv4_mapped() {
                Some(a) => self.v4.lookup_v4(u32::from(a)),
                None => self.v6.lookup_v6(u128::from(a)),
            },
        };
        self.answer(leaf >> 8)
    }

    #[inline(always)]
    fn answer(&self, rec: u32) -> Answer<'_> {
        let i = rec as usize;
        // Both are in range for every leaf a built or loaded table holds; record 0 is the empty answer.
        match (self.orgs.get(i), self.records.get(i)) {
            (Some(org), Some(record)) => Answer {
                asn: org.asn,
                company_name: &org.name,
                network_class: org.class,
                info: &record.info,
                source: org.source,
            },
            _ => Answer::UNKNOWN,
        }
    }

    /// Looks an address up, with the matched prefix. IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`) are looked up as IPv4.
    ///
    /// No allocation, no lock, no I/O.
    #[inline(always)]
    pub fn lookup(&self, ip: IpAddr) -> Option<Hit<'_>> {
        match ip {
            IpAddr::V4(a) => self.lookup_v4(a),
            IpAddr::V6(a) => match a.to_ipv4_mapped() {
                Some(a) => self.lookup_v4(a),
                None => self.lookup_v6(a),
            },
        }
    }

    /// Looks an IPv4 address up: [`Table::lookup`] without the family dispatch.
    #[inline(always)]
    pub fn lookup_v4(&self, ip: Ipv4Addr) -> Option<Hit<'_>> {
        let key = u32::from(ip);
        let leaf = self.v4.lookup_v4(key);
        let record = self.record(leaf)?;
        Some(Hit { prefix: IpNetwork::V4(prefix_v4(key, leaf as u8)), info: &record.info, source: record.source })
    }

    /// Looks an IPv6 address up as it is (an IPv4-mapped address is *not* treated as IPv4 here).
    #[inline]
    pub fn lookup_v6(&self, ip: Ipv6Addr) -> Option<Hit<'_>> {
        let key = u128::from(ip);
        let leaf = self.v6.lookup_v6(key);
        let record = self.record(leaf)?;
        Some(Hit { prefix: IpNetwork::V6(prefix_v6(key, leaf as u8)), info: &record.info, source: record.source })
    }

    #[inline(always)]
    fn record(&self, leaf: u32) -> Option<&Record> {
        match leaf >> 8 {
            0 => None,
            rec => self.records.get(rec as usize),
        }
    }

    /// The names each AS's own organisation goes by in this table: those of every record keyed `as<N>`
    /// (the AS layer's, and MMDB records naming the AS's organisation). What
    /// [`crate::account_key::rekey`] needs to tell an AS's own organisation from a customer inside it.
    pub fn as_organisations(&self) -> std::collections::HashMap<u32, Vec<String>> {
        let mut out: std::collections::HashMap<u32, Vec<String>> = std::collections::HashMap::new();
        for r in self.records.iter().skip(1) {
            let i = &r.info;
            if i.asn != 0 && crate::account_key::as_key(&i.company_domain) == Some(i.asn) {
                let names = out.entry(i.asn).or_default();
                if !names.contains(&i.company_name) {
                    names.push(i.company_name.clone());
                }
            }
        }
        out
    }

    /// Number of distinct answers (organisation × place) the table holds.
    pub fn records(&self) -> usize {
        self.records.len() - 1
    }

    /// Number of IPv4 and IPv6 ranges with an answer (adjacent equal answers merged). Walks the tries.
    pub fn ranges(&self) -> (usize, usize) {
        (self.v4.segments().len(), self.v6.segments().len())
    }

    /// Number of trie nodes, IPv4 and IPv6: how many address blocks are finer than the direct arrays.
    pub fn nodes(&self) -> (usize, usize) {
        (self.v4.nodes(), self.v6.nodes())
    }

    /// Every range with an answer, in address order (IPv4, then IPv6), adjacent equal answers merged:
    /// `(first address, last address, answer, layer)`. For exports, benchmarks and checks; not fast.
    pub fn iter(&self) -> impl Iterator<Item = (IpAddr, IpAddr, &CompanyInfo, Source)> + '_ {
        let v4 = self.v4.segments().into_iter().map(|s| (true, s));
        let v6 = self.v6.segments().into_iter().map(|s| (false, s));
        v4.chain(v6).filter_map(move |(is_v4, s)| {
            let record = self.records.get(s.rec as usize)?;
            let addr =
                |k: u128| if is_v4 { IpAddr::V4(Ipv4Addr::from(k as u32)) } else { IpAddr::V6(Ipv6Addr::from(k)) };
            Some((addr(s.start), addr(s.end), &record.info, record.source))
        })
    }

    /// Bytes the table holds: the tries' arrays and the records with their strings.
    pub fn memory_bytes(&self) -> usize {
        self.index_bytes() + self.record_bytes()
    }

    /// Bytes of the tries alone (direct arrays, nodes with their leaves).
    pub fn index_bytes(&self) -> usize {
        self.v4.memory_bytes() + self.v6.memory_bytes()
    }

    /// Bytes of the IPv4 trie alone.
    pub fn index_bytes_v4(&self) -> usize {
        self.v4.memory_bytes()
    }

    /// Bytes of the interned records, strings included, with their hot copies.
    pub fn record_bytes(&self) -> usize {
        let orgs: usize = self.orgs.iter().map(|o| std::mem::size_of::<Org>() + o.name.len()).sum();
        orgs + self
            .records
            .iter()
            .map(|r| {
                let i = &r.info;
                std::mem::size_of::<Record>()
                    + i.company_name.capacity()
                    + i.company_domain.capacity()
                    + i.country.capacity()
                    + i.city.capacity()
            })
            .sum::<usize>()
    }
}

/// The network of `len` bits around an IPv4 address.
#[inline(always)]
fn prefix_v4(key: u32, len: u8) -> Ipv4Network {
    let len = len.min(32);
    let host = u32::MAX.checked_shr(u32::from(len)).unwrap_or(0);
    let net = Ipv4Addr::from(key & !host);
    Ipv4Network::new(net, len).unwrap_or_else(|_| Ipv4Network::from(net))
}

/// The network of `len` bits around an IPv6 address.
#[inline]
fn prefix_v6(key: u128, len: u8) -> Ipv6Network {
    let len = len.min(128);
    let host = u128::MAX.checked_shr(u32::from(len)).unwrap_or(0);
    let net = Ipv6Addr::from(key & !host);
    Ipv6Network::new(net, len).unwrap_or_else(|_| Ipv6Network::from(net))
}
