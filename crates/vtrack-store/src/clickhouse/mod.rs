//! The production store: ClickHouse over HTTP with the `clickhouse` crate.
//!
//! ClickHouse has no transactions, so the batch write (`vtrack_process::batch`) relies on order and
//! idempotence instead, in the order of its steps: relabelled events and their sessions, the new events, the
//! session rows, the owners of new accounts, alerts and deliveries, the accounts, and last the identities and
//! learned keys (so a replay after a crash relabels again). Every table is a `ReplacingMergeTree` whose copies collapse, so a batch replayed after a crash
//! at any point writes the same rows again, and an account a crash may have left behind its events is
//! recomputed from them. `write.rs` holds the primitives of that write, `outbox.rs` the webhook outbox,
//! `dashboard.rs` the dashboard's reads, `schema.rs` the migrations, `cluster.rs` the same tables on a
//! cluster of shards and replicas.

pub mod cluster;
mod dashboard;
mod outbox;
pub(crate) mod rows;
pub mod schema;
mod write;

pub use cluster::{Cluster, ClusterError};
pub use rows::{DeliveryRecord, EventRecord, StoredEvent};
pub use write::DUPLICATE_WINDOW_SECS;

use crate::StoreError;
use clickhouse::Client;

/// Where and how to reach ClickHouse, parsed from `http://[user[:password]@]host:port[/database]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClickHouseUrl {
    /// `http://host:port`, without credentials or database.
    pub endpoint: String,
    pub user: Option<String>,
    pub password: Option<String>,
    pub database: String,
}

/// The database used when the URL names none.
pub const DEFAULT_DATABASE: &str = "vtrack";

impl std::str::FromStr for ClickHouseUrl {
    type Err = StoreError;

    fn from_str(url: &str) -> Result<ClickHouseUrl, StoreError> {
        let bad = |why: &str| StoreError::BadUrl { url: redact(url), why: why.to_string() };
        let (scheme, rest) = url.split_once("://").ok_or_else(|| bad("expected http://host:port"))?;
        if scheme != "http" && scheme != "https" {
            return Err(bad("the scheme must be http or https"));
        }
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let (userinfo, host) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        if host.is_empty() {
            return Err(bad("no host"));
        }
        let (user, password) = match userinfo {
            Some(u) => match u.split_once(':') {
                Some((u, p)) => (Some(u.to_string()), Some(p.to_string())),
                None => (Some(u.to_string()), None),
            },
            None => (None, None),
        };
        let database = path.trim_matches('/');
        if database.contains(['/', '?', '`', '"', '\'', ' ']) {
            return Err(bad("the path must be just a database name"));
        }
        Ok(ClickHouseUrl {
            endpoint: format!("{scheme}://{host}"),
            user,
            password,
            database: if database.is_empty() { DEFAULT_DATABASE.to_string() } else { database.to_string() },
        })
    }
}

/// The URL with any password replaced, for messages and logs.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let userinfo = &url[s + 3..at];
            match userinfo.split_once(':') {
                Some((u, _)) => format!("{}{u}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// A handle on the vtrack tables in one ClickHouse database.
#[derive(Clone)]
pub struct ClickHouseStore {
    client: Client,
    /// The same server without a default database, for `CREATE DATABASE`.
    server: Client,
    url: ClickHouseUrl,
    /// Set in cluster mode (`cluster.rs`).
    cluster: Option<std::sync::Arc<Cluster>>,
}

impl std::fmt::Debug for ClickHouseStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClickHouseStore")
            .field("endpoint", &self.url.endpoint)
            .field("database", &self.url.database)
            .finish()
    }
}

impl ClickHouseStore {
    /// Builds the client; nothing is contacted until the first query.
    pub fn new(url: &ClickHouseUrl) -> ClickHouseStore {
        let mut server = Client::default().with_url(&url.endpoint).with_validation(false);
        if let Some(u) = &url.user {
            server = server.with_user(u);
        }
        if let Some(p) = &url.password {
            server = server.with_password(p);
        }
        ClickHouseStore { client: server.clone().with_database(&url.database), server, url: url.clone(), cluster: None }
    }

    pub fn url(&self) -> &ClickHouseUrl {
        &self.url
    }

    pub(crate) fn client(&self) -> &Client {
        &self.client
    }

