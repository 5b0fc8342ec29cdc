//! Why an update was refused. Every variant names the package, URL or file, so the log line is enough to
//! act on; whatever the error, the data dir still holds the previous good snapshot.

use std::path::PathBuf;
use thiserror::Error;

/// An update that did not replace the snapshot, and why.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum DataError {
    /// The registry could not be reached (DNS, refused, TLS, timeout). Tests that need the real registry
    /// skip on this one.
    #[error("cannot reach the registry at {url}: {reason}")]
    Unreachable { url: String, reason: String },

    /// The registry answered, but not with what was asked for.
    #[error("{url}: {reason}")]
    Http { url: String, reason: String },

    /// The registry URL (`--registry`, `npm_config_registry`) is not an http(s) URL.
    #[error("registry {url:?} is not an http:// or https:// URL")]
    BadRegistry { url: String },

    /// A package's metadata lacks its version, tarball or sha512 integrity.
    #[error("{package}: unusable registry metadata: {reason}")]
    Metadata { package: String, reason: String },

    /// The tarball is on another host than the registry: only package registries are contacted.
    #[error("{package}: tarball {tarball} is not on the registry {registry}; refusing to fetch it")]
    ForeignTarball { package: String, tarball: String, registry: String },

    /// The tarball's sha512 is not the one the registry published.
    #[error("{package}: integrity mismatch: the registry says {expected}, the download is {actual}")]
    Integrity { package: String, expected: String, actual: String },

    /// The tarball is not a gzipped tar, lacks a file, or holds a file beyond the size limit.
    #[error("{package}: bad tarball: {reason}")]
    Archive { package: String, reason: String },

    /// A CSV has fewer rows than real data ever has: a truncated or placeholder release.
    #[error("{file}: {rows} rows, fewer than the {min} the real data has; refusing it")]
    TooFewRows { file: String, rows: usize, min: usize },

    /// A CSV does not parse, or the compiled table does not read back.
    #[error(transparent)]
    Resolve(#[from] vtrack_resolve::ResolveError),

    /// The data dir could not be written.
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },

    /// The attribution file beside the snapshot is not the JSON this build writes.
    #[error("{}: not an attribution file: {reason}", path.display())]
    Attribution { path: PathBuf, reason: String },
}

impl DataError {
    /// Whether the registry could not be reached at all (as opposed to answering with something wrong).
    pub fn is_unreachable(&self) -> bool {
        matches!(self, DataError::Unreachable { .. })
    }

    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> DataError {
        DataError::Io { path: path.to_path_buf(), source }
    }
}
