//! Where the dashboard reads: the embedded store (on the blocking pool) or ClickHouse.

use serde_json::Value;
use std::sync::{Arc, Mutex};
use vtrack_store::dashboard::AccountFilter;
use vtrack_store::{ClickHouseStore, SqliteStore, StoreError};

/// The store behind the dashboard; the same answers from either.
#[derive(Clone)]
pub enum Backend {
    /// A connection of the dashboard's own (status updates write through it).
    Sqlite(Arc<Mutex<SqliteStore>>),
    ClickHouse(Box<ClickHouseStore>),
}

/// Why a backend call failed, as the API reports it (500 with the message).
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("store task: {0}")]
    Task(String),
}

impl Backend {
    pub fn sqlite(store: SqliteStore) -> Backend {
        Backend::Sqlite(Arc::new(Mutex::new(store)))
    }

    async fn blocking<T: Send + 'static>(
        store: &Arc<Mutex<SqliteStore>>,
        f: impl FnOnce(&SqliteStore) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, BackendError> {
        let store = store.clone();
        tokio::task::spawn_blocking(move || match store.lock() {
            Ok(s) => f(&s).map_err(BackendError::from),
            Err(_) => Err(BackendError::Task("store lock poisoned".into())),
        })
        .await
        .map_err(|e| BackendError::Task(e.to_string()))?
    }

    pub async fn accounts(&self, site: String, f: AccountFilter, now: i64) -> Result<Vec<Value>, BackendError> {
        match self {
            Backend::Sqlite(s) => Self::blocking(s, move |s| s.dashboard_accounts(&site, &f, now)).await,
            Backend::ClickHouse(c) => Ok(c.dashboard_accounts(&site, &f, now).await?),
        }
    }

    pub async fn account(&self, site: String, domain: String, now: i64) -> Result<Option<Value>, BackendError> {
        match self {
            Backend::Sqlite(s) => Self::blocking(s, move |s| s.dashboard_account(&site, &domain, now)).await,
            Backend::ClickHouse(c) => Ok(c.dashboard_account(&site, &domain, now).await?),
        }
    }

    pub async fn set_status(
        &self,
        site: String,
        domain: String,
        (status, note, by): (String, String, String),
        now_ms: i64,
    ) -> Result<Option<Value>, BackendError> {
        match self {
            Backend::Sqlite(s) => {
                Self::blocking(s, move |s| s.set_account_status(&site, &domain, &status, &note, &by, now_ms / 1000))
                    .await
            }
            Backend::ClickHouse(c) => Ok(c.set_account_status(&site, &domain, &status, &note, &by, now_ms).await?),
        }
    }

    pub async fn campaigns(&self, site: String) -> Result<Vec<Value>, BackendError> {
        match self {
            Backend::Sqlite(s) => Self::blocking(s, move |s| s.dashboard_campaigns(&site)).await,
            Backend::ClickHouse(c) => Ok(c.dashboard_campaigns(&site).await?),
        }
    }

    pub async fn live(&self, site: String, since: i64) -> Result<Vec<Value>, BackendError> {
        match self {
            Backend::Sqlite(s) => Self::blocking(s, move |s| s.dashboard_live(&site, since)).await,
            Backend::ClickHouse(c) => Ok(c.dashboard_live(&site, since).await?),
        }
    }
}
