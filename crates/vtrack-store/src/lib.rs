//! Where vtrack keeps what it learned.
//!
//! The same tables and columns in every backend: `events` (one row per accepted event, the source of
//! truth); `sessions` and `accounts` (derived from `events`; their columns in [`columns`]); `alerts` and
//! `alert_deliveries` (the webhook outbox); sales' `account_status`, `account_owners` and
//! `account_owner_history`; what visitors told a site (`identities`, `learned_keys`); and the networks
//! enrichment learned (`learned_ranges`). Each backend (`sqlite/`, `clickhouse/`) implements the store
//! traits of `vtrack_process::batch::store`, the primitives of the one batch write, so writing the same batch
//! twice — as an at-least-once bus will — changes nothing, and [`dashboard::DashboardReads`], the typed reads
//! behind the dashboard. The stores hold SQL, not rules: the rules are `vtrack-process`'s and `vtrack-model`'s.

mod any;
pub mod clickhouse;
pub mod columns;
pub mod dashboard;
mod followup;
mod learned;
mod network;
pub mod outbox;
mod owners;
pub mod query;
pub mod rekey;
pub mod sqlite;

pub use any::{Dashboard, Learned, Store};
pub use clickhouse::{ClickHouseStore, ClickHouseUrl};
pub use network::TrafficSets;
pub use outbox::PendingDelivery;
pub use query::{QueryResult, Value};
pub use sqlite::SqliteStore;

use thiserror::Error;

/// Store failures. The message says which operation failed; the batch is retried by the caller.
#[derive(Debug, Error)]
pub enum StoreError {
    #[error("cannot create data directory {path}: {source}")]
    DataDir { path: std::path::PathBuf, source: std::io::Error },
    #[error("no vtrack store at {0}: start `vtrack serve` with this --data-dir first")]
    Missing(std::path::PathBuf),
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("the store's schema is version {found}, newer than this vtrack knows ({known}); upgrade vtrack")]
    SchemaTooNew { found: i64, known: i64 },
    #[error(
        "the ClickHouse schema is version {found}, this vtrack writes {known}: run `vtrack migrate --clickhouse URL`"
    )]
    SchemaTooOld { found: i64, known: i64 },
    #[error("clickhouse: {0}")]
    ClickHouse(#[from] ::clickhouse::error::Error),
    #[error("bad ClickHouse URL {url}: {why}")]
    BadUrl { url: String, why: String },
    #[error("only read-only statements run here (SELECT, WITH, EXPLAIN …)")]
    NotReadOnly,
    #[error("the query took longer than {0:?} and was stopped")]
    TimedOut(std::time::Duration),
    /// A task holding the embedded store's connection panicked, or could not run.
    #[error("the store's connection is unusable: a task using it failed")]
    Poisoned,
    #[error(transparent)]
    Cluster(#[from] clickhouse::ClusterError),
}

/// A list or record as the JSON text column that holds it (`topics`, `campaigns`, an alert's payload…).
pub(crate) fn json<T: serde::Serialize + ?Sized>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "[]".into())
}
