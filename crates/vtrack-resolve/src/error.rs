//! Why a source or snapshot could not be used.
//!
//! Every error about a source names the file, and for CSV files the line, so that an operator can fix the
//! data without reading code: `companies.csv:7: malformed CIDR "10.0.0.0/33": ...`.

use std::path::PathBuf;
use thiserror::Error;

/// A source file, snapshot or build limit that stopped a table from being built.
///
/// On reload the old table stays in place and this error says why the new one was refused.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ResolveError {
    /// The file could not be opened or read.
    #[error("{}: cannot read: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },

    /// The CSV itself is broken (for example an unterminated quote).
    #[error("{}:{line}: bad CSV: {message}", path.display())]
    Csv { path: PathBuf, line: u64, message: String },

    /// A row has fewer columns than the format needs.
    #[error("{}:{line}: expected {expected}, found {found} column(s)", path.display())]
    MissingColumns { path: PathBuf, line: u64, expected: &'static str, found: usize },

    /// The CIDR column is not `address/length` (or a bare address), or has host bits set.
    #[error("{}:{line}: malformed CIDR {value:?}: {reason}", path.display())]
    MalformedCidr { path: PathBuf, line: u64, value: String, reason: String },

    /// A range bound is not an IPv4 or IPv6 address.
    #[error("{}:{line}: malformed IP address {value:?}", path.display())]
    MalformedAddress { path: PathBuf, line: u64, value: String },

    /// A range whose first address comes after its last one.
    #[error("{}:{line}: range start {start} is after its end {end}", path.display())]
    StartAfterEnd { path: PathBuf, line: u64, start: String, end: String },

    /// A range from an IPv4 address to an IPv6 one (or the other way round).
    #[error("{}:{line}: range {start}..{end} mixes IPv4 and IPv6", path.display())]
    MixedFamilies { path: PathBuf, line: u64, start: String, end: String },

    /// The AS number column is not a number from 0 to 4294967295 (an `AS` prefix is accepted).
    #[error("{}:{line}: malformed AS number {value:?}", path.display())]
    MalformedAsn { path: PathBuf, line: u64, value: String },

    /// The class column of a customer CSV is not one of the six network classes.
    #[error("{}:{line}: {source}", path.display())]
    UnknownClass { path: PathBuf, line: u64, source: vtrack_model::class::UnknownClass },

    /// A customer CSV row without a company name.
    #[error("{}:{line}: empty company name", path.display())]
    EmptyName { path: PathBuf, line: u64 },

    /// The file is not a MaxMind DB, or a record in it could not be decoded.
    #[error("{}: MaxMind DB: {message}", path.display())]
    Mmdb { path: PathBuf, message: String },

    /// A snapshot written by `vtrack build-db` is damaged, truncated or from another version.
    #[error("{}: bad snapshot: {reason}", path.display())]
    Snapshot { path: PathBuf, reason: String },

    /// A trie larger than its 24-bit offsets reach (64 MiB of nodes): far beyond any real source.
    #[error("the compiled table needs {words} words of nodes, more than the limit of {limit}")]
    TooLarge { words: usize, limit: usize },

    /// More distinct (organisation, place) records than the table's 24-bit record index holds.
    #[error("{count} distinct records exceed the table's limit of {limit}")]
    TooManyRecords { count: usize, limit: usize },
}

impl ResolveError {
    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        ResolveError::Io { path: path.to_path_buf(), source }
    }
}
