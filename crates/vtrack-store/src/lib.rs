//! Where vtrack keeps what it learned.
//!
//! Three tables, the same names and columns in every backend: `events` (one row per accepted event, the
//! source of truth), `sessions` and `accounts` (both derived from `events`). Writers insert a batch of
//! events and then recompute the sessions and accounts that batch touched, so writing the same batch twice
//! — as an at-least-once bus will — changes nothing.

pub mod accounts;
pub mod clickhouse;
pub mod dashboard;
pub mod outbox;
pub mod query;
pub mod schema;
mod sessions;
pub mod sqlite;

pub use accounts::{DeliveryTarget, ScoreFn};
pub use clickhouse::{ClickHouseStore, ClickHouseUrl};
pub use outbox::PendingDelivery;
pub use query::{QueryResult, Value};
pub use sqlite::SqliteStore;

use thiserror::Error;
use vtrack_model::EnrichedEvent;

/// An event with what processing added: the session it belongs to.
#[derive(Debug, Clone, Copy)]
pub struct EventRow<'a> {
    pub event: &'a EnrichedEvent,
    /// The `event_id` of the session's first event: stable across replays.
    pub session_id: &'a str,
    /// The visitor had an earlier session.
    pub is_return: bool,
}

/// The latest event of a visitor, what sessionizing needs to continue or close their session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastVisit {
    pub ts_secs: i64,
    pub session_id: String,
    pub is_return: bool,
}

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
}
