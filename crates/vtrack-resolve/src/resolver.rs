//! The live table and its reloads.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use arc_swap::{ArcSwap, Guard};
use std::net::IpAddr;
use vtrack_model::config::ResolveConfig;
use vtrack_model::event::CompanyInfo;

use crate::evidence::EvidenceLayer;
use crate::learned::LearnedLayer;
use crate::{ResolveError, Source, Table};

/// The table in use, and the config to rebuild it from.
///
/// Lookups [`load`](Resolver::load) the current table without locking; [`reload`](Resolver::reload)
/// builds a new one on the side and swaps it in atomically, so a lookup sees either the old table or the new
/// one, never a mix, and never waits for a build.
pub struct Resolver {
    cfg: ResolveConfig,
    table: ArcSwap<Table>,
    /// Networks enrichment learned; swapped whole like the table.
    learned: ArcSwap<LearnedLayer>,
    /// AS organisations' classes decided again with their networks' evidence; swapped whole.
    evidence: ArcSwap<EvidenceLayer>,
    /// Each source file's modification time at the last (re)load, to notice edits.
    seen: Mutex<Vec<Stamp>>,
}

impl std::fmt::Debug for Resolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resolver").field("cfg", &self.cfg).finish_non_exhaustive()
    }
}

impl Resolver {
    /// Builds the first table from `cfg`; fails when a source is unreadable or malformed.
    pub fn new(cfg: ResolveConfig) -> Result<Resolver, ResolveError> {
        let seen = mtimes(&cfg);
        let table = timed_build(&cfg)?;
        Ok(Resolver {
            cfg,
            table: ArcSwap::from_pointee(table),
            learned: ArcSwap::default(),
            evidence: ArcSwap::default(),
            seen: Mutex::new(seen),
        })
    }

    /// A resolver for sources that are not there yet (a data dir `vtrack data update` has not filled): it
    /// answers "unknown" until they appear, then [`sources_changed`](Resolver::sources_changed) turns true
    /// and the next [`reload`](Resolver::reload) builds the real table. Nothing is read now.
    pub fn pending(cfg: ResolveConfig) -> Resolver {
        let seen = mtimes(&cfg);
        let empty = Table::from_sources(&crate::Sources::default()).unwrap_or_else(|_| unreachable!("no ranges"));
        Resolver {
            cfg,
            table: ArcSwap::from_pointee(empty),
            learned: ArcSwap::default(),
            evidence: ArcSwap::default(),
            seen: Mutex::new(seen),
        }
    }

    /// A resolver around a table built elsewhere (tests, or a table compiled in memory). It has no sources,
    /// so [`reload`](Resolver::reload) rebuilds an empty table.
    pub fn from_table(table: Table) -> Resolver {
        Resolver {
            cfg: ResolveConfig::default(),
            table: ArcSwap::from_pointee(table),
            learned: ArcSwap::default(),
            evidence: ArcSwap::default(),
            seen: Mutex::new(Vec::new()),
        }
    }

    /// The current table. Cheap (no lock, no allocation); hold the guard only for the lookup.
    #[inline]
    pub fn load(&self) -> Guard<Arc<Table>> {
        self.table.load()
    }

    /// The organisation of `ip`, layer by layer: the customer's own ranges, then what enrichment learned,
    /// then the IP databases, an AS organisation with the class (and key) its network's evidence decided.
    /// A learned answer keeps the table's AS number and place. No lock, no I/O.
    pub fn company(&self, ip: IpAddr) -> CompanyInfo {
        let table = self.table.load();
        let answer = table.resolve(ip);
        if answer.source != Some(Source::Companies) {
            if let Some(learned) = self.learned.load().lookup(ip) {
                return CompanyInfo {
                    asn: answer.asn,
                    country: answer.info.country.clone(),
                    city: answer.info.city.clone(),
                    ..learned.clone()
                };
            }
        }
        if answer.asn != 0 {
            if let Some(labelled) = self.evidence.load().get(answer.asn).and_then(|n| n.label(answer.info)) {
                return labelled;
            }
        }
        answer.info.clone()
    }

    /// Swaps in a new learned layer; lookups in flight finish on the old one.
    pub fn set_learned(&self, layer: LearnedLayer) {
        self.learned.store(Arc::new(layer));
    }

    /// Swaps in a new evidence layer; lookups in flight finish on the old one.
    pub fn set_evidence(&self, layer: EvidenceLayer) {
        self.evidence.store(Arc::new(layer));
    }

    /// The config the table is built from.
    pub fn config(&self) -> &ResolveConfig {
        &self.cfg
    }

    /// Rebuilds the table from the sources and swaps it in. On error the old table stays in use and the
    /// error says which file and line is wrong.
    ///
    /// The files' modification times are recorded before building, whether the build succeeds or not, so
    /// [`sources_changed`](Resolver::sources_changed) turns true again only after the next edit rather than
    /// retrying a broken file on every poll.
    pub fn reload(&self) -> Result<(), ResolveError> {
        let seen = mtimes(&self.cfg);
        if let Ok(mut guard) = self.seen.lock() {
            *guard = seen;
        }
        let table = timed_build(&self.cfg)?;
        self.table.store(Arc::new(table));
        Ok(())
    }

    /// Whether any source file (or the snapshot) was modified, created or removed since the last (re)load.
    pub fn sources_changed(&self) -> bool {
        let now = mtimes(&self.cfg);
        self.seen.lock().map(|seen| *seen != now).unwrap_or(true)
    }
}

/// A file and its modification time and size, `None` when it cannot be read.
type Stamp = (PathBuf, Option<(SystemTime, u64)>);

fn timed_build(cfg: &ResolveConfig) -> Result<Table, ResolveError> {
    let started = Instant::now();
    let table = Table::build(cfg)?;
    tracing::info!(
        records = table.records(),
        memory_bytes = table.memory_bytes(),
        ms = started.elapsed().as_millis() as u64,
        "resolver table built"
    );
    Ok(table)
}

/// Modification time and size of every file the config names (`None` when it cannot be read): the size
/// catches a rewrite within the file system's timestamp granularity.
fn mtimes(cfg: &ResolveConfig) -> Vec<Stamp> {
    let files =
        cfg.companies.iter().chain(&cfg.mmdb).chain(&cfg.asn_csv).chain(&cfg.country_csv).chain(cfg.db.as_ref());
    files
        .map(|p| {
            let stamp = std::fs::metadata(p).and_then(|m| Ok((m.modified()?, m.len()))).ok();
            (p.clone(), stamp)
        })
        .collect()
}
