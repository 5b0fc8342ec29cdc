//! The compiled, immutable table that answers lookups.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnetwork::{IpNetwork, Ipv4Network, Ipv6Network};
use vtrack_model::config::ResolveConfig;
use vtrack_model::event::CompanyInfo;

use crate::compile::{self, Compiled, Record, Segment};
use crate::source::{self, Sources};
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

/// IP → company, compiled from the sources into a structure built for lookups.
///
/// Immutable once built: a reload builds a new one and swaps it in (see [`crate::Resolver`]), so lookups
/// never lock.
#[derive(Debug)]
pub struct Table {
    records: Vec<Record>,
    v4: Vec<Segment>,
    v6: Vec<Segment>,
}

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
        let Compiled { records, v4, v6 } = compile::compile(sources);
        Ok(Table { records, v4, v6 })
    }

    /// A table that knows no address: what ingest runs with when no source is configured.
    pub fn empty() -> Table {
        Table {
            records: vec![Record { info: CompanyInfo::default(), source: Source::Mmdb }],
            v4: Vec::new(),
            v6: Vec::new(),
        }
    }

    /// Reads a snapshot written by `vtrack build-db`.
    pub fn read_snapshot(path: &std::path::Path) -> Result<Table, ResolveError> {
        Err(ResolveError::Snapshot { path: path.to_path_buf(), reason: "snapshots are not supported yet".into() })
    }

    /// Looks an address up. IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`) are looked up as IPv4.
    ///
    /// No allocation, no lock, no I/O.
    #[inline]
    pub fn lookup(&self, ip: IpAddr) -> Option<Hit<'_>> {
        let (v4, key) = source::key(ip);
        let (segments, bits) = if v4 { (&self.v4, 32) } else { (&self.v6, 128) };
        let i = segments.partition_point(|s| s.start <= key).checked_sub(1)?;
        let seg = segments.get(i).filter(|s| s.end >= key)?;
        let len = compile::block_len(key, seg.start, seg.end, bits);
        let record = self.records.get(seg.rec as usize)?;
        Some(Hit { prefix: prefix(v4, key, len), info: &record.info, source: record.source })
    }

    /// Number of distinct answers (organisation × place) the table holds.
    pub fn records(&self) -> usize {
        self.records.len() - 1
    }

    /// Number of disjoint IPv4 and IPv6 ranges with an answer.
    pub fn ranges(&self) -> (usize, usize) {
        (self.v4.len(), self.v6.len())
    }
}

/// The network of `len` bits around `key`.
pub(crate) fn prefix(v4: bool, key: u128, len: u8) -> IpNetwork {
    if v4 {
        let host = u32::MAX.checked_shr(u32::from(len)).unwrap_or(0);
        let net = Ipv4Addr::from(key as u32 & !host);
        IpNetwork::V4(Ipv4Network::new(net, len.min(32)).unwrap_or_else(|_| Ipv4Network::from(net)))
    } else {
        let host = u128::MAX.checked_shr(u32::from(len)).unwrap_or(0);
        let net = Ipv6Addr::from(key & !host);
        IpNetwork::V6(Ipv6Network::new(net, len.min(128)).unwrap_or_else(|_| Ipv6Network::from(net)))
    }
}
