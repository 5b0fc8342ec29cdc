//! `vtrack data update`: real IP data out of the box.
//!
//! Fetches the free AS ranges (npm `@ip-location-db/asn`: RouteViews and DB-IP, CC BY 4.0) and countries
//! (`@ip-location-db/geo-whois-asn-country`) from the npm registry, checks each tarball against the
//! registry's sha512, unpacks the CSVs, checks them (they parse, they have as many rows as real releases
//! have), compiles them into one resolver snapshot and puts it in the data dir with
//! [`Attribution`] beside it. `vtrack serve` without other sources uses that snapshot and reloads it when
//! it changes.
//!
//! A crate of its own, not a module of `vtrack-resolve`: an HTTP client, TLS and a tar reader have no
//! business in the crate on ingest's hot path, and the binary only calls [`update`] (from `vtrack data
//! update` and from `serve`'s `[resolve] auto_update` task).
//!
//! # Never worse than before
//!
//! The snapshot is replaced only by a complete, checked one: everything is downloaded and compiled in a
//! work directory, the new snapshot is read back, and only then renamed over the old one (the attribution
//! file likewise), so a failed download, a wrong checksum, a truncated release or a full disk leave the
//! previous good data in use, and the error says which of these it was.
//!
//! Layout of the data dir (the store's, `./vtrack-data` by default):
//!
//! ```text
//! ip-data/snapshot.bin       the compiled table (`vtrack build-db` format)
//! ip-data/attribution.json   package versions, licences, credits
//! ```

mod attribution;
mod error;
pub mod package;
mod registry;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use vtrack_model::config::ResolveConfig;
use vtrack_resolve::{Sources, Table};

pub use attribution::{Attribution, PackageAttribution};
pub use error::DataError;
pub use package::{Package, PACKAGES};
pub use registry::{check_integrity, registry_url, Registry, Release, DEFAULT_REGISTRY};

/// The directory under the data dir that holds the IP data.
const SUBDIR: &str = "ip-data";
/// Records a table of the real data has at least (it had about 90,000 in 2026): a table this small was
/// built from something else.
const MIN_RECORDS: usize = 10_000;

/// Where the compiled snapshot lives in a data dir.
pub fn snapshot_path(data_dir: &Path) -> PathBuf {
    data_dir.join(SUBDIR).join("snapshot.bin")
}

/// Where the attribution of that snapshot lives.
pub fn attribution_path(data_dir: &Path) -> PathBuf {
    data_dir.join(SUBDIR).join("attribution.json")
}

/// What to update and from where.
#[derive(Debug, Clone)]
pub struct UpdateOptions {
    pub data_dir: PathBuf,
    /// The registry's root URL; see [`registry_url`].
    pub registry: String,
    /// Download and compile even when the installed versions are the latest.
    pub force: bool,
    /// Tests only: the minimum rows per file and records per table, instead of the real data's.
    pub min_rows: Option<usize>,
}

impl UpdateOptions {
    pub fn new(data_dir: impl Into<PathBuf>, registry: impl Into<String>) -> UpdateOptions {
        UpdateOptions { data_dir: data_dir.into(), registry: registry.into(), force: false, min_rows: None }
    }
}

/// What an update did.
#[derive(Debug, Clone)]
pub struct Updated {
    pub snapshot: PathBuf,
    pub attribution: Attribution,
    /// The installed versions were already the latest, so nothing was downloaded.
    pub unchanged: bool,
    /// Records in the compiled table (0 when unchanged).
    pub records: usize,
}

/// Fetches, checks and compiles the latest [`PACKAGES`] into the data dir's snapshot. On any error the
/// previous snapshot and attribution are left exactly as they were.
pub async fn update(opts: &UpdateOptions) -> Result<Updated, DataError> {
    let snapshot = snapshot_path(&opts.data_dir);
    let attribution_file = attribution_path(&opts.data_dir);
    let dir = snapshot.parent().unwrap_or(&opts.data_dir).to_path_buf();
    std::fs::create_dir_all(&dir).map_err(|e| DataError::io(&dir, e))?;

    let registry = Registry::new(&opts.registry)?;
    let mut releases = Vec::with_capacity(PACKAGES.len());
    for package in &PACKAGES {
        releases.push(registry.latest(package.name).await?);
    }
    let previous = Attribution::read(&attribution_file).ok().flatten();
    if let Some(previous) = previous.filter(|p| !opts.force && same_releases(p, &releases) && snapshot.is_file()) {
        tracing::info!(versions = %versions(&releases), "IP data is up to date");
        return Ok(Updated { snapshot, attribution: previous, unchanged: true, records: 0 });
    }

    let work = WorkDir::new(&dir)?;
    let mut tarballs = Vec::with_capacity(releases.len());
    for release in &releases {
        tracing::info!(package = %release.name, version = %release.version, "downloading");
        tarballs.push(registry.tarball(release).await?);
    }
    let opts = opts.clone();
    let registry_url = registry.url().to_string();
    tokio::task::spawn_blocking(move || {
        let compiled = compile(&opts, &work.path, &releases, &tarballs, registry_url)?;
        install(&work.path, &compiled, &snapshot, &attribution_file)?;
        Ok(Updated { snapshot, attribution: compiled.attribution, unchanged: false, records: compiled.records })
    })
    .await
    .map_err(|e| DataError::io(&dir, std::io::Error::other(format!("the update task failed: {e}"))))?
}