    /// Creates the database and applies the migrations it lacks; returns the schema version now in place.
    pub async fn migrate(&self) -> Result<u32, StoreError> {
        if let Some(cluster) = &self.cluster {
            return self.migrate_cluster(cluster).await;
        }
        self.check_layout().await?;
        let db = &self.url.database;
        self.server.query(&format!("CREATE DATABASE IF NOT EXISTS `{db}`")).execute().await?;
        self.client.query(schema::VERSION_TABLE).execute().await?;
        let current = self.schema_version().await?;
        let known = schema::MIGRATIONS.len() as u32;
        if current > known {
            return Err(StoreError::SchemaTooNew { found: current as i64, known: known as i64 });
        }
        for (i, migration) in schema::MIGRATIONS.iter().enumerate().skip(current as usize) {
            for stmt in schema::statements(migration) {
                self.client.query(stmt).execute().await?;
            }
            let version = i as u32 + 1;
            self.client.query("INSERT INTO vtrack_schema VALUES (?, now())").bind(version).execute().await?;
            tracing::info!(version, "clickhouse schema migrated");
        }
        Ok(known)
    }

    /// Drops the whole database (benchmarks and tests that made one of their own).
    pub async fn drop_database(&self) -> Result<(), StoreError> {
        let db = &self.url.database;
        let on = self.cluster.as_ref().map(|c| format!(" ON CLUSTER `{}`", c.name())).unwrap_or_default();
        self.server.query(&format!("DROP DATABASE IF EXISTS `{db}`{on}")).execute().await?;
        Ok(())
    }

    /// The applied schema version (0 before the first migration).
    pub async fn schema_version(&self) -> Result<u32, StoreError> {
        Ok(self.client.query("SELECT toUInt32(max(version)) FROM vtrack_schema").fetch_one::<u32>().await?)
    }

    /// Fails with a clear message unless the schema this build writes is in place.
    pub async fn check_schema(&self) -> Result<(), StoreError> {
        self.check_layout().await?;
        let known = schema::MIGRATIONS.len() as u32;
        let found = match self.schema_version().await {
            Ok(v) => v,
            Err(StoreError::ClickHouse(e)) if e.to_string().contains("vtrack_schema") => 0,
            Err(e) => return Err(e),
        };
        match found {
            v if v == known => Ok(()),
            v if v > known => Err(StoreError::SchemaTooNew { found: v as i64, known: known as i64 }),
            v => Err(StoreError::SchemaTooOld { found: v as i64, known: known as i64 }),
        }
    }

    /// Drops the whole days of `events` and `sessions` older than `days` (partitions are days, UTC).
    /// Returns the partitions dropped.
    pub async fn drop_older_than(&self, days: u32, now_secs: i64) -> Result<Vec<String>, StoreError> {
        let cutoff_secs = now_secs - i64::from(days) * 86_400;
        let cutoff = vtrack_model::time::format_secs(cutoff_secs);
        // Partition ids of these tables are YYYYMMDD, which sort as dates.
        let cutoff_id: String = cutoff[..10].replace('-', "");
        if let Some(cluster) = &self.cluster {
            return self.drop_partitions_on_cluster(cluster, &cutoff_id).await;
        }
        let mut dropped = Vec::new();
        for table in ["events", "sessions"] {
            let parts: Vec<String> = self
                .client
                .query(
                    "SELECT DISTINCT partition FROM system.parts WHERE database = ? AND table = ? AND active
                     AND partition < ? ORDER BY partition",
                )
                .bind(&self.url.database)
                .bind(table)
                .bind(&cutoff_id)
                .fetch_all::<String>()
                .await?;
            for p in parts {
                if p.len() != 8 || !p.bytes().all(|b| b.is_ascii_digit()) {
                    continue;
                }
                self.client.query(&format!("ALTER TABLE {table} DROP PARTITION {p}")).execute().await?;
                dropped.push(format!("{table}/{p}"));
            }
        }
        Ok(dropped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_urls_with_and_without_credentials_and_database() {
        let u: ClickHouseUrl = "http://127.0.0.1:18123".parse().unwrap();
        assert_eq!(u.endpoint, "http://127.0.0.1:18123");
        assert_eq!((u.user, u.password, u.database.as_str()), (None, None, "vtrack"));
        let u: ClickHouseUrl = "http://reader:s3cret@ch.internal:8123/analytics".parse().unwrap();
        assert_eq!(u.endpoint, "http://ch.internal:8123");
        assert_eq!(u.user.as_deref(), Some("reader"));
        assert_eq!(u.password.as_deref(), Some("s3cret"));
        assert_eq!(u.database, "analytics");
    }

    #[test]
    fn refuses_other_schemes_and_odd_paths_without_leaking_the_password() {
        let e = "tcp://a:b@host:9000".parse::<ClickHouseUrl>().unwrap_err().to_string();
        assert!(e.contains("scheme") && !e.contains(":b@"), "{e}");
        assert!("http://host:8123/a/b".parse::<ClickHouseUrl>().is_err());
        assert!("host:8123".parse::<ClickHouseUrl>().is_err());
    }
}