/// A table written into the work directory, not yet installed.
struct Compiled {
    attribution: Attribution,
    records: usize,
}

/// Unpacks, checks and compiles the tarballs; writes `snapshot.bin` and `attribution.json` into `work`.
fn compile(
    opts: &UpdateOptions,
    work: &Path,
    releases: &[Release],
    tarballs: &[bytes::Bytes],
    registry: String,
) -> Result<Compiled, DataError> {
    let mut cfg = ResolveConfig::default();
    let mut packages = Vec::new();
    for ((package, release), tgz) in PACKAGES.iter().zip(releases).zip(tarballs) {
        let extracted = package::extract(package, tgz, work)?;
        for ((path, rows), min) in extracted.csvs.iter().zip(package.min_rows) {
            let min = opts.min_rows.unwrap_or(min);
            if *rows < min {
                let file = format!("{} {}", package.name, path.file_name().unwrap_or_default().to_string_lossy());
                return Err(DataError::TooFewRows { file, rows: *rows, min });
            }
        }
        let paths = extracted.csvs.into_iter().map(|(p, _)| p);
        match package.kind {
            package::Kind::Asn => cfg.asn_csv.extend(paths),
            package::Kind::Country => cfg.country_csv.extend(paths),
        }
        packages.push(PackageAttribution::new(package, release, extracted.notices));
    }
    let sources = Sources::load(&cfg, |p| tracing::debug!(file = %p.display(), "reading"))?;
    let table = Table::from_sources(&sources)?;
    let min_records = opts.min_rows.unwrap_or(MIN_RECORDS);
    if table.records() < min_records {
        return Err(DataError::TooFewRows {
            file: "the compiled table".into(),
            rows: table.records(),
            min: min_records,
        });
    }
    let snapshot = work.join("snapshot.bin");
    table.write_snapshot(&snapshot)?;
    let records = Table::read_snapshot(&snapshot)?.records();
    let now = vtrack_model::time::now_ms();
    let attribution = Attribution {
        updated_at: vtrack_model::time::format_ms(now),
        updated_at_ms: now,
        registry,
        ranges: sources.len(),
        packages,
    };
    let json = serde_json::to_vec_pretty(&attribution)
        .map_err(|e| DataError::io(work, std::io::Error::other(e.to_string())))?;
    let path = work.join("attribution.json");
    std::fs::write(&path, json).map_err(|e| DataError::io(&path, e))?;
    Ok(Compiled { attribution, records })
}

/// Renames the new files over the old ones: the snapshot first (a running `serve` reloads on its change),
/// then its attribution. Each rename is atomic; the work directory is on the same file system.
fn install(work: &Path, compiled: &Compiled, snapshot: &Path, attribution: &Path) -> Result<(), DataError> {
    for (name, to) in [("snapshot.bin", snapshot), ("attribution.json", attribution)] {
        let from = work.join(name);
        std::fs::rename(&from, to).map_err(|e| DataError::io(to, e))?;
    }
    tracing::info!(
        snapshot = %snapshot.display(),
        records = compiled.records,
        ranges = compiled.attribution.ranges,
        "IP data updated: {}",
        compiled.attribution.text()
    );
    Ok(())
}

fn same_releases(previous: &Attribution, releases: &[Release]) -> bool {
    previous.packages.len() == releases.len()
        && previous
            .packages
            .iter()
            .zip(releases)
            .all(|(p, r)| p.name == r.name && p.version == r.version && p.integrity == r.integrity)
}

fn versions(releases: &[Release]) -> String {
    releases.iter().map(|r| format!("{}@{}", r.name, r.version)).collect::<Vec<_>>().join(", ")
}

/// A fresh directory beside the snapshot for one update, removed with everything in it when dropped.
struct WorkDir {
    path: PathBuf,
}

impl WorkDir {
    fn new(parent: &Path) -> Result<WorkDir, DataError> {
        static N: AtomicU64 = AtomicU64::new(0);
        let name = format!(".update-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed));
        let path = parent.join(name);
        std::fs::create_dir_all(&path).map_err(|e| DataError::io(&path, e))?;
        Ok(WorkDir { path })
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.path) {
            tracing::warn!(dir = %self.path.display(), error = %e, "cannot remove the update's work directory");
        }
    }
}
